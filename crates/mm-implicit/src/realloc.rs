//! `realloc`'s paths, tried in this order: shrink in place (the tail goes back to the
//! free blocks), grow in place (into a free right neighbour, and past the end of the heap
//! when the block is the last one), and only otherwise move the block (allocate, copy,
//! free).

use std::ptr::NonNull;

use mm_tags::Block;

use crate::Implicit;

impl Implicit {
    /// Shrinks the allocated `block` of `size` bytes to `asize`, giving the tail back
    /// (merged with a free right neighbour) when it is big enough to be a block of its
    /// own.
    pub(crate) fn shrink_in_place(&mut self, block: Block, size: usize, asize: usize) {
        if let Some(tail) = self.layout.split(&mut self.heap, block, size, asize) {
            self.coalesce(tail, size - asize);
        }
    }

    /// Grows the allocated `block` of `size` bytes to at least `asize` without moving
    /// it: into a free right neighbour, and past the end of the heap by the shortfall
    /// when the block (with that neighbour) is the last one. False, with nothing
    /// changed, when neither is possible.
    pub(crate) fn grow_in_place(&mut self, block: Block, size: usize, asize: usize) -> bool {
        let next = Block::at(block.offset() + size);
        let free_after = self.layout.free_right(&self.heap, next).unwrap_or(0);
        let beyond = Block::at(next.offset() + free_after);
        let mut span = size + free_after;
        if span < asize {
            if beyond != self.layout.epilogue(&self.heap)
                || self.layout.extend(&mut self.heap, asize - span).is_none()
            {
                return false;
            }
            span = asize;
        }
        self.keep_rover_on_boundary(block, span);
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
    pub(crate) unsafe fn move_block(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }
}
