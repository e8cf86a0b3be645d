//! The heap checker (`mm_checkheap`): every invariant of the crate docs' numbered list,
//! verified by a walk over the heap and a walk over every free list.
//!
//! The walk reads headers with the bounds-checked accessors but trusts nothing it
//! reads: a size that would leave the heap is reported, not followed. A broken rule
//! that other strategies share is reported as mm-core's own [`Invariant`] variant; one
//! of segregated fits' own as a [`SegregatedRule`], which tests match by value.

use std::fmt;

use mm_core::allocator::Rule;
use mm_core::{Corruption, HeapCheckError, Invariant};

use crate::Segregated;
use crate::block::{Block, HEADER, Header, HeaderFlags, MAX_BLOCK};
use crate::classes::{CLASSES, class_of};
use crate::freelist::check_free_tags;

/// A broken rule of segregated fits' own, numbered as in the crate docs' list of
/// invariants, holding the values that break it. [`Invariant::rule`] finds it in a
/// [`HeapCheckError`]; the error's offset names the block (or 0 for the lists as a
/// whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegregatedRule {
    /// Rule 2: a header holds flag bits no [`HeaderFlags`] constant names.
    UnknownFlags {
        /// The header.
        header: Header,
    },
    /// Rule 3: a header's `PREV_ALLOCATED` bit does not say what the block to its left
    /// is.
    PrevAllocated {
        /// The header.
        header: Header,
        /// Whether the block to the left is allocated.
        left_allocated: bool,
    },
    /// Rule 7: a class's bitmap bit and its list disagree.
    Bitmap {
        /// The class.
        class: usize,
        /// The bitmap bit (the list is empty when it is set, non-empty when it is clear).
        bit: bool,
    },
    /// Rule 8: a list links to a place outside the heap (or to a misaligned payload).
    LinkOutsideHeap {
        /// The class whose list it is.
        class: usize,
    },
    /// Rule 9: a list holds an allocated block.
    AllocatedOnList {
        /// The class whose list it is.
        class: usize,
    },
    /// Rule 10: a block is listed in another class than its size's.
    WrongClass {
        /// The class whose list holds it.
        class: usize,
        /// The block's size.
        size: usize,
    },
    /// Rule 11: a listed block's prev link does not name the block before it.
    PrevLink {
        /// The heap offset the prev link names (`None` for no block).
        found: Option<usize>,
        /// The heap offset of the block before it on the list (`None` at the head).
        expected: Option<usize>,
    },
    /// Rule 12: the lists do not hold exactly the heap's free blocks (the top excepted).
    /// The walk stops at the first block past the free ones, so `listed` is then one more
    /// than `free_blocks`: a cycle or a stale block.
    ListedCount {
        /// The free blocks of the heap, the top excepted.
        free_blocks: usize,
        /// The blocks the lists hold (as far as they were walked).
        listed: usize,
    },
}

