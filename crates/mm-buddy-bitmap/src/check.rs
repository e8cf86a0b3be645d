//! The heap checker (`mm_checkheap`): the bitmaps against each other and the frontier,
//! a walk over every block the start bits delimit, then every free list against that
//! walk.
//!
//! Errors carry a heap offset: of the block, of the bitmap word, or of the control word.
//! A broken rule that other strategies share is reported as mm-core's [`Invariant`]; one
//! of this chapter's own as a [`BitmapRule`], numbered as in the crate docs.
//!
//! Like every checker of the workspace it allocates nothing on a healthy heap (it runs
//! under a global allocator's lock): the walk scans the start bitmap word by word,
//! "is there a free block of order k here?" is three bit reads, "listed twice?" is
//! the `prev` link check, and "is every free block listed?" a count per order.

use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{HeapCheckError, Invariant};

use crate::BuddyBitmap;
use crate::layout::{
    BITMAP_AT, Block, COVERAGE_AT, FRONTIER_AT, NONEMPTY_AT, WORDS_AT, decode, size_of_order,
};
use crate::tree::{Bitmaps, Bits};

/// More than the free lists there can be: one per bit of the non-empty mask.
const MAX_LISTS: usize = u64::BITS as usize;

/// A broken rule of the header-free buddy system, numbered as in the crate docs' list
/// of invariants, holding the values that break it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitmapRule {
    /// Rule 1: the heap is shorter than the control area.
    ControlArea {
        /// The heap's size.
        heap_bytes: usize,
        /// The control area's size (with the padding that aligns the arena).
        control_bytes: usize,
    },
    /// Rule 2: the frontier is not a multiple of the smallest block within the arena
    /// bytes the heap holds and the bytes the bitmaps cover.
    Frontier {
        /// The frontier word.
        frontier: usize,
        /// The smallest block.
        unit: usize,
        /// The arena bytes the heap holds.
        arena_bytes: usize,
        /// The arena bytes the bitmaps cover.
        covered: usize,
    },
    /// Rule 3: the coverage order is out of range, the word count is not the one it
    /// needs, the control area does not say where the allocator knows the bitmaps are,
    /// or they do not lie below the frontier.
    Bitmaps {
        /// The arena offset of the bitmap block.
        block: usize,
        /// The coverage order.
        coverage: u64,
    },
    /// Rule 4: a bit is set at or past the frontier.
    TailBit {
        /// The unit (arena offset / smallest block).
        unit: usize,
        /// Which bitmap: the allocated one (`true`) or the start one.
        allocated: bool,
    },
    /// Rule 5: an allocated bit is set where no block starts.
    AllocatedInside {
        /// The unit.
        unit: usize,
    },
    /// Rule 6: the start bits delimit a block that is not a power of two at a multiple
    /// of its size (or unit 0 starts no block).
    Misplaced {
        /// Its arena offset.
        offset: usize,
        /// The bytes to the next start bit (or the frontier).
        size: usize,
    },
    /// Rule 8: the block that ends at the frontier is free.
    FreeAtFrontier {
        /// The block's order.
        order: u32,
    },
    /// Rule 9: the bitmap block is not an allocated block of the order its coverage
    /// needs.
    BitmapBlock {
        /// The order the start bits give it (`None`: no block starts there).
        order: Option<u32>,
        /// The order of the bitmaps of this coverage.
        expected: u32,
    },
    /// Rule 10: a list names a place that is not a free block of its order.
    NotAFreeBlock {
        /// The list's order.
        order: u32,
        /// The heap offset the list names.
        entry: usize,
    },
    /// Rule 11: an entry's prev link does not name the entry before it.
    PrevLink {
        /// The heap offset the prev link names.
        found: Option<usize>,
        /// The heap offset of the entry before it.
        expected: Option<usize>,
    },
    /// Rule 12: a block is on its list twice (the list has a cycle).
    ListedTwice {
        /// The list's order.
        order: u32,
    },
    /// Rule 13: a list does not hold every free block of its order.
    Unlisted {
        /// The list's order.
        order: u32,
        /// The free blocks of that order.
        free: usize,
        /// The blocks the list holds.
        listed: usize,
    },
    /// Rule 14: the non-empty mask does not have exactly the bits of the non-empty lists.
    Mask {
        /// The mask in the control area.
        stored: u64,
        /// The mask the lists make.
        expected: u64,
    },
}

