//! The heap checker (`mm_checkheap`): a walk over every block from the start of the
//! arena to the frontier that doubts every header before following it, then a walk of
//! every free list against what the first walk found.
//!
//! Errors carry the heap offset of the offending block's header (or, for the control
//! area, of the damaged word). A broken rule that other strategies share is reported as
//! mm-core's own [`Invariant`] variant; one of the buddy system's own as a [`BuddyRule`],
//! numbered as in the crate docs' list of invariants.
//!
//! The checker also runs on a strategy that is the program's global allocator
//! (`mm::LockedAllocator::check_heap`), whose lock it holds meanwhile, so on a healthy
//! heap it allocates nothing; only an error report does. Three facts make that easy:
//!
//! * "is there a free block of order k at offset x?" needs no record of the walk: every
//!   block is aligned to its size (the walk checks it), so the blocks tile the arena as
//!   a binary tree, and the block holding x is found by descending from the largest
//!   order, one header per level ([`Buddy::free_block_at`]);
//! * "is this block listed twice?" needs no marks: each entry's `prev` link is checked
//!   against the entry before it, and the first entry reached a second time always fails
//!   that check (its `prev` names the entry before its first visit, or none). Only then
//!   is the list walked again, to tell a cycle from a broken link;
//! * "is every free block listed?" is a count per order: a list's entries are distinct
//!   free blocks of its order, so it holds them all exactly when it holds as many as the
//!   walk found. Only when it holds fewer is the missing block looked for, with a `Vec`.

use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{HeapCheckError, Invariant};

use crate::arena::{Block, FRONTIER_AT, NONEMPTY_AT, decode, size_of_order};
use crate::header::HEADER_BYTES;
use crate::{Buddy, Header};

/// More than the free lists there can be: one per bit of the non-empty mask (a `u64`),
/// which is one per order of a 64-bit size.
const MAX_LISTS: usize = u64::BITS as usize;

