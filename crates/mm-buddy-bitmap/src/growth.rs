//! Growth at the frontier: `extend_heap` carves blocks out of the untouched tail, and
//! `grow_bitmaps` moves the bitmaps to a block covering a larger tree when a block would
//! lie past what they cover. `trim` gives free blocks at the frontier back to the tail.
//!
//! ```text
//!  before:  | bitmaps(R) | ... blocks ... |F                  2^R |
//!  a block of order k that would end past 2^R:
//!  after:   | old bitmaps: free | ... blocks ... | gap, free | bitmaps(R') |F   2^R'
//!                                               ^ the request goes here (next malloc
//!                                                 finds it on the free lists)
//! ```

use mm_core::InitError;

use crate::BuddyBitmap;
use crate::layout::{Block, size_of_order};
use crate::tree::{Bitmaps, Bits};

impl BuddyBitmap {
    /// `init`'s second half: the first bitmaps, a block at arena offset 0 covering a
    /// tree of order `first_coverage`, marked as the first (allocated) block.
    pub(crate) fn plant_first_bitmaps(&mut self) -> Result<(), InitError> {
        let coverage = self.layout.first_coverage;
        let order = self.layout.bitmap_order(coverage);
        self.heap.extend(size_of_order(order))?;
        let maps = Bitmaps::new(&self.layout, Block::at(0), coverage);
        let mut tree = self.tree_mut();
        for word in 0..maps.words {
            for bits in [Bits::Allocated, Bits::Start] {
                tree.heap.write(maps.word_at(bits, word), 0u64);
            }
        }
        tree.set_bitmaps(&maps);
        self.maps = maps;
        let mut tree = self.tree_mut();
        tree.set_start(&maps, maps.block, true);
        tree.set_allocated(&maps, maps.block, true);
        tree.set_frontier(size_of_order(order));
        Ok(())
    }

    /// The heap holds at least `end` arena bytes; `None` when it cannot grow so far.
    pub(crate) fn materialize(&mut self, end: usize) -> Option<()> {
        let materialized = self.tree().materialized();
        if end > materialized {
            self.heap.extend(end - materialized).ok()?;
        }
        Some(())
    }

    /// The buddy system's `extend_heap`: a block of `order` carved out of the untouched
    /// tail, at the first multiple of its size at or above the frontier. When that block
    /// would end past the bitmaps' coverage, the bitmaps grow first (leaving room for
    /// the block below the new bitmap block), and the block is then found on the free
    /// lists or carved as usual. `None`, with nothing changed, when the heap cannot grow.
    #[cold]
    #[inline(never)]
    pub(crate) fn extend_heap(&mut self, order: u32) -> Option<Block> {
        let size = size_of_order(order);
        loop {
            if self.unpin(order) {
                let maps = self.maps;
                if let Some((block, from)) = self.find_fit(order) {
                    self.split(&maps, block, from, order);
                    return Some(block);
                }
            }
            let maps = self.maps;
            let frontier = self.tree().frontier();
            let start = frontier.checked_next_multiple_of(size)?;
            let end = start.checked_add(size).filter(|&end| end <= self.layout.capacity)?;
            if end > self.layout.covered_bytes(maps.coverage) {
                self.grow_bitmaps(end)?;
                let maps = self.maps;
                if let Some((block, from)) = self.find_fit(order) {
                    self.split(&maps, block, from, order);
                    return Some(block);
                }
                continue;
            }
            self.materialize(end)?;
            self.carve(&maps, start, order);
            return Some(Block::at(start));
        }
    }

    /// Moves the bitmaps out of the way of a request of `order` that found no free block:
    /// when the bitmap block is all that keeps its ancestor of that order from being one
    /// whole free block (every other half on the way up is free, or tail), the bitmaps
    /// move to a block carved above that ancestor, the old block is freed and merges
    /// into it, and the request can take it instead of growing the heap by a whole block
    /// of its size. Returns whether they moved. (A block of the heap, the bitmaps keep
    /// every block that contains them from merging: without this, a program that frees
    /// everything and asks for one large block would get it above them.)
    fn unpin(&mut self, order: u32) -> bool {
        let maps = self.maps;
        let bitmap_order = self.layout.bitmap_order(maps.coverage);
        if order <= bitmap_order || !self.halves_are_free(&maps, maps.block, bitmap_order, order) {
            return false;
        }
        let pinned = maps.block.ancestor(order);
        let new = if let Some((block, from)) = self.free_head_outside(pinned, order, bitmap_order) {
            // A free block elsewhere: no heap growth at all.
            self.tree_mut().unlink(block, from);
            self.split(&maps, block, from, bitmap_order);
            self.tree_mut().set_allocated(&maps, block, true);
            let new = Bitmaps::new(&self.layout, block, maps.coverage);
            self.move_bitmaps(&maps, &new);
            new
        } else {
            let above = pinned.end(order).max(self.tree().frontier());
            let Some(start) = above.checked_next_multiple_of(size_of_order(bitmap_order)) else {
                return false;
            };
            let end = start + size_of_order(bitmap_order);
            if end > self.layout.covered_bytes(maps.coverage) || self.materialize(end).is_none() {
                return false;
            }
            let new = Bitmaps::new(&self.layout, Block::at(start), maps.coverage);
            self.move_bitmaps(&maps, &new);
            self.carve(&new, start, bitmap_order);
            self.tree_mut().set_allocated(&new, new.block, true);
            new
        };
        debug_assert_eq!(new, self.maps, "the bitmaps moved");
        let frontier = self.tree().frontier();
        self.coalesce(maps.block, bitmap_order, frontier);
        true
    }

