//! Where things are: the control area at the start of the heap, blocks named by their
//! arena offset, and how large the bitmaps must be for a given coverage.
//!
//! ```text
//!  heap offset 0                                                  base
//!  | frontier | nonempty | bitmap | coverage | words | head[min] .. head[max] | pad | arena
//!  |  usize   |   u64    | usize  |   u64    | usize |  u64 per order         |     |
//! ```
//!
//! * `frontier`: the end of the last block (arena offset); above it, up to the break, is
//!   the *untouched tail*, part of no block.
//! * `nonempty`: bit `k - min_order` set when the free list of order `k` is not empty.
//! * `bitmap`: the arena offset of the block that holds the two bitmaps (an allocated
//!   block of the heap, see `src/bitmap.rs`); `coverage`: the order `R` of the buddy tree
//!   they describe, `[0, 2^R)` (clipped to the heap's capacity); `words`: the 64-bit
//!   words of each bitmap, which the coverage fixes.
//! * `head[k]`: the first free block of order `k`, as a link word.
//!
//! Links are 64-bit (`offset + 1`, masked by a key; see [`encode`]): a free block of the
//! minimum 16 bytes is its two links and nothing else, so any byte a program writes
//! into a free block is a byte of a link, which the list checks see.

use std::fmt;

use mm_core::Align;

/// Heap offset of the frontier word.
pub(crate) const FRONTIER_AT: usize = 0;
/// Heap offset of the non-empty-lists mask.
pub(crate) const NONEMPTY_AT: usize = FRONTIER_AT + WORD;
/// Heap offset of the bitmap block's arena offset.
pub(crate) const BITMAP_AT: usize = NONEMPTY_AT + WORD;
/// Heap offset of the coverage order.
pub(crate) const COVERAGE_AT: usize = BITMAP_AT + WORD;
/// Heap offset of the number of words of each bitmap (derived from the coverage, kept
/// so that the hot paths find the bitmaps in three reads).
pub(crate) const WORDS_AT: usize = COVERAGE_AT + WORD;
/// Heap offset of the first free-list head.
pub(crate) const HEADS_AT: usize = WORDS_AT + WORD;
/// Bytes of a control word, a list head or a link.
pub(crate) const WORD: usize = size_of::<u64>();
/// Bytes a free block's links take: the smallest block holds exactly them.
pub(crate) const LINKS_BYTES: usize = 2 * WORD;
/// The smallest order any configuration uses (16 bytes, the two links).
pub(crate) const MIN_ORDER_FLOOR: u32 = LINKS_BYTES.trailing_zeros();
/// How many coverage orders above the smallest block the first bitmap covers: 2^6
/// smallest blocks, one 64-bit word of each bitmap.
const FIRST_COVERAGE_ABOVE_MIN: u32 = 6;

/// Where things are, fixed by the alignment and the heap's maximum size alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The smallest block's order: 16 bytes, or the alignment if that is larger. One
    /// bit of each bitmap stands for one smallest block (a *unit*).
    pub(crate) min_order: u32,
    /// The largest block's order: the largest power of two the arena can ever hold.
    pub(crate) max_order: u32,
    /// How many free-list heads the control area holds (orders `min_order..=max_order`).
    pub(crate) lists: usize,
    /// Heap offset of arena offset 0 (a multiple of the alignment, so every block
    /// start, a multiple of the smallest block, is an aligned payload).
    pub(crate) base: usize,
    /// The most arena bytes the heap can ever hold.
    pub(crate) capacity: usize,
    /// The coverage order `init` starts with: one bitmap word of each kind.
    pub(crate) first_coverage: u32,
}

impl Layout {
    pub(crate) fn new(align: Align, max_heap: usize) -> Layout {
        let min_order = align.get().trailing_zeros().max(MIN_ORDER_FLOOR);
        let top = max_heap.checked_ilog2().unwrap_or(0).min(usize::BITS - 2);
        let lists = (top.saturating_sub(min_order) + 1) as usize;
        let base = align.round_up(HEADS_AT + WORD * lists).expect("alignments are at most a page");
        let capacity = max_heap.saturating_sub(base);
        let max_order = capacity.checked_ilog2().unwrap_or(0).min(top);
        let first_coverage = min_order + FIRST_COVERAGE_ABOVE_MIN;
        Layout { min_order, max_order, lists, base, capacity, first_coverage }
    }

