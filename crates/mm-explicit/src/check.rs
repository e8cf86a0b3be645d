//! The heap checker (`mm_checkheap`): a walk of the heap that doubts every tag, then a
//! walk of the free list that doubts every link.
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

use mm_core::{HeapCheckError, Invariant, MemLib};
use mm_tags::{Block, check_tagged_heap};

use crate::list::{NIL, encode, next_word, prev_word};
use crate::{Explicit, FreeListOrder, MAX_HEAP};

/// A free-list rule broken at `block`.
fn list_error(block: usize, message: String) -> HeapCheckError {
    HeapCheckError::new(block, Invariant::FreeList(message))
}

/// A link word, for messages.
fn show(link: u32) -> String {
    if link == NIL { "none".to_string() } else { format!("{link:#x}") }
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

impl Explicit {
    /// Verifies the heap, then the free list (see [`Explicit::check_blocks`] and
    /// [`Explicit::check_list`]).
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let free = self.check_blocks()?;
        self.check_list(&free)
    }

    /// Verifies, in order: the heap is initialised, no larger than [`MAX_HEAP`], and the
    /// prologue intact; along the walk every block's size is a multiple of the
    /// alignment, at least the minimum and within the heap, its payload is aligned,
    /// its header equals its footer, no stray flag bits are set and no two free blocks
    /// touch; the walk ends at an epilogue that sits exactly at `brk - 8`. Returns where
    /// the blocks are, and how many are free.
    fn check_blocks(&self) -> Result<FreeBlocks, HeapCheckError> {
        if !self.ready {
            return Err(HeapCheckError::new(0, Invariant::BadPrologue));
        }
        let heap_size = self.heap.heap_size();
        if heap_size > MAX_HEAP {
            return Err(HeapCheckError::new(
                0,
                Invariant::Other(format!(
                    "the heap is {heap_size:#x} bytes, past the {MAX_HEAP:#x} links reach"
                )),
            ));
        }
        let epilogue = heap_size.saturating_sub(mm_tags::WORD);
        let mut free = FreeBlocks { index: BlockIndex::new(epilogue), count: 0, last: None };
        check_tagged_heap(&self.heap, self.layout, |block, tag| {
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
        free.index.has_block_at(&self.heap, offset) && Block::at(offset).is_free(&self.heap)
    }

    /// Walks the list from the head and verifies: every listed block is a free block of
    /// the heap walk (so a link is checked before it is followed); no block is listed
    /// twice (no cycle); each block's prev link names the block before it (none for the
    /// head), which with the next links makes `next.prev == self` hold everywhere; under
    /// the address order, offsets ascend; no block is larger than the fit bound. At the
    /// end: every free block was listed, the list ends at the recorded tail, and a free
    /// last block of the heap (the wilderness) is that tail.
    fn check_list(&self, free: &FreeBlocks) -> Result<(), HeapCheckError> {
        let heap = &self.heap;
        // The link that led here: the block holding it (none for the head) and its value.
        let mut from: Option<usize> = None;
        let mut link = encode(self.head);
        // The walk ends: each step reaches a free block, and the first one reached twice
        // fails the prev-link check below, so at most `free.count + 1` steps are taken.
        let mut listed = 0;
        while link != NIL {
            let at = link as usize;
            if !self.is_free_block(free, at) {
                let holder =
                    from.map_or_else(|| "the list head".to_string(), |b| format!("the next link of {b:#x}"));
                return Err(list_error(
                    from.unwrap_or(at),
                    format!("{holder} is {}, which is not a free block", show(link)),
                ));
            }
            let expected = encode(from.map(Block::at));
            let prev = prev_word(heap, Block::at(at));
            if prev != expected {
                if self.among_first(listed, at) {
                    return Err(list_error(
                        at,
                        "the block is listed twice (the list has a cycle)".to_string(),
                    ));
                }
                return Err(list_error(
                    at,
                    format!(
                        "the prev link is {}, but the block before it in the list is {}",
                        show(prev),
                        show(expected)
                    ),
                ));
            }
            let size = Block::at(at).size(heap);
            if size > self.fit_bound {
                return Err(list_error(
                    at,
                    format!("the block is {size} bytes, more than the fit bound {}", self.fit_bound),
                ));
            }
            if self.config.order == FreeListOrder::AddressOrdered
                && let Some(before) = from
                && before > at
            {
                return Err(list_error(
                    at,
                    format!("the address-ordered list is not sorted: {at:#x} comes after {before:#x}"),
                ));
            }
            listed += 1;
            from = Some(at);
            link = next_word(heap, Block::at(at));
        }
        if listed < free.count {
            let missing = self.first_unlisted(free, listed);
            return Err(list_error(missing, "the free block is not on the free list".to_string()));
        }
        if encode(self.tail) != encode(from.map(Block::at)) {
            let at = from.or(self.tail.map(Block::offset)).unwrap_or(0);
            return Err(list_error(
                at,
                format!(
                    "the list ends at {}, but its recorded tail is {}",
                    show(encode(from.map(Block::at))),
                    show(encode(self.tail))
                ),
            ));
        }
        if let Some(last) = free.last
            && self.is_last(last)
            && from != Some(last.offset())
        {
            return Err(list_error(
                last.offset(),
                "the free last block of the heap is not at the back of the list".to_string(),
            ));
        }
        Ok(())
    }

    /// True when `block` is among the first `n` entries of the list, which the list walk
    /// has verified (so following them is safe).
    fn among_first(&self, n: usize, block: usize) -> bool {
        let mut entry = self.head;
        for _ in 0..n {
            let Some(b) = entry else { return false };
            if b.offset() == block {
                return true;
            }
            entry = crate::list::next_free(&self.heap, b);
        }
        false
    }

    /// The first free block, in address order, that is not among the `listed` entries of
    /// the list (the list walk verified them all, and found fewer than the free blocks).
    /// The error path, so it may allocate.
    fn first_unlisted(&self, free: &FreeBlocks, listed: usize) -> usize {
        let mut entries = Vec::with_capacity(listed);
        let mut entry = self.head;
        while let Some(b) = entry {
            entries.push(b.offset());
            entry = crate::list::next_free(&self.heap, b);
        }
        entries.sort_unstable();
        let mut missing = None;
        let _ = check_tagged_heap(&self.heap, self.layout, |block, tag| {
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
        let free = a.check_blocks().unwrap();
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
        let head = a.head.unwrap();
        let target = crate::list::next_free(&a.heap, head).unwrap();
        let bad = target.offset() as u32 + 16;
        a.heap.write::<u32>(crate::list::next_link_offset(head), bad);
        let err = a.check_heap().unwrap_err();
        assert_eq!(err.offset, head.offset());
        assert_eq!(
            err.invariant,
            Invariant::FreeList(format!(
                "the next link of {:#x} is {bad:#x}, which is not a free block",
                head.offset()
            ))
        );
    }
}
