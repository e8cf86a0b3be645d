//! The heap checker (`mm_checkheap`): every invariant the allocator relies on, verified
//! by a walk over the heap and a walk over every free list.
//!
//! The walk reads headers with the bounds-checked accessors but trusts nothing it
//! reads: a size that would leave the heap is reported, not followed.

use mm_core::{Corruption, HeapCheckError, Invariant};

use crate::Segregated;
use crate::block::{Block, HEADER, Header, HeaderFlags, MAX_BLOCK};
use crate::classes::{CLASSES, class_of};
use crate::freelist::check_free_tags;

fn broken(block: Block, invariant: Invariant) -> HeapCheckError {
    HeapCheckError::new(block.offset(), invariant)
}

pub(crate) fn check(alloc: &Segregated) -> Result<(), HeapCheckError> {
    let heap = &alloc.heap;
    let align = alloc.config.align;
    let heap_lo = heap.heap_lo() as usize;
    let epilogue = alloc.epilogue();
    let first = Block::at(align.get() - HEADER);

    // 1. The heap walk: sizes, alignment, flags, footers, coalescing.
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
            return Err(broken(at, Invariant::Flags(format!("unknown flag bits in {header:?}"))));
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
            return Err(broken(
                at,
                Invariant::Flags(format!(
                    "PREV_ALLOCATED is {} but the block to the left is {}",
                    header.prev_allocated(),
                    if prev_allocated { "allocated" } else { "free" }
                )),
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

    // 2. The lists: exactly the free blocks, each in its class, links mutual, bitmap
    //    in step.
    let mut listed = 0usize;
    for class in 0..CLASSES {
        let head = alloc.lists.head(class);
        if head.is_some() != alloc.lists.bitmap.contains(class) {
            return Err(HeapCheckError::new(
                0,
                Invariant::FreeList(format!(
                    "class {class}: bitmap bit is {} but the list is {}",
                    alloc.lists.bitmap.contains(class),
                    if head.is_some() { "non-empty" } else { "empty" }
                )),
            ));
        }
        let mut prev: Option<Block> = None;
        let mut block = head;
        while let Some(b) = block {
            listed += 1;
            if listed > free_blocks {
                return Err(broken(
                    b,
                    Invariant::FreeList(format!(
                        "the lists hold more blocks than the heap's {free_blocks} free ones (a cycle or a stale block)"
                    )),
                ));
            }
            if b.offset() < first.offset()
                || !crate::block::in_heap(heap, b)
                || !align.is_aligned(heap_lo + b.payload())
            {
                return Err(broken(
                    b,
                    Invariant::FreeList(format!("class {class} links to a place outside the heap")),
                ));
            }
            let header = b.header(heap);
            if header.is_allocated() {
                return Err(broken(
                    b,
                    Invariant::FreeList(format!("class {class} lists an allocated block")),
                ));
            }
            if class_of(header.size()) != class {
                return Err(broken(
                    b,
                    Invariant::FreeList(format!(
                        "a block of {} bytes is listed in class {class}, not {}",
                        header.size(),
                        class_of(header.size())
                    )),
                ));
            }
            if b.prev_link(heap) != prev {
                return Err(broken(
                    b,
                    Invariant::FreeList(format!("prev link is {:?}, expected {prev:?}", b.prev_link(heap))),
                ));
            }
            prev = Some(b);
            block = b.next_link(heap);
        }
    }
    if listed != free_blocks {
        return Err(HeapCheckError::new(
            0,
            Invariant::FreeList(format!(
                "the heap has {free_blocks} free blocks but the lists hold {listed}"
            )),
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
