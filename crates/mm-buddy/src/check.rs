//! The heap checker (`mm_checkheap`): a walk over every block from the start of the
//! arena to the frontier that doubts every header before following it, then a walk of
//! every free list against what the first walk found.
//!
//! Errors carry the heap offset of the offending block's header (or, for the control
//! area, of the damaged word).

use mm_core::{HeapCheckError, Invariant};

use crate::Buddy;
use crate::arena::{Block, FRONTIER_AT, NONEMPTY_AT, decode, size_of_order};
use crate::header::HEADER_BYTES;

impl Buddy {
    /// Verifies, in order:
    ///
    /// 1. the allocator is initialised and the frontier is a multiple of the smallest
    ///    block inside the heap;
    /// 2. along the walk, every header has a sound state and no stray bits, an order
    ///    between the minimum and the maximum, starts at a multiple of its size, lies
    ///    below the frontier and has an aligned payload; no free block is followed by
    ///    its free buddy of the same order (unmerged); and the last block is not free
    ///    (it should have gone back to the untouched tail);
    /// 3. every free list holds exactly the free blocks of its order: each entry is a
    ///    free block the walk found with that order, its `prev` link names the entry
    ///    before it, no entry repeats, and none is missing;
    /// 4. the non-empty mask has exactly the bits of the non-empty lists.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let layout = self.layout;
        let other = |at: usize, message: String| Err(HeapCheckError::new(at, Invariant::Other(message)));
        if !self.ready {
            return other(0, "the allocator is not initialised (no control area)".into());
        }
        if self.heap.heap_size() < layout.base {
            return other(
                0,
                format!("the heap ({} bytes) is shorter than the control area", self.heap.heap_size()),
            );
        }
        let arena = self.arena();
        let frontier = arena.frontier();
        let min_block = size_of_order(layout.min_order);
        if frontier > arena.materialized() || !frontier.is_multiple_of(min_block) {
            return other(
                FRONTIER_AT,
                format!(
                    "the frontier {frontier:#x} is not a multiple of {min_block} within the {} arena bytes of the heap",
                    arena.materialized()
                ),
            );
        }

        // 2. The walk. Free blocks are collected, sorted by offset, for step 3.
        let align = self.config.align;
        let heap_lo = self.heap.heap_lo() as usize;
        let mut free: Vec<(usize, u32)> = Vec::new();
        let mut previous: Option<(Block, crate::Header)> = None;
        let mut at = 0;
        while at < frontier {
            let block = Block::at(at);
            let header = arena.header(block);
            let fail = |invariant| Err(HeapCheckError::new(layout.base + at, invariant));
            if header.unknown_bits() != 0 || !(header.is_free() || header.is_allocated()) {
                return fail(Invariant::Flags(format!("{header:?}")));
            }
            let order = header.order();
            if order < layout.min_order {
                return fail(Invariant::TooSmall { size: size_of_order(order), min: min_block });
            }
            if order > layout.max_order {
                return fail(Invariant::Other(format!(
                    "order {order} is above the largest order {} of this heap",
                    layout.max_order
                )));
            }
            let size = size_of_order(order);
            if !at.is_multiple_of(size) {
                return fail(Invariant::Other(format!(
                    "a block of order {order} at arena offset {at:#x} is not aligned to its size {size}"
                )));
            }
            if size > frontier - at {
                return fail(Invariant::PastHeapEnd { size });
            }
            if !align.is_aligned(heap_lo + layout.base + at + HEADER_BYTES) {
                return fail(Invariant::PayloadMisaligned { align: align.get() });
            }
            if header.is_free() {
                if let Some((left, left_header)) = previous
                    && !block.is_left(order)
                    && left == block.buddy(order)
                    && left_header == header
                {
                    return Err(HeapCheckError::new(layout.base + left.offset(), Invariant::Uncoalesced));
                }
                free.push((at, order));
            }
            previous = Some((block, header));
            at += size;
        }
        if let Some((last, header)) = previous
            && header.is_free()
        {
            return other(
                layout.base + last.offset(),
                format!(
                    "the free block of order {} ends at the frontier: it should have been given back to the \
                     untouched tail",
                    header.order()
                ),
            );
        }

        // 3. The free lists against the walk.
        let free_list =
            |at: usize, message: String| Err(HeapCheckError::new(at, Invariant::FreeList(message)));
        let mut listed = vec![false; free.len()];
        let mut mask = 0u64;
        for i in 0..layout.lists {
            let order = layout.min_order + i as u32;
            let head_at = layout.head_at(order);
            let expected = free.iter().filter(|&&(_, k)| k == order).count();
            let mut prev: Option<Block> = None;
            let mut link = arena.head_word(order);
            let mut link_at = head_at;
            let mut count = 0;
            while let Some(entry) = decode(link) {
                let index = free.binary_search_by_key(&entry.offset(), |&(off, _)| off);
                let Ok(index) =
                    index.map_err(|_| ()).and_then(|j| if free[j].1 == order { Ok(j) } else { Err(()) })
                else {
                    return free_list(
                        link_at,
                        format!(
                            "the list of order {order} names heap offset {:#x}, which is not a free block of that \
                             order",
                            layout.base + entry.offset()
                        ),
                    );
                };
                let here = layout.base + entry.offset();
                if listed[index] {
                    return free_list(
                        here,
                        format!("the block is on the list of order {order} twice (a cycle)"),
                    );
                }
                listed[index] = true;
                if arena.prev(entry) != prev {
                    return free_list(
                        here,
                        format!(
                            "its prev link names {:?}, but the entry before it is {:?}",
                            arena.prev(entry).map(|b| layout.base + b.offset()),
                            prev.map(|b| layout.base + b.offset())
                        ),
                    );
                }
                count += 1;
                prev = Some(entry);
                link = arena.next_word(entry);
                link_at = here;
            }
            if count != expected {
                let missing = free.iter().zip(&listed).find(|&(&(_, k), &seen)| k == order && !seen);
                let at = missing.map_or(head_at, |(&(off, _), _)| layout.base + off);
                return free_list(
                    at,
                    format!("{expected} blocks of order {order} are free, but its list holds {count}"),
                );
            }
            if count > 0 {
                mask |= 1 << i;
            }
        }

        // 4. The mask.
        let stored = arena.nonempty();
        if stored != mask {
            return free_list(
                NONEMPTY_AT,
                format!("the non-empty mask is {stored:#x}, but the non-empty lists make {mask:#x}"),
            );
        }
        Ok(())
    }
}
