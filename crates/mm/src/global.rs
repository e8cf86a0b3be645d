//! [`LockedAllocator`]: any strategy as the Rust `#[global_allocator]`.
//!
//! A strategy is single-threaded (`&mut self`); the wrapper puts it behind a mutex and
//! builds it on first use over a heap reserved straight from the OS
//! ([`MemLib::reserve`]), so nothing it does goes through the global allocator it is.
//!
//! * **Alignment.** Layouts whose alignment the strategy serves (16 bytes) go straight
//!   to it. A larger alignment is served by over-allocating: `size + align + 8` bytes,
//!   the payload at the first aligned address at least 8 bytes in, and the block's own
//!   address stored in the word just below the payload, where `dealloc` (which is told
//!   the layout) finds it.
//! * **realloc** goes to the strategy's `realloc`, which resizes in place when it can;
//!   only over-aligned blocks are moved by hand (allocate, copy, free).
//! * **Threads.** `std::sync::Mutex` on Linux is a futex: locking it never allocates. A
//!   panic inside the strategy poisons the lock; the wrapper keeps going with the
//!   state as it is rather than panic inside an allocation.
//! * **Misuse**: a hardened strategy (`--features hardened`) that refuses a `dealloc`
//!   or `realloc` stops the program with a message, as glibc does.
//! * **Out of memory** is a null return, as `GlobalAlloc` requires; the heap's
//!   reservation ([`DEFAULT_RESERVE`] unless given) is the ceiling.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard};

use mm_core::{Allocator, MemLib};

/// The virtual range a [`LockedAllocator`] reserves by default: 8 GiB, committed by the
/// OS only as it is touched.
pub const DEFAULT_RESERVE: usize = 8 << 30;

/// Bytes below an over-aligned payload that hold the address of its block.
const BACK_POINTER: usize = size_of::<usize>();

/// A strategy behind a lock, usable as `#[global_allocator]`.
pub struct LockedAllocator<A> {
    /// The strategy, built on first use. `None` until then, or if building failed.
    state: Mutex<Option<A>>,
    /// Builds the strategy (un-initialised) over a heap.
    build: fn(MemLib) -> A,
    /// How much virtual memory the heap reserves.
    reserve: usize,
}

impl<A: Allocator> LockedAllocator<A> {
    /// A wrapper that will build its strategy with `build` over a heap of
    /// [`DEFAULT_RESERVE`] bytes when first used.
    pub const fn new(build: fn(MemLib) -> A) -> Self {
        Self::with_reserve(build, DEFAULT_RESERVE)
    }

    /// As [`LockedAllocator::new`], with a heap of `reserve` bytes.
    pub const fn with_reserve(build: fn(MemLib) -> A, reserve: usize) -> Self {
        LockedAllocator { state: Mutex::new(None), build, reserve }
    }

    /// Locks the strategy, building it first if this is the first use. `None` when the
    /// heap could not be reserved or the strategy could not be initialised.
    fn lock(&self) -> MutexGuard<'_, Option<A>> {
        let mut guard = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none()
            && let Ok(heap) = MemLib::reserve(self.reserve)
        {
            let mut strategy = (self.build)(heap);
            if strategy.init().is_ok() {
                *guard = Some(strategy);
            }
        }
        guard
    }

    /// Runs the strategy's heap checker under the lock (`Ok` before first use).
    pub fn check_heap(&self) -> Result<(), mm_core::HeapCheckError> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map_or(Ok(()), A::check_heap)
    }

    /// Runs `f` on the strategy, or returns null when there is none.
    fn with<R>(&self, f: impl FnOnce(&mut A) -> *mut R) -> *mut R {
        match self.lock().as_mut() {
            Some(strategy) => f(strategy),
            None => ptr::null_mut(),
        }
    }
}

