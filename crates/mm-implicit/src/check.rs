//! The heap checker (`mm_checkheap`): the boundary-tag layer's walk
//! ([`mm_tags::check_tagged_heap`], rules 1 to 7 of the crate docs), then next fit's
//! rover (rule 8), reported as an [`ImplicitRule`].
//!
//! The walk and the layout lived in this module before they became `mm-tags`; they stay
//! reachable here under their old paths.

use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{HeapCheckError, Invariant};
pub use mm_tags::{TaggedLayout, check_tagged_heap};

use crate::Implicit;

/// The implicit list's own numbered rule (the crate docs list rules 1 to 8; 1 to 7 are
/// the boundary-tag layer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplicitRule {
    /// Rule 8: next fit's rover names neither a block boundary nor the epilogue.
    RoverOffBoundary {
        /// The heap offset the rover names.
        rover: usize,
    },
}

impl fmt::Display for ImplicitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImplicitRule::RoverOffBoundary { rover } => {
                write!(f, "the next-fit rover (heap offset {rover:#x}) is not at a block boundary")
            }
        }
    }
}

impl Rule for ImplicitRule {
    fn number(&self) -> u32 {
        match self {
            ImplicitRule::RoverOffBoundary { .. } => 8,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Implicit {
    /// Verifies rules 1 to 8 of the crate docs: the heap walk of [`check_tagged_heap`]
    /// on an initialised heap, and that the next-fit rover is one of the block
    /// boundaries the walk passed (or the epilogue). Before `init` the heap has nothing
    /// in it to check: `Ok(())`.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Ok(());
        }
        let mut rover_seen = false;
        check_tagged_heap(&self.heap, self.layout, |block, _| rover_seen |= Some(block) == self.rover)?;
        match self.rover {
            Some(rover) if rover != self.layout.epilogue(&self.heap) && !rover_seen => {
                let rule = ImplicitRule::RoverOffBoundary { rover: rover.offset() };
                Err(HeapCheckError::new(rover.offset(), Invariant::rule_of(rule)))
            }
            _ => Ok(()),
        }
    }
}