impl Rule for BitmapRule {
    fn number(&self) -> u32 {
        match self {
            BitmapRule::ControlArea { .. } => 1,
            BitmapRule::Frontier { .. } => 2,
            BitmapRule::Bitmaps { .. } => 3,
            BitmapRule::TailBit { .. } => 4,
            BitmapRule::AllocatedInside { .. } => 5,
            BitmapRule::Misplaced { .. } => 6,
            BitmapRule::FreeAtFrontier { .. } => 8,
            BitmapRule::BitmapBlock { .. } => 9,
            BitmapRule::NotAFreeBlock { .. } => 10,
            BitmapRule::PrevLink { .. } => 11,
            BitmapRule::ListedTwice { .. } => 12,
            BitmapRule::Unlisted { .. } => 13,
            BitmapRule::Mask { .. } => 14,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl fmt::Display for BitmapRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BitmapRule::ControlArea { heap_bytes, control_bytes } => write!(
                f,
                "the heap ({heap_bytes} bytes) is shorter than the control area ({control_bytes} bytes)"
            ),
            BitmapRule::Frontier { frontier, unit, arena_bytes, covered } => write!(
                f,
                "the frontier {frontier:#x} is not a multiple of {unit} within the {arena_bytes} arena bytes \
                 of the heap and the {covered} bytes the bitmaps cover"
            ),
            BitmapRule::Bitmaps { block, coverage } => write!(
                f,
                "bitmaps at arena offset {block:#x} for a tree of order {coverage}: out of range or past the \
                 frontier"
            ),
            BitmapRule::TailBit { unit, allocated } => write!(
                f,
                "the {} bit of unit {unit} is set at or past the frontier",
                if allocated { "allocated" } else { "start" }
            ),
            BitmapRule::AllocatedInside { unit } => {
                write!(f, "the allocated bit of unit {unit} is set, but no block starts there")
            }
            BitmapRule::Misplaced { offset, size } => write!(
                f,
                "the start bits make a block of {size} bytes at arena offset {offset:#x}: not a power of two \
                 at a multiple of its size"
            ),
            BitmapRule::FreeAtFrontier { order } => write!(
                f,
                "the free block of order {order} ends at the frontier: it should have been given back to the \
                 untouched tail"
            ),
            BitmapRule::BitmapBlock { order, expected } => {
                write!(f, "the bitmap block has order {order:?}, not an allocated block of order {expected}")
            }
            BitmapRule::NotAFreeBlock { order, entry } => write!(
                f,
                "the list of order {order} names heap offset {entry:#x}, which is not a free block of that order"
            ),
            BitmapRule::PrevLink { found, expected } => {
                write!(f, "its prev link names {found:?}, but the entry before it is {expected:?}")
            }
            BitmapRule::ListedTwice { order } => {
                write!(f, "the block is on the list of order {order} twice (a cycle)")
            }
            BitmapRule::Unlisted { order, free, listed } => {
                write!(f, "{free} blocks of order {order} are free, but its list holds {listed}")
            }
            BitmapRule::Mask { stored, expected } => {
                write!(f, "the non-empty mask is {stored:#x}, but the non-empty lists make {expected:#x}")
            }
        }
    }
}

/// A broken [`BitmapRule`] at heap offset `at`.
fn broken(at: usize, rule: BitmapRule) -> HeapCheckError {
    HeapCheckError::new(at, Invariant::rule_of(rule))
}

