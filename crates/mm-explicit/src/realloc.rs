//! The tuned list's `realloc` paths, tried in this order, taking as little new heap as
//! possible: shrink in place (the tail goes back to the list); grow in place into a free
//! right neighbour, then also into a free left neighbour (sliding the payload down),
//! then past the end of the heap when the block ends it; and only otherwise move the
//! block (allocate, copy, free).

use std::ptr::NonNull;

use mm_tags::{Block, OVERHEAD, Tag};

use crate::Explicit;
use crate::list::extend_capped;

impl Explicit {
    /// Shrinks the allocated `block` of `size` bytes to `asize`, giving the tail back
    /// (merged with a free right neighbour, and listed) when it is big enough to be a
    /// block of its own.
    pub(crate) fn shrink_in_place(&mut self, block: Block, size: usize, asize: usize) {
        if size - asize >= self.layout.min_block {
            block.set(&mut self.heap, Tag::allocated(asize));
            let tail = Block::at(block.offset() + asize);
            tail.set(&mut self.heap, Tag::allocated(size - asize));
            self.coalesce(tail, size - asize);
        }
    }

    /// Grows the allocated `block` of `size` bytes to at least `asize` bytes within its
    /// neighbourhood, taking as little new heap as possible: into a free right
    /// neighbour; when that is not enough, also into a free left neighbour (sliding the
    /// payload down); when even that is not enough and the block (with its right
    /// neighbour) ends the heap, past the end of the heap by the shortfall. Returns the
    /// block that now holds the payload (`block` or its left neighbour); `None`, with
    /// nothing changed, when the neighbourhood is too small.
    pub(crate) fn grow_in_place(&mut self, block: Block, size: usize, asize: usize) -> Option<Block> {
        let next = Block::at(block.offset() + size);
        let right = self.layout.free_right(&self.heap, next);
        let next_free = right.is_some();
        let free_after = right.unwrap_or(0);
        let beyond = Block::at(next.offset() + free_after);
        let mut start = block;
        let mut span = size + free_after;
        if span < asize
            && let Some((prev, prev_size)) = self.layout.free_left(&self.heap, block)
        {
            start = prev;
            span += prev_size;
        }
        if span < asize {
            if beyond != self.layout.epilogue(&self.heap)
                || extend_capped(&mut self.heap, &self.layout, asize - span).is_none()
            {
                return None;
            }
            span = asize;
        }
        let mut hint = None;
        if next_free {
            hint = Some(self.unlink(next));
        }
        if start != block {
            // Unlink first: the payload slides over the left neighbour's links.
            hint = Some(self.unlink(start));
            // Mark the old header free before the slide: where the copy does not
            // overwrite it, a `free` of the old pointer is then seen as a double free.
            self.heap.write(block.offset(), Tag::free(size).word());
            self.heap.copy_within(block.payload(), start.payload(), size - OVERHEAD);
        }
        self.place(start, span, asize, hint);
        Some(start)
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
