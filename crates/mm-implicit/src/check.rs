//! The heap checker (`mm_checkheap`): one walk from the prologue to the epilogue that
//! doubts every tag before following it. The walk is public ([`check_tagged_heap`]):
//! the explicit strategy keeps this layout and checks its heap the same way.
//!
//! Unlike the policy walks, this one validates a block's size *before* using it to find
//! the next block, so a corrupted size is reported where it is instead of sending the
//! walk into the weeds. Errors carry the heap offset of the offending block's header.
//!
//! The walk allocates nothing on a healthy heap: it hands each block to a visitor
//! instead of collecting them, because the checker also runs on a strategy that is the
//! program's global allocator, whose lock it holds meanwhile (`mm::LockedAllocator`).
//! Only an error report allocates (its message).

use mm_core::{Align, HeapCheckError, Invariant, MemLib};

use crate::Implicit;
use crate::block::{Block, OVERHEAD, Tag, WORD, read_word};

/// Where a boundary-tagged heap keeps its fixed parts; fixed by the alignment and the
/// minimum block alone. Shared by implicit and explicit, which lay out the heap alike.
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
}

/// The heap walk shared by every boundary-tag strategy (implicit, and explicit, which
/// keeps implicit's layout): verifies, in order, that the prologue is intact; along the
/// walk that every block's size is a multiple of the alignment, at least the minimum and
/// within the heap, its payload is aligned, its header equals its footer, no stray flag
/// bits are set and no two free blocks touch; and that the walk ends at an epilogue
/// exactly at `brk - 8`. Each block is handed to `visit` with its header, in address
/// order, once it has been verified.
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
            return fail(Invariant::Flags(format!("unknown flag bits in {header:?}")));
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

impl Implicit {
    /// Verifies the heap walk of [`check_tagged_heap`] on an initialised heap, and that
    /// the next-fit rover is one of the block boundaries the walk passed (or the
    /// epilogue).
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Err(HeapCheckError::new(0, Invariant::BadPrologue));
        }
        let mut rover_seen = false;
        check_tagged_heap(&self.heap, self.layout, |block, _| rover_seen |= Some(block) == self.rover)?;
        let epilogue = Block::at(self.heap.heap_size() - WORD);
        match self.rover {
            Some(rover) if rover != epilogue && !rover_seen => Err(HeapCheckError::new(
                rover.offset(),
                Invariant::Other(format!(
                    "the next-fit rover (heap offset {:#x}) is not at a block boundary",
                    rover.offset()
                )),
            )),
            _ => Ok(()),
        }
    }
}
