//! What a program whose `#[global_allocator]` is a [`LockedAllocator`] sees when the
//! heap goes wrong, for the strategy chosen by cargo feature (`global_allocator.rs` runs
//! this file again for each of the others):
//!
//! * a strategy that panics inside `malloc` (as the strategies do when they find their
//!   metadata inconsistent) stops the program with `mmlab: heap corrupted: alloc():`
//!   and the panic's own message, instead of hanging on its own lock while the panic
//!   machinery allocates;
//! * a signal handler that allocates, interrupting an allocation, stops it with the
//!   re-entry message;
//! * `GLOBAL.check_heap()` passes on a healthy heap without allocating, and reports a
//!   damaged heap instead of hanging.
//!
//! Each case runs in a child process (this test binary again, running only that test,
//! with an environment variable that says so), which must die or finish as expected; a
//! child that hangs is killed after a generous limit and fails the test.

use std::process::{Command, Output, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use mm::{Align, Allocator, DefaultAllocator, LockedAllocator, MemLib, Misuse};
use mm_core::{HeapCheckError, InitError};

/// The chosen strategy, with a switch that makes its next `malloc` misbehave first.
struct Faulty(DefaultAllocator);

/// What the next `malloc` does first (then the switch goes back to `NONE`).
static FAULT: AtomicU8 = AtomicU8::new(NONE);
const NONE: u8 = 0;
/// Panics with a formatted message (a `String` payload), as a strategy's corruption
/// checks do.
const PANIC_STRING: u8 = 1;
/// Panics with a literal (a `&str` payload).
const PANIC_STR: u8 = 2;
/// Raises SIGUSR1, whose handler allocates: the handler runs inside `malloc`.
const SIGNAL: u8 = 3;

impl Allocator for Faulty {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn heap(&self) -> &MemLib {
        self.0.heap()
    }
    fn heap_mut(&mut self) -> &mut MemLib {
        self.0.heap_mut()
    }
    fn alignment(&self) -> Align {
        self.0.alignment()
    }
    fn init(&mut self) -> Result<(), InitError> {
        self.0.init()
    }
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        match FAULT.swap(NONE, Ordering::Relaxed) {
            PANIC_STRING => panic!("corrupted double-linked list at heap offset {:#x}", 0x40),
            PANIC_STR => panic!("free(): corrupted size vs. prev_size"),
            // SAFETY: `raise` has no preconditions; the handler is installed first.
            SIGNAL => unsafe {
                libc::raise(libc::SIGUSR1);
            },
            _ => {}
        }
        self.0.malloc(size)
    }
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.0.free(ptr) }
    }
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.0.usable_size(ptr) }
    }
    unsafe fn realloc(&mut self, ptr: Option<NonNull<u8>>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.0.realloc(ptr, size) }
    }
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.0.check_heap()
    }
    fn take_misuse(&mut self) -> Option<Misuse> {
        self.0.take_misuse()
    }
}

#[global_allocator]
static GLOBAL: LockedAllocator<Faulty> = LockedAllocator::new(|heap| Faulty(mm::default_allocator(heap)));

/// Set in a child process: run the test's case instead of checking it.
const CHILD: &str = "MMLAB_GLOBAL_FAULTS_CHILD";

/// Far more than any case needs: the limit only turns a hang into a failure.
const HANG: Duration = Duration::from_secs(120);

/// Runs `case` in a child process (this test binary again, running only the test
/// `name`), and `check` here on how the child ended.
fn in_a_child(name: &str, case: impl FnOnce(), check: impl FnOnce(&Output)) {
    if std::env::var_os(CHILD).is_some() {
        case();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{name} ({}) hung: {}", mm::STRATEGY, String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check(&child.wait_with_output().unwrap());
}

/// Asserts that the child died of SIGABRT with `message` on stderr, before it could say
/// "survived"; returns its stderr.
fn aborted_with(out: &Output, message: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let strategy = mm::STRATEGY;
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(6), "{strategy}: {stderr}");
    assert!(stderr.contains(message), "{strategy}: expected {message:?} in:\n{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"), "{strategy}: it went on");
    stderr
}

/// Arms `fault` and allocates: the allocation never returns.
/// The allocation is larger than the thread caches keep, so it reaches the strategy.
fn allocate_with(fault: u8) {
    let keep = String::from("the heap is in use");
    FAULT.store(fault, Ordering::Relaxed);
    let boxed = Box::new([1u64; 2 * mm::cache::MAX_CACHED / 8]);
    println!("survived {keep} {}", boxed[0]);
}

#[test]
fn a_panic_with_a_formatted_message_is_reported_as_heap_corruption() {
    in_a_child(
        "a_panic_with_a_formatted_message_is_reported_as_heap_corruption",
        || allocate_with(PANIC_STRING),
        |out| {
            let stderr = aborted_with(
                out,
                "mmlab: heap corrupted: alloc(): corrupted double-linked list at heap offset 0x40\n",
            );
            assert!(!stderr.contains("re-entered"), "a panic is not a re-entry:\n{stderr}");
        },
    );
}