/// A broken rule of the buddy system's own, numbered as in the crate docs' list of
/// invariants, holding the values that break it. [`Invariant::rule`] finds it in a
/// [`HeapCheckError`], whose offset names the block's header or the control word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuddyRule {
    /// Rule 1: the heap is shorter than the control area.
    ControlArea {
        /// The heap's size.
        heap_bytes: usize,
        /// The control area's size (with the padding that aligns the arena).
        control_bytes: usize,
    },
    /// Rule 2: the frontier is not a multiple of the smallest block within the arena
    /// bytes the heap holds.
    Frontier {
        /// The frontier word.
        frontier: usize,
        /// The smallest block.
        min_block: usize,
        /// The arena bytes the heap holds.
        arena_bytes: usize,
    },
    /// Rule 3: the segment count is not in `1..=max`.
    SegmentCount {
        /// The count word.
        count: u32,
        /// The most segments there can be ([`MAX_SEGMENTS`](crate::MAX_SEGMENTS)).
        max: usize,
    },
    /// Rule 3: segment 0 does not start at 0, or a later segment does not start above
    /// the one before it, below the frontier, at a multiple of the smallest block.
    SegmentStart {
        /// The segment's index (segment 0 starts at 0).
        index: usize,
        /// Its start (an arena offset).
        start: usize,
        /// The start of the segment before it.
        previous: usize,
        /// The frontier.
        frontier: usize,
    },
    /// Rule 3: an entry of the segment table past the last segment is not the mark that
    /// no segment starts there (the entry after the last segment is where `free` finds
    /// that segment's end).
    SegmentEndMark {
        /// The entry's index.
        index: usize,
        /// The word it holds.
        word: u32,
    },
    /// Rule 4: a header is not sound: not exactly one of `ALLOCATED` and `FREE`, or bits
    /// no [`HeaderFlags`](crate::HeaderFlags) constant names.
    BadHeader {
        /// The header.
        header: Header,
    },
    /// Rule 4: a header's segment number is not the number of the segment the block
    /// lies in.
    SegmentNumber {
        /// The number in the header.
        found: usize,
        /// The number of the segment the block lies in.
        expected: usize,
    },
    /// Rule 5: a block's order is above the largest order of this heap.
    OrderTooLarge {
        /// The block's order.
        order: u32,
        /// The largest order.
        max_order: u32,
    },
    /// Rule 6: a block does not start at a multiple of its size from its segment's start.
    Misplaced {
        /// The block's order.
        order: u32,
        /// Its arena offset.
        offset: usize,
        /// The arena offset where its segment starts.
        segment: usize,
    },
    /// Rule 7: a block runs past the end of its segment into the next one.
    CrossesSegment {
        /// The block's order.
        order: u32,
        /// The arena offset where its segment ends.
        segment_end: usize,
    },
    /// Rule 9: the block that ends at the frontier is free (it should have gone back to
    /// the untouched tail).
    FreeAtFrontier {
        /// The block's order.
        order: u32,
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
        /// The heap offset the prev link names (`None` for no block).
        found: Option<usize>,
        /// The heap offset of the entry before it (`None` at the head).
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

impl Rule for BuddyRule {
    fn number(&self) -> u32 {
        match self {
            BuddyRule::ControlArea { .. } => 1,
            BuddyRule::Frontier { .. } => 2,
            BuddyRule::SegmentCount { .. }
            | BuddyRule::SegmentStart { .. }
            | BuddyRule::SegmentEndMark { .. } => 3,
            BuddyRule::BadHeader { .. } | BuddyRule::SegmentNumber { .. } => 4,
            BuddyRule::OrderTooLarge { .. } => 5,
            BuddyRule::Misplaced { .. } => 6,
            BuddyRule::CrossesSegment { .. } => 7,
            BuddyRule::FreeAtFrontier { .. } => 9,
            BuddyRule::NotAFreeBlock { .. } => 10,
            BuddyRule::PrevLink { .. } => 11,
            BuddyRule::ListedTwice { .. } => 12,
            BuddyRule::Unlisted { .. } => 13,
            BuddyRule::Mask { .. } => 14,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl fmt::Display for BuddyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BuddyRule::ControlArea { heap_bytes, control_bytes } => write!(
                f,
                "the heap ({heap_bytes} bytes) is shorter than the control area ({control_bytes} bytes)"
            ),
            BuddyRule::Frontier { frontier, min_block, arena_bytes } => write!(
                f,
                "the frontier {frontier:#x} is not a multiple of {min_block} within the {arena_bytes} arena \
                 bytes of the heap"
            ),
            BuddyRule::SegmentCount { count, max } => {
                write!(f, "the segment count is {count}, not between 1 and {max}")
            }
            BuddyRule::SegmentStart { index: 0, start, .. } => {
                write!(f, "segment 0 starts at arena offset {start:#x}, not at 0")
            }
            BuddyRule::SegmentStart { index, start, previous, frontier } => write!(
                f,
                "segment {index} starts at arena offset {start:#x}, not above the previous start {previous:#x} \
                 and below the frontier {frontier:#x} at a multiple of the smallest block"
            ),
            BuddyRule::SegmentEndMark { index, word } => write!(
                f,
                "entry {index} of the segment table is past the last segment but holds {word:#x}, not the \
                 no-segment mark {:#x}",
                crate::arena::NO_SEGMENT
            ),
            BuddyRule::BadHeader { header } => write!(f, "unsound header: {header:?}"),
            BuddyRule::SegmentNumber { found, expected } => {
                write!(f, "the header names segment {found}, but the block lies in segment {expected}")
            }
            BuddyRule::OrderTooLarge { order, max_order } => {
                write!(f, "order {order} is above the largest order {max_order} of this heap")
            }
            BuddyRule::Misplaced { order, offset, segment } => write!(
                f,
                "a block of order {order} at arena offset {offset:#x} is not aligned to its size {} from its \
                 segment's start {segment:#x}",
                1usize.checked_shl(order).unwrap_or(0)
            ),
            BuddyRule::CrossesSegment { order, segment_end } => write!(
                f,
                "a block of order {order} runs past the end of its segment at arena offset {segment_end:#x}"
            ),
            BuddyRule::FreeAtFrontier { order } => write!(
                f,
                "the free block of order {order} ends at the frontier: it should have been given back to the \
                 untouched tail"
            ),
            BuddyRule::NotAFreeBlock { order, entry } => write!(
                f,
                "the list of order {order} names heap offset {entry:#x}, which is not a free block of that order"
            ),
            BuddyRule::PrevLink { found, expected } => {
                write!(f, "its prev link names {found:?}, but the entry before it is {expected:?}")
            }
            BuddyRule::ListedTwice { order } => {
                write!(f, "the block is on the list of order {order} twice (a cycle)")
            }
            BuddyRule::Unlisted { order, free, listed } => {
                write!(f, "{free} blocks of order {order} are free, but its list holds {listed}")
            }
            BuddyRule::Mask { stored, expected } => {
                write!(f, "the non-empty mask is {stored:#x}, but the non-empty lists make {expected:#x}")
            }
        }
    }
}

/// A broken [`BuddyRule`] at heap offset `at`.
fn broken(at: usize, rule: BuddyRule) -> HeapCheckError {
    HeapCheckError::new(at, Invariant::rule_of(rule))
}

impl Buddy {
    /// Verifies the rules of the crate docs' list of invariants on an initialised heap,
    /// in their order: the control area, the frontier and the segment table (rules 1 to
    /// 3); the walk over every block (rules 4 to 9); every free list against the walk
    /// (rules 10 to 13); the non-empty mask (rule 14).
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let layout = self.layout;
        let heap_bytes = self.heap.heap_size();
        if heap_bytes < layout.base {
            return Err(broken(0, BuddyRule::ControlArea { heap_bytes, control_bytes: layout.base }));
        }
        let arena = self.arena();
        let frontier = arena.frontier();
        let min_block = size_of_order(layout.min_order);
        let arena_bytes = arena.materialized();
        if frontier > arena_bytes || !frontier.is_multiple_of(min_block) {
            return Err(broken(FRONTIER_AT, BuddyRule::Frontier { frontier, min_block, arena_bytes }));
        }
        arena.check_segments().map_err(|(at, rule)| broken(at, rule))?;

        // The walk (rules 4 to 9), counting the free blocks of each order for the lists.
        let mut free = [0usize; MAX_LISTS];
        self.walk(frontier, |_, header| {
            if header.is_free() {
                free[(header.order() - layout.min_order) as usize] += 1;
            }
        })?;

        // The free lists against the walk (rules 10 to 13).
        let mut mask = 0u64;
        for (i, &expected) in free.iter().enumerate().take(layout.lists) {
            let order = layout.min_order + i as u32;
            let head_at = layout.head_at(order);
            let mut prev: Option<Block> = None;
            let mut link = arena.head_word(order);
            let mut link_at = head_at;
            // Each step reaches a free block of this order, and the first one reached
            // twice fails the prev-link check, so the walk takes at most `expected + 1`.
            let mut count = 0;
            while let Some(entry) = decode(link) {
                let here = layout.base + entry.offset();
                if !self.free_block_at(frontier, entry, order) {
                    return Err(broken(link_at, BuddyRule::NotAFreeBlock { order, entry: here }));
                }
                if arena.prev(entry) != prev {
                    if self.among_first(order, count, entry) {
                        return Err(broken(here, BuddyRule::ListedTwice { order }));
                    }
                    let found = arena.prev(entry).map(|b| layout.base + b.offset());
                    let expected = prev.map(|b| layout.base + b.offset());
                    return Err(broken(here, BuddyRule::PrevLink { found, expected }));
                }
                count += 1;
                prev = Some(entry);
                link = arena.next_word(entry);
                link_at = here;
            }
            if count != expected {
                let at = self.first_unlisted(frontier, order).map_or(head_at, |b| layout.base + b.offset());
                return Err(broken(at, BuddyRule::Unlisted { order, free: expected, listed: count }));
            }
            if count > 0 {
                mask |= 1 << i;
            }
        }

        // The mask (rule 14).
        let stored = arena.nonempty();
        if stored != mask {
            return Err(broken(NONEMPTY_AT, BuddyRule::Mask { stored, expected: mask }));
        }
        Ok(())
    }

    /// Rules 4 to 9 of [`Buddy::check`]: walks the blocks of every segment, from arena
    /// offset 0 to `frontier`, verifying each header before following it, and hands
    /// each verified block to `visit`. The segment table passed rule 3.
    fn walk(&self, frontier: usize, mut visit: impl FnMut(Block, Header)) -> Result<(), HeapCheckError> {
        let layout = self.layout;
        let arena = self.arena();
        let align = self.config.align;
        let min_block = size_of_order(layout.min_order);
        let heap_lo = self.heap.heap_lo() as usize;
        let mut previous: Option<(Block, Header)> = None;
        let mut at = 0;
        while at < frontier {
            let segment = arena.segment_of(at);
            if at == segment.base {
                // Blocks of different segments are never buddies.
                previous = None;
            }
            let block = Block::at(at);
            let header = arena.header(block);
            let fail = |invariant| Err(HeapCheckError::new(layout.base + at, invariant));
            if header.unknown_bits() != 0 || !(header.is_free() || header.is_allocated()) {
                return fail(Invariant::rule_of(BuddyRule::BadHeader { header }));
            }
            if header.segment() != segment.index {
                return fail(Invariant::rule_of(BuddyRule::SegmentNumber {
                    found: header.segment(),
                    expected: segment.index,
                }));
            }
            let order = header.order();
            if order < layout.min_order {
                return fail(Invariant::TooSmall { size: size_of_order(order), min: min_block });
            }
            if order > layout.max_order {
                return fail(Invariant::rule_of(BuddyRule::OrderTooLarge {
                    order,
                    max_order: layout.max_order,
                }));
            }
            let size = size_of_order(order);
            if !segment.aligns(block, order) {
                return fail(Invariant::rule_of(BuddyRule::Misplaced {
                    order,
                    offset: at,
                    segment: segment.base,
                }));
            }
            if size > frontier - at {
                return fail(Invariant::PastHeapEnd { size });
            }
            if !segment.holds(block, order) {
                return fail(Invariant::rule_of(BuddyRule::CrossesSegment {
                    order,
                    segment_end: segment.end,
                }));
            }
            if !align.is_aligned(heap_lo + layout.base + at + HEADER_BYTES) {
                return fail(Invariant::PayloadMisaligned { align: align.get() });
            }
            if header.is_free()
                && let Some((left, left_header)) = previous
                && left < block
                && segment.buddy(block, order) == left
                && left_header == header
            {
                return Err(HeapCheckError::new(layout.base + left.offset(), Invariant::Uncoalesced));
            }
            visit(block, header);
            previous = Some((block, header));
            at += size;
        }
        if let Some((last, header)) = previous
            && header.is_free()
        {
            return Err(broken(
                layout.base + last.offset(),
                BuddyRule::FreeAtFrontier { order: header.order() },
            ));
        }
        Ok(())
    }

    /// True when the walk (which passed) found a free block of `order` at `block`.
    ///
    /// Every block lies at a multiple of its size from its segment's start, inside its
    /// segment, and no block is larger than the largest order: the blocks of a segment
    /// are the leaves of binary trees over it. So every multiple of the largest block
    /// size from the segment's start is a block boundary, and
    /// from a boundary `start` whose block does not reach `block`, the midpoint of the
    /// aligned region of the level below is one too (no block straddles it: a block
    /// that did would contain the whole region, `start`'s block included). Descending
    /// level by level reads one verified header per level and ends at the block that
    /// holds `block`'s offset.
    fn free_block_at(&self, frontier: usize, block: Block, order: u32) -> bool {
        let at = block.offset();
        if at >= frontier {
            return false;
        }
        let arena = self.arena();
        let segment = arena.segment_of(at);
        let mut level = self.layout.max_order;
        loop {
            let start = segment.ancestor(block, level).offset();
            let header = arena.header(Block::at(start));
            if at < start + size_of_order(header.order()) {
                return start == at && header.is_free() && header.order() == order;
            }
            // The block at `start` is smaller than this level's regions (the walk
            // guarantees orders at least the minimum, so this ends above it).
            level -= 1;
        }
    }

    /// True when `block` is among the first `n` entries of the list of `order`, which
    /// the list walk has verified (so following them is safe).
    fn among_first(&self, order: u32, n: usize, block: Block) -> bool {
        let arena = self.arena();
        let mut entry = arena.head(order);
        for _ in 0..n {
            let Some(e) = entry else { return false };
            if e == block {
                return true;
            }
            entry = arena.next(e);
        }
        false
    }

    /// The first free block of `order`, in address order, that is not on its list (the
    /// list walk verified the list, and found fewer entries than free blocks). The error
    /// path, so it may allocate.
    fn first_unlisted(&self, frontier: usize, order: u32) -> Option<Block> {
        let arena = self.arena();
        let mut listed = Vec::new();
        let mut entry = arena.head(order);
        while let Some(e) = entry {
            listed.push(e);
            entry = arena.next(e);
        }
        listed.sort_unstable();
        let mut missing = None;
        let _ = self.walk(frontier, |block, header| {
            if missing.is_none()
                && header.is_free()
                && header.order() == order
                && listed.binary_search(&block).is_err()
            {
                missing = Some(block);
            }
        });
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuddyConfig;
    use mm_core::{Align, Allocator, MemLib};

    #[test]
    fn the_descent_finds_every_free_block_and_nothing_inside_a_block() {
        let mut a = Buddy::new(MemLib::new(16 << 20).unwrap(), BuddyConfig::new(Align::SIXTEEN));
        a.init().unwrap();
        // Blocks of many orders, every third one freed: free blocks of every size, among
        // allocated ones.
        let blocks: Vec<_> = (0..3000).map(|i| a.malloc(1 + (i * 37) % 1000).unwrap()).collect();
        for &p in blocks.iter().step_by(3) {
            // SAFETY: each block is live and freed once.
            unsafe { a.free(p) };
        }
        a.check_heap().unwrap();
        let frontier = a.arena().frontier();
        let min = size_of_order(a.layout.min_order);
        let (mut free, mut inside) = (0, 0);
        a.walk(frontier, |block, header| {
            for order in a.layout.min_order..=a.layout.max_order {
                let expected = header.is_free() && header.order() == order;
                assert_eq!(a.free_block_at(frontier, block, order), expected, "{block:?} {header:?}");
            }
            free += usize::from(header.is_free());
            for offset in (block.offset() + min..block.offset() + size_of_order(header.order())).step_by(min)
            {
                assert!(!a.free_block_at(frontier, Block::at(offset), header.order()), "{offset:#x}");
                inside += 1;
            }
        })
        .unwrap();
        assert!(free > 100 && inside > 1000, "{free} free blocks, {inside} offsets inside blocks");
        assert!(!a.free_block_at(frontier, Block::at(frontier), a.layout.min_order), "the frontier");
    }
}
