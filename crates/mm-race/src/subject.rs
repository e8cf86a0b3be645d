//! What the driver replays a trace against: one of our strategies over its memlib heap,
//! or the system `malloc` (and, in a child process of the race, a C allocator: see
//! [`crate::c`]). All sit behind the same object-safe [`Subject`] trait, so each pays
//! the same dynamic-dispatch cost in the timed loop and ratios compare like with like.

use std::ptr::{self, NonNull};

use mm_core::{Allocator, HeapCheckError, InitError, MemLib};

/// A replayable allocator.
pub trait Subject {
    /// The alignment every payload must have.
    fn alignment(&self) -> usize;
    /// Prepares for a fresh replay: reset the heap's break, then `init`.
    fn start(&mut self) -> Result<(), InitError>;
    /// `malloc`; null on failure.
    fn malloc(&mut self, size: usize) -> *mut u8;
    /// `free`, with C's rule for null: `free(NULL)` does nothing. The driver makes the
    /// call for a trace's `f -1`, so a subject passes it on to the allocator it wraps
    /// (which must accept it), or does nothing itself.
    ///
    /// # Safety
    /// `ptr` is null or a live block of this subject.
    unsafe fn free(&mut self, ptr: *mut u8);
    /// `realloc` with C's rules.
    ///
    /// # Safety
    /// `ptr` is null or a live block of this subject.
    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> *mut u8;
    /// Called after a replay with the blocks still live: releases whatever a reset does
    /// not (the system allocator has no reset, so its leftovers are freed here).
    ///
    /// # Safety
    /// Every pointer in `live` is null or a live block of this subject.
    unsafe fn finish(&mut self, live: &[*mut u8]);
    /// The heap, where the subject has one the driver can see (for the bounds check
    /// and utilization).
    fn heap(&self) -> Option<&MemLib>;
    /// The subject's own heap checker.
    fn check_heap(&self) -> Result<(), HeapCheckError>;
}

/// One of our strategies.
pub struct Ours(pub Box<dyn Allocator>);

impl Subject for Ours {
    fn alignment(&self) -> usize {
        self.0.alignment().get()
    }

    fn start(&mut self) -> Result<(), InitError> {
        self.0.heap_mut().reset_brk();
        self.0.init()
    }

    fn malloc(&mut self, size: usize) -> *mut u8 {
        self.0.malloc(size).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn free(&mut self, ptr: *mut u8) {
        // `Allocator::free` takes a block, never null: free(NULL) is a no-op here.
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: the caller guarantees `ptr` is a live block of this allocator.
            unsafe { self.0.free(p) }
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` is null or live.
        unsafe { self.0.realloc(NonNull::new(ptr), size) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn finish(&mut self, _live: &[*mut u8]) {
        // The next `start` resets the heap, which releases everything at once.
    }

    fn heap(&self) -> Option<&MemLib> {
        Some(self.0.heap())
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.0.check_heap()
    }
}

/// The system allocator (glibc's `malloc` on Linux), the baseline of every ratio.
pub struct Libc;

/// What glibc guarantees on x86-64 and aarch64 (`2 * sizeof(size_t)`).
const LIBC_ALIGNMENT: usize = 2 * std::mem::size_of::<usize>();

impl Subject for Libc {
    fn alignment(&self) -> usize {
        LIBC_ALIGNMENT
    }

    fn start(&mut self) -> Result<(), InitError> {
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> *mut u8 {
        // SAFETY: `malloc` has no preconditions.
        unsafe { libc::malloc(size).cast() }
    }

    unsafe fn free(&mut self, ptr: *mut u8) {
        // SAFETY: the caller guarantees `ptr` is null or came from this `malloc` and is
        // live; C's `free(NULL)` does nothing.
        unsafe { libc::free(ptr.cast()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` is null or live.
        unsafe { libc::realloc(ptr.cast(), size).cast() }
    }

    unsafe fn finish(&mut self, live: &[*mut u8]) {
        for &ptr in live {
            // SAFETY: the caller guarantees each pointer is null or live; `free(NULL)`
            // is a no-op.
            unsafe { libc::free(ptr.cast()) }
        }
    }

    fn heap(&self) -> Option<&MemLib> {
        None
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        Ok(())
    }
}
