//! The recorder backend (`--features record`): the system malloc, with every call
//! written down.
//!
//! Each call is forwarded to glibc's own entry points (`__libc_malloc` and friends,
//! exported for exactly this kind of wrapper, so no `dlsym` bootstrap is needed) and
//! logged as one text line to `$MMLAB_RECORD_DIR/<pid>.log`; `mdriver record` turns the
//! log into a `.rep` trace. The log is opened, and its header written, when the library
//! is loaded (and in a forked child, at its first call). With `MMLAB_RECORD_DIR` unset the library only forwards.
//!
//! The log format (see `crates/mdriver/src/record/convert.rs` for the reader):
//!
//! ```text
//! # mmlab-record 1 pid <pid> exe <path>     a process image begins
//! m <size> <ret>                            malloc
//! c <count> <size> <ret>                    calloc
//! r <old> <size> <ret>                      realloc, reallocarray (size = the product)
//! a <align> <size> <ret>                    memalign, posix_memalign, aligned_alloc, valloc, pvalloc
//! f <ptr>                                   free
//! ```
//!
//! Sizes are decimal, pointers lowercase hex, 0 is NULL. Order is exact: the call and
//! its log line happen under one lock, so a pointer freed by one thread and returned to
//! another appears freed before it is returned. Lines collect in a 64 KiB buffer written
//! with `write(2)` when full and at exit. After `fork` the child starts its own log
//! (`<child pid>.log`); after `exec` the new image appends a new header to the same
//! file. Lines still in the buffer are lost when a process ends in `_exit` or a crash,
//! or replaces itself with `exec` (typically a child's few allocations between `fork`
//! and `exec`); the reader appends frees for blocks left live.

use std::ffi::{CStr, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use facade::lock::{Locked, Reentered, errno};
use facade::text::Line;

unsafe extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_free(ptr: *mut c_void);
}

const BUFFER: usize = 64 * 1024;
/// The longest line: a tag, three 20-digit numbers, spaces, a newline.
const LINE_MAX: usize = 72;
/// The log's descriptor is moved at least this high, out of the way of programs that
/// manage their low descriptors themselves.
const HIGH_FD: libc::c_int = 700;

#[derive(Clone, Copy, PartialEq)]
enum Sink {
    /// Not opened yet in this process.
    Unopened,
    /// `MMLAB_RECORD_DIR` unset, or the log could not be opened: forward only.
    Off,
    Open(libc::c_int),
}

struct Log {
    sink: Sink,
    buffer: [u8; BUFFER],
    len: usize,
    /// After the library's destructor ran: write every line at once, for the frees
    /// that later destructors still make.
    unbuffered: bool,
}

static LOG: Locked<Log> = Locked::new(
    "mmlab preload:",
    Log { sink: Sink::Unopened, buffer: [0; BUFFER], len: 0, unbuffered: false },
);

impl Log {
    fn open(&mut self) {
        self.sink = Sink::Off;
        // SAFETY: `getenv` with a NUL-terminated name; the result, if not null, is a
        // NUL-terminated string owned by the environment, read at once.
        let dir = unsafe { libc::getenv(c"MMLAB_RECORD_DIR".as_ptr()) };
        if dir.is_null() {
            return;
        }
        // SAFETY: as above, `dir` is a valid C string.
        let dir = unsafe { CStr::from_ptr(dir) }.to_bytes();
        // SAFETY: `getpid` has no preconditions.
        let pid = unsafe { libc::getpid() } as u64;
        // Room for the directory, "/", a pid and ".log" and the NUL: a longer directory
        // would be cut, so it is not logged to at all.
        const PATH_MAX: usize = 4096;
        if dir.len() + 32 > PATH_MAX {
            return;
        }
        let mut path = Line::<PATH_MAX>::new();
        path.push(dir).push(b"/").dec(pid).push(b".log\0");
        // SAFETY: `path` is NUL-terminated; flags and mode are valid for `open`.
        let fd = unsafe {
            libc::open(
                path.as_bytes().as_ptr().cast(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                0o644,
            )
        };
        if fd < 0 {
            return;
        }
        // SAFETY: `fd` is ours; F_DUPFD_CLOEXEC returns a new descriptor or -1.
        let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD) };
        let fd = if high >= 0 {
            // SAFETY: the low descriptor is ours and no longer needed.
            unsafe { libc::close(fd) };
            high
        } else {
            fd
        };
        self.sink = Sink::Open(fd);
        let mut exe = [0u8; 512];
        // SAFETY: `readlink` writes at most `exe.len()` bytes into `exe`.
        let n = unsafe { libc::readlink(c"/proc/self/exe".as_ptr(), exe.as_mut_ptr().cast(), exe.len()) };
        let exe: &[u8] = if n > 0 { &exe[..n as usize] } else { b"?" };
        let mut header = Line::<600>::new();
        header.push(b"# mmlab-record 1 pid ").dec(pid).push(b" exe ").push(exe).push(b"\n");
        self.append(header.as_bytes());
        // Written at once: a process image that `exec`s before its buffer fills still
        // leaves its header, and the reader sees where one image ends.
        self.flush();
    }

    fn record(&mut self, line: &Line<LINE_MAX>) {
        // Opening and writing the log must not change the program's errno.
        let saved = errno::get();
        if self.sink == Sink::Unopened {
            self.open();
        }
        if let Sink::Open(_) = self.sink {
            self.append(line.as_bytes());
        }
        errno::set(saved);
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > BUFFER {
            self.flush();
        }
        self.buffer[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        if self.unbuffered {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Sink::Open(fd) = self.sink else { return };
        let mut done = 0;
        while done < self.len {
            // SAFETY: the range is inside `buffer`.
            let n = unsafe { libc::write(fd, self.buffer[done..].as_ptr().cast(), self.len - done) };
            if n <= 0 {
                // EINTR: retry; anything else: the log is lost, stop recording.
                // SAFETY: reading this thread's errno.
                if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
                    continue;
                }
                self.sink = Sink::Off;
                break;
            }
            done += n as usize;
        }
        self.len = 0;
    }
}

