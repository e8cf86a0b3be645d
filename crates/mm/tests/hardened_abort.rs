//! A `LockedAllocator` stops the program on a double free with
//! a message, as glibc does. The test runs itself again as a child process that commits
//! the double free, and checks how the child died.

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;

use mm::{Align, Hardened, LockedAllocator, MemLib};

const CHILD: &str = "MMLAB_HARDENED_ABORT_CHILD";

#[test]
fn a_double_free_through_the_global_allocator_aborts_with_a_message() {
    if std::env::var_os(CHILD).is_some() {
        let allocator = LockedAllocator::with_reserve(
            |heap: MemLib| {
                Hardened::new(mm_segregated::Segregated::new(
                    heap,
                    mm_segregated::SegregatedConfig { align: Align::SIXTEEN },
                ))
            },
            1 << 26,
        );
        let layout = Layout::from_size_align(100, 16).unwrap();
        // SAFETY: a deliberate double free, which the hardened strategy must catch.
        unsafe {
            let p = allocator.alloc(layout);
            allocator.dealloc(p, layout);
            allocator.dealloc(p, layout);
        }
        println!("survived");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_double_free_through_the_global_allocator_aborts_with_a_message", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(6), "SIGABRT: {stderr}");
    assert!(stderr.contains("mmlab: dealloc(): double free detected (heap offset 0x"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
}

/// A block freed, given back to the strategy by the thread cache, and freed again: the
/// cache sorts the second free under the lock, where the hardened strategy's table
/// says the block is free already, and passes it to the strategy's `free`, which
/// reports it.
#[test]
fn a_double_free_behind_the_thread_cache_aborts_with_a_message() {
    double_free_behind_the_cache("a_double_free_behind_the_thread_cache_aborts_with_a_message", true);
}

/// The cache asks the strategy's `check_free` before keeping a freed block, so a default
/// build catches a block freed again after the cache gave it back, as the strategy's
/// own `free` always did.
#[test]
fn a_double_free_behind_the_thread_cache_aborts_in_a_default_build_too() {
    double_free_behind_the_cache(
        "a_double_free_behind_the_thread_cache_aborts_in_a_default_build_too",
        false,
    );
}

/// Segregated fits at 16-byte alignment, over `heap`.
fn segregated(heap: MemLib) -> mm_segregated::Segregated {
    mm_segregated::Segregated::new(heap, mm_segregated::SegregatedConfig { align: Align::SIXTEEN })
}

/// Frees a block, lets the thread cache hand it back to the strategy, frees it again:
/// in a child process, which must abort naming the double free.
fn double_free_behind_the_cache(test: &str, hardened: bool) {
    if std::env::var_os(CHILD).is_some() {
        let layout = Layout::from_size_align(100, 16).unwrap();
        let twice = |allocator: &dyn GlobalAlloc, flush: &dyn Fn()| {
            // SAFETY: a deliberate double free, which the strategy must catch.
            unsafe {
                let keep = allocator.alloc(layout); // the thread's cache exists from here on
                let p = allocator.alloc(layout);
                allocator.dealloc(p, layout);
                flush(); // `p` is the strategy's again
                allocator.dealloc(p, layout);
                flush();
                allocator.dealloc(keep, layout);
            }
        };
        if hardened {
            let allocator =
                LockedAllocator::with_reserve(|heap: MemLib| Hardened::new(segregated(heap)), 1 << 26);
            twice(&allocator, &|| {
                allocator.flush_thread_cache();
            });
        } else {
            let allocator = LockedAllocator::with_reserve(segregated, 1 << 26);
            twice(&allocator, &|| {
                allocator.flush_thread_cache();
            });
        }
        println!("survived");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(6), "SIGABRT: {stderr}");
    assert!(stderr.contains("mmlab: dealloc(): double free detected (heap offset 0x"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
}
