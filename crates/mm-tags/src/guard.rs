//! What `free` and `realloc` check before they trust a boundary tag, for every strategy
//! on this layout.
//!
//! A program can write anything into the bytes past the end of its blocks (an
//! overflow writes the block's own footer first, then the next block's header) or give
//! `free` any pointer. The block layer's accessors are bounds-checked, so nothing can
//! make the allocator touch memory outside its heap; these checks make it refuse or
//! stop *before* it acts on a tag that cannot be right, and say why:
//!
//! * **The pointer** ([`TaggedLayout::live_block`]): a payload position of the heap
//!   (`mm_core::payload_offset`) whose header says allocated, or the call is refused
//!   and reported as a [`Misuse`] (an invalid pointer, a double free).
//! * **The block's own tags**: a size the block can have (at least the minimum, a
//!   multiple of the alignment, ending at or before the epilogue) and a footer equal to
//!   the header, or a [`Corruption`] panic ("invalid block size").
//! * **A free neighbour before it is merged** ([`TaggedLayout::free_left`],
//!   [`TaggedLayout::free_right`]): a possible size, and a header equal to its footer,
//!   or a [`Corruption`] panic ("corrupted size vs. prev_size").
//!
//! Each is a few compares on words the operation reads anyway (plus a free right
//! neighbour's footer). The hardened mode asks [`TaggedLayout::neighbourhood`] first,
//! which checks the same and every neighbour's tags, and reports instead of stopping.

use std::ptr::NonNull;

use mm_core::{Corruption, MemLib, Misuse};

use crate::block::{Block, OVERHEAD, Tag, WORD, read_word};
use crate::layout::TaggedLayout;

/// The free neighbours of a block, as [`TaggedLayout::neighbourhood`] found them: the
/// left one with its size, and the right one's size.
pub type FreeNeighbours = (Option<(Block, usize)>, Option<(Block, usize)>);

impl TaggedLayout {
    /// True when the block at `block` can be `size` bytes: at least the minimum block, a
    /// multiple of the alignment, and ending at or before the epilogue. Then its footer
    /// and the next block's header lie inside the heap.
    #[inline]
    pub fn is_block_size(&self, heap: &MemLib, block: Block, size: usize) -> bool {
        size >= self.min_block
            && self.align.is_aligned(size)
            && size <= self.epilogue(heap).offset().saturating_sub(block.offset())
    }

    /// The block behind a payload pointer: a payload position inside the heap, at or
    /// after the first block's payload.
    #[inline]
    pub fn payload_block(&self, heap: &MemLib, ptr: NonNull<u8>) -> Result<Block, Misuse> {
        mm_core::payload_offset(heap, self.align, self.first.payload(), ptr).map(Block::from_payload)
    }

