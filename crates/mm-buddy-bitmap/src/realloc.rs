//! `realloc` ([`Allocator::resize`](mm_core::Allocator::resize)): the block is kept
//! whenever the new size fits it, and grows by merging with its buddies when they are
//! free.
//!
//! The paths, in the order [`BuddyBitmap::resize_block`] tries them:
//!
//! 1. the new order is at most the block's: keep the block whole (a buffer that shrinks
//!    usually grows back, and then it costs nothing);
//! 2. `grow_into_buddies`: take the block's ancestor of the new order whole, when every
//!    other half on the way up is a whole free block or untouched tail (in place, or
//!    with the payload slid down when some halves were on the left);
//! 3. `move_block`: allocate, copy, free.

use std::ptr::NonNull;

use mm_core::Allocator;

use crate::BuddyBitmap;
use crate::layout::{Block, size_of_order};
use crate::tree::Bitmaps;

impl BuddyBitmap {
    /// Resizes the live block at `ptr` to hold `size > 0` bytes, refusing a misused
    /// pointer as `free` does (returning `None` with nothing changed).
    ///
    /// # Safety
    /// As [`Allocator::resize`](mm_core::Allocator::resize): `ptr` is a live block of
    /// this allocator.
    pub(crate) unsafe fn resize_block(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, order, _) = self.live_block(ptr)?;
        let want = self.order_for(size)?;
        if want <= order {
            return Some(ptr);
        }
        if let Some(grown) = self.grow_into_buddies(block, order, want) {
            return Some(self.payload_ptr(grown));
        }
        self.move_block(block, order, size)
    }

    /// Allocates, copies and frees, for the block `live_block` has checked. (The
    /// shared `mm_core::resize_by_moving` would ask `usable_size` for its size, which
    /// trusts nothing and checks the control area and the bits all over again.)
    /// `None`, with the block still live, when the allocation fails.
    fn move_block(&mut self, block: Block, order: u32, size: usize) -> Option<NonNull<u8>> {
        let kept = size_of_order(order).min(size);
        let new = Allocator::malloc(self, size)?;
        // The block is still allocated, so `malloc` left it where it was (bitmaps that
        // moved were copied bit for bit) and the new block does not overlap it.
        let to = self.heap.offset_of(new.as_ptr());
        self.heap.copy_within(self.layout.base + block.offset(), to, kept);
        let frontier = self.tree().frontier();
        self.coalesce(block, order, frontier);
        Some(new)
    }

    /// True when, at every order from `order` to `want`, the other half of the block's
    /// ancestor is a whole free block or lies in the untouched tail.
    pub(crate) fn halves_are_free(&self, maps: &Bitmaps, block: Block, order: u32, want: u32) -> bool {
        let tree = self.tree();
        let frontier = tree.frontier();
        (order..want).all(|k| {
            let half = block.ancestor(k).buddy(k);
            half.offset() >= frontier || (half.end(k) <= frontier && tree.is_free_whole(maps, half, k))
        })
    }

    /// Grows the allocated `block` from `order` to `want` by merging: its ancestor of
    /// order `want` is taken whole when every other half on the way up is free (listed,
    /// or tail: then the heap grows, and the bitmaps too if the ancestor ends past their
    /// coverage). The payload slides down when the ancestor starts below the block.
    /// Returns the grown block, or `None` with nothing changed.
    fn grow_into_buddies(&mut self, block: Block, order: u32, want: u32) -> Option<Block> {
        let start = block.ancestor(want);
        let end = start.end(want);
        if !self.halves_are_free(&self.maps, block, order, want) || end > self.layout.capacity {
            return None;
        }
        if end > self.layout.covered_bytes(self.maps.coverage) {
            // The new bitmap block goes above `end` (or into a free block, which may be
            // one of the halves: then the check below fails and the block moves).
            self.grow_bitmaps(end)?;
            if !self.halves_are_free(&self.maps, block, order, want) {
                return None;
            }
        }
        let frontier = self.tree().frontier();
        if end > frontier {
            self.materialize(end)?;
        }
        let maps = self.maps;
        let mut tree = self.tree_mut();
        for k in order..want {
            let half = block.ancestor(k).buddy(k);
            if half.offset() < frontier {
                tree.unlink(half, k);
                if half > start {
                    tree.set_start(&maps, half, false);
                }
            }
        }
        if end > frontier {
            tree.set_frontier(end);
        }
        if start < block {
            tree.set_start(&maps, block, false);
            tree.set_allocated(&maps, block, false);
            tree.set_allocated(&maps, start, true);
            let base = self.layout.base;
            self.heap.copy_within(base + block.offset(), base + start.offset(), size_of_order(order));
        }
        Some(start)
    }
}
