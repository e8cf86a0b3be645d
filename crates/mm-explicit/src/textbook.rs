//! The textbook explicit free list (`explicit-textbook`): the list of CS:APP §9.9.13
//! with nothing added, the baseline that [`Explicit`](crate::Explicit)'s tuning is
//! measured against.
//!
//! * **malloc**: first fit, walking the list from the front; a fit with enough left
//!   over is split and the rest goes to the front of the list. With no fit the heap
//!   grows by what is missing (a free last block is topped up), as on the implicit list.
//! * **free**: immediate coalescing with the four boundary-tag cases (a swallowed
//!   neighbour is unlinked in O(1) through its prev link), and the result goes to the
//!   front of the list (LIFO).
//! * **realloc**: the implicit list's paths: shrink in place, grow into a free right
//!   neighbour or past the end of the heap, otherwise allocate, copy and free.
//!
//! What it leaves out, and the tuned list adds: the wilderness kept at the back, merged
//! blocks and split remainders keeping their place in the list, large blocks at the
//! back, the fit bound, and the slide into a free left neighbour in `realloc`.
//! `docs/explicit.md` says what each costs or gains.
//!
//! The list mechanism (`src/list.rs`), the heap layout and the misuse checks are the
//! tuned list's, so the two differ only in policy; the checker verifies rules 1 to 13 of
//! the crate docs (the textbook list keeps no order, no place for the wilderness and no
//! fit bound).

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};
use mm_tags::{Block, Tag, TaggedLayout};

use crate::MIN_CONTENT;
use crate::list::{FreeList, extend_capped};

/// How to build an [`ExplicitTextbook`] allocator. [`ExplicitTextbook::new`] also takes
/// a bare [`Align`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExplicitTextbookConfig {
    /// The alignment of every payload (default 8).
    pub align: Align,
}

impl ExplicitTextbookConfig {
    /// A configuration with the given alignment.
    pub const fn new(align: Align) -> Self {
        ExplicitTextbookConfig { align }
    }
}

impl From<Align> for ExplicitTextbookConfig {
    fn from(align: Align) -> Self {
        ExplicitTextbookConfig { align }
    }
}