impl Rule for SegregatedRule {
    fn number(&self) -> u32 {
        match self {
            SegregatedRule::UnknownFlags { .. } => 2,
            SegregatedRule::PrevAllocated { .. } => 3,
            SegregatedRule::Bitmap { .. } => 7,
            SegregatedRule::LinkOutsideHeap { .. } => 8,
            SegregatedRule::AllocatedOnList { .. } => 9,
            SegregatedRule::WrongClass { .. } => 10,
            SegregatedRule::PrevLink { .. } => 11,
            SegregatedRule::ListedCount { .. } => 12,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl fmt::Display for SegregatedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let block = |offset: Option<usize>| offset.map_or("none".to_owned(), |o| format!("{o:#x}"));
        match *self {
            SegregatedRule::UnknownFlags { header } => write!(f, "unknown flag bits in {header:?}"),
            SegregatedRule::PrevAllocated { header, left_allocated } => write!(
                f,
                "PREV_ALLOCATED is {} but the block to the left is {}",
                header.prev_allocated(),
                if left_allocated { "allocated" } else { "free" }
            ),
            SegregatedRule::Bitmap { class, bit } => write!(
                f,
                "class {class}: bitmap bit is {bit} but the list is {}",
                if bit { "empty" } else { "non-empty" }
            ),
            SegregatedRule::LinkOutsideHeap { class } => {
                write!(f, "class {class} links to a place outside the heap")
            }
            SegregatedRule::AllocatedOnList { class } => write!(f, "class {class} lists an allocated block"),
            SegregatedRule::WrongClass { class, size } => {
                write!(f, "a block of {size} bytes is listed in class {class}, not {}", class_of(size))
            }
            SegregatedRule::PrevLink { found, expected } => {
                write!(f, "prev link names {}, expected {}", block(found), block(expected))
            }
            SegregatedRule::ListedCount { free_blocks, listed } if listed > free_blocks => write!(
                f,
                "the lists hold more blocks than the heap's {free_blocks} free ones (a cycle or a stale block)"
            ),
            SegregatedRule::ListedCount { free_blocks, listed } => {
                write!(f, "the heap has {free_blocks} free blocks but the lists hold {listed}")
            }
        }
    }
}

fn broken(block: Block, invariant: Invariant) -> HeapCheckError {
    HeapCheckError::new(block.offset(), invariant)
}

/// A broken [`SegregatedRule`] at `block`.
fn broken_rule(block: Block, rule: SegregatedRule) -> HeapCheckError {
    broken(block, Invariant::rule_of(rule))
}

/// Verifies every rule of the crate docs' list of invariants, in order, on an
/// initialised heap.
pub(crate) fn check(alloc: &Segregated) -> Result<(), HeapCheckError> {
    let heap = &alloc.heap;
    let align = alloc.config.align;
    let heap_lo = heap.heap_lo() as usize;
    let epilogue = alloc.epilogue();
    let first = Block::at(align.get() - HEADER);

    // The heap walk: rules 1 to 6.
    let mut at = first;
    let mut prev_allocated = true;
    let mut prev_size = 0usize;
    let mut free_blocks = 0usize;
    while at != epilogue {
        if at.offset() > epilogue.offset() {
            return Err(broken(at, Invariant::BadEpilogue));
        }
        let header = at.header(heap);
        let size = header.size();
        if header.flags().bits() & !HeaderFlags::all().bits() != 0 {
            return Err(broken_rule(at, SegregatedRule::UnknownFlags { header }));
        }
        if !size.is_multiple_of(align.get()) {
            return Err(broken(at, Invariant::SizeNotAligned { size, align: align.get() }));
        }
        if size < alloc.min_block {
            return Err(broken(at, Invariant::TooSmall { size, min: alloc.min_block }));
        }
        if size > epilogue.offset() - at.offset() {
            return Err(broken(at, Invariant::PastHeapEnd { size }));
        }
        if !align.is_aligned(heap_lo + at.payload()) {
            return Err(broken(at, Invariant::PayloadMisaligned { align: align.get() }));
        }
        if header.prev_allocated() != prev_allocated {
            return Err(broken_rule(
                at,
                SegregatedRule::PrevAllocated { header, left_allocated: prev_allocated },
            ));
        }
        if !header.is_allocated() {
            // Two free blocks touch only when together they would not fit in a header.
            if !prev_allocated && prev_size + size <= MAX_BLOCK {
                return Err(broken(at, Invariant::Uncoalesced));
            }
            let footer = at.footer(heap, size) as usize;
            if footer != size {
                return Err(broken(at, Invariant::HeaderFooterMismatch { header: size, footer }));
            }
            if at.plus(size) != epilogue {
                free_blocks += 1; // the top is not listed
            }
        }
        prev_allocated = header.is_allocated();
        prev_size = size;
        at = at.plus(size);
    }
    let end = epilogue.header(heap);
    if end != Header::new(0, crate::block::allocated(prev_allocated)) {
        return Err(broken(epilogue, Invariant::BadEpilogue));
    }

    // The lists: rules 7 to 12.
    let mut listed = 0usize;
    for class in 0..CLASSES {
        let head = alloc.lists.head(class);
        if head.is_some() != alloc.lists.bitmap.contains(class) {
            let bit = alloc.lists.bitmap.contains(class);
            return Err(HeapCheckError::new(0, Invariant::rule_of(SegregatedRule::Bitmap { class, bit })));
        }
        let mut prev: Option<Block> = None;
        let mut block = head;
        while let Some(b) = block {
            listed += 1;
            if listed > free_blocks {
                return Err(broken_rule(b, SegregatedRule::ListedCount { free_blocks, listed }));
            }
            if b.offset() < first.offset()
                || !crate::block::in_heap(heap, b)
                || !align.is_aligned(heap_lo + b.payload())
            {
                return Err(broken_rule(b, SegregatedRule::LinkOutsideHeap { class }));
            }
            let header = b.header(heap);
            if header.is_allocated() {
                return Err(broken_rule(b, SegregatedRule::AllocatedOnList { class }));
            }
            if class_of(header.size()) != class {
                return Err(broken_rule(b, SegregatedRule::WrongClass { class, size: header.size() }));
            }
            if b.prev_link(heap) != prev {
                let (found, expected) = (b.prev_link(heap).map(Block::offset), prev.map(Block::offset));
                return Err(broken_rule(b, SegregatedRule::PrevLink { found, expected }));
            }
            prev = Some(b);
            block = b.next_link(heap);
        }
    }
    if listed != free_blocks {
        return Err(HeapCheckError::new(
            0,
            Invariant::rule_of(SegregatedRule::ListedCount { free_blocks, listed }),
        ));
    }
    Ok(())
}

/// [`Allocator::check_neighbourhood`](mm_core::Allocator::check_neighbourhood) for the
/// allocated `block`: what `free` and `realloc` are about to read, merge and unlink.
pub(crate) fn neighbourhood(alloc: &Segregated, block: Block) -> Result<(), Corruption> {
    let heap = &alloc.heap;
    let header = block.header(heap);
    let size = header.size();
    if !header.is_allocated() || !alloc.is_block_size(block, size) {
        return Err(Corruption::new("invalid block header", block.offset()));
    }
    let next = block.plus(size);
    let next_header = next.header(heap);
    if !next_header.prev_allocated() {
        return Err(Corruption::new("next block does not know its neighbour is in use", next.offset()));
    }
    if next == alloc.epilogue() {
        if next_header.size() != 0 || !next_header.is_allocated() {
            return Err(Corruption::new("corrupted epilogue", next.offset()));
        }
    } else {
        let next_size = next_header.size();
        if !alloc.is_block_size(next, next_size) {
            return Err(Corruption::new("invalid next size", next.offset()));
        }
        if next_header.is_allocated() {
            // The block after an allocated one knows it is allocated: a size that
            // does not lead to such a header was overwritten.
            if !next.plus(next_size).header(heap).prev_allocated() {
                return Err(Corruption::new("invalid next size", next.offset()));
            }
        } else if alloc.is_top(next, next_size) {
            check_free_tags(heap, next, next_size)?;
        } else {
            alloc.lists.check_listed(heap, next, next_size)?;
        }
    }
    if !header.prev_allocated() {
        let (prev, prev_size) = block.prev_free(heap)?;
        alloc.lists.check_listed(heap, prev, prev_size)?;
    }
    Ok(())
}
