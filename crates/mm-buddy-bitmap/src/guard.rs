//! What `free` and `realloc` check before they trust a pointer, and what
//! [`Allocator::check_neighbourhood`](mm_core::Allocator::check_neighbourhood) checks
//! for the hardened mode.
//!
//! A pointer is a live block when it is a unit of the arena below the frontier whose
//! start and allocated bits are both set. Otherwise the call is refused and the misuse
//! kept for `take_misuse`: a pointer at or inside a free block, or in the untouched tail
//! (memory that was a block and is free now), is a [`Misuse::DoubleFree`]; any other
//! (misaligned, outside the arena, inside a live block) a [`Misuse::InvalidPointer`].
//! With no header, a freed block that merged into its left buddy, or a pointer that
//! `realloc` slid down, lies inside a larger block: the bitmaps still tell free from
//! allocated there.

use std::ptr::NonNull;

use mm_core::{Corruption, Misuse};

use crate::BuddyBitmap;
use crate::layout::{Block, FRONTIER_AT, size_of_order};
use crate::tree::{BITS, Bitmaps};

impl BuddyBitmap {
    /// The allocated block behind a pointer given to `free` or `realloc`: the bitmaps,
    /// the block and its order. A refused pointer is kept for `take_misuse`.
    ///
    /// # Panics
    /// When the bits say allocated but no block of a sound tree starts there: the
    /// bitmaps were overwritten, and freeing on their word would merge memory that is
    /// not this block's.
    #[inline(always)]
    pub(crate) fn live_block(&mut self, ptr: NonNull<u8>) -> Option<(Block, u32, usize)> {
        // Below the arena the subtraction wraps, so one compare bounds both ends.
        let at = self.heap.offset_of(ptr.as_ptr()).wrapping_sub(self.layout.base);
        let tree = self.tree();
        let frontier = tree.frontier();
        if at >= frontier || !at.is_multiple_of(self.layout.unit()) {
            self.refuse(ptr);
            return None;
        }
        let block = Block::at(at);
        let maps = &self.maps;
        let unit = tree.unit_of(at);
        let (allocated, start) =
            if unit / BITS < maps.words { tree.words(maps, unit / BITS) } else { (0, 0) };
        // The allocated bit is set only at block starts, so it says both.
        if allocated & (1 << (unit % BITS)) == 0 {
            self.refuse(ptr);
            return None;
        }
        match tree.order_with_start_word(maps, frontier, block, start) {
            Some(order) if start & (1 << (unit % BITS)) != 0 => Some((block, order, frontier)),
            _ => Corruption::new("corrupted bitmaps: no block starts here", self.layout.base + at).panic(),
        }
    }