    /// The size of the block at `block` (inside the heap) when its tags say allocated
    /// and agree; `None` when its header says free.
    #[inline]
    fn allocated_size(&self, heap: &MemLib, block: Block) -> Result<Option<usize>, Corruption> {
        let header = block.header(heap);
        if !header.is_allocated() {
            return Ok(None);
        }
        let size = header.size();
        if header.unknown_flags() != 0 || !self.is_block_size(heap, block, size) {
            return Err(Corruption::new("invalid block size", block.offset()));
        }
        if read_word(heap, block.offset() + size - WORD) != header.word() {
            return Err(Corruption::new("the block's header and footer disagree", block.offset()));
        }
        Ok(Some(size))
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, with its size,
    /// after the checks of the module docs. `Err` is a pointer to refuse, touching
    /// nothing: one that is no payload of the heap, or whose header says free (a double
    /// free: a freed block's header says so, also once it merged into its left
    /// neighbour).
    ///
    /// # Panics
    /// With a [`Corruption`] when the header says allocated but its size is impossible
    /// or the footer disagrees: freeing on its word would merge memory that is not this
    /// block's.
    #[inline]
    pub fn live_block(&self, heap: &MemLib, ptr: NonNull<u8>) -> Result<(Block, usize), Misuse> {
        let block = self.payload_block(heap, ptr)?;
        match self.allocated_size(heap, block) {
            Ok(Some(size)) => Ok((block, size)),
            Ok(None) => Err(Misuse::DoubleFree { offset: block.payload() }),
            Err(corruption) => corruption.panic(),
        }
    }

    /// What [`TaggedLayout::live_block`] would say of `ptr`, without panicking: `Ok` for a
    /// live block; the misuse `free` would report; and for a header whose size is
    /// impossible, `InvalidPointer`, so that the caller hands the pointer to `free`,
    /// which stops with the corruption. For [`Allocator::check_free`](mm_core::Allocator::check_free).
    pub fn check_free(&self, heap: &MemLib, ptr: NonNull<u8>) -> Result<(), Misuse> {
        let block = self.payload_block(heap, ptr)?;
        match self.allocated_size(heap, block) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Misuse::DoubleFree { offset: block.payload() }),
            Err(_) => Err(Misuse::InvalidPointer { offset: block.payload() }),
        }
    }

    /// The left neighbour of `block` (a block boundary at or after the first block) when
    /// it is free, with its size: its footer, just below `block`, says free, gives a size
    /// that fits between the first block and `block`, and equals its header.
    ///
    /// # Panics
    /// With a [`Corruption`] ("corrupted size vs. prev_size") when the footer says free
    /// but cannot be right: merging on its word would take memory that is no block's.
    #[inline(always)]
    pub fn free_left(&self, heap: &MemLib, block: Block) -> Option<(Block, usize)> {
        let footer = Tag::from_word(read_word(heap, block.offset() - WORD));
        if footer.is_allocated() {
            return None; // the prologue's footer says so before the first block
        }
        let size = footer.size();
        let fits = size >= self.min_block
            && self.align.is_aligned(size)
            && size <= block.offset().saturating_sub(self.first.offset());
        if !fits || read_word(heap, block.offset() - size) != footer.word() {
            Corruption::new("corrupted size vs. prev_size", block.offset() - WORD).panic();
        }
        Some((Block::at(block.offset() - size), size))
    }

    /// The size of the block at `next` (a block boundary at or before the epilogue) when
    /// it is free: its header says free, gives a size that ends at or before the
    /// epilogue, and equals its footer.
    ///
    /// # Panics
    /// With a [`Corruption`] ("invalid next size", "corrupted size vs. prev_size") when
    /// the header says free but cannot be right.
    #[inline(always)]
    pub fn free_right(&self, heap: &MemLib, next: Block) -> Option<usize> {
        let header = next.header(heap);
        if header.is_allocated() {
            return None; // the epilogue is allocated
        }
        let size = header.size();
        if !self.is_block_size(heap, next, size) {
            Corruption::new("invalid next size", next.offset()).panic();
        }
        if read_word(heap, next.offset() + size - WORD) != header.word() {
            Corruption::new("corrupted size vs. prev_size", next.offset()).panic();
        }
        Some(size)
    }

    /// [`Allocator::check_neighbourhood`](mm_core::Allocator::check_neighbourhood) for a
    /// boundary-tagged heap: verifies, reading only inside the heap and changing nothing,
    /// that `ptr` is the payload of a block whose tags say allocated and agree, that the
    /// tags of the block on its left (or the prologue) and on its right (or the
    /// epilogue) are sound and agree, and returns those neighbours when they are free
    /// (a strategy with links in its free blocks checks those too).
    pub fn neighbourhood(&self, heap: &MemLib, ptr: NonNull<u8>) -> Result<FreeNeighbours, Corruption> {
        let block =
            self.payload_block(heap, ptr).map_err(|m| Corruption::new("invalid pointer", m.offset()))?;
        let Some(size) = self.allocated_size(heap, block)? else {
            return Err(Corruption::new("invalid block header", block.offset()));
        };
        // Left: the prologue, or a block whose footer (just below) leads to its header.
        let footer = Tag::from_word(read_word(heap, block.offset() - WORD));
        let left = if block == self.first {
            if footer != Tag::allocated(OVERHEAD) {
                return Err(Corruption::new("corrupted prologue", self.prologue));
            }
            None
        } else {
            let prev_size = footer.size();
            let fits = prev_size >= self.min_block
                && self.align.is_aligned(prev_size)
                && prev_size <= block.offset() - self.first.offset();
            if footer.unknown_flags() != 0
                || !fits
                || read_word(heap, block.offset() - prev_size) != footer.word()
            {
                return Err(Corruption::new("corrupted size vs. prev_size", block.offset() - WORD));
            }
            (!footer.is_allocated()).then(|| (Block::at(block.offset() - prev_size), prev_size))
        };
        // Right: the epilogue, or a block whose header leads to its footer.
        let next = Block::at(block.offset() + size);
        let right = if next == self.epilogue(heap) {
            if next.header(heap) != Tag::EPILOGUE {
                return Err(Corruption::new("corrupted epilogue", next.offset()));
            }
            None
        } else {
            let header = next.header(heap);
            let next_size = header.size();
            if header.unknown_flags() != 0
                || !self.is_block_size(heap, next, next_size)
                || read_word(heap, next.offset() + next_size - WORD) != header.word()
            {
                return Err(Corruption::new("invalid next size", next.offset()));
            }
            (!header.is_allocated()).then_some((next, next_size))
        };
        Ok((left, right))
    }
}
