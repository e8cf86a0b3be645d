//! The heap checker (`mm_checkheap`): the boundary-tag layer's walk
//! ([`mm_tags::check_tagged_heap`], rules 1 to 7 of the crate docs), and next fit's
//! rover.

use mm_core::{HeapCheckError, Invariant};
use mm_tags::{Block, WORD, check_tagged_heap};

use crate::Implicit;

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