    /// Records why `live_block` refused `ptr`, for `take_misuse`. It returns nothing, so
    /// that `live_block`'s answer stays in registers rather than going through memory.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, ptr: NonNull<u8>) {
        self.misuse = Some(self.misuse_of(ptr));
    }

    /// The misuse `free(ptr)` reports for a pointer that is no live block (see the
    /// module docs). Reads only inside the heap.
    pub(crate) fn misuse_of(&self, ptr: NonNull<u8>) -> Misuse {
        let offset = self.heap.offset_of(ptr.as_ptr());
        let invalid = Misuse::InvalidPointer { offset };
        let Ok(offset) = mm_core::payload_offset(&self.heap, self.align, self.layout.base, ptr) else {
            return invalid;
        };
        let at = offset - self.layout.base;
        let Some((frontier, maps)) = self.sound_control() else { return invalid };
        if !at.is_multiple_of(self.layout.unit()) {
            return invalid;
        }
        if at >= frontier {
            return Misuse::DoubleFree { offset };
        }
        match self.containing_block(&maps, frontier, at) {
            Some(block) if !self.tree().is_allocated(&maps, block) => Misuse::DoubleFree { offset },
            _ => invalid,
        }
    }

    /// The block that contains arena offset `at < frontier`: the first of `at` rounded
    /// down to `2^j`, `j = min, min + 1, ...`, that starts a block (the units strictly
    /// inside a block start none). `None` in a damaged heap.
    fn containing_block(&self, maps: &Bitmaps, frontier: usize, at: usize) -> Option<Block> {
        let tree = self.tree();
        (self.layout.min_order..=self.layout.max_order)
            .map(|j| Block::at(at).ancestor(j))
            .find(|&b| tree.is_start(maps, b))
            .filter(|&b| tree.order_of(maps, frontier, b).is_some_and(|k| at < b.end(k)))
    }

    /// The frontier and the bitmaps when the control area is sound enough to read
    /// through: the frontier within the heap, the bitmaps inside it.
    pub(crate) fn sound_control(&self) -> Option<(usize, Bitmaps)> {
        let tree = self.tree();
        let frontier = tree.frontier();
        let block: usize = self.heap.read(crate::layout::BITMAP_AT);
        let coverage: u64 = self.heap.read(crate::layout::COVERAGE_AT);
        let coverage = u32::try_from(coverage).ok().filter(|&c| c < usize::BITS)?;
        let words: usize = self.heap.read(crate::layout::WORDS_AT);
        if words != self.layout.bitmap_words(coverage) {
            return None;
        }
        let maps = Bitmaps::new(&self.layout, Block::at(block), coverage);
        let bitmaps_end = maps.end();
        let inside = frontier <= tree.materialized()
            && block < frontier
            && maps.pair_at(0) < bitmaps_end
            && bitmaps_end <= self.heap.heap_size();
        inside.then_some((frontier, maps))
    }

    /// The block `ptr` names when it starts one, with the bitmaps and its order. Reads
    /// only inside the heap and never panics, whatever the heap holds.
    pub(crate) fn block_behind(&self, ptr: NonNull<u8>) -> Option<(Bitmaps, Block, u32)> {
        if !self.ready {
            return None;
        }
        let offset = mm_core::payload_offset(&self.heap, self.align, self.layout.base, ptr).ok()?;
        let at = offset - self.layout.base;
        let (frontier, maps) = self.sound_control()?;
        let block = Block::at(at);
        if at >= frontier || !at.is_multiple_of(self.layout.unit()) || !self.tree().is_start(&maps, block) {
            return None;
        }
        let order = self.tree().order_of(&maps, frontier, block)?;
        Some((maps, block, order))
    }

    /// Verifies, reading only inside the heap and changing nothing, what freeing or
    /// resizing the block at `ptr` relies on: its bits (an allocated block start); each
    /// buddy `free` would merge with, order by order (listed, links mutual); and the
    /// block right after it, which an overflow reaches first: when free, listed.
    pub(crate) fn neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        let Some((frontier, maps)) = self.sound_control() else {
            return Err(Corruption::new("corrupted control area", FRONTIER_AT));
        };
        let at = self.heap.offset_of(ptr.as_ptr());
        let tree = self.tree();
        let Some((_, block, order)) = self.block_behind(ptr).filter(|(_, b, _)| tree.is_allocated(&maps, *b))
        else {
            return Err(Corruption::new("invalid block", at));
        };
        let (mut merged, mut k) = (block, order);
        while k < self.layout.max_order {
            let buddy = merged.buddy(k);
            if buddy > merged && buddy.end(k) > frontier {
                break;
            }
            if !tree.is_free_whole(&maps, buddy, k) {
                break;
            }
            tree.check_listed(&maps, buddy, k)?;
            merged = merged.min(buddy);
            k += 1;
        }
        let next = block.plus(size_of_order(order));
        if next.offset() < frontier && !tree.is_allocated(&maps, next) {
            let Some(next_order) = tree.order_of(&maps, frontier, next) else {
                return Err(Corruption::new(
                    "corrupted bitmaps after the block",
                    self.layout.base + next.offset(),
                ));
            };
            tree.check_listed(&maps, next, next_order)?;
        }
        Ok(())
    }
}
