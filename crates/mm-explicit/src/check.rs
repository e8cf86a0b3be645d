//! The heap checker (`mm_checkheap`) of both lists: a walk of the heap that doubts every
//! tag (rules 1 to 8 of the crate docs), then a walk of the free list that doubts every
//! link (rules 9 to 16), each broken rule reported as an [`ExplicitRule`].
//!
//! The heap walk validates a block's size *before* using it to find the next block, and
//! counts the free blocks. The list walk only follows a link after finding a free block
//! of the heap walk at its target, so a corrupted link is reported where it is instead
//! of sending the walk into the weeds. Errors carry the heap offset of the offending
//! block's header.
//!
//! A checker that collects the blocks into a `Vec` and marks the listed ones in a second
//! one is the obvious design, and this one started so. But the checker also runs on a
//! strategy that is the program's global allocator (`mm::LockedAllocator::check_heap`),
//! whose lock it holds meanwhile: it must not allocate. So on a healthy heap it allocates
//! nothing:
//!
//! * "is there a block at offset x?" is answered by a [`BlockIndex`], every k-th block
//!   of the heap walk in a fixed array on the stack, plus a short walk from the nearest;
//! * "is this block listed twice?" needs no marks: the list is walked with each entry's
//!   `prev` link checked against the entry before it, and the first entry reached a
//!   second time always fails that check (its `prev` names the entry before its first
//!   visit, or none). Only then is the list walked again, to tell a cycle from a broken
//!   link;
//! * "is every free block listed?" is a count: the list's entries are distinct free
//!   blocks, so it holds them all exactly when it holds as many as the heap walk found.
//!   Only when it holds fewer is the missing block looked for, with a `Vec`.

use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{HeapCheckError, Invariant, MemLib};
use mm_tags::{Block, TaggedLayout, check_tagged_heap};

use crate::list::{FreeList, decode, encode, next_free, next_word, prev_word};
use crate::{Explicit, ExplicitTextbook, FreeListOrder, MAX_HEAP};

/// The explicit lists' own numbered rules (the crate docs list rules 1 to 16; 1 to 7 are
/// the boundary-tag layer's). A link is shown as the heap offset of the block it names,
/// `None` for "no block".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplicitRule {
    /// Rule 8: the heap is larger than a four-byte link can reach.
    HeapPastLinks {
        /// The heap's size in bytes.
        heap_size: usize,
    },
    /// Rule 9: the list's head, or a block's next link, names no free block.
    LinkToNonFree {
        /// The block whose next link it is; `None` for the list's head.
        holder: Option<usize>,
        /// The offset the link names.
        link: usize,
    },
    /// Rule 10: a block is listed twice (the list has a cycle).
    ListedTwice,
    /// Rule 11: a block's prev link does not name the block before it in the list.
    PrevMismatch {
        /// What the prev link names.
        prev: Option<usize>,
        /// The block before it in the list.
        expected: Option<usize>,
    },
    /// Rule 12: a free block is not on the list.
    Unlisted,
    /// Rule 13: the list does not end at its recorded tail.
    TailMismatch {
        /// The last block of the walk along the list.
        end: Option<usize>,
        /// The recorded tail.
        tail: Option<usize>,
    },
    /// Rule 14: an address-ordered list is not sorted.
    Unsorted {
        /// The block out of order.
        block: usize,
        /// The block before it in the list, at a higher address.
        before: usize,
    },
    /// Rule 15 (the tuned list): the free last block of the heap is not the list's tail.
    WildernessNotLast,
    /// Rule 16 (the tuned list): a listed block is larger than the fit bound.
    AboveFitBound {
        /// The block's size.
        size: usize,
        /// The fit bound.
        fit_bound: usize,
    },
}

/// A link, for messages: its offset, or "none".
struct Show(Option<usize>);

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(offset) => write!(f, "{offset:#x}"),
            None => f.write_str("none"),
        }
    }
}