impl BuddyBitmap {
    /// Verifies the rules of the crate docs' list of invariants on an initialised heap,
    /// in their order.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let layout = self.layout;
        let heap_bytes = self.heap.heap_size();
        if heap_bytes < layout.base {
            return Err(broken(0, BitmapRule::ControlArea { heap_bytes, control_bytes: layout.base }));
        }
        let tree = self.tree();
        let frontier = tree.frontier();
        let unit = layout.unit();
        let arena_bytes = tree.materialized();
        // Rule 3 first in code: the coverage must be a number before it bounds rule 2.
        let coverage: u64 = self.heap.read(COVERAGE_AT);
        let block: usize = self.heap.read(BITMAP_AT);
        let bad_maps = || broken(BITMAP_AT, BitmapRule::Bitmaps { block, coverage });
        let Some(order) =
            u32::try_from(coverage).ok().filter(|c| (layout.first_coverage..usize::BITS).contains(c))
        else {
            return Err(bad_maps());
        };
        let words: usize = self.heap.read(WORDS_AT);
        if words != layout.bitmap_words(order) {
            return Err(bad_maps());
        }
        let covered = layout.covered_bytes(order);
        if frontier > arena_bytes || frontier > covered || !frontier.is_multiple_of(unit) {
            return Err(broken(FRONTIER_AT, BitmapRule::Frontier { frontier, unit, arena_bytes, covered }));
        }
        let maps = tree.bitmaps();
        if maps != self.maps {
            return Err(bad_maps());
        }
        let bitmap_bytes = size_of_order(layout.bitmap_order(order));
        if block.checked_add(bitmap_bytes).is_none_or(|end| end > frontier) || !block.is_multiple_of(unit) {
            return Err(bad_maps());
        }
        self.check_bits(&maps, frontier)?;

        // The walk (rules 6 to 8), counting the free blocks of each order.
        let mut free = [0usize; MAX_LISTS];
        self.walk(&maps, frontier, |_, order, is_free| {
            if is_free {
                free[(order - layout.min_order) as usize] += 1;
            }
        })?;

        // Rule 9: the bitmap block.
        let expected = layout.bitmap_order(order);
        let found = tree.order_of(&maps, frontier, maps.block).filter(|_| tree.is_start(&maps, maps.block));
        if found != Some(expected) || !tree.is_allocated(&maps, maps.block) {
            return Err(broken(layout.base + block, BitmapRule::BitmapBlock { order: found, expected }));
        }

        // The free lists against the walk (rules 10 to 13).
        let mut mask = 0u64;
        for (i, &expected) in free.iter().enumerate().take(layout.lists) {
            let order = layout.min_order + i as u32;
            let head_at = layout.head_at(order);
            let mut prev: Option<Block> = None;
            let mut link = tree.head_word(order);
            let mut link_at = head_at;
            let mut count = 0;
            while let Some(entry) = decode(link) {
                let here = layout.base.wrapping_add(entry.offset());
                if !self.free_block_at(&maps, frontier, entry, order) {
                    return Err(broken(link_at, BitmapRule::NotAFreeBlock { order, entry: here }));
                }
                if tree.prev(entry) != prev {
                    if self.among_first(order, count, entry) {
                        return Err(broken(here, BitmapRule::ListedTwice { order }));
                    }
                    let found = tree.prev(entry).map(|b| layout.base + b.offset());
                    let expected = prev.map(|b| layout.base + b.offset());
                    return Err(broken(here, BitmapRule::PrevLink { found, expected }));
                }
                count += 1;
                prev = Some(entry);
                link = tree.next_word(entry);
                link_at = here;
            }
            if count != expected {
                let at =
                    self.first_unlisted(&maps, frontier, order).map_or(head_at, |b| layout.base + b.offset());
                return Err(broken(at, BitmapRule::Unlisted { order, free: expected, listed: count }));
            }
            if count > 0 {
                mask |= 1 << i;
            }
        }

