//! `dlmalloc`: the dlmalloc crate (0.2), a port of Doug Lea's malloc, over an `sbrk`
//! system allocator.
//!
//! dlmalloc is the boundary-tag allocator most others are measured against. Chunks carry
//! a one-word header (size, this-in-use and previous-in-use bits) and, when free, a
//! footer, so neighbours merge in O(1). Free chunks under 256 bytes sit in 32 *small
//! bins* of one exact size each (a bitmap finds the next non-empty one); larger ones in
//! 32 *tree bins*, each a bitwise trie keyed on the size, which gives best fit in
//! O(log size). Two special chunks do the rest: the *designated victim*, the remainder
//! of the last split, which serves runs of small requests from one place (locality),
//! and the *top* chunk at the end of the heap, the only one that can grow.
//!
//! **Memory source.** dlmalloc calls its system allocator ([`dlmalloc::Allocator`])
//! from its own `sys_alloc`, asking for the request plus the top chunk's footer,
//! rounded up to its *granularity*. Ours `sbrk`s exactly that; because the new memory
//! starts where the top chunk ends, dlmalloc extends its segment instead of starting
//! another. The granularity is set to the simulated heap's page (4 KiB), which is C
//! dlmalloc's default over `sbrk` (the crate's default, 64 KiB, is meant for `mmap`
//! and WebAssembly pages). The simulated heap never shrinks, so the system allocator
//! cannot release anything: `free`, `free_part` and `remap` refuse, and
//! `can_release_part` is false. This port of dlmalloc has no `mmap` threshold: every
//! chunk comes from the heap.
//!
//! **Layouts.** We call dlmalloc through its Rust API (`malloc`, `free`, `realloc` with
//! size and alignment), as std's WebAssembly allocator does, so it gets the layout from
//! the [side table](crate::side_table); dlmalloc asserts that it matches the chunk
//! (`validate_size`). **Realloc** is dlmalloc's own: in place when the chunk shrinks
//! or can take its next neighbour, the victim or the top chunk, else a move; above the
//! 16-byte natural alignment it always moves (dlmalloc does not keep over-alignment in
//! place). **`check_heap`** checks the side table (aligned, inside the heap, disjoint);
//! dlmalloc's own invariant checks exist only in its `debug` builds and see no public
//! API, so they are not run.

use std::cell::RefCell;
use std::ptr::{self, NonNull};

use ::dlmalloc::Dlmalloc;
use mm_core::{Align, Allocator, HeapCheckError, InitError, MemLib};

use crate::side_table::SideTable;
use crate::{PAGE, request};

/// dlmalloc over the simulated heap.
pub struct DlmallocPeer {
    dl: Dlmalloc<MemlibSystem>,
    table: SideTable,
    align: Align,
    /// Whether `init` has run: before it nothing is allocated (the contract's rule).
    ready: bool,
}

/// dlmalloc's system allocator: the simulated heap. dlmalloc calls it through `&self`,
/// so the heap sits in a `RefCell`; it is always `Some`, except for the instant
/// [`DlmallocPeer::init`] moves it into a fresh dlmalloc.
struct MemlibSystem {
    heap: RefCell<Option<MemLib>>,
}

// SAFETY: `alloc` returns memory that `sbrk` just handed out (so nothing else uses it),
// which the simulated heap keeps allocated for as long as dlmalloc (which owns it)
// lives; every other method refuses, as the contract allows.
unsafe impl ::dlmalloc::Allocator for MemlibSystem {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let Ok(mut heap) = self.heap.try_borrow_mut() else { return (ptr::null_mut(), 0, 0) };
        match heap.as_mut().map(|heap| heap.extend(size)) {
            Some(Ok(base)) => (base.as_ptr(), size, 0),
            _ => (ptr::null_mut(), 0, 0),
        }
    }

    fn remap(&self, _ptr: *mut u8, _oldsize: usize, _newsize: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _oldsize: usize, _newsize: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    /// `reset_brk` keeps the old bytes, so fresh heap memory is not zero.
    fn allocates_zeros(&self) -> bool {
        false
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

impl DlmallocPeer {
    /// dlmalloc over `heap`, serving payloads aligned to `align`; call `init` before use.
    pub fn new(heap: MemLib, align: Align) -> DlmallocPeer {
        DlmallocPeer { dl: Self::fresh(Some(heap)), table: SideTable::new(), align, ready: false }
    }

    fn fresh(heap: Option<MemLib>) -> Dlmalloc<MemlibSystem> {
        let mut dl = Dlmalloc::new_with_allocator(MemlibSystem { heap: RefCell::new(heap) });
        let accepted = dl.set_granularity(PAGE);
        debug_assert!(accepted, "a page is a valid granularity");
        dl
    }
}

impl Allocator for DlmallocPeer {
    fn describe(&self) -> String {
        "dlmalloc 0.2: Doug Lea's malloc, exact small bins, tries of large chunks, top chunk; sbrk in 4 KiB granules"
            .to_owned()
    }

    fn heap(&self) -> &MemLib {
        // SAFETY: the heap is borrowed mutably only inside `MemlibSystem::alloc`, which
        // dlmalloc calls only from methods that take `&mut self.dl`; while the returned
        // reference borrows `self`, none of them can run.
        let heap = unsafe { self.dl.allocator().heap.try_borrow_unguarded() };
        heap.ok().and_then(Option::as_ref).expect("the heap is only moved out inside init")
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        self.dl.allocator_mut().heap.get_mut().as_mut().expect("the heap is only moved out inside init")
    }

    fn alignment(&self) -> Align {
        self.align
    }

    fn init(&mut self) -> Result<(), InitError> {
        let heap = self.dl.allocator_mut().heap.get_mut().take();
        self.dl = Self::fresh(heap);
        self.table.clear();
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let layout = request(self.heap(), size, self.align, self.ready)?;
        // SAFETY: `layout` is a valid layout; dlmalloc accepts any size and returns null
        // when it cannot serve it.
        let ptr = NonNull::new(unsafe { self.dl.malloc(layout.size(), layout.align()) })?;
        self.table.insert(ptr, layout);
        Some(ptr)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some(layout) = self.table.remove(ptr) {
            // SAFETY: the table holds exactly dlmalloc's live blocks with the size and
            // alignment each was allocated (or last resized) with.
            unsafe { self.dl.free(ptr.as_ptr(), layout.size(), layout.align()) }
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.table.get(ptr).map_or(0, |layout| layout.size())
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let old = self.table.get(ptr)?;
        let new = request(self.heap(), size, self.align, self.ready)?;
        // SAFETY: `ptr` is live with layout `old`; `new.size()` is non-zero and a valid
        // size at that alignment. On failure dlmalloc returns null and `ptr` stays live.
        let moved =
            NonNull::new(unsafe { self.dl.realloc(ptr.as_ptr(), old.size(), old.align(), new.size()) })?;
        self.table.remove(ptr);
        self.table.insert(moved, new);
        Some(moved)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.table.check(self.heap(), self.align)
    }
}
