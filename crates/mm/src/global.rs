//! [`LockedAllocator`]: any strategy as the Rust `#[global_allocator]`.
//!
//! A strategy is single-threaded (`&mut self`); the wrapper puts it behind the
//! deployments' shared [lock](crate::lock) and builds it on first use over a heap
//! reserved straight from the OS ([`MemLib::reserve`]), so nothing it does goes through
//! the global allocator it is.
//!
//! * **Alignment.** Layouts whose alignment the strategy serves (16 bytes) go straight
//!   to it. A larger alignment is served by over-allocating: `size + align + 8` bytes,
//!   the payload at the first aligned address at least 8 bytes in, and the block's own
//!   address stored in the word just below the payload, where `dealloc` (which is told
//!   the layout) finds it.
//! * **realloc** goes to the strategy's `realloc`, which resizes in place when it can;
//!   only over-aligned blocks are moved by hand (allocate, copy, free).
//! * **Threads.** Small blocks go through per-thread [caches](crate::cache), so most
//!   calls take no lock; the rest take the lock, a futex that never allocates, and that
//!   a single-threaded program passes without atomics. Blocks in caches are allocated
//!   as far as the strategy knows: [`LockedAllocator::check_heap`] counts them as in
//!   use, and [`LockedAllocator::cached_bytes`] says how much they are.
//! * **Misuse** the strategy caught and refused in `dealloc` or `realloc` (a double
//!   free, a pointer it never returned) stops the program with a message, as glibc does:
//!   `mmlab: dealloc(): double free detected (heap offset 0x1070)`.
//! * **A corrupted heap**: when the strategy panics (it found its metadata
//!   inconsistent), the program stops with `mmlab: heap corrupted: alloc(): <the
//!   panic's message>`. The panic machinery's own allocations, made on this thread
//!   while it is inside the allocator, come from the
//!   [emergency reserve](crate::emergency), so the message gets out instead of the
//!   program hanging on its own lock.
//! * **Re-entry** from a signal handler that allocates stops the program with
//!   `mmlab: malloc was re-entered on a thread already inside it: ...` instead of
//!   deadlocking.
//! * **Out of memory** is a null return, as `GlobalAlloc` requires; the heap's
//!   reservation ([`DEFAULT_RESERVE`] unless given) is the ceiling.
//! * **[`LockedAllocator::check_heap`]** runs the strategy's checker under the lock. The
//!   checkers allocate nothing on a healthy heap; the report of a broken one is built
//!   in the emergency reserve, and can be dropped like any value.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::{self, NonNull};

use mm_core::{Allocator, HeapCheckError, Invariant, MemLib};

use crate::cache::{Backend, Push, ThreadCaches};
use crate::emergency;
use crate::lock::{Locked, Reentered};

/// The virtual range a [`LockedAllocator`] reserves by default: 8 GiB, committed by the
/// OS only as it is touched.
pub const DEFAULT_RESERVE: usize = 8 << 30;

/// Bytes below an over-aligned payload that hold the address of its block.
const BACK_POINTER: usize = size_of::<usize>();

/// How this deployment's messages start.
const WHO: &str = "mmlab:";

/// A strategy behind a lock, usable as `#[global_allocator]`.
pub struct LockedAllocator<A> {
    /// The strategy, built on first use. `None` until then, or if building failed.
    state: Locked<Option<A>>,
    /// Builds the strategy (un-initialised) over a heap.
    build: fn(MemLib) -> A,
    /// How much virtual memory the heap reserves.
    reserve: usize,
    /// The threads' caches of small free blocks, in front of the lock.
    caches: ThreadCaches,
}

/// The strategy as the caches see it: every block they are given is one of its own
/// (over-aligned blocks never reach them).
struct Direct<'a, A>(&'a mut A);

impl<A: Allocator> Backend for Direct<'_, A> {
    type Strategy = A;
    fn strategy(&mut self) -> &mut A {
        self.0
    }
    fn is_plain(&mut self, _: NonNull<u8>) -> bool {
        true
    }
    unsafe fn free_uncached(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller's contract: a live block of this strategy.
        unsafe { self.0.free(ptr) };
        abort_on_misuse(self.0, "dealloc");
    }
}

