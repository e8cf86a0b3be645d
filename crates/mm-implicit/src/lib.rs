//! # mm-implicit: the textbook implicit free list
//!
//! The allocator of CS:APP §9.9: every block, free or allocated, carries its size in a
//! one-word header and an identical footer (*boundary tags*), so the blocks form an
//! *implicit* list walked by adding sizes. There is no separate free list: finding a
//! fit walks all blocks ([`Placement`] picks first, next or best fit), and freeing
//! merges a block with free neighbours at once (*immediate coalescing*), so no two free
//! blocks ever touch.
//!
//! ## Heap layout
//!
//! ```text
//!  heap_lo (page aligned)                                              brk
//!  |  pad  | prologue  |  block                      |  block  ... | epilogue |
//!  |       | hdr | ftr | hdr | payload         | ftr | hdr | ...   |   hdr    |
//!  |       | 16/a| 16/a|  size/flags     ...   | s/f |             |   0/a    |
//!                           ^ first payload: aligned to `align`
//! ```
//!
//! The layout, its tags and the checks on them are the boundary-tag layer's
//! ([`mm_tags`]), which the explicit lists share:
//!
//! * Tags are one word (see [`Tag`]): the size, a multiple of the alignment, with
//!   [`TagFlags::ALLOCATED`] in the low bits.
//! * The *prologue* is an allocated block of just its two tags and the *epilogue* a
//!   zero-size allocated header at `brk - 8`. They turn the edge cases of coalescing
//!   into the common case: the first block's left neighbour and the last block's right
//!   neighbour are always "allocated".
//! * Payloads sit one word after their header and block sizes are multiples of the
//!   alignment, so one aligned first payload aligns them all. The padding before the
//!   prologue makes that happen for any alignment from 8 to 4096.
//!
//! ## Policies and trade-offs
//!
//! * **Split** a fit when the leftover can stand alone as a block (at least the
//!   minimum block: two tags, rounded to the alignment); otherwise hand out the whole
//!   block and accept the internal fragmentation.
//! * **Coalesce** immediately, with all four boundary-tag cases (neither, left, right,
//!   both neighbours free): `free` costs O(1) and the heap never holds adjacent free
//!   blocks, at the price of splitting again blocks that are soon reused.
//! * **Grow** the heap only by what is missing. With no fit, if the last block is free
//!   the heap grows by the request minus its size and the two merge; otherwise by the
//!   request. There is no fixed `CHUNKSIZE` as in the book: a big chunk saves a few
//!   `sbrk` calls but leaves a free tail that counts against utilization.
//! * **Resize in place** where the neighbourhood allows: shrink by splitting off the
//!   tail (which merges with a free right neighbour), grow into a free right neighbour,
//!   grow the last block by extending the heap by only the shortfall; otherwise
//!   allocate, copy and free.
//! * Footers in allocated blocks cost a word per block; keeping them makes every block
//!   look alike to the checker and keeps the code the textbook's.
//!
//! Every search is linear in the number of blocks, which is what the explicit and
//! segregated strategies improve on.
//!
//! ## The steps
//!
//! Every strategy of the lab names its steps alike. Here:
//!
//! * `malloc`: `find_fit` (the walk of [`Placement`]), else `extend_heap`; then `place`
//!   (split the fit when the rest can be a block).
//! * `free`: mark the block free, then `coalesce` (the four boundary-tag cases).
//! * `realloc` (`src/realloc.rs`): `shrink_in_place`, else `grow_in_place`, else
//!   `move_block` (allocate, copy, free).
//!
//! Build it with `Implicit::new(heap, config)` (the lab's one constructor shape: a heap
//! and anything that converts into the strategy's `Copy` configuration, a bare [`Align`]
//! giving the default policy), then call [`Allocator::init`].
//!
//! ## Invariants
//!
//! [`Allocator::check_heap`] verifies these and reports each broken one as the typed
//! value named (tests match the value, not the message). Rules 1 to 7 are the
//! boundary-tag layout's ([`mm_tags`] lists them): the prologue (`BadPrologue`); block
//! sizes (`SizeNotAligned`, `TooSmall`, `PastHeapEnd`); aligned payloads
//! (`PayloadMisaligned`); footer equals header (`HeaderFooterMismatch`); no unknown flag
//! bits ([`TagRule::UnknownFlags`]); no two free blocks touch (`Uncoalesced`); the
//! epilogue at `brk - 8` (`BadEpilogue`). The implicit list adds one:
//!
//! 8. Next fit's rover names a block boundary that the walk passes, or the epilogue
//!    ([`ImplicitRule::RoverOffBoundary`]).
//!
//! `check_heap` before `init` returns `Ok(())`: the heap has nothing in it to check (the
//! workspace's one rule for every strategy). Before `init`, too, `malloc` and `realloc`
//! fail, `free` refuses every pointer (an invalid pointer), [`Allocator::heap_spans`] is
//! `None` and [`Allocator::check_neighbourhood`] is `Ok`.
//!
//! ## Misuse
//!
//! Every build checks each pointer given to `free` and `realloc` before it trusts a tag
//! ([`guard`]): the pointer must be a payload position of the heap whose header says
//! allocated, or the call changes nothing and the misuse, an invalid pointer or a
//! double free, is kept for [`Allocator::take_misuse`] (the C library and the preload
//! library abort on it, as glibc does). `free` marks the block's header free before
//! merging, so a second free of the same pointer is seen even once the block is part
//! of a larger free block. The block's size must fit the heap and its footer equal its
//! header, and a free neighbour's tags must agree before it is merged, or the call
//! stops with a [`Corruption`] panic that names the broken rule ("invalid block
//! size", "corrupted size vs. prev_size"); the search stops likewise at a size that
//! leaves the heap. Every tag is read and written through bounds-checked accessors
//! besides, so no bytes a program writes past the end of its blocks make the allocator
//! touch memory outside its heap. A write into a freed block touches nothing the
//! allocator reads: free blocks keep no metadata in their payload.
//!
//! The hardened mode ([`mm_core::hardened`]) knows every live block, so it also catches
//! the double free of a block handed out again, and before each `free` and `realloc` it
//! asks [`Allocator::check_neighbourhood`]: the block's tags and both neighbours'. An
//! overflow of up to 16 bytes (the block's footer, then the next header) is reported at
//! the latest when the block or its neighbour is freed.