/// Formats an event line and appends it to the log.
fn event(build: impl FnOnce(&mut Line<LINE_MAX>)) -> impl FnOnce(&mut Log) {
    move |log: &mut Log| {
        let mut line = Line::new();
        build(&mut line);
        line.push(b"\n");
        log.record(&line);
    }
}

// Every call is logged under the lock. Should the recorder itself panic there, the
// program stops (`facade::lock`); the panic machinery's own calls, made meanwhile on the
// same thread (`Err(Reentered)`), go to glibc unlogged.

/// `malloc`: glibc's, logged.
pub fn malloc(size: usize) -> *mut u8 {
    // SAFETY: glibc's malloc, with any size.
    let glibc = || unsafe { __libc_malloc(size) };
    LOG.with("malloc", |log| {
        let ret = glibc();
        event(|l| {
            l.push(b"m ").dec(size as u64).push(b" ").hex(ret as usize);
        })(log);
        ret.cast()
    })
    .unwrap_or_else(|Reentered| glibc().cast())
}

/// `calloc`: glibc's, logged.
pub fn calloc(count: usize, size: usize) -> *mut u8 {
    // SAFETY: glibc's calloc, which checks the product itself.
    let glibc = || unsafe { __libc_calloc(count, size) };
    LOG.with("calloc", |log| {
        let ret = glibc();
        event(|l| {
            l.push(b"c ").dec(count as u64).push(b" ").dec(size as u64).push(b" ").hex(ret as usize);
        })(log);
        ret.cast()
    })
    .unwrap_or_else(|Reentered| glibc().cast())
}

/// # Safety
/// `ptr` came from glibc's malloc family (through this library) and is live.
pub unsafe fn free(ptr: NonNull<u8>) {
    // SAFETY: the caller's contract.
    let glibc = || unsafe { __libc_free(ptr.as_ptr().cast()) };
    LOG.with("free", |log| {
        event(|l| {
            l.push(b"f ").hex(ptr.as_ptr() as usize);
        })(log);
        glibc();
    })
    .unwrap_or_else(|Reentered| glibc())
}

/// # Safety
/// As for [`free`]; `size > 0`.
pub unsafe fn realloc(ptr: NonNull<u8>, size: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    let glibc = || unsafe { __libc_realloc(ptr.as_ptr().cast(), size) };
    LOG.with("realloc", |log| {
        let ret = glibc();
        event(|l| {
            l.push(b"r ").hex(ptr.as_ptr() as usize).push(b" ").dec(size as u64).push(b" ").hex(ret as usize);
        })(log);
        ret.cast()
    })
    .unwrap_or_else(|Reentered| glibc().cast())
}

/// The aligned allocations (`memalign` and its kin): glibc's, logged.
pub fn aligned(align: usize, size: usize) -> *mut u8 {
    // SAFETY: glibc's memalign; `align` is a power of two.
    let glibc = || unsafe { __libc_memalign(align, size) };
    LOG.with("memalign", |log| {
        let ret = glibc();
        event(|l| {
            l.push(b"a ").dec(align as u64).push(b" ").dec(size as u64).push(b" ").hex(ret as usize);
        })(log);
        ret.cast()
    })
    .unwrap_or_else(|Reentered| glibc().cast())
}