impl<A: Allocator> LockedAllocator<A> {
    /// A wrapper that will build its strategy with `build` over a heap of
    /// [`DEFAULT_RESERVE`] bytes when first used.
    pub const fn new(build: fn(MemLib) -> A) -> Self {
        Self::with_reserve(build, DEFAULT_RESERVE)
    }

    /// As [`LockedAllocator::new`], with a heap of `reserve` bytes.
    pub const fn with_reserve(build: fn(MemLib) -> A, reserve: usize) -> Self {
        LockedAllocator {
            state: Locked::new(WHO, None),
            build,
            reserve,
            caches: ThreadCaches::new(!crate::HARDENED),
        }
    }

    /// The strategy, building it first if this is the first use. `None` when the heap
    /// could not be reserved or the strategy could not be initialised.
    fn strategy<'s>(&self, state: &'s mut Option<A>) -> Option<&'s mut A> {
        if state.is_none()
            && let Ok(heap) = MemLib::reserve(self.reserve)
        {
            let mut strategy = (self.build)(heap);
            if strategy.init().is_ok() {
                *state = Some(strategy);
            }
        }
        state.as_mut()
    }

    /// Bytes held in threads' caches (at class size), after returning exited threads'
    /// blocks to the strategy.
    pub fn cached_bytes(&self) -> usize {
        let _ = self.state.with("cached_bytes", |state| {
            if let Some(s) = state.as_mut() {
                self.caches.reap(&mut Direct(s), WHO);
            }
        });
        self.caches.held_bytes()
    }

    /// Gives this thread's cached blocks (and exited threads') back to the strategy;
    /// returns the bytes the caches held. Other live threads keep theirs.
    pub fn flush_thread_cache(&self) -> usize {
        self.state
            .with("flush", |state| state.as_mut().map_or(0, |s| self.caches.flush_mine(&mut Direct(s), WHO)))
            .unwrap_or(0)
    }

    /// Runs the strategy's heap checker under the lock (`Ok` before first use).
    ///
    /// The checker reads the heap while holding the lock, so it must not allocate from
    /// it: on a healthy heap it allocates nothing, and the `String`s of an error report
    /// come from the emergency reserve (dropping the error later is harmless).
    pub fn check_heap(&self) -> Result<(), HeapCheckError> {
        // Not from this thread's cache either: a cached block is a block of this heap.
        let checked = crate::cache::without_cache(|| {
            self.state.with_allocating("check_heap", |state| state.as_ref().map_or(Ok(()), A::check_heap))
        });
        match checked {
            Ok(result) => result,
            // Called from inside the allocator on this same thread (a panic hook):
            // the heap is in use further up the stack and cannot be read now.
            Err(Reentered) => Err(HeapCheckError::new(
                0,
                Invariant::Other("not checked: this thread is already inside the allocator".into()),
            )),
        }
    }
}

/// Stops the program, as glibc does, when the strategy refused the last `dealloc` or
/// `realloc` (double free, a pointer it never returned, an overwritten header): carrying
/// on would hide the bug.
fn abort_on_misuse<A: Allocator>(strategy: &mut A, call: &str) {
    if let Some(misuse) = strategy.take_misuse() {
        crate::fatal::misuse(WHO, call, &misuse);
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

/// A new block of `new_size` bytes (alignment `layout.align()`) holding the first bytes
/// of `ptr`, a live block of `layout.size()` bytes, which is left as it is.
///
/// # Safety
/// `ptr` is live and holds `layout.size()` bytes; `new_size` is valid with that
/// alignment; `alloc` returns blocks of at least the layout's size, or null.
unsafe fn move_to(
    ptr: *mut u8,
    layout: Layout,
    new_size: usize,
    alloc: impl FnOnce(Layout) -> *mut u8,
) -> *mut u8 {
    // SAFETY: the caller's contract (`GlobalAlloc::realloc`'s).
    let new = alloc(unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) });
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct, `ptr` holds `layout.size()` bytes
        // and `new` holds `new_size`.
        unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
    }
    new
}

