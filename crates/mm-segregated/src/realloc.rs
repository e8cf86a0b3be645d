//! `realloc` ([`Allocator::resize`](mm_core::Allocator::resize)): in place whenever
//! possible, and never by growing the heap while a listed free block would do.
//!
//! The paths, in the order [`Segregated::resize_block`] tries them (the crate docs say
//! why this order):
//!
//! 1. `shrink_in_place`: the new size fits; the tail is split off only below half;
//! 2. `grow_in_place`: the free right neighbour holds what is missing;
//! 3. `grow_into_left`: the free left neighbour (and the right one) hold it; the
//!    payload slides down;
//! 4. `move_into_fit`: a listed free block holds the new size; the payload moves;
//! 5. `grow_at_heap_end`: the block ends the heap (or a free top follows it); the heap
//!    grows by just the missing amount;
//! 6. `move_block`: allocate at the end, copy, free.
//!
//! The first two are the fast path; the others are `#[cold]`.

use std::ptr::NonNull;

use crate::block::{Block, HEADER, MAX_BLOCK, MAX_HEAP, allocated};
use crate::freelist::check_free_tags;
use crate::{Header, HeaderFlags, SHRINK_SPLIT_DIVISOR, Segregated};

impl Segregated {
    /// Resizes the live block at `ptr` to hold `size > 0` bytes, refusing a misused
    /// pointer as `free` does (returning `None` with nothing changed).
    ///
    /// # Safety
    /// As [`Allocator::resize`](mm_core::Allocator::resize): `ptr` is a live block of
    /// this allocator.
    pub(crate) unsafe fn resize_block(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, current) = self.live_block(ptr)?;
        let asize = self.adjusted(size)?;
        self.observe(asize);
        if asize <= current {
            self.shrink_in_place(block, current, asize);
            return Some(ptr);
        }
        if self.grow_in_place(block, current, asize) {
            return Some(ptr);
        }
        if let Some(moved) = self.grow_into_left(block, current, asize) {
            return Some(self.payload_ptr(moved));
        }
        // Growing the last block with the heap would leave free memory elsewhere
        // unused: move into a free block that fits, if there is one.
        if let Some(moved) = self.move_into_fit(block, current, asize) {
            return Some(self.payload_ptr(moved));
        }
        if self.grow_at_heap_end(block, current, asize) {
            return Some(ptr);
        }
        // SAFETY: the caller guarantees `ptr` is live; nothing above changed it.
        unsafe { self.move_block(ptr, size) }
    }

    /// Shrinks the allocated `block` of `size` bytes to `asize <= size`. A block that
    /// keeps at least half its size stays whole: what shrinks a little often grows
    /// back, and a freed tail would be nibbled by the next small requests, forcing that
    /// regrowth to move the block.
    fn shrink_in_place(&mut self, block: Block, size: usize, asize: usize) {
        if asize < size / SHRINK_SPLIT_DIVISOR {
            self.split_off_tail(block, size, asize);
        }
    }

    /// Shrinks the allocated `block` of `size` bytes to `asize`, freeing the tail if it
    /// can stand alone.
    fn split_off_tail(&mut self, block: Block, size: usize, asize: usize) {
        if size - asize < self.min_block {
            return;
        }
        let header = block.header(&self.heap);
        block.set_header(&mut self.heap, Header::new(asize, allocated(header.prev_allocated())));
        let tail = block.plus(asize);
        tail.set_header(&mut self.heap, Header::new(size - asize, allocated(true)));
        self.coalesce(tail, size - asize);
    }

    /// Tries to grow the allocated `block` of `size` bytes to `asize > size` by merging
    /// with a free right neighbour, without moving its payload and without growing the
    /// heap; true on success.
    fn grow_in_place(&mut self, block: Block, size: usize, asize: usize) -> bool {
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        if next_header.is_allocated()
            || size + next_header.size() < asize
            || size + next_header.size() > MAX_BLOCK
        {
            return false;
        }
        let grown = size + next_header.size();
        self.take_free(next, next_header.size());
        let header = block.header(&self.heap);
        block.set_header(&mut self.heap, Header::new(grown, allocated(header.prev_allocated())));
        block.tell_next(&mut self.heap, grown, true);
        self.split_off_tail(block, grown, asize);
        true
    }

    /// Tries to grow the allocated `block` of `size` bytes to `asize` by merging with a
    /// free left neighbour (and a free right one), sliding the payload down. Returns the
    /// new block.
    #[cold]
    #[inline(never)]
    fn grow_into_left(&mut self, block: Block, size: usize, asize: usize) -> Option<Block> {
        let header = block.header(&self.heap);
        if header.prev_allocated() {
            return None;
        }
        let (prev, prev_size) = block.prev_free(&self.heap).unwrap_or_else(|c| c.panic());
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        let next_free = if next_header.is_allocated() { 0 } else { next_header.size() };
        let total = prev_size + size + next_free;
        if total < asize || total > MAX_BLOCK {
            return None;
        }
        self.lists.remove(&mut self.heap, prev, prev_size);
        if next_free > 0 {
            self.take_free(next, next_free);
        }
        let prev_allocated = prev.header(&self.heap).prev_allocated();
        // The old header ends up inside the moved block: mark it free first, so that a
        // later `free` of the old pointer is seen as the double free it is (unless the
        // payload slid over it).
        block.set_header(&mut self.heap, Header::new(size, HeaderFlags::empty()));
        self.heap.copy_within(block.payload(), prev.payload(), size - HEADER);
        prev.set_header(&mut self.heap, Header::new(total, allocated(prev_allocated)));
        prev.tell_next(&mut self.heap, total, true);
        self.split_off_tail(prev, total, asize);
        Some(prev)
    }

    /// Tries to move the allocated `block` of `size` bytes into a listed free block of
    /// at least `asize` bytes: copies the payload and frees the old block. Returns the
    /// new block.
    #[cold]
    #[inline(never)]
    fn move_into_fit(&mut self, block: Block, size: usize, asize: usize) -> Option<Block> {
        let (fit, fit_size) = self.find_fit(asize)?;
        let new = self.place(fit, fit_size, asize, crate::log2_fixed(asize));
        self.heap.copy_within(block.payload(), new.payload(), size - HEADER);
        self.coalesce(block, size);
        Some(new)
    }

    /// Tries to grow the last block of the heap (`block`, of `size` bytes, possibly
    /// followed by a free last block) to `asize` by extending the heap by only the
    /// missing amount; true on success.
    #[cold]
    #[inline(never)]
    fn grow_at_heap_end(&mut self, block: Block, size: usize, asize: usize) -> bool {
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        let next_free = if next_header.is_allocated() { 0 } else { next_header.size() };
        if next.plus(next_free) != self.epilogue() || size + next_free >= asize {
            return false;
        }
        if next_free > 0 {
            check_free_tags(&self.heap, next, next_free).unwrap_or_else(|c| c.panic());
        }
        let missing = asize - size - next_free;
        if self.heap.heap_size().checked_add(missing).is_none_or(|end| end > MAX_HEAP)
            || self.heap.extend(missing).is_err()
        {
            return false;
        }
        let header = block.header(&self.heap);
        block.set_header(&mut self.heap, Header::new(asize, allocated(header.prev_allocated())));
        self.write_epilogue(true);
        true
    }

    /// The textbook `realloc`, when no path above applies: allocate (at the end of the
    /// heap, since no listed block fits), copy, free.
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
