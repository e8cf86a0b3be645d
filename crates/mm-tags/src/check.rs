//! The heap checker (`mm_checkheap`) of the layout: one walk from the prologue to the
//! epilogue that doubts every tag before following it ([`check_tagged_heap`]). The
//! implicit list's checker is this walk and one rule more; the explicit lists' checkers
//! walk their free list after it.
//!
//! Unlike the policy walks, this one validates a block's size *before* using it to find
//! the next block, so a corrupted size is reported where it is instead of sending the
//! walk into the weeds. Errors carry the heap offset of the offending block's header.
//!
//! The walk allocates nothing on a healthy heap: it hands each block to a visitor
//! instead of collecting them, because the checker also runs on a strategy that is the
//! program's global allocator, whose lock it holds meanwhile (`mm::LockedAllocator`).
//! Only an error report allocates (its message).

use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{HeapCheckError, Invariant, MemLib};

use crate::block::{Block, OVERHEAD, Tag, WORD, read_word};
use crate::layout::TaggedLayout;

/// The layout's own numbered rule that no shared [`Invariant`] variant names (see the
/// crate docs for all seven).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRule {
    /// Rule 5: a tag holds a flag bit that [`TagFlags`](crate::TagFlags) does not name.
    UnknownFlags {
        /// The header, as read.
        header: Tag,
    },
}

impl fmt::Display for TagRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagRule::UnknownFlags { header } => write!(f, "unknown flag bits in {header:?}"),
        }
    }
}

impl Rule for TagRule {
    fn number(&self) -> u32 {
        match self {
            TagRule::UnknownFlags { .. } => 5,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The heap walk shared by every boundary-tag strategy: verifies rules 1 to 7 of the
/// crate docs, in order, that the prologue is intact; along the walk that every block's
/// size is a multiple of the alignment, at least the minimum and within the heap, its
/// payload is aligned, its header equals its footer, no stray flag bits are set and no
/// two free blocks touch; and that the walk ends at an epilogue exactly at `brk - 8`.
/// Each block is handed to `visit` with its header, in address order, once it has been
/// verified.
pub fn check_tagged_heap(
    heap: &MemLib,
    layout: TaggedLayout,
    mut visit: impl FnMut(Block, Tag),
) -> Result<(), HeapCheckError> {
    let align = layout.align;
    if heap.heap_size() < layout.initial_heap {
        return Err(HeapCheckError::new(0, Invariant::BadPrologue));
    }
    let prologue = Tag::allocated(OVERHEAD);
    if read_word(heap, layout.prologue) != prologue.word()
        || read_word(heap, layout.prologue + WORD) != prologue.word()
    {
        return Err(HeapCheckError::new(layout.prologue, Invariant::BadPrologue));
    }

    let heap_lo = heap.heap_lo() as usize;
    let epilogue = heap.heap_size() - WORD;
    let mut previous: Option<(Block, Tag)> = None;
    let mut at = layout.first.offset();
    loop {
        let fail = |invariant| Err(HeapCheckError::new(at, invariant));
        let header = Tag::from_word(read_word(heap, at));
        if at == epilogue {
            if header != Tag::EPILOGUE {
                return fail(Invariant::BadEpilogue);
            }
            return Ok(());
        }
        let size = header.size();
        if size == 0 {
            // A size-0 header is an epilogue, and this one is not at the break.
            return fail(Invariant::BadEpilogue);
        }
        if header.unknown_flags() != 0 {
            return fail(Invariant::rule_of(TagRule::UnknownFlags { header }));
        }
        if !align.is_aligned(size) {
            return fail(Invariant::SizeNotAligned { size, align: align.get() });
        }
        if size < layout.min_block {
            return fail(Invariant::TooSmall { size, min: layout.min_block });
        }
        if size > epilogue - at {
            return fail(Invariant::PastHeapEnd { size });
        }
        if !align.is_aligned(heap_lo + at + WORD) {
            return fail(Invariant::PayloadMisaligned { align: align.get() });
        }
        let footer = read_word(heap, at + size - WORD);
        if footer != header.word() {
            return fail(Invariant::HeaderFooterMismatch { header: header.word(), footer });
        }
        if let Some((left, left_header)) = previous
            && !left_header.is_allocated()
            && !header.is_allocated()
        {
            return Err(HeapCheckError::new(left.offset(), Invariant::Uncoalesced));
        }
        visit(Block::at(at), header);
        previous = Some((Block::at(at), header));
        at += size;
    }
}

#[cfg(test)]
mod tests {
    use mm_core::{Align, HeapCheckError, Invariant, MemLib};

    use super::*;
    use crate::block::{OVERHEAD, write_word};

    /// A heap of two allocated blocks of 48 and 64 bytes, and the visits of a sound walk.
    fn two_blocks() -> (MemLib, TaggedLayout) {
        let layout = TaggedLayout::new(Align::MIN, OVERHEAD);
        let mut heap = MemLib::new(1 << 16).unwrap();
        layout.lay_out(&mut heap).unwrap();
        let first = layout.epilogue(&heap);
        layout.extend(&mut heap, 112).unwrap();
        assert_eq!(layout.split(&mut heap, first, 112, 48), Some(Block::at(first.offset() + 48)));
        Block::at(first.offset() + 48).set(&mut heap, Tag::allocated(64));
        (heap, layout)
    }

    #[test]
    fn a_sound_heap_is_visited_block_by_block() {
        let (heap, layout) = two_blocks();
        let mut seen = Vec::new();
        check_tagged_heap(&heap, layout, |block, tag| seen.push((block.offset(), tag))).unwrap();
        assert_eq!(seen, [(16, Tag::allocated(48)), (64, Tag::allocated(64))]);
    }

    #[test]
    fn a_stray_flag_bit_is_rule_5_and_says_which_bits() {
        let (mut heap, layout) = two_blocks();
        write_word(&mut heap, 64, Tag::allocated(64).word() | 0b100);
        let err = check_tagged_heap(&heap, layout, |_, _| {}).unwrap_err();
        let header = Tag::from_word(0b100_0101);
        assert_eq!(err, HeapCheckError::new(64, Invariant::rule_of(TagRule::UnknownFlags { header })));
        assert_eq!(err.invariant.rule::<TagRule>(), Some(&TagRule::UnknownFlags { header }));
        assert_eq!(
            err.to_string(),
            "heap check: block at heap offset 0x40: rule 5: unknown flag bits in Tag { size: 64, allocated, unknown flags: 0b100 }"
        );
    }

    #[test]
    fn a_heap_shorter_than_the_layout_has_no_prologue() {
        let layout = TaggedLayout::new(Align::MIN, OVERHEAD);
        let heap = MemLib::new(1 << 16).unwrap();
        let err = check_tagged_heap(&heap, layout, |_, _| {}).unwrap_err();
        assert_eq!(err, HeapCheckError::new(0, Invariant::BadPrologue));
    }
}
