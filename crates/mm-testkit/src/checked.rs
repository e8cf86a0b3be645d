//! `malloc`, `free` and `realloc` for white-box unit tests: each call must succeed, and
//! the strategy's heap checker must pass after it.
//!
//! A strategy's unit tests place blocks and look at the heap's layout; these are the
//! calls they make between looks, with the checks every such test wants:
//!
//! ```text
//! use mm_testkit::checked::{free, malloc, realloc};
//! let p = malloc(&mut a, 100);
//! let q = realloc(&mut a, p, 200);
//! free(&mut a, q);
//! ```

use std::ptr::NonNull;

use mm_core::Allocator;

/// `a.malloc(size)`, which must succeed; then `check_heap`.
///
/// # Panics
/// When `malloc` returns `None` or the heap check fails.
#[track_caller]
pub fn malloc<A: Allocator + ?Sized>(a: &mut A, size: usize) -> NonNull<u8> {
    let p = a.malloc(size).expect("malloc");
    a.check_heap().unwrap();
    p
}

/// `a.free(p)`; then `check_heap`. `p` must be a live block of `a` (the caller's
/// promise, as for `free` itself: the tests free each block they allocated once).
///
/// # Panics
/// When the heap check fails.
#[track_caller]
pub fn free<A: Allocator + ?Sized>(a: &mut A, p: NonNull<u8>) {
    // SAFETY: the tests free each pointer from `malloc` or `realloc` once.
    unsafe { a.free(p) };
    a.check_heap().unwrap();
}

/// `a.realloc(Some(p), size)`, which must succeed; then `check_heap`. `p` must be a live
/// block of `a`.
///
/// # Panics
/// When `realloc` returns `None` or the heap check fails.
#[track_caller]
pub fn realloc<A: Allocator + ?Sized>(a: &mut A, p: NonNull<u8>, size: usize) -> NonNull<u8> {
    // SAFETY: `p` is live (the caller's promise).
    let q = unsafe { a.realloc(Some(p), size) }.expect("realloc");
    a.check_heap().unwrap();
    q
}
