//! Where a boundary-tagged heap keeps its fixed parts, and the steps every strategy on
//! this layout takes alike: sizing a request, laying out an empty heap, splitting a fit,
//! moving the epilogue when the heap grows.
//!
//! The strategies decide *which* block to use; these steps only write the tags the
//! decision implies, so the implicit and the explicit lists write them the same way.

use std::ptr::NonNull;

use mm_core::{Align, InitError, MemLib};

use crate::block::{Block, OVERHEAD, Tag, WORD, write_word};

/// Where a boundary-tagged heap keeps its fixed parts; fixed by the alignment and the
/// minimum block alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaggedLayout {
    /// The payload alignment.
    pub align: Align,
    /// Heap offset of the prologue's header.
    pub prologue: usize,
    /// The first real block (the epilogue's place in an empty heap).
    pub first: Block,
    /// The heap's size right after `init`: padding, prologue, epilogue.
    pub initial_heap: usize,
    /// The smallest block.
    pub min_block: usize,
}

impl TaggedLayout {
    /// The layout for `align`, with blocks of at least `min_content` bytes of tags and
    /// links (rounded up to the alignment).
    pub fn new(align: Align, min_content: usize) -> TaggedLayout {
        // The first payload is the first aligned offset with room below it for the
        // prologue's two tags and the first header.
        let first_payload = align.round_up(3 * WORD).expect("alignments are at most a page");
        TaggedLayout {
            align,
            prologue: first_payload - 3 * WORD,
            first: Block::from_payload(first_payload),
            initial_heap: first_payload,
            min_block: align.round_up(min_content).expect("alignments are at most a page"),
        }
    }

    /// The block size that holds `size` payload bytes: the payload and the two tags,
    /// rounded up to the alignment, and at least the minimum block. `None` when it
    /// overflows.
    #[inline]
    pub fn adjusted(&self, size: usize) -> Option<usize> {
        let with_tags = size.checked_add(OVERHEAD)?;
        Some(self.align.round_up(with_tags)?.max(self.min_block))
    }

    /// Lays out padding, prologue and epilogue on an empty heap. The break is reset
    /// first, so a second `init` without `reset_brk` also starts over.
    pub fn lay_out(&self, heap: &mut MemLib) -> Result<(), InitError> {
        heap.reset_brk();
        heap.extend(self.initial_heap)?;
        Block::at(self.prologue).set(heap, Tag::allocated(OVERHEAD));
        self.write_epilogue(heap);
        Ok(())
    }

    /// The epilogue: the header at `brk - 8` that ends every walk.
    #[inline]
    pub fn epilogue(&self, heap: &MemLib) -> Block {
        Block::at(heap.heap_size().saturating_sub(WORD))
    }

    /// Writes the epilogue at the heap's current end.
    #[inline]
    pub fn write_epilogue(&self, heap: &mut MemLib) {
        let at = self.epilogue(heap).offset();
        write_word(heap, at, Tag::EPILOGUE.word());
    }

    /// Moves the break by `bytes` and writes the epilogue at the new end; `None`, with
    /// nothing changed, when the heap cannot grow that far. The old epilogue's word now
    /// lies in the heap's last block, which the caller writes.
    pub fn extend(&self, heap: &mut MemLib, bytes: usize) -> Option<()> {
        heap.extend(bytes).ok()?;
        self.write_epilogue(heap);
        Some(())
    }

    /// Makes `block`, spanning `span` bytes, an allocated block of `asize` bytes when the
    /// rest can be a block of its own, and returns that rest, written as a free block
    /// (the caller merges or lists it as its policy says). Otherwise the whole span is
    /// allocated (the rest would be internal fragmentation) and there is no rest.
    #[inline]
    pub fn split(&self, heap: &mut MemLib, block: Block, span: usize, asize: usize) -> Option<Block> {
        let rest = span - asize;
        if rest >= self.min_block {
            block.set(heap, Tag::allocated(asize));
            let remainder = Block::at(block.offset() + asize);
            remainder.set(heap, Tag::free(rest));
            Some(remainder)
        } else {
            block.set(heap, Tag::allocated(span));
            None
        }
    }

    /// The payload bytes of the block behind `ptr`, 0 for a pointer that is no payload of
    /// the heap. Reads only the header word, and saturates: a hardened caller may ask
    /// about a block whose header was smashed.
    pub fn usable_size(&self, heap: &MemLib, ptr: NonNull<u8>) -> usize {
        self.payload_block(heap, ptr).map_or(0, |block| block.size(heap).saturating_sub(OVERHEAD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::walk;

    #[test]
    fn the_first_payload_is_aligned_for_every_alignment() {
        for bytes in [8, 16, 32, 64, 4096] {
            let layout = TaggedLayout::new(Align::new(bytes).unwrap(), OVERHEAD);
            assert_eq!(layout.initial_heap, bytes.max(24).next_multiple_of(bytes));
            assert_eq!(layout.first.payload(), layout.initial_heap);
            assert_eq!(layout.prologue + 3 * WORD, layout.first.payload());
            assert_eq!(layout.min_block, 16usize.next_multiple_of(bytes));
        }
    }

    #[test]
    fn requests_are_sized_with_their_tags_and_never_below_the_minimum() {
        let layout = TaggedLayout::new(Align::MIN, OVERHEAD + 8);
        assert_eq!(layout.adjusted(0), Some(24));
        assert_eq!(layout.adjusted(8), Some(24));
        assert_eq!(layout.adjusted(9), Some(32));
        assert_eq!(layout.adjusted(100), Some(120));
        assert_eq!(layout.adjusted(usize::MAX - 15), None);
    }

    #[test]
    fn a_fit_is_split_only_when_the_rest_can_be_a_block() {
        let layout = TaggedLayout::new(Align::MIN, OVERHEAD);
        let mut heap = MemLib::new(1 << 16).unwrap();
        layout.lay_out(&mut heap).unwrap();
        let block = layout.epilogue(&heap);
        layout.extend(&mut heap, 200).unwrap();
        assert_eq!(layout.split(&mut heap, block, 200, 120), Some(Block::at(block.offset() + 120)));
        let shape: Vec<_> = walk(&heap, layout.first).map(|(b, t)| (b.offset(), t)).collect();
        assert_eq!(shape, [(16, Tag::allocated(120)), (136, Tag::free(80))]);
        // 80 bytes, 72 asked: 8 bytes cannot be a block, the request takes all 80.
        assert_eq!(layout.split(&mut heap, Block::at(136), 80, 72), None);
        assert_eq!(Block::at(136).header(&heap), Tag::allocated(80));
        assert_eq!(layout.epilogue(&heap).header(&heap), Tag::EPILOGUE);
        assert_eq!(layout.usable_size(&heap, heap.ptr_at(Block::at(16).payload())), 104);
        assert_eq!(layout.usable_size(&heap, heap.ptr_at(7)), 0);
    }
}
