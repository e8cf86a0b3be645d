//! The heap checker (`mm_checkheap`): one walk from the prologue to the epilogue that
//! doubts every tag before following it.
//!
//! Unlike the policy walks, this one validates a block's size *before* using it to find
//! the next block, so a corrupted size is reported where it is instead of sending the
//! walk into the weeds. Errors carry the heap offset of the offending block's header.

use mm_core::{HeapCheckError, Invariant};

use crate::Implicit;
use crate::block::{Block, OVERHEAD, Tag, WORD, read_word};

impl Implicit {
    /// Verifies, in order: the heap is initialised and the prologue intact; along the
    /// walk every block's size is a multiple of the alignment, at least the minimum and
    /// within the heap, its payload is aligned, its header equals its footer, no stray
    /// flag bits are set and no two free blocks touch; the walk ends at an epilogue
    /// that sits exactly at `brk - 8`; and the next-fit rover is one of the block
    /// boundaries the walk passed.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let heap = &self.heap;
        let align = self.config.align;
        let layout = self.layout;
        if !self.ready || heap.heap_size() < layout.initial_heap {
            return Err(HeapCheckError::new(0, Invariant::BadPrologue));
        }
        let prologue = Tag::allocated(OVERHEAD);
        let prologue_at = layout.prologue;
        if read_word(heap, prologue_at) != prologue.word()
            || read_word(heap, prologue_at + WORD) != prologue.word()
        {
            return Err(HeapCheckError::new(prologue_at, Invariant::BadPrologue));
        }

        let heap_lo = heap.heap_lo() as usize;
        let epilogue = heap.heap_size() - WORD;
        let mut at = layout.first.offset();
        let mut previous_free: Option<usize> = None;
        let mut rover_seen = false;
        loop {
            let fail = |invariant| Err(HeapCheckError::new(at, invariant));
            rover_seen |= self.rover == Some(Block::at(at));
            let header = Tag::from_word(read_word(heap, at));
            if at == epilogue {
                if header != Tag::EPILOGUE {
                    return fail(Invariant::BadEpilogue);
                }
                break;
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
            let free = !header.is_allocated();
            if let (true, Some(left)) = (free, previous_free) {
                return Err(HeapCheckError::new(left, Invariant::Uncoalesced));
            }
            previous_free = free.then_some(at);
            at += size;
        }

        match self.rover {
            Some(rover) if !rover_seen => Err(HeapCheckError::new(
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