/// When a hardened strategy (`--features hardened`) refused a `dealloc` or `realloc`
/// (double free, a pointer it never returned, an overwritten header), stops the program
/// as glibc does: carrying on would hide the bug. Writes its message without allocating.
fn abort_on_misuse<A: Allocator>(strategy: &mut A, call: &str) {
    if let Some(misuse) = strategy.take_misuse() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "mmlab: {call}(): {} (heap offset {:#x})",
            misuse.short(),
            misuse.offset()
        );
        std::process::abort();
    }
}

/// True when the strategy's own alignment already satisfies `layout`.
fn served_directly<A: Allocator>(strategy: &A, layout: Layout) -> bool {
    layout.align() <= strategy.alignment().get()
}

/// Allocates `layout` with an alignment larger than the strategy's, by over-allocating
/// and storing the block's address just below the aligned payload.
fn alloc_over_aligned<A: Allocator>(strategy: &mut A, layout: Layout) -> *mut u8 {
    let Some(total) = layout.size().checked_add(layout.align()).and_then(|n| n.checked_add(BACK_POINTER))
    else {
        return ptr::null_mut();
    };
    let Some(block) = strategy.malloc(total) else { return ptr::null_mut() };
    let start = block.as_ptr() as usize;
    let payload = (start + BACK_POINTER).next_multiple_of(layout.align());
    let aligned = block.as_ptr().wrapping_add(payload - start);
    // SAFETY: `payload - BACK_POINTER >= start` and `payload + size <= start + total`, so
    // both the back pointer and the payload lie inside the block just allocated; the
    // back pointer slot is 8-aligned because `payload` is (align >= 32 here).
    unsafe { aligned.sub(BACK_POINTER).cast::<usize>().write(start) };
    aligned
}

/// The block an over-aligned payload lives in.
///
/// # Safety
/// `ptr` was returned by [`alloc_over_aligned`] and is live.
unsafe fn over_aligned_block(ptr: *mut u8) -> NonNull<u8> {
    // SAFETY: the caller guarantees the back pointer below `ptr` was written by
    // `alloc_over_aligned`, which stores a non-null block address there.
    unsafe { NonNull::new_unchecked(ptr.sub(BACK_POINTER).cast::<usize>().read() as *mut u8) }
}

// SAFETY: every method locks the strategy, so it is used by one thread at a time; the
// strategy returns blocks that are aligned (directly, or by the over-aligned path), at
// least `layout.size()` long, and disjoint from every other live block (its contract,
// checked by the conformance kit); null reports failure.
unsafe impl<A: Allocator> GlobalAlloc for LockedAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with(|s| {
            if served_directly(s, layout) {
                s.malloc(layout.size()).map_or(ptr::null_mut(), NonNull::as_ptr)
            } else {
                alloc_over_aligned(s, layout)
            }
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(payload) = NonNull::new(ptr) else { return };
        if let Some(s) = self.lock().as_mut() {
            // SAFETY: `ptr` came from `alloc`/`realloc` with this `layout` (the
            // `GlobalAlloc` contract), so it is a live block of this strategy, or an
            // over-aligned payload whose block the back pointer names.
            unsafe {
                if served_directly(s, layout) {
                    s.free(payload);
                } else {
                    s.free(over_aligned_block(ptr));
                }
            }
            abort_on_misuse(s, "dealloc");
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.with(|s| {
            if served_directly(s, layout) {
                // SAFETY: `ptr` is a live block of this strategy (the `GlobalAlloc`
                // contract), and `new_size > 0`, so this is a resize, never a free.
                let moved = unsafe { s.realloc(NonNull::new(ptr), new_size) };
                abort_on_misuse(s, "realloc");
                return moved.map_or(ptr::null_mut(), NonNull::as_ptr);
            }
            // SAFETY: `layout.align()` is a power of two and `new_size` fits with it (the
            // `GlobalAlloc` contract).
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            let new = alloc_over_aligned(s, new_layout);
            if !new.is_null() {
                // SAFETY: both payloads are live, distinct, and at least
                // `min(old, new)` bytes long; the old block is freed once.
                unsafe {
                    ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    s.free(over_aligned_block(ptr));
                }
            }
            new
        })
    }
}
