//! `realloc` ([`Allocator::resize`](mm_core::Allocator::resize)): the block is kept
//! whenever the new size fits it, and grows by merging with its buddies when they are
//! free.
//!
//! The paths, in the order [`Buddy::resize_block`] tries them:
//!
//! 1. the new order is at most the block's: keep the block (by default), or give back
//!    the halves it no longer needs (`shrink_in_place`, with
//!    [`BuddyConfig::release_on_shrink`](crate::BuddyConfig));
//! 2. `grow_into_buddies`: take the block's ancestor of the new order whole, when every
//!    other half on the way up is free or untouched tail (in place, or with the payload
//!    slid down when some halves were on the left);
//! 3. `move_block`: allocate, copy, free.

use std::ptr::NonNull;

use crate::Buddy;
use crate::arena::{Block, Segment, size_of_order};
use crate::header::{HEADER_BYTES, Header};

impl Buddy {
    /// Resizes the live block at `ptr` to hold `size > 0` bytes, refusing a misused
    /// pointer as `free` does (returning `None` with nothing changed).
    ///
    /// # Safety
    /// As [`Allocator::resize`](mm_core::Allocator::resize): `ptr` is a live block of
    /// this allocator.
    pub(crate) unsafe fn resize_block(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, order, segment) = self.live_block(ptr)?;
        let want = self.order_for(size)?;
        if want <= order {
            if want < order && self.config.release_on_shrink {
                self.shrink_in_place(block, order, want, segment.index);
            }
            return Some(ptr);
        }
        if let Some(grown) = self.grow_into_buddies(block, order, want, segment) {
            return Some(self.payload_ptr(grown));
        }
        // SAFETY: the caller guarantees `ptr` is live, and nothing above changed it.
        unsafe { self.move_block(ptr, size) }
    }

    /// Shrinks the allocated `block` from `order` to `want`, freeing the right halves
    /// (each one's buddy is the part kept, so none merges; the topmost may return to
    /// the tail). Only with [`BuddyConfig::release_on_shrink`](crate::BuddyConfig): by
    /// default a shrinking block is kept whole.
    #[cold]
    #[inline(never)]
    fn shrink_in_place(&mut self, block: Block, order: u32, want: u32, segment: usize) {
        let mut arena = self.arena_mut();
        arena.set_header(block, Header::allocated(want, segment));
        for k in want..order {
            arena.push(block.plus(size_of_order(k)), k, segment);
        }
        if block.offset() + size_of_order(order) == self.arena().frontier() {
            // The released halves end at the frontier: the topmost goes back to the tail.
            self.trim();
        }
    }

    /// Grows the allocated `block` from `order` to `want` by merging: the block of
    /// `want` that contains it (its ancestor in the tree) is taken whole when, at every
    /// order on the way up, the other half is a whole free block of the block's
    /// segment, or lies in the untouched tail (then the heap grows to the new end). When the ancestor starts
    /// below the block (some of those halves were on its left) the payload slides
    /// down. Returns the grown block, or `None` with nothing changed.
    fn grow_into_buddies(&mut self, block: Block, order: u32, want: u32, segment: Segment) -> Option<Block> {
        let frontier = self.arena().frontier();
        // The other half of the block's ancestor of each order from `order` up.
        let halves = || (order..want).map(|k| (segment.buddy(segment.ancestor(block, k), k), k));
        // Only the last segment has a tail to grow into; other segments end where the
        // next one starts.
        let in_tail = |half: Block| segment.last && half.offset() >= frontier;
        let start = segment.ancestor(block, want);
        let end = start.offset() + size_of_order(want);
        if !segment.last && end > segment.end {
            return None;
        }
        if halves()
            .any(|(half, k)| !in_tail(half) && self.arena().header(half) != Header::free(k, segment.index))
        {
            return None;
        }
        if end > frontier {
            let materialized = self.arena().materialized();
            if end > self.layout.capacity
                || (end > materialized && self.heap.extend(end - materialized).is_err())
            {
                return None;
            }
        }
        let mut arena = self.arena_mut();
        for (half, k) in halves().filter(|&(half, _)| !in_tail(half)) {
            arena.unlink(half, k);
        }
        if end > frontier {
            arena.set_frontier(end);
        }
        if start < block {
            // The old header lies past the bytes the slide copies (the block is at least
            // its size above `start`): mark it free, so that a `free` of the old pointer
            // is seen as the double free it is.
            arena.set_header(block, Header::free(order, segment.index));
        }
        arena.set_header(start, Header::allocated(want, segment.index));
        if start < block {
            let base = self.layout.base + HEADER_BYTES;
            let len = size_of_order(order) - HEADER_BYTES;
            self.heap.copy_within(base + block.offset(), base + start.offset(), len);
        }
        Some(start)
    }

    /// The textbook `realloc`, when the block cannot grow where it is: allocate, copy,
    /// free.
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