/// The textbook explicit-free-list allocator: LIFO, first fit, immediate coalescing.
/// Build it with [`ExplicitTextbook::new`], then call [`Allocator::init`] before
/// anything else.
#[derive(Debug)]
pub struct ExplicitTextbook {
    /// The simulated heap, laid out as on the implicit list once `ready`, and never more
    /// than [`MAX_HEAP`](crate::MAX_HEAP) bytes.
    pub(crate) heap: MemLib,
    /// Fixed at construction.
    config: ExplicitTextbookConfig,
    /// Derived from `config.align`; fixed at construction.
    pub(crate) layout: TaggedLayout,
    /// The free list: every free block exactly once and nothing else, in no particular
    /// order (each newly free block went to the front).
    pub(crate) list: FreeList,
    /// Set by a successful `init`; until then every request fails.
    pub(crate) ready: bool,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl ExplicitTextbook {
    /// An allocator that will live in `heap`. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: impl Into<ExplicitTextbookConfig>) -> Self {
        let config = config.into();
        ExplicitTextbook {
            heap,
            config,
            layout: TaggedLayout::new(config.align, MIN_CONTENT),
            list: FreeList::default(),
            ready: false,
            misuse: None,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> ExplicitTextbookConfig {
        self.config
    }

    fn payload_ptr(&self, block: Block) -> NonNull<u8> {
        self.heap.ptr_at(block.payload())
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, with its size
    /// (see [`mm_tags::guard`]); a refused pointer is kept for
    /// [`Allocator::take_misuse`].
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

    /// Puts the free, unlisted `block` at the front of the list.
    fn push_front(&mut self, block: Block) {
        let front = self.list.front();
        self.list.link(&mut self.heap, block, front);
    }

    /// The first block of at least `asize` bytes, from the front of the list.
    fn find_fit(&self, asize: usize) -> Option<Block> {
        self.list.first_fit(&self.heap, asize).ok()
    }

    /// Grows the heap so that a block of `asize` bytes ends it, asking `sbrk` only for
    /// what the free last block (if any) lacks. Returns that block, unlisted, with stale
    /// tags.
    #[cold]
    #[inline(never)]
    fn extend_heap(&mut self, asize: usize) -> Option<Block> {
        let old_epilogue = self.layout.epilogue(&self.heap);
        if let Some((last, size)) = self.layout.free_left(&self.heap, old_epilogue) {
            // No fit was found, so the free last block is smaller than `asize`.
            extend_capped(&mut self.heap, &self.layout, asize - size)?;
            self.list.unlink(&mut self.heap, &self.layout, last);
            Some(last)
        } else {
            extend_capped(&mut self.heap, &self.layout, asize)?;
            Some(old_epilogue)
        }
    }

    /// Makes the unlisted `block`, spanning `span` bytes, an allocated block of `asize`;
    /// the rest, when it can be a block, goes to the front of the list. The caller
    /// guarantees the block after the span is allocated, so the rest needs no
    /// coalescing.
    fn place(&mut self, block: Block, span: usize, asize: usize) {
        if let Some(remainder) = self.layout.split(&mut self.heap, block, span, asize) {
            self.push_front(remainder);
        }
    }

    /// Frees the block at `block` of `size` bytes (not listed): merges it with
    /// whichever neighbours are free (the four boundary-tag cases), their tags and links
    /// checked first, and puts the result at the front of the list.
    fn coalesce(&mut self, block: Block, size: usize) {
        let next = Block::at(block.offset() + size);
        let left = self.layout.free_left(&self.heap, block);
        let right = self.layout.free_right(&self.heap, next);
        let mut start = block;
        let mut total = size;
        if let Some(next_size) = right {
            total += next_size;
            self.list.unlink(&mut self.heap, &self.layout, next);
        }
        if let Some((prev, prev_size)) = left {
            start = prev;
            total += prev_size;
            self.list.unlink(&mut self.heap, &self.layout, prev);
            // The block's own header is now inside the merged block: mark it free, so
            // that a second `free` of the same pointer is seen as one.
            self.heap.write(block.offset(), Tag::free(size).word());
        }
        start.set(&mut self.heap, Tag::free(total));
        self.push_front(start);
    }

    /// Shrinks the allocated `block` of `size` bytes to `asize`, freeing the tail (merged
    /// with a free right neighbour) when it is big enough to be a block of its own.
    fn shrink_in_place(&mut self, block: Block, size: usize, asize: usize) {
        if size - asize >= self.layout.min_block {
            block.set(&mut self.heap, Tag::allocated(asize));
            let tail = Block::at(block.offset() + asize);
            tail.set(&mut self.heap, Tag::allocated(size - asize));
            self.coalesce(tail, size - asize);
        }
    }

    /// Grows the allocated `block` of `size` bytes to at least `asize` without moving
    /// it: into a free right neighbour, and past the end of the heap by the shortfall
    /// when the block (with that neighbour) is the last one. False, with nothing
    /// changed, when neither is possible.
    fn grow_in_place(&mut self, block: Block, size: usize, asize: usize) -> bool {
        let next = Block::at(block.offset() + size);
        let right = self.layout.free_right(&self.heap, next);
        let free_after = right.unwrap_or(0);
        let mut span = size + free_after;
        if span < asize {
            let beyond = Block::at(next.offset() + free_after);
            if beyond != self.layout.epilogue(&self.heap)
                || extend_capped(&mut self.heap, &self.layout, asize - span).is_none()
            {
                return false;
            }
            span = asize;
        }
        if right.is_some() {
            self.list.unlink(&mut self.heap, &self.layout, next);
        }
        self.place(block, span, asize);
        true
    }

    /// Moves the live block behind `ptr` to a new block of `size` bytes: allocate, copy,
    /// free ([`mm_core::resize_by_moving`]).
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator.
    #[cold]
    #[inline(never)]
    unsafe fn move_block(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }
}

impl Allocator for ExplicitTextbook {
    fn describe(&self) -> String {
        "explicit free list, textbook LIFO, first fit, boundary tags, immediate coalescing".to_string()
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
    /// ([`TaggedLayout::lay_out`]) and empties the list.
    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.list = FreeList::default();
        self.layout.lay_out(&mut self.heap)?;
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let asize = self.layout.adjusted(size)?;
        let (block, span) = match self.find_fit(asize) {
            Some(block) => {
                self.list.unlink(&mut self.heap, &self.layout, block);
                (block, block.size(&self.heap))
            }
            None => (self.extend_heap(asize)?, asize),
        };
        self.place(block, span, asize);
        Some(self.payload_ptr(block))
    }

    /// Frees `ptr`, or refuses it ([`mm_tags::guard`]): a pointer that is no payload of
    /// the heap, or whose header says free, is kept for [`Allocator::take_misuse`] and
    /// nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, size)) = self.live_block(ptr) {
            self.coalesce(block, size);
        }
    }

    /// 0 for a pointer that is no payload of the heap ([`TaggedLayout::usable_size`]).
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.layout.usable_size(&self.heap, ptr)
    }

    /// Refuses `ptr` as `free` does (returning `None`) before anything else; then
    /// shrinks or grows in place, or moves.
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

    /// Rules 1 to 13 of the crate docs; `Ok(())` before `init`.
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

    /// The block's tags and its neighbours', and the list links of a free neighbour,
    /// which `free` would unlink; `Ok` before `init`.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        self.list.check_neighbourhood(&self.heap, &self.layout, ptr)
    }

    /// As for the tuned list ([`mm_tags::tagged_heap_spans`]); `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        mm_tags::tagged_heap_spans(&self.heap, self.layout)
    }
}

#[cfg(test)]
mod tests;
