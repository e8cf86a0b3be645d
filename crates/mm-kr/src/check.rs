//! The heap checker (`mm_checkheap`): every invariant of the crate docs' numbered list,
//! verified by a walk over every block and a walk around the free list.
//!
//! A broken rule that other strategies share is reported as mm-core's own
//! [`Invariant`] variant; one of K&R's own as a [`KAndRRule`], which tests match by
//! value.

use std::collections::BTreeSet;
use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{HeapCheckError, Invariant};

use crate::{BASE, KAndR};

/// A broken rule of K&R's own, numbered as in the crate docs' list of invariants,
/// holding the values that break it (heap offsets of blocks). [`Invariant::rule`] finds
/// it in a [`HeapCheckError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KAndRRule {
    /// Rule 3: a link of the free list names no block.
    NotABlock {
        /// The block whose link it is (the sentinel's offset, 0, for the list's start).
        from: usize,
        /// What the link names.
        link: usize,
    },
    /// Rule 4: a link goes down (or stays), and it is not the one back to the sentinel.
    NotInAddressOrder {
        /// The block whose link it is.
        from: usize,
        /// The block the link names.
        link: usize,
    },
    /// Rule 6: the list does not return to the sentinel within as many links as there
    /// are blocks.
    Unterminated,
    /// Rule 7: the rover is not on the list.
    RoverOffList {
        /// The rover.
        rover: usize,
    },
}

impl Rule for KAndRRule {
    fn number(&self) -> u32 {
        match self {
            KAndRRule::NotABlock { .. } => 3,
            KAndRRule::NotInAddressOrder { .. } => 4,
            KAndRRule::Unterminated => 6,
            KAndRRule::RoverOffList { .. } => 7,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl fmt::Display for KAndRRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KAndRRule::NotABlock { link, .. } => write!(f, "next {link:#x} is not a block"),
            KAndRRule::NotInAddressOrder { from, link } => {
                write!(f, "not in address order: the block at {from:#x} links down to {link:#x}")
            }
            KAndRRule::Unterminated => write!(f, "the list does not return to the sentinel"),
            KAndRRule::RoverOffList { rover } => write!(f, "the rover {rover:#x} is not on the list"),
        }
    }
}

/// A broken [`KAndRRule`] at heap offset `at`.
fn broken(at: usize, rule: KAndRRule) -> HeapCheckError {
    HeapCheckError::new(at, Invariant::rule_of(rule))
}

impl KAndR {
    /// Verifies the rules of the crate docs' list of invariants, in their order: the
    /// sentinel (rule 1), the blocks tiling the heap (rule 2), then the free list
    /// (rules 3 to 7). `Ok(())` on a heap with nothing in it: before `init`.
    pub(crate) fn check(&self) -> Result<(), HeapCheckError> {
        let end = self.heap.heap_size();
        if end == 0 {
            return Ok(());
        }
        if end < self.unit || self.size(BASE) != 0 {
            return Err(HeapCheckError::new(BASE, Invariant::BadPrologue));
        }
        // Rule 2: every block, from the first to the break: sizes whole units that tile
        // the heap.
        let mut starts = BTreeSet::new();
        let mut block = self.unit;
        while block < end {
            let size = self.size(block);
            // A one-unit block (a split's leftover) is legal while free: it holds the
            // size and the link, and merges with a neighbour when one is freed.
            if size < self.unit {
                return Err(HeapCheckError::new(block, Invariant::TooSmall { size, min: self.unit }));
            }
            if !size.is_multiple_of(self.unit) {
                return Err(HeapCheckError::new(block, Invariant::SizeNotAligned { size, align: self.unit }));
            }
            if size > end - block {
                return Err(HeapCheckError::new(block, Invariant::PastHeapEnd { size }));
            }
            starts.insert(block);
            block += size;
        }
        // Rules 3 to 7, the free list: a circle through the sentinel, in address order,
        // of real blocks, none touching the next (they would have been merged), the
        // rover among them.
        let mut prev = BASE;
        let mut seen_rover = self.rover == BASE;
        for _ in 0..=starts.len() {
            let next = self.next(prev);
            if next == BASE {
                return if seen_rover {
                    Ok(())
                } else {
                    Err(broken(self.rover, KAndRRule::RoverOffList { rover: self.rover }))
                };
            }
            if !starts.contains(&next) {
                return Err(broken(prev, KAndRRule::NotABlock { from: prev, link: next }));
            }
            if next <= prev {
                return Err(broken(next, KAndRRule::NotInAddressOrder { from: prev, link: next }));
            }
            if prev != BASE && prev + self.size(prev) == next {
                return Err(HeapCheckError::new(prev, Invariant::Uncoalesced));
            }
            seen_rover |= next == self.rover;
            prev = next;
        }
        Err(broken(BASE, KAndRRule::Unterminated))
    }
}
