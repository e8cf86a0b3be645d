//! The fit policies: where in the implicit list a request of `asize` bytes goes.
//!
//! All three walk the same list of every block, free and allocated, so each costs time
//! linear in the number of blocks; they differ in which free block they pick:
//!
//! * **first fit** takes the lowest-addressed block that fits. Small leftovers pile up
//!   near the start of the heap, and every search wades through them.
//! * **next fit** resumes where the last search ended (the *rover*), wrapping around at
//!   the epilogue. Searches are shorter, but allocations spread over the whole heap and
//!   fragmentation is usually worse.
//! * **best fit** scans everything and takes the smallest block that fits, stopping
//!   early on an exact fit. Least waste per placement, always the longest search.

use std::fmt;

use mm_core::MemLib;

use mm_tags::{Block, Tag, walk};

/// Which free block a request is placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Placement {
    /// The first block, from the start of the heap, that is big enough.
    #[default]
    FirstFit,
    /// The first block that is big enough, from where the previous search stopped.
    NextFit,
    /// The smallest block that is big enough.
    BestFit,
}

impl Placement {
    /// Every policy, for tables and tests.
    pub const ALL: [Placement; 3] = [Placement::FirstFit, Placement::NextFit, Placement::BestFit];

    /// The policy's name: "first fit", "next fit" or "best fit".
    pub const fn name(self) -> &'static str {
        match self {
            Placement::FirstFit => "first fit",
            Placement::NextFit => "next fit",
            Placement::BestFit => "best fit",
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn fits(tag: Tag, asize: usize) -> bool {
    !tag.is_allocated() && tag.size() >= asize
}

/// The first free block of at least `asize` bytes at or after `from`.
pub(crate) fn first_fit(heap: &MemLib, from: Block, asize: usize) -> Option<Block> {
    walk(heap, from).find(|&(_, tag)| fits(tag, asize)).map(|(block, _)| block)
}

/// The first fit from the `rover` to the end, else from `first` up to the rover.
pub(crate) fn next_fit(heap: &MemLib, first: Block, rover: Block, asize: usize) -> Option<Block> {
    first_fit(heap, rover, asize).or_else(|| {
        walk(heap, first)
            .take_while(|&(block, _)| block < rover)
            .find(|&(_, tag)| fits(tag, asize))
            .map(|(block, _)| block)
    })
}

/// The smallest free block of at least `asize` bytes (the lowest-addressed one among
/// equals); an exact fit ends the scan.
pub(crate) fn best_fit(heap: &MemLib, first: Block, asize: usize) -> Option<Block> {
    let mut best: Option<(Block, usize)> = None;
    for (block, tag) in walk(heap, first) {
        if !fits(tag, asize) {
            continue;
        }
        if tag.size() == asize {
            return Some(block);
        }
        if best.is_none_or(|(_, size)| tag.size() < size) {
            best = Some((block, tag.size()));
        }
    }
    best.map(|(block, _)| block)
}