impl fmt::Display for ExplicitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExplicitRule::HeapPastLinks { heap_size } => {
                write!(f, "the heap is {heap_size:#x} bytes, past the {MAX_HEAP:#x} links reach")
            }
            ExplicitRule::LinkToNonFree { holder: None, link } => {
                write!(f, "the list head is {link:#x}, which is not a free block")
            }
            ExplicitRule::LinkToNonFree { holder: Some(holder), link } => {
                write!(f, "the next link of {holder:#x} is {link:#x}, which is not a free block")
            }
            ExplicitRule::ListedTwice => f.write_str("the block is listed twice (the list has a cycle)"),
            ExplicitRule::PrevMismatch { prev, expected } => write!(
                f,
                "the prev link is {}, but the block before it in the list is {}",
                Show(prev),
                Show(expected)
            ),
            ExplicitRule::Unlisted => f.write_str("the free block is not on the free list"),
            ExplicitRule::TailMismatch { end, tail } => {
                write!(f, "the list ends at {}, but its recorded tail is {}", Show(end), Show(tail))
            }
            ExplicitRule::Unsorted { block, before } => {
                write!(f, "the address-ordered list is not sorted: {block:#x} comes after {before:#x}")
            }
            ExplicitRule::WildernessNotLast => {
                f.write_str("the free last block of the heap is not at the back of the list")
            }
            ExplicitRule::AboveFitBound { size, fit_bound } => {
                write!(f, "the block is {size} bytes, more than the fit bound {fit_bound}")
            }
        }
    }
}

impl Rule for ExplicitRule {
    fn number(&self) -> u32 {
        match self {
            ExplicitRule::HeapPastLinks { .. } => 8,
            ExplicitRule::LinkToNonFree { .. } => 9,
            ExplicitRule::ListedTwice => 10,
            ExplicitRule::PrevMismatch { .. } => 11,
            ExplicitRule::Unlisted => 12,
            ExplicitRule::TailMismatch { .. } => 13,
            ExplicitRule::Unsorted { .. } => 14,
            ExplicitRule::WildernessNotLast => 15,
            ExplicitRule::AboveFitBound { .. } => 16,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A rule of the list broken at heap offset `at`.
fn broken(at: usize, rule: ExplicitRule) -> HeapCheckError {
    HeapCheckError::new(at, Invariant::rule_of(rule))
}

/// How many block offsets a [`BlockIndex`] keeps: 16 KiB of stack.
const SAMPLES: usize = 4096;

/// Where the heap walk found blocks, without allocating: every `stride`-th block's
/// offset, in address order, in a fixed array. When the array fills, every other sample
/// is dropped and the stride doubles, so any heap fits, and a lookup walks fewer than
/// `stride` blocks. Heaps of up to `SAMPLES` blocks (the lab's traces) keep every block,
/// and a lookup is one binary search.
struct BlockIndex {
    samples: [u32; SAMPLES],
    len: usize,
    stride: usize,
    /// Blocks recorded so far.
    seen: usize,
    /// The epilogue's offset: where every walk ends.
    end: usize,
}

impl BlockIndex {
    fn new(end: usize) -> BlockIndex {
        BlockIndex { samples: [0; SAMPLES], len: 0, stride: 1, seen: 0, end }
    }

    /// Records the next block of the heap walk (offsets ascend; heaps are at most
    /// [`MAX_HEAP`] bytes, so they fit in 32 bits).
    fn record(&mut self, block: Block) {
        if self.seen.is_multiple_of(self.stride) {
            if self.len == SAMPLES {
                for i in 0..SAMPLES / 2 {
                    self.samples[i] = self.samples[2 * i];
                }
                self.len = SAMPLES / 2;
                self.stride *= 2;
            }
            if self.seen.is_multiple_of(self.stride) {
                self.samples[self.len] = block.offset() as u32;
                self.len += 1;
            }
        }
        self.seen += 1;
    }

    /// True when the walk found a block starting exactly at `offset`. Follows only the
    /// sizes of blocks the walk verified.
    fn has_block_at(&self, heap: &MemLib, offset: usize) -> bool {
        let below = self.samples[..self.len].partition_point(|&sample| sample as usize <= offset);
        let Some(nearest) = below.checked_sub(1) else { return false };
        let mut at = self.samples[nearest] as usize;
        while at < offset && at < self.end {
            at += Block::at(at).size(heap);
        }
        at == offset && at < self.end
    }
}

/// What the heap walk tells the list walk.
struct FreeBlocks {
    /// Where the blocks are.
    index: BlockIndex,
    /// How many blocks are free.
    count: usize,
    /// The free block with the highest offset.
    last: Option<Block>,
}

/// One check of a heap and its list: what the two lists share, and which of the rules
/// that only some lists keep apply.
struct ListCheck<'a> {
    heap: &'a MemLib,
    layout: TaggedLayout,
    list: &'a FreeList,
    /// Rule 14: the list is sorted by address.
    sorted: bool,
    /// Rule 15: a free last block of the heap is the tail.
    wilderness_last: bool,
    /// Rule 16: no listed block is larger than this.
    fit_bound: Option<usize>,
}

impl Explicit {
    /// Verifies rules 1 to 16 of the crate docs (see [`ListCheck::blocks`] and
    /// [`ListCheck::list`]); `Ok(())` before `init`, with nothing to check.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Ok(());
        }
        self.list_check().run()
    }