    /// The smallest block's size: one unit of the bitmaps.
    pub(crate) const fn unit(&self) -> usize {
        size_of_order(self.min_order)
    }

    /// The bit of `order` in the non-empty mask.
    pub(crate) fn list_bit(&self, order: u32) -> u64 {
        1 << (order - self.min_order)
    }

    /// Heap offset of the free-list head of `order`.
    pub(crate) fn head_at(&self, order: u32) -> usize {
        HEADS_AT + WORD * (order - self.min_order) as usize
    }

    /// The arena bytes a coverage of order `r` describes: `2^r`, but never more than
    /// the heap can hold.
    pub(crate) fn covered_bytes(&self, r: u32) -> usize {
        1usize.checked_shl(r).unwrap_or(usize::MAX).min(self.capacity)
    }

    /// The 64-bit words of *each* bitmap for a coverage of order `r`.
    pub(crate) fn bitmap_words(&self, r: u32) -> usize {
        self.covered_bytes(r).div_ceil(self.unit()).div_ceil(u64::BITS as usize).max(1)
    }

    /// The order of the block that holds both bitmaps for a coverage of order `r`.
    pub(crate) fn bitmap_order(&self, r: u32) -> u32 {
        (2 * WORD * self.bitmap_words(r)).next_power_of_two().trailing_zeros().max(self.min_order)
    }
}

/// A block, named by its arena offset (its payload starts there too: no header).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Block(usize);

impl Block {
    /// The block at arena offset `offset`.
    pub(crate) const fn at(offset: usize) -> Block {
        Block(offset)
    }

    /// The arena offset.
    pub(crate) const fn offset(self) -> usize {
        self.0
    }

    /// The buddy of this block at `order`: the other half of its parent.
    pub(crate) const fn buddy(self, order: u32) -> Block {
        Block(self.0 ^ size_of_order(order))
    }

    /// The block `bytes` further on.
    pub(crate) const fn plus(self, bytes: usize) -> Block {
        Block(self.0 + bytes)
    }

    /// Where a block of `order` starting here ends.
    pub(crate) const fn end(self, order: u32) -> usize {
        self.0 + size_of_order(order)
    }

    /// The block of `order` that contains this one (its ancestor in the tree).
    pub(crate) const fn ancestor(self, order: u32) -> Block {
        Block(self.0 & !(size_of_order(order) - 1))
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block@{:#x}", self.0)
    }
}

/// `2^order` bytes.
pub(crate) const fn size_of_order(order: u32) -> usize {
    1 << order
}

/// What every stored link is XORed with, as glibc's "safe-linking" masks its pointers:
/// its eight bytes differ from each other and from the fills overflows are made of
/// (`0x00`, `0xFF`, ASCII), so a fill over part of a link never leaves a valid link
/// behind, not even the end of a list (which is stored as the key itself, not zero).
const LINK_KEY: u64 = 0x9E37_79B9_7F4A_7C15;

/// The link word naming `block` (the key alone for none).
#[inline]
pub(crate) fn encode(block: Option<Block>) -> u64 {
    block.map_or(0, |b| b.0 as u64 + 1) ^ LINK_KEY
}

/// The block a link word names (`None` for the end of a list, or a word no offset fits).
#[inline]
pub(crate) fn decode(link: u64) -> Option<Block> {
    (link ^ LINK_KEY).checked_sub(1).and_then(|n| usize::try_from(n).ok()).map(Block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitmaps_cost_two_bits_per_smallest_block_of_coverage() {
        let layout = Layout::new(Align::MIN, 20 << 20);
        assert_eq!((layout.min_order, layout.first_coverage), (4, 10));
        // 1 KiB: 64 units, one word of each bitmap, 16 bytes: the smallest block.
        assert_eq!((layout.bitmap_words(10), layout.bitmap_order(10)), (1, 4));
        // 1 MiB: 65536 units, 1024 words each, 16 KiB.
        assert_eq!((layout.bitmap_words(20), layout.bitmap_order(20)), (1024, 14));
        // 32 MiB is clipped to the capacity (just under 20 MiB): 320 KiB, a 512 KiB block.
        assert_eq!(layout.bitmap_words(25), layout.capacity.div_ceil(16 * 64));
        assert_eq!(layout.bitmap_order(25), 19);
        assert_eq!(decode(encode(Some(Block::at(0x40)))), Some(Block::at(0x40)));
        assert_eq!(decode(encode(None)), None);
    }
}