/// glibc's `malloc_usable_size`, found behind ours once (`dlsym` is not called with
/// the lock held, and allocates nothing on success).
static GLIBC_USABLE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// # Safety
/// As for [`free`].
#[cfg_attr(test, allow(dead_code))]
pub unsafe fn usable_size(ptr: NonNull<u8>) -> usize {
    let mut f = GLIBC_USABLE_SIZE.load(Ordering::Acquire);
    if f == 0 {
        // SAFETY: a NUL-terminated symbol name; RTLD_NEXT finds glibc's definition.
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_usable_size".as_ptr()) } as usize;
        GLIBC_USABLE_SIZE.store(f, Ordering::Release);
    }
    if f == 0 {
        return 0;
    }
    // SAFETY: `f` is glibc's `size_t malloc_usable_size(void *)`.
    let usable: unsafe extern "C" fn(*mut c_void) -> usize = unsafe { std::mem::transmute(f) };
    // SAFETY: `ptr` is a live glibc block (caller's contract).
    unsafe { usable(ptr.as_ptr().cast()) }
}

/// glibc's `malloc_trim`, found behind ours as `malloc_usable_size` is: the recorder
/// changes nothing the program asks of glibc's heap.
static GLIBC_TRIM: AtomicUsize = AtomicUsize::new(0);

/// `malloc_trim`, forwarded to glibc's.
#[cfg_attr(test, allow(dead_code))]
pub fn trim(pad: usize) -> libc::c_int {
    let mut f = GLIBC_TRIM.load(Ordering::Acquire);
    if f == 0 {
        // SAFETY: a NUL-terminated symbol name; RTLD_NEXT finds glibc's definition.
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_trim".as_ptr()) } as usize;
        GLIBC_TRIM.store(f, Ordering::Release);
    }
    if f == 0 {
        return 0;
    }
    // SAFETY: `f` is glibc's `int malloc_trim(size_t)`.
    let trim: unsafe extern "C" fn(usize) -> libc::c_int = unsafe { std::mem::transmute(f) };
    // SAFETY: no preconditions.
    unsafe { trim(pad) }
}

/// The recorder caches nothing.
#[cfg_attr(test, allow(dead_code))]
pub fn cache_held_bytes() -> usize {
    0
}

/// `pthread_atfork` prepare: holds the log's lock across `fork`.
#[cfg_attr(test, allow(dead_code))]
pub fn before_fork() {
    LOG.hold_for_fork();
}

/// `pthread_atfork` parent: releases the log's lock.
#[cfg_attr(test, allow(dead_code))]
pub fn after_fork_parent() {
    LOG.release_after_fork();
}

/// `pthread_atfork` child: the child logs to a log of its own, and its lock is its one
/// thread's.
#[cfg_attr(test, allow(dead_code))]
pub fn after_fork_child() {
    // The lock was taken before `fork` by this very thread, which `with` lets through
    // (see `before_fork`).
    let _ = LOG.with("fork", |log| {
        // The parent writes the buffered lines; the child opens its own log.
        log.len = 0;
        if let Sink::Open(fd) = log.sink {
            // SAFETY: the child's copy of the parent's descriptor, ours to close.
            unsafe { libc::close(fd) };
        }
        log.sink = Sink::Unopened;
    });
    LOG.release_after_fork_in_child();
}

/// Opens the log (writing its header) as soon as the library is loaded, so that a
/// process image that never allocates still shows in the log: `mdriver record` can then
/// tell a program that made no allocation from a recorder that was never loaded.
#[cfg_attr(test, allow(dead_code))]
pub fn at_load() {
    let _ = LOG.with("load", |log| {
        if log.sink == Sink::Unopened {
            let saved = errno::get();
            log.open();
            errno::set(saved);
        }
    });
}

/// At exit: writes what is buffered.
pub fn at_exit() {
    let _ = LOG.with("exit", |log| {
        log.flush();
        log.unbuffered = true;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_logged_in_order_with_its_result() {
        let dir = std::env::temp_dir().join(format!("mmlab-recorder-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: this is the only test of this crate that reads or writes the
        // environment, and it does so before logging starts.
        unsafe { std::env::set_var("MMLAB_RECORD_DIR", &dir) };
        let a = malloc(24);
        let b = calloc(3, 10);
        // SAFETY: `a` is live; resized once, then both blocks freed once.
        let c = unsafe { realloc(NonNull::new(a).unwrap(), 4000) };
        let d = aligned(64, 100);
        assert_eq!(d as usize % 64, 0);
        unsafe {
            free(NonNull::new(b).unwrap());
            free(NonNull::new(c).unwrap());
            free(NonNull::new(d).unwrap());
        }
        at_exit();
        let log = std::fs::read_to_string(dir.join(format!("{}.log", std::process::id()))).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines[0].starts_with(&format!("# mmlab-record 1 pid {} exe /", std::process::id())), "{log}");
        // Other tests' threads may allocate through the test harness, but not through
        // these functions: the log holds exactly our calls.
        let hex = |p: *mut u8| format!("{:x}", p as usize);
        assert_eq!(
            &lines[1..],
            [
                format!("m 24 {}", hex(a)),
                format!("c 3 10 {}", hex(b)),
                format!("r {} 4000 {}", hex(a), hex(c)),
                format!("a 64 100 {}", hex(d)),
                format!("f {}", hex(b)),
                format!("f {}", hex(c)),
                format!("f {}", hex(d)),
            ]
        );
    }
}