    /// The check of this heap and list, with every rule.
    fn list_check(&self) -> ListCheck<'_> {
        ListCheck {
            heap: &self.heap,
            layout: self.layout,
            list: &self.list,
            sorted: self.config.order == FreeListOrder::AddressOrdered,
            wilderness_last: true,
            fit_bound: Some(self.fit_bound),
        }
    }
}

impl ExplicitTextbook {
    /// Verifies rules 1 to 13 of the crate docs: the textbook list keeps no order, no
    /// place for the wilderness and no fit bound. `Ok(())` before `init`.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Ok(());
        }
        ListCheck {
            heap: &self.heap,
            layout: self.layout,
            list: &self.list,
            sorted: false,
            wilderness_last: false,
            fit_bound: None,
        }
        .run()
    }
}

impl ListCheck<'_> {
    /// Verifies the heap, then the free list.
    fn run(&self) -> Result<(), HeapCheckError> {
        let free = self.blocks()?;
        self.list(&free)
    }

    /// Verifies, in order: the heap is no larger than [`MAX_HEAP`] (rule 8), and rules 1
    /// to 7 along the heap walk of [`check_tagged_heap`]. Returns where the blocks are,
    /// and how many are free.
    fn blocks(&self) -> Result<FreeBlocks, HeapCheckError> {
        let heap_size = self.heap.heap_size();
        if heap_size > MAX_HEAP {
            return Err(broken(0, ExplicitRule::HeapPastLinks { heap_size }));
        }
        let epilogue = self.layout.epilogue(self.heap).offset();
        let mut free = FreeBlocks { index: BlockIndex::new(epilogue), count: 0, last: None };
        check_tagged_heap(self.heap, self.layout, |block, tag| {
            free.index.record(block);
            if !tag.is_allocated() {
                free.count += 1;
                free.last = Some(block);
            }
        })?;
        Ok(free)
    }

    /// True when `offset` is a free block of the heap walk.
    fn is_free_block(&self, free: &FreeBlocks, offset: usize) -> bool {
        free.index.has_block_at(self.heap, offset) && Block::at(offset).is_free(self.heap)
    }

    /// Walks the list from the head and verifies: every listed block is a free block of
    /// the heap walk, so a link is checked before it is followed (rule 9); no block is
    /// listed twice, no cycle (rule 10); each block's prev link names the block before
    /// it, none for the head (rule 11), which with the next links makes
    /// `next.prev == self` hold everywhere; where they apply, that the offsets ascend
    /// (rule 14) and no block is larger than the fit bound (rule 16). At the end: every
    /// free block was listed (rule 12), the list ends at the recorded tail (rule 13),
    /// and, where it applies, a free last block of the heap is that tail (rule 15).
    fn list(&self, free: &FreeBlocks) -> Result<(), HeapCheckError> {
        let heap = self.heap;
        // The block holding the link that led here (none for the head), and the link.
        let mut from: Option<usize> = None;
        let mut link = encode(self.list.head);
        // The walk ends: each step reaches a free block, and the first one reached twice
        // fails the prev-link check below, so at most `free.count + 1` steps are taken.
        let mut listed = 0;
        while let Some(block) = decode(link) {
            let at = block.offset();
            if !self.is_free_block(free, at) {
                return Err(broken(
                    from.unwrap_or(at),
                    ExplicitRule::LinkToNonFree { holder: from, link: at },
                ));
            }
            let expected = encode(from.map(Block::at));
            let prev = prev_word(heap, block);
            if prev != expected {
                if self.among_first(listed, at) {
                    return Err(broken(at, ExplicitRule::ListedTwice));
                }
                let (prev, expected) = (decode(prev).map(Block::offset), from);
                return Err(broken(at, ExplicitRule::PrevMismatch { prev, expected }));
            }
            let size = block.size(heap);
            if let Some(fit_bound) = self.fit_bound
                && size > fit_bound
            {
                return Err(broken(at, ExplicitRule::AboveFitBound { size, fit_bound }));
            }
            if self.sorted
                && let Some(before) = from
                && before > at
            {
                return Err(broken(at, ExplicitRule::Unsorted { block: at, before }));
            }
            listed += 1;
            from = Some(at);
            link = next_word(heap, block);
        }
        if listed < free.count {
            let missing = self.first_unlisted(free, listed);
            return Err(broken(missing, ExplicitRule::Unlisted));
        }
        let tail = self.list.tail.map(Block::offset);
        if tail != from {
            let at = from.or(tail).unwrap_or(0);
            return Err(broken(at, ExplicitRule::TailMismatch { end: from, tail }));
        }
        if self.wilderness_last
            && let Some(last) = free.last
            && last.end(heap) == self.layout.epilogue(heap).offset()
            && from != Some(last.offset())
        {
            return Err(broken(last.offset(), ExplicitRule::WildernessNotLast));
        }
        Ok(())
    }

    /// True when `block` is among the first `n` entries of the list, which the list walk
    /// has verified (so following them is safe).
    fn among_first(&self, n: usize, block: usize) -> bool {
        let mut entry = self.list.head;
        for _ in 0..n {
            let Some(b) = entry else { return false };
            if b.offset() == block {
                return true;
            }
            entry = next_free(self.heap, b);
        }
        false
    }

    /// The first free block, in address order, that is not among the `listed` entries of
    /// the list (the list walk verified them all, and found fewer than the free blocks).
    /// The error path, so it may allocate.
    fn first_unlisted(&self, free: &FreeBlocks, listed: usize) -> usize {
        let mut entries = Vec::with_capacity(listed);
        let mut entry = self.list.head;
        while let Some(b) = entry {
            entries.push(b.offset());
            entry = next_free(self.heap, b);
        }
        entries.sort_unstable();
        let mut missing = None;
        let _ = check_tagged_heap(self.heap, self.layout, |block, tag| {
            if missing.is_none() && !tag.is_allocated() && entries.binary_search(&block.offset()).is_err() {
                missing = Some(block.offset());
            }
        });
        missing.or(free.last.map(Block::offset)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExplicitConfig;
    use mm_core::{Allocator, MemLib};

    /// Many more blocks than the index keeps, every third one free.
    fn crowded_heap() -> Explicit {
        let mut a = Explicit::new(MemLib::new(4 << 20).unwrap(), ExplicitConfig::default());
        a.init().unwrap();
        let blocks: Vec<_> = (0..5 * SAMPLES).map(|i| a.malloc(8 + i % 40).unwrap()).collect();
        for &p in blocks.iter().step_by(3) {
            // SAFETY: each block is live and freed once.
            unsafe { a.free(p) };
        }
        a
    }

    #[test]
    fn the_index_finds_every_block_and_nothing_between_them() {
        let a = crowded_heap();
        let free = a.list_check().blocks().unwrap();
        assert!(free.index.stride > 1, "the samples thinned out");
        assert_eq!(free.index.seen, mm_tags::walk(&a.heap, a.layout.first).count());
        for (block, tag) in mm_tags::walk(&a.heap, a.layout.first) {
            assert!(free.index.has_block_at(&a.heap, block.offset()), "{block:?}");
            for inside in (block.offset() + 8..block.offset() + tag.size()).step_by(8) {
                assert!(!free.index.has_block_at(&a.heap, inside), "{inside:#x} inside {block:?}");
            }
        }
        assert!(!free.index.has_block_at(&a.heap, a.heap.heap_size() - mm_tags::WORD), "the epilogue");
        assert!(!free.index.has_block_at(&a.heap, 0), "below the first block");
        a.check_heap().unwrap();
    }

    #[test]
    fn a_link_into_the_middle_of_a_free_block_is_caught_in_a_crowded_heap() {
        let mut a = crowded_heap();
        let head = a.list.head.unwrap();
        let target = crate::list::next_free(&a.heap, head).unwrap();
        let bad = target.offset() as u32 + 16;
        a.heap.write::<u32>(crate::list::next_link_offset(head), bad);
        let err = a.check_heap().unwrap_err();
        assert_eq!(err.offset, head.offset());
        let rule = ExplicitRule::LinkToNonFree { holder: Some(head.offset()), link: bad as usize };
        assert_eq!(err.invariant.rule::<ExplicitRule>(), Some(&rule));
    }
}
