//! The heap checker (`mm_checkheap`): a walk of the heap that doubts every tag, then a
//! walk of the free list that doubts every link.
//!
//! The heap walk validates a block's size *before* using it to find the next block, and
//! records where the free blocks are. The list walk only follows a link after finding
//! its target among those free blocks, so a corrupted link is reported where it is
//! instead of sending the walk into the weeds, and it marks each block it visits, so a
//! cycle is reported the moment the walk comes back to a block (the walk is bounded by
//! the number of free blocks). Errors carry the heap offset of the offending block's
//! header.

use mm_core::{HeapCheckError, Invariant};
use mm_implicit::{Block, check_tagged_heap};

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

impl Explicit {
    /// Verifies the heap, then the free list (see [`Explicit::check_blocks`] and
    /// [`Explicit::check_list`]).
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let free_blocks = self.check_blocks()?;
        self.check_list(&free_blocks)
    }

    /// Verifies, in order: the heap is initialised, no larger than [`MAX_HEAP`], and the
    /// prologue intact; along the walk every block's size is a multiple of the
    /// alignment, at least the minimum and within the heap, its payload is aligned,
    /// its header equals its footer, no stray flag bits are set and no two free blocks
    /// touch; the walk ends at an epilogue that sits exactly at `brk - 8`. Returns the
    /// offsets of the free blocks, ascending.
    fn check_blocks(&self) -> Result<Vec<usize>, HeapCheckError> {
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
        let blocks = check_tagged_heap(&self.heap, self.layout)?;
        Ok(blocks
            .into_iter()
            .filter(|(_, tag)| !tag.is_allocated())
            .map(|(block, _)| block.offset())
            .collect())
    }

    /// Walks the list from the head and verifies: every listed block is one of the
    /// `free_blocks` the heap walk found (so a link is checked before it is followed);
    /// no block is listed twice (no cycle); each block's prev link names the block
    /// before it (none for the head), which with the next links makes `next.prev ==
    /// self` hold everywhere; under the address order, offsets ascend; no block is
    /// larger than the fit bound. At the end: every free block was listed, the list
    /// ends at the recorded tail, and a free last block of the heap (the wilderness)
    /// is that tail.
    fn check_list(&self, free_blocks: &[usize]) -> Result<(), HeapCheckError> {
        let heap = &self.heap;
        let mut listed = vec![false; free_blocks.len()];
        // The link that led here: the block holding it (none for the head) and its value.
        let mut from: Option<usize> = None;
        let mut link = encode(self.head);
        while link != NIL {
            let at = link as usize;
            let Ok(index) = free_blocks.binary_search(&at) else {
                let holder =
                    from.map_or_else(|| "the list head".to_string(), |b| format!("the next link of {b:#x}"));
                return Err(list_error(
                    from.unwrap_or(at),
                    format!("{holder} is {}, which is not a free block", show(link)),
                ));
            };
            if listed[index] {
                return Err(list_error(at, "the block is listed twice (the list has a cycle)".to_string()));
            }
            listed[index] = true;
            let expected = encode(from.map(Block::at));
            let prev = prev_word(heap, Block::at(at));
            if prev != expected {
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
            from = Some(at);
            link = next_word(heap, Block::at(at));
        }
        if let Some(index) = listed.iter().position(|&seen| !seen) {
            return Err(list_error(free_blocks[index], "the free block is not on the free list".to_string()));
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
        if let Some(&last) = free_blocks.last()
            && self.is_last(Block::at(last))
            && from != Some(last)
        {
            return Err(list_error(
                last,
                "the free last block of the heap is not at the back of the list".to_string(),
            ));
        }
        Ok(())
    }
}