// SAFETY: every method locks the strategy, so it is used by one thread at a time; the
// strategy returns blocks that are aligned (directly, or by the over-aligned path), at
// least `layout.size()` long, and disjoint from every other live block (its contract,
// checked by the conformance kit); the emergency reserve returns aligned blocks that it
// never hands out twice; null reports failure.
unsafe impl<A: Allocator> GlobalAlloc for LockedAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(block) = self.caches.pop(layout.size(), layout.align()) {
            return block.as_ptr();
        }
        let served = self.state.with("alloc", |state| {
            let Some(s) = self.strategy(state) else { return ptr::null_mut() };
            if served_directly(s, layout) {
                self.caches
                    .malloc_locked(&mut Direct(s), layout.size(), WHO)
                    .map_or(ptr::null_mut(), NonNull::as_ptr)
            } else {
                alloc_over_aligned(s, layout)
            }
        });
        served.unwrap_or_else(|Reentered| emergency::alloc(layout.size(), layout.align()))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(payload) = NonNull::new(ptr) else { return };
        if emergency::contains(ptr) {
            return; // never reused
        }
        // Blocks too large to be cached are freed at once, not deferred.
        let cacheable =
            layout.align() <= self.caches.alignment() && layout.size() <= crate::cache::MAX_CACHED;
        let pushed = if cacheable { self.caches.push(payload) } else { Push::Locked };
        let pending = match pushed {
            Push::Done => return,
            Push::DoubleFree { offset } => {
                crate::fatal::misuse(WHO, "dealloc", &mm_core::Misuse::DoubleFree { offset })
            }
            Push::Sort => None,
            Push::Locked => Some(payload),
        };
        // `Err(Reentered)`: this thread is panicking inside the allocator, whose heap it
        // must not touch; the block is simply not freed.
        let _ = self.state.with("dealloc", |state| {
            let Some(s) = state.as_mut() else { return };
            // SAFETY: `ptr` came from `alloc`/`realloc` with this `layout` (the
            // `GlobalAlloc` contract), and is not the reserve's, so it is a live block
            // of this strategy, or an over-aligned payload whose block the back pointer
            // names.
            unsafe {
                if served_directly(s, layout) {
                    self.caches.free_locked(&mut Direct(s), pending, WHO);
                } else {
                    s.free(over_aligned_block(ptr));
                    abort_on_misuse(s, "dealloc");
                }
            }
        });
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if emergency::contains(ptr) {
            // A block of a heap check's report, grown by its owner: it moves to the heap.
            // SAFETY: `ptr` is live with `layout` (the `GlobalAlloc` contract).
            return unsafe { move_to(ptr, layout, new_size, |new| self.alloc(new)) };
        }
        let resized = self.state.with("realloc", |state| {
            let Some(s) = state.as_mut() else { return ptr::null_mut() };
            if served_directly(s, layout) {
                // SAFETY: `ptr` is non-null: `GlobalAlloc::realloc` is given a live block.
                let block = unsafe { NonNull::new_unchecked(ptr) };
                self.caches.before_realloc(&mut Direct(s), block, WHO);
                // SAFETY: `ptr` is a live block of this strategy (the `GlobalAlloc`
                // contract), and `new_size > 0`, so this is a resize, never a free.
                let moved = unsafe { s.realloc(NonNull::new(ptr), new_size) };
                abort_on_misuse(s, "realloc");
                return moved.map_or(ptr::null_mut(), NonNull::as_ptr);
            }
            // SAFETY: `ptr` is live with `layout`; the new block comes from this
            // strategy, and the old one is freed once, after the copy.
            unsafe {
                let new = move_to(ptr, layout, new_size, |new| alloc_over_aligned(s, new));
                if !new.is_null() {
                    s.free(over_aligned_block(ptr));
                    abort_on_misuse(s, "realloc");
                }
                new
            }
        });
        resized.unwrap_or_else(|Reentered| {
            // Panicking inside the allocator: copy into the reserve, leave the old
            // block alone (its bytes are read, its metadata is not).
            // SAFETY: `ptr` is live with `layout`.
            unsafe { move_to(ptr, layout, new_size, |new| emergency::alloc(new.size(), new.align())) }
        })
    }
}