pub mod check;
mod placement;
mod realloc;

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};

pub use crate::check::ImplicitRule;
pub use crate::placement::Placement;
// The boundary-tag layer lived here before it became its own crate (`mm-tags`, which the
// explicit lists use too); its names stay reachable where they were.
pub use mm_tags::{
    Block, OVERHEAD, Tag, TagFlags, TagRule, TaggedLayout, WORD, check_tagged_heap, guard, tagged_heap_spans,
    walk,
};

/// How to build an [`Implicit`] allocator. [`Implicit::new`] also takes a bare
/// [`Align`], which converts into the default configuration with that alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ImplicitConfig {
    /// The alignment of every payload (default 8).
    pub align: Align,
    /// The fit policy (default first fit).
    pub placement: Placement,
}

impl ImplicitConfig {
    /// A configuration with the given alignment and fit policy.
    pub const fn new(align: Align, placement: Placement) -> Self {
        ImplicitConfig { align, placement }
    }
}

impl From<Align> for ImplicitConfig {
    fn from(align: Align) -> Self {
        ImplicitConfig { align, ..ImplicitConfig::default() }
    }
}

/// The implicit-free-list allocator. Build it with [`Implicit::new`], then call
/// [`Allocator::init`] before anything else.
#[derive(Debug)]
pub struct Implicit {
    heap: MemLib,
    config: ImplicitConfig,
    layout: TaggedLayout,
    /// Next fit's resume point: always a block boundary (possibly the epilogue).
    /// `None` under the other policies.
    rover: Option<Block>,
    /// Set by a successful `init`; until then every request fails.
    ready: bool,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl Implicit {
    /// An allocator that will live in `heap`. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: impl Into<ImplicitConfig>) -> Self {
        let config = config.into();
        Implicit {
            heap,
            config,
            layout: TaggedLayout::new(config.align, OVERHEAD),
            rover: None,
            ready: false,
            misuse: None,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> ImplicitConfig {
        self.config
    }

    fn payload_ptr(&self, block: Block) -> NonNull<u8> {
        self.heap.ptr_at(block.payload())
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, with its size
    /// (see [`guard`]); a refused pointer is kept for [`Allocator::take_misuse`].
    #[inline]
    fn live_block(&mut self, ptr: NonNull<u8>) -> Option<(Block, usize)> {
        match self.layout.live_block(&self.heap, ptr) {
            Ok(live) => Some(live),
            Err(misuse) => {
                self.refuse(misuse);
                None
            }
        }
    }

    /// Keeps a refused pointer's misuse for [`Allocator::take_misuse`].
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, misuse: Misuse) {
        self.misuse = Some(misuse);
    }

    /// The free block a request of `asize` bytes goes in, by the fit policy.
    fn find_fit(&self, asize: usize) -> Option<Block> {
        let first = self.layout.first;
        match (self.config.placement, self.rover) {
            (Placement::NextFit, Some(rover)) => placement::next_fit(&self.heap, first, rover, asize),
            (Placement::BestFit, _) => placement::best_fit(&self.heap, first, asize),
            _ => placement::first_fit(&self.heap, first, asize),
        }
    }

    /// Grows the heap so that a free block of at least `asize` bytes ends it, asking
    /// `sbrk` only for what the current free last block (if any) lacks.
    #[cold]
    #[inline(never)]
    fn extend_heap(&mut self, asize: usize) -> Option<Block> {
        let old_epilogue = self.layout.epilogue(&self.heap);
        let last = self.layout.free_left(&self.heap, old_epilogue);
        let (block, have) = last.unwrap_or((old_epilogue, 0));
        let missing = asize - have;
        self.layout.extend(&mut self.heap, missing)?;
        block.set(&mut self.heap, Tag::free(have + missing));
        Some(block)
    }

    /// Makes the free `block`, spanning `span` bytes, an allocated block of `asize`,
    /// splitting off the rest as a free block when it is big enough to be one
    /// ([`TaggedLayout::split`]). The caller guarantees the block after the span is
    /// allocated, so the rest needs no coalescing.
    fn place(&mut self, block: Block, span: usize, asize: usize) {
        self.layout.split(&mut self.heap, block, span, asize);
    }

    /// Merges the free `block` of `size` bytes with whichever neighbours are free (the
    /// four boundary-tag cases) and returns the merged block. A neighbour is merged only
    /// once its tags are checked ([`guard`]); `block`'s own header stays as written, so
    /// inside a merged block it still says free.
    fn coalesce(&mut self, block: Block, size: usize) -> Block {
        let heap = &self.heap;
        let left = self.layout.free_left(heap, block);
        let right = self.layout.free_right(heap, Block::at(block.offset() + size));
        let (start, total) = match (left, right) {
            (None, None) => return block,
            (None, Some(next_size)) => (block, size + next_size),
            (Some((prev, prev_size)), None) => (prev, prev_size + size),
            (Some((prev, prev_size)), Some(next_size)) => (prev, prev_size + size + next_size),
        };
        start.set(&mut self.heap, Tag::free(total));
        self.keep_rover_on_boundary(start, total);
        start
    }

    /// Next fit's rover must name a block: if `[start, start + size)` just swallowed the
    /// block it named, it moves to `start`.
    fn keep_rover_on_boundary(&mut self, start: Block, size: usize) {
        if let Some(rover) = self.rover
            && start < rover
            && rover.offset() < start.offset() + size
        {
            self.rover = Some(start);
        }
    }
}

impl Allocator for Implicit {
    fn describe(&self) -> String {
        format!("implicit free list, {}, boundary tags, immediate coalescing", self.config.placement)
    }

    fn heap(&self) -> &MemLib {
        &self.heap
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        &mut self.heap
    }

    fn alignment(&self) -> Align {
        self.config.align
    }

    /// Lays out padding, prologue and epilogue on an empty heap
    /// ([`TaggedLayout::lay_out`]: the break is reset first, so a second `init` without
    /// `reset_brk` also starts over).
    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.rover = None;
        self.layout.lay_out(&mut self.heap)?;
        if self.config.placement == Placement::NextFit {
            self.rover = Some(self.layout.first);
        }
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let asize = self.layout.adjusted(size)?;
        let block = match self.find_fit(asize) {
            Some(block) => block,
            None => self.extend_heap(asize)?,
        };
        let span = block.size(&self.heap);
        self.place(block, span, asize);
        if self.rover.is_some() {
            self.rover = Some(block);
        }
        Some(self.payload_ptr(block))
    }

    /// Frees `ptr`, or refuses it ([`guard`]): a pointer that is no payload of the
    /// heap, or whose header says free, is kept for [`Allocator::take_misuse`] and
    /// nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, size)) = self.live_block(ptr) {
            block.set(&mut self.heap, Tag::free(size));
            self.coalesce(block, size);
        }
    }

    /// 0 for a pointer that is no payload of the heap ([`TaggedLayout::usable_size`]).
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.layout.usable_size(&self.heap, ptr)
    }

    /// Refuses `ptr` as `free` does (returning `None`) before anything else; then
    /// resizes in place or moves (`src/realloc.rs`).
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, current) = self.live_block(ptr)?;
        let asize = self.layout.adjusted(size)?;
        if asize <= current {
            self.shrink_in_place(block, current, asize);
            return Some(ptr);
        }
        if self.grow_in_place(block, current, asize) {
            return Some(ptr);
        }
        // SAFETY: the caller guarantees `ptr` is live, and nothing above changed it.
        unsafe { self.move_block(ptr, size) }
    }

    /// Rules 1 to 8 of the crate docs; `Ok(())` before `init`.
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.check()
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// `free`'s checks without freeing ([`mm_tags::TaggedLayout::check_free`]).
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        self.layout.check_free(&self.heap, ptr)
    }

    /// The block's tags and its neighbours' ([`TaggedLayout::neighbourhood`]); `Ok`
    /// before `init`.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        self.layout.neighbourhood(&self.heap, ptr).map(|_| ())
    }

    /// Padding, prologue and epilogue, tags, payloads and free blocks (see
    /// [`tagged_heap_spans`]); `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        tagged_heap_spans(&self.heap, self.layout)
    }
}

#[cfg(test)]
mod tests;