        // Rule 14.
        let stored = tree.nonempty();
        if stored != mask {
            return Err(broken(NONEMPTY_AT, BitmapRule::Mask { stored, expected: mask }));
        }
        Ok(())
    }

    /// Rules 4 and 5, word by word: nothing set at or past the frontier, and every
    /// allocated bit at a start.
    fn check_bits(&self, maps: &Bitmaps, frontier: usize) -> Result<(), HeapCheckError> {
        let tree = self.tree();
        let first_tail_unit = tree.unit_of(frontier);
        for word in 0..maps.words {
            let allocated = tree.word(maps, Bits::Allocated, word);
            let start = tree.word(maps, Bits::Start, word);
            let first_unit = word * u64::BITS as usize;
            // The bits of this word at or past the frontier.
            let tail = match first_tail_unit.checked_sub(first_unit) {
                Some(n) if n >= u64::BITS as usize => 0,
                Some(n) => u64::MAX << n,
                None => u64::MAX,
            };
            for (value, is_allocated, bits) in
                [(allocated, true, Bits::Allocated), (start, false, Bits::Start)]
            {
                if value & tail != 0 {
                    let unit = first_unit + (value & tail).trailing_zeros() as usize;
                    return Err(broken(
                        maps.word_at(bits, word),
                        BitmapRule::TailBit { unit, allocated: is_allocated },
                    ));
                }
            }
            if allocated & !start != 0 {
                let unit = first_unit + (allocated & !start).trailing_zeros() as usize;
                return Err(broken(
                    maps.word_at(Bits::Allocated, word),
                    BitmapRule::AllocatedInside { unit },
                ));
            }
        }
        Ok(())
    }

    /// The first unit after `unit` and below `limit` whose start bit is set.
    fn next_start(&self, maps: &Bitmaps, unit: usize, limit: usize) -> Option<usize> {
        let tree = self.tree();
        let bits = u64::BITS as usize;
        let mut from = unit + 1;
        while from < limit.min(maps.units()) {
            let word = tree.word(maps, Bits::Start, from / bits) >> (from % bits);
            if word != 0 {
                let found = from + word.trailing_zeros() as usize;
                return (found < limit).then_some(found);
            }
            from = (from / bits + 1) * bits;
        }
        None
    }

    /// Rules 6 to 8: walks the blocks the start bits delimit, from unit 0 to the
    /// frontier, and hands each to `visit` with its order and whether it is free.
    fn walk(
        &self,
        maps: &Bitmaps,
        frontier: usize,
        mut visit: impl FnMut(Block, u32, bool),
    ) -> Result<(), HeapCheckError> {
        let layout = self.layout;
        let tree = self.tree();
        let unit = layout.unit();
        let end_unit = tree.unit_of(frontier);
        if frontier > 0 && !tree.is_start(maps, Block::at(0)) {
            return Err(broken(layout.base, BitmapRule::Misplaced { offset: 0, size: 0 }));
        }
        let mut previous: Option<(Block, u32, bool)> = None;
        let mut u = 0;
        while u < end_unit {
            let next = self.next_start(maps, u, end_unit).unwrap_or(end_unit);
            let (offset, size) = (u * unit, (next - u) * unit);
            let block = Block::at(offset);
            if !size.is_power_of_two() || !offset.is_multiple_of(size) || size.ilog2() > layout.max_order {
                return Err(broken(layout.base + offset, BitmapRule::Misplaced { offset, size }));
            }
            let order = size.ilog2();
            let is_free = !tree.is_allocated(maps, block);
            if is_free
                && let Some((left, left_order, left_free)) = previous
                && left_free
                && left_order == order
                && left == block.buddy(order)
            {
                return Err(HeapCheckError::new(layout.base + left.offset(), Invariant::Uncoalesced));
            }
            visit(block, order, is_free);
            previous = Some((block, order, is_free));
            u = next;
        }
        if let Some((last, order, true)) = previous {
            return Err(broken(layout.base + last.offset(), BitmapRule::FreeAtFrontier { order }));
        }
        Ok(())
    }

    /// True when a free block of `order` starts at `block` (the bits passed rules 4 to 8).
    fn free_block_at(&self, maps: &Bitmaps, frontier: usize, block: Block, order: u32) -> bool {
        let tree = self.tree();
        block.offset() < frontier
            && block.offset().is_multiple_of(self.layout.unit())
            && tree.is_start(maps, block)
            && !tree.is_allocated(maps, block)
            && tree.order_of(maps, frontier, block) == Some(order)
    }

    /// True when `block` is among the first `n` entries of the list of `order`.
    fn among_first(&self, order: u32, n: usize, block: Block) -> bool {
        let tree = self.tree();
        let mut entry = tree.head(order);
        for _ in 0..n {
            let Some(e) = entry else { return false };
            if e == block {
                return true;
            }
            entry = tree.next(e);
        }
        false
    }

    /// The first free block of `order`, in address order, that is not on its list. The
    /// error path, so it may allocate.
    fn first_unlisted(&self, maps: &Bitmaps, frontier: usize, order: u32) -> Option<Block> {
        let tree = self.tree();
        let mut listed = Vec::new();
        let mut entry = tree.head(order);
        while let Some(e) = entry {
            listed.push(e);
            entry = tree.next(e);
        }
        listed.sort_unstable();
        let mut missing = None;
        let _ = self.walk(maps, frontier, |block, k, is_free| {
            if missing.is_none() && is_free && k == order && listed.binary_search(&block).is_err() {
                missing = Some(block);
            }
        });
        missing
    }
}