    /// The head of the first list of order `from >= order` (and below `limit`, the order
    /// of `pinned`) whose head lies outside `pinned`: a place for the bitmaps that does
    /// not pin `pinned` again. Looks at one block per order.
    fn free_head_outside(&self, pinned: Block, limit: u32, order: u32) -> Option<(Block, u32)> {
        let tree = self.tree();
        let inside = |b: Block| b.ancestor(limit) == pinned;
        (order..limit)
            .filter(|&k| tree.nonempty() & self.layout.list_bit(k) != 0)
            .find_map(|k| tree.head(k).filter(|&b| !inside(b)).map(|b| (b, k)))
    }

    /// Makes the tail from the frontier to `start` free blocks (each the largest aligned
    /// block that fits where it starts: what splitting the tree down to `start` would
    /// leave), and the block of `order` at `start` a new (unplaced) block; the frontier
    /// moves to its end. The heap already holds it.
    fn carve(&mut self, maps: &Bitmaps, start: usize, order: u32) {
        let max_order = self.layout.max_order;
        let mut tree = self.tree_mut();
        let mut at = tree.view().frontier();
        while at < start {
            let k = at.trailing_zeros().min((start - at).ilog2()).min(max_order);
            let gap = Block::at(at);
            tree.set_start(maps, gap, true);
            tree.push(gap, k);
            at += size_of_order(k);
        }
        tree.set_start(maps, Block::at(start), true);
        tree.set_frontier(start + size_of_order(order));
    }

    /// Moves the bitmaps to a block covering a tree large enough for blocks up to `end`
    /// (at least twice the present one), and frees the old bitmap block. The new block
    /// is a free block when one is large enough (it costs no heap), else it is carved
    /// from the tail at or above `end`, so that what lies below `end` stays free for the
    /// caller. `None`, with nothing changed, when the heap cannot hold it.
    #[cold]
    #[inline(never)]
    pub(crate) fn grow_bitmaps(&mut self, end: usize) -> Option<()> {
        let old = self.maps;
        let old_order = self.layout.bitmap_order(old.coverage);
        let mut coverage = end.next_power_of_two().trailing_zeros().max(old.coverage + 1);
        let order = self.layout.bitmap_order(coverage);
        let new = if let Some((block, from)) = self.find_fit(order) {
            self.split(&old, block, from, order);
            self.tree_mut().set_allocated(&old, block, true);
            let new = Bitmaps::new(&self.layout, block, coverage);
            self.move_bitmaps(&old, &new);
            new
        } else {
            // Carved above `end`, in a tree large enough to hold the bitmap block too.
            let (start, order) = loop {
                let order = self.layout.bitmap_order(coverage);
                let from = self.tree().frontier().max(end);
                let start = from.checked_next_multiple_of(size_of_order(order))?;
                let block_end = start.checked_add(size_of_order(order))?;
                if block_end > self.layout.capacity {
                    return None;
                }
                if block_end <= self.layout.covered_bytes(coverage) {
                    break (start, order);
                }
                coverage += 1;
            };
            self.materialize(start + size_of_order(order))?;
            let new = Bitmaps::new(&self.layout, Block::at(start), coverage);
            self.move_bitmaps(&old, &new);
            self.carve(&new, start, order);
            self.tree_mut().set_allocated(&new, new.block, true);
            new
        };
        debug_assert_eq!(new, self.maps, "the bitmaps moved");
        let frontier = self.tree().frontier();
        self.coalesce(old.block, old_order, frontier);
        Some(())
    }

    /// Copies the bitmaps from `old` into `new` (whose block the heap holds), zeroes
    /// the bits `new` adds, and points the control area at `new`.
    fn move_bitmaps(&mut self, old: &Bitmaps, new: &Bitmaps) {
        let mut tree = self.tree_mut();
        // The pairs are in unit order, so the old bits are one run and the new ones
        // another.
        let kept = old.words.min(new.words);
        tree.heap.copy_within(old.pair_at(0), new.pair_at(0), new.pair_at(kept) - new.pair_at(0));
        for at in (new.pair_at(kept)..new.end()).step_by(size_of::<u64>()) {
            tree.heap.write(at, 0u64);
        }
        tree.set_bitmaps(new);
        self.maps = *new;
    }

    /// The frontier moves down to `block`, which was the last block (now tail).
    pub(crate) fn retreat_frontier(&mut self, block: Block) {
        let maps = &{ self.maps };
        let mut tree = self.tree_mut();
        tree.set_start(maps, block, false);
        tree.set_frontier(block.offset());
    }

    /// Gives free blocks at the frontier back to the untouched tail, for as long as the
    /// block ending at the frontier is free.
    pub(crate) fn trim(&mut self) {
        let maps = &{ self.maps };
        loop {
            let frontier = self.tree().frontier();
            if frontier == 0 {
                return;
            }
            let Some((block, order)) = self.tree().block_ending_at(maps, frontier) else { return };
            if self.tree().is_allocated(maps, block) {
                return;
            }
            self.tree_mut().unlink(block, order);
            self.retreat_frontier(block);
        }
    }
}