#[test]
fn a_panic_with_a_literal_message_is_reported_as_heap_corruption() {
    in_a_child(
        "a_panic_with_a_literal_message_is_reported_as_heap_corruption",
        || allocate_with(PANIC_STR),
        |out| {
            aborted_with(out, "mmlab: heap corrupted: alloc(): free(): corrupted size vs. prev_size\n");
        },
    );
}

extern "C" fn allocating_handler(_: libc::c_int) {
    // What a signal handler must not do, and some do.
    std::hint::black_box(Vec::<u8>::with_capacity(64));
}

#[test]
fn a_signal_handler_that_allocates_inside_malloc_is_caught_re_entering() {
    in_a_child(
        "a_signal_handler_that_allocates_inside_malloc_is_caught_re_entering",
        || {
            // SAFETY: installs a handler for SIGUSR1, which nothing else in this process
            // uses; the handler is an `extern "C" fn(c_int)`.
            unsafe { libc::signal(libc::SIGUSR1, allocating_handler as *const () as usize) };
            allocate_with(SIGNAL);
        },
        |out| {
            aborted_with(
                out,
                "mmlab: malloc was re-entered on a thread already inside it: a signal handler called malloc\n",
            );
        },
    );
}

/// Live blocks of many sizes, some freed, for a checker to walk.
fn busy_heap() -> Vec<String> {
    let mut words: Vec<String> = (0..2000).map(|i| format!("word {i} {}", "x".repeat(i % 300))).collect();
    words.retain(|w| w.len() % 3 != 0);
    words
}

#[test]
fn check_heap_on_the_global_allocator_passes_without_allocating() {
    in_a_child(
        "check_heap_on_the_global_allocator_passes_without_allocating",
        || {
            let words = busy_heap();
            let reserve_before = mm::emergency::used();
            GLOBAL.check_heap().unwrap();
            assert_eq!(mm::emergency::used(), reserve_before, "the checker allocated");
            println!("checked {} live blocks", words.len());
        },
        |out| {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("checked "),
                "{}: {stdout}{}",
                mm::STRATEGY,
                String::from_utf8_lossy(&out.stderr)
            );
        },
    );
}

#[test]
fn check_heap_on_the_global_allocator_reports_a_damaged_heap() {
    // The header-free buddy system keeps nothing below a payload: the 8 bytes there are
    // the end of the block below, program data that no checker can doubt. (Its own
    // tests smash its bitmaps and links instead.)
    if mm::STRATEGY == "buddy-bitmap" {
        return;
    }
    in_a_child(
        "check_heap_on_the_global_allocator_reports_a_damaged_heap",
        || {
            let words = busy_heap();
            let victim = Box::new([0u8; 100]);
            let below = victim.as_ptr().wrapping_sub(8).cast_mut();
            // SAFETY: the 8 bytes below a block of the heap hold its header (or the end
            // of the block before it): heap memory, smashed as an overflow would, then
            // put back before anything else allocates.
            let saved = unsafe { below.cast::<u64>().read_unaligned() };
            // SAFETY: the same 8 bytes of heap memory.
            unsafe { below.cast::<u64>().write_unaligned(u64::MAX) };
            let reserve_before = mm::emergency::used();
            let verdict = GLOBAL.check_heap();
            // SAFETY: as above.
            unsafe { below.cast::<u64>().write_unaligned(saved) };
            let error = verdict.expect_err("a smashed header passes the check");
            assert!(mm::emergency::used() > reserve_before, "the report comes from the reserve");
            println!("reported: {error}");
            drop(error); // its memory is the reserve's: freeing it is a no-op
            GLOBAL.check_heap().unwrap();
            println!("and {} live blocks are fine again", words.len() + victim.len());
        },
        |out| {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success()
                    && stdout.contains("reported: heap check: ")
                    && stdout.contains("fine again"),
                "{}: {stdout}{}",
                mm::STRATEGY,
                String::from_utf8_lossy(&out.stderr)
            );
        },
    );
}

/// Issue 11's first reproduction: gigabyte blocks freed side by side. Their merge would
/// exceed what segregated fits' 32-bit header can hold; it used to wrap, panic inside
/// the lock and hang for ever. A strategy whose heap cannot hold them all refuses some
/// (`try_reserve` reports it), which is fine; the program must go on.
#[test]
fn gigabyte_blocks_freed_side_by_side_leave_a_working_heap() {
    in_a_child(
        "gigabyte_blocks_freed_side_by_side_leave_a_working_heap",
        || {
            let blocks: Vec<Vec<u8>> = (0..5)
                .filter_map(|_| {
                    let mut block = Vec::new();
                    block.try_reserve_exact(1 << 30).ok().map(|()| block)
                })
                .collect();
            let held = blocks.len();
            let keep = std::hint::black_box(Box::new([7u8; 64]));
            drop(blocks);
            let again: Vec<Vec<u8>> = (0..held).map(|_| Vec::with_capacity(1 << 30)).collect();
            GLOBAL.check_heap().unwrap();
            println!("ok: {held} GiB held, freed and held again; {} {}", again.len(), keep[63]);
        },
        |out| {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("ok: "),
                "{}: {stdout}{}",
                mm::STRATEGY,
                String::from_utf8_lossy(&out.stderr)
            );
        },
    );
}
