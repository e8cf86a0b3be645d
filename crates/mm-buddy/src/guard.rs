//! What `free` and `realloc` check before they trust a pointer, and what
//! [`Allocator::check_neighbourhood`](mm_core::Allocator::check_neighbourhood) checks
//! for the hardened mode.
//!
//! In every build, a pointer given to `free` or `realloc` must be a payload position of
//! the arena ([`mm_core::payload_offset`], and a multiple of the smallest block from the
//! arena's start) whose header says allocated; otherwise the call is refused and the
//! misuse kept for [`Allocator::take_misuse`](mm_core::Allocator::take_misuse). A
//! header that says allocated but gives an order no block there can have stops the
//! call with a [`Corruption`] panic. All of it is a few compares on the header word the
//! call reads anyway.
//!
//! The hardened mode also checks, before each `free` and `realloc`, everything the call
//! would read, merge or unlink ([`Buddy::neighbourhood`]), and reports what it finds
//! instead of stopping.

use std::ptr::NonNull;

use mm_core::{Corruption, Misuse};

use crate::Buddy;
use crate::arena::{Block, Segment, size_of_order};
use crate::header::{HEADER_BYTES, Header, HeaderFlags};

impl Buddy {
    /// The block behind a payload pointer: a payload position inside the heap, past the
    /// control area, at a multiple of the smallest block from the arena's start.
    pub(crate) fn payload_block(&self, ptr: NonNull<u8>) -> Result<Block, Misuse> {
        let first_payload = self.layout.base + HEADER_BYTES;
        let offset = mm_core::payload_offset(&self.heap, self.config.align, first_payload, ptr)?;
        let block = Block::at(offset - first_payload);
        if block.offset().is_multiple_of(size_of_order(self.layout.min_order)) {
            Ok(block)
        } else {
            Err(Misuse::InvalidPointer { offset })
        }
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, with its
    /// order, after the checks that cost next to nothing (see the module docs). A
    /// refused pointer is kept for `take_misuse` and nothing is touched: a free header
    /// is a double free, a header that is neither free nor allocated no block at all.
    ///
    /// # Panics
    /// When the header says allocated but its order cannot be right: it was overwritten,
    /// and freeing on its word would merge or list memory that is not this block's.
    #[inline(always)]
    pub(crate) fn live_block(&mut self, ptr: NonNull<u8>) -> Option<(Block, u32, Segment)> {
        // `payload_block`'s checks in two compares: below the first payload the
        // subtraction wraps, and a multiple of the smallest block is aligned.
        let first_payload = self.layout.base + HEADER_BYTES;
        let at = self.heap.offset_of(ptr.as_ptr()).wrapping_sub(first_payload);
        let min_block = size_of_order(self.layout.min_order);
        if at >= self.heap.heap_size().saturating_sub(first_payload) || !at.is_multiple_of(min_block) {
            self.refuse(ptr);
            return None;
        }
        let block = Block::at(at);
        let header = self.arena().header(block);
        if header.without_segment()
            != Header::from_word(header.order() as u16 | HeaderFlags::ALLOCATED.bits())
        {
            self.refuse(ptr);
            return None;
        }
        let order = header.order();
        // The segment the header names, whose start the buddy arithmetic counts from:
        // the block must lie inside it (so a header naming another segment, or none,
        // is caught), at a multiple of its size from its start, and within the arena
        // bytes the heap holds, which keeps every merge and unlink inside the heap.
        let segment = self.arena().segment(header.segment());
        let in_arena = (self.layout.min_order..=self.layout.max_order).contains(&order)
            && segment.holds(block, order)
            && segment.aligns(block, order)
            && size_of_order(order) <= self.arena().materialized() - at;
        if !in_arena {
            Corruption::new("invalid block size", self.layout.base + at).panic();
        }
        Some((block, order, segment))
    }

    /// Records why `live_block` refused `ptr`, for `take_misuse`. It returns nothing, so
    /// that `live_block`'s answer stays in registers rather than going through memory.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, ptr: NonNull<u8>) {
        let misuse = match self.payload_block(ptr) {
            Err(misuse) => misuse,
            Ok(block) => {
                let header = self.arena().header(block);
                let offset = self.layout.base + HEADER_BYTES + block.offset();
                if header.is_free() {
                    Misuse::DoubleFree { offset }
                } else if header.is_allocated() {
                    // Allocated, with bits no header has: not a block's header.
                    Corruption::new("invalid block size", self.layout.base + block.offset()).panic()
                } else {
                    Misuse::InvalidPointer { offset }
                }
            }
        };
        self.misuse = Some(misuse);
    }

    /// True when a block of `order` can start at `block`: an order this heap has, below
    /// the frontier, at a multiple of its size from its segment's start, and wholly
    /// inside that segment.
    #[inline]
    pub(crate) fn is_block(&self, block: Block, order: u32) -> bool {
        if !(self.layout.min_order..=self.layout.max_order).contains(&order)
            || block.offset() >= self.arena().frontier()
        {
            return false;
        }
        let segment = self.arena().segment_of(block.offset());
        segment.aligns(block, order) && segment.holds(block, order)
    }

    /// True when `header` is a sound header of a block that can start at `block`, naming
    /// the segment the block lies in.
    fn is_sound(&self, block: Block, header: Header) -> bool {
        (header.is_allocated() || header.is_free())
            && header.unknown_bits() == 0
            && self.is_block(block, header.order())
            && self.arena().segment_of(block.offset()).index == header.segment()
    }

    /// Verifies, reading only inside the heap and changing nothing, what freeing or
    /// resizing the allocated `block` relies on: its header; each buddy `free` would
    /// merge with, order by order up the tree (a whole free buddy must be listed, with
    /// mutual links; the first that is not must start a sound block); and the block
    /// right after it, which an overflow out of it reaches first (a sound header, and
    /// if free, a listed block).
    pub(crate) fn neighbourhood(&self, block: Block) -> Result<(), Corruption> {
        let arena = self.arena();
        let at = |b: Block| self.layout.base + b.offset();
        let frontier = arena.frontier();
        if frontier > arena.materialized() {
            return Err(Corruption::new("corrupted frontier", crate::arena::FRONTIER_AT));
        }
        if let Err((word, _)) = arena.check_segments() {
            return Err(Corruption::new("corrupted segment table", word));
        }
        let header = arena.header(block);
        let order = header.order();
        if !header.is_allocated() || !self.is_sound(block, header) {
            return Err(Corruption::new("invalid block header", at(block)));
        }
        // The buddies, as `coalesce` meets them: every one lies inside the block's
        // segment, below the frontier, so its header can be read.
        let segment = arena.segment_of(block.offset());
        let (mut merged, mut k) = (block, order);
        while k < self.layout.max_order {
            let buddy = segment.buddy(merged, k);
            if buddy > merged && !segment.holds(buddy, k) {
                break;
            }
            let buddy_header = arena.header(buddy);
            if buddy_header != Header::free(k, segment.index) {
                // What starts there is a block of the buddy's order or a smaller one.
                if !self.is_sound(buddy, buddy_header) || buddy_header.order() > k {
                    return Err(Corruption::new("invalid buddy header", at(buddy)));
                }
                break;
            }
            arena.check_listed(buddy, k)?;
            merged = merged.min(buddy);
            k += 1;
        }
        let next = block.plus(size_of_order(order));
        if next.offset() < frontier {
            let next_header = arena.header(next);
            if !self.is_sound(next, next_header) {
                return Err(Corruption::new("invalid next block header", at(next)));
            }
            if next_header.is_free() {
                arena.check_listed(next, next_header.order())?;
            }
        }
        Ok(())
    }
}
