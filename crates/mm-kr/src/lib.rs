//! # K&R's malloc, as an mmlab strategy
//!
//! The worked example of [the lab guide](../../../docs/lab.md): the allocator of
//! Kernighan and Ritchie's *The C Programming Language* (section 8.7), about as small as
//! an allocator can be while still reusing and merging memory, written against the
//! [`Allocator`] trait so that the conformance kit tests it and `mdriver` races it
//! (`mdriver -s kr`).
//!
//! ## The policy
//!
//! Every block starts with a one-unit header holding its size; a *unit* is the payload
//! alignment (at least 16 bytes), so a payload that starts one unit after its block is
//! aligned. The free blocks form one **circular list in address order**, through a
//! second header word. A sentinel of size zero at heap offset 0 (K&R's `base`) keeps the
//! list non-empty.
//!
//! * `malloc` walks the list from a *rover* (where the last search ended, K&R's
//!   `freep`) and takes the first block that fits (**next fit**). An exact fit is
//!   unlinked; a larger block gives up its *tail*, so the free block stays where it is in
//!   the list and nothing needs relinking. A full lap without a fit grows the heap by at
//!   least a page and frees the new memory into the list, where it merges with a free
//!   block that ended at the old break.
//! * `free` finds the block's place in address order and **merges** it with the free
//!   blocks just before and just after it, if they touch it. Keeping the list in
//!   address order is what makes merging possible without footers.
//!
//! ## Trade-offs
//!
//! * `free` is O(free blocks): it searches for the block's place in the list. The
//!   boundary tags of `mm-implicit` make it O(1), at the cost of a footer per block.
//! * Allocated blocks carry a whole unit of header (16 bytes) where 8 would do, which
//!   costs utilization on small blocks; the second word is only used while free.
//! * Next fit spreads allocations around the heap, which is fast but fragments more
//!   than first or best fit.
//! * `realloc` is the textbook one (allocate, copy, free): no resizing in place.

use std::ptr::NonNull;

use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib, PAGE_SIZE};

/// The heap offset of the sentinel `base` block (size 0, always on the list).
const BASE: usize = 0;

/// K&R's allocator over a memlib heap.
pub struct KAndR {
    heap: MemLib,
    align: Align,
    /// Header and allocation granularity: the alignment, at least 16 bytes.
    unit: usize,
    /// Where the next search starts (K&R's `freep`): a block on the free list.
    rover: usize,
}

impl KAndR {
    /// A K&R allocator over `heap` serving payloads aligned to `align`; call
    /// [`Allocator::init`] before use.
    pub fn new(heap: MemLib, align: Align) -> Self {
        KAndR { heap, align, unit: align.get().max(16), rover: BASE }
    }

    // The two header words. A block's size (in bytes, header included) is its first
    // word; the offset of the next free block is its second, valid while it is free.
    fn size(&self, block: usize) -> usize {
        self.heap.read::<usize>(block)
    }
    fn set_size(&mut self, block: usize, size: usize) {
        self.heap.write(block, size);
    }
    fn next(&self, block: usize) -> usize {
        self.heap.read::<usize>(block + 8)
    }
    fn set_next(&mut self, block: usize, next: usize) {
        self.heap.write(block + 8, next);
    }

    /// The block size for a request: the payload rounded up to whole units, plus the
    /// header unit. `None` when the arithmetic would overflow.
    fn block_size(&self, request: usize) -> Option<usize> {
        request.max(1).checked_next_multiple_of(self.unit)?.checked_add(self.unit)
    }

    /// Grows the heap by at least `size` bytes (`size` is whole units; a page when the
    /// heap has room for one) and frees the new memory into the list. False when the
    /// heap cannot grow by `size`.
    fn more_core(&mut self, size: usize) -> bool {
        // A page at a time, to call on the heap less often; but a page is only a
        // preference: near the heap's limit, take just what is needed.
        let page = size.max(PAGE_SIZE).checked_next_multiple_of(self.unit);
        let Some((start, grow)) = [page, Some(size)]
            .into_iter()
            .flatten()
            .find_map(|grow| self.heap.extend(grow).ok().map(|start| (start, grow)))
        else {
            return false;
        };
        let block = self.heap.offset_of(start.as_ptr());
        self.set_size(block, grow);
        self.insert_free(block);
        true
    }

    /// Puts `block` on the free list in address order, merging it with the free blocks
    /// just before and after it when they touch (K&R's `free`).
    fn insert_free(&mut self, block: usize) {
        // Find `prev`, the last free block below `block`: either `block` lies between
        // `prev` and its successor, or `prev` is the highest block and the list wraps.
        let mut prev = self.rover;
        loop {
            let next = self.next(prev);
            let between = prev < block && block < next;
            let wraps = next <= prev && (block > prev || block < next);
            if between || wraps {
                break;
            }
            prev = next;
        }
        let next = self.next(prev);
        // Merge with the upper neighbour.
        if next != BASE && block + self.size(block) == next {
            let merged = self.size(block) + self.size(next);
            self.set_size(block, merged);
            let after = self.next(next);
            self.set_next(block, after);
        } else {
            self.set_next(block, next);
        }
        // Merge with the lower neighbour (never the sentinel, which has size 0).
        if prev != BASE && prev + self.size(prev) == block {
            let merged = self.size(prev) + self.size(block);
            self.set_size(prev, merged);
            let after = self.next(block);
            self.set_next(prev, after);
        } else {
            self.set_next(prev, block);
        }
        self.rover = prev;
    }

    fn payload(&self, block: usize) -> NonNull<u8> {
        self.heap.ptr_at(block + self.unit)
    }

    fn block_of(&self, payload: NonNull<u8>) -> usize {
        self.heap.offset_of(payload.as_ptr()) - self.unit
    }
}

impl Allocator for KAndR {
    fn describe(&self) -> String {
        "K&R: circular address-ordered free list, next fit, merging on free".to_owned()
    }

    fn heap(&self) -> &MemLib {
        &self.heap
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        &mut self.heap
    }

    fn alignment(&self) -> Align {
        self.align
    }

    fn init(&mut self) -> Result<(), InitError> {
        // Start from an empty heap, even if the caller did not reset the break.
        self.heap.reset_brk();
        // The sentinel takes one unit, so the first block's payload, one unit further,
        // is aligned.
        self.heap.extend(self.unit)?;
        self.set_size(BASE, 0);
        self.set_next(BASE, BASE);
        self.rover = BASE;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let need = self.block_size(size)?;
        let mut prev = self.rover;
        loop {
            let block = self.next(prev);
            let have = self.size(block);
            if have >= need {
                let taken = if have == need {
                    let after = self.next(block);
                    self.set_next(prev, after);
                    block
                } else {
                    // Give up the tail: the free block keeps its place in the list.
                    self.set_size(block, have - need);
                    let tail = block + have - need;
                    self.set_size(tail, need);
                    tail
                };
                self.rover = prev;
                return Some(self.payload(taken));
            }
            if block == self.rover {
                // A whole lap without a fit: grow, and look next just after the new
                // rover, where `more_core`'s free put the new memory (K&R's
                // `p = morecore(nunits)` followed by the loop's step).
                if !self.more_core(need) {
                    return None;
                }
                prev = self.rover;
                continue;
            }
            prev = block;
        }
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        let block = self.block_of(ptr);
        self.insert_free(block);
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // Saturating: a hardened caller may ask about a block whose header was smashed.
        self.size(self.block_of(ptr)).saturating_sub(self.unit)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        let end = self.heap.heap_size();
        if end < self.unit || self.size(BASE) != 0 {
            return Err(HeapCheckError::new(BASE, Invariant::BadPrologue));
        }
        // Every block, from the first to the break: sizes whole units that tile the heap.
        let mut starts = std::collections::BTreeSet::new();
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
        // The free list: a circle through the sentinel, in address order, of real
        // blocks, none touching the next (they would have been merged).
        let mut prev = BASE;
        let mut seen_rover = self.rover == BASE;
        for _ in 0..=starts.len() {
            let next = self.next(prev);
            if next == BASE {
                return if seen_rover {
                    Ok(())
                } else {
                    Err(HeapCheckError::new(
                        self.rover,
                        Invariant::FreeList("the rover is not on the list".into()),
                    ))
                };
            }
            if !starts.contains(&next) {
                return Err(HeapCheckError::new(
                    prev,
                    Invariant::FreeList(format!("next {next:#x} is not a block")),
                ));
            }
            if next <= prev {
                return Err(HeapCheckError::new(next, Invariant::FreeList("not in address order".into())));
            }
            if prev != BASE && prev + self.size(prev) == next {
                return Err(HeapCheckError::new(prev, Invariant::Uncoalesced));
            }
            seen_rover |= next == self.rover;
            prev = next;
        }
        Err(HeapCheckError::new(BASE, Invariant::FreeList("the list does not return to the sentinel".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr() -> KAndR {
        let mut kr = KAndR::new(MemLib::new(1 << 20).unwrap(), Align::SIXTEEN);
        kr.init().unwrap();
        kr
    }

    #[test]
    fn a_freed_block_is_reused_and_neighbours_merge() {
        let mut kr = kr();
        let a = kr.malloc(100).unwrap();
        let b = kr.malloc(100).unwrap();
        let c = kr.malloc(100).unwrap();
        let heap_after_three = kr.heap().heap_size();
        // SAFETY: each block is live and freed once.
        unsafe {
            kr.free(a);
            kr.free(c);
            kr.free(b);
        }
        kr.check_heap().unwrap();
        // The three merged with each other and with the rest of the page: one free
        // block spans everything after the sentinel.
        assert_eq!(kr.next(BASE), kr.unit);
        assert_eq!(kr.size(kr.unit), kr.heap().heap_size() - kr.unit);
        let big = kr.malloc(300).unwrap();
        assert_eq!(kr.heap().heap_size(), heap_after_three, "the merged space was reused");
        // SAFETY: `big` is live.
        assert!(unsafe { kr.usable_size(big) } >= 300);
    }

    #[test]
    fn the_heap_grows_a_page_at_a_time_and_only_when_full() {
        let mut kr = kr();
        let mut growths = 0;
        for _ in 0..300 {
            let before = kr.heap().heap_size();
            // 224-byte blocks do not divide a page: each page leaves a small free
            // block behind, which the search must not mistake for a reason to grow again.
            kr.malloc(200).unwrap();
            let grown = kr.heap().heap_size() - before;
            // One page when the free memory ran out, never two in one call.
            assert!(grown == 0 || grown == PAGE_SIZE, "grew by {grown}");
            growths += usize::from(grown > 0);
        }
        // A page holds 18 such blocks.
        assert_eq!(growths, 300usize.div_ceil(18));
        kr.check_heap().unwrap();
    }

    #[test]
    fn the_checker_catches_an_unmerged_pair() {
        let mut kr = kr();
        let a = kr.malloc(16).unwrap();
        let b = kr.malloc(16).unwrap();
        let _keep = kr.malloc(16).unwrap();
        // SAFETY: `a` is live and freed once.
        unsafe { kr.free(a) };
        kr.check_heap().unwrap();
        // Blocks are carved from the tails of free blocks, so `b` sits just below `a`,
        // and the list is: sentinel, the rest of the page, `a`. Link `b` in between by
        // hand, in address order but without merging: what a buggy free would do.
        let (block_a, block_b) = (kr.block_of(a), kr.block_of(b));
        assert_eq!(block_b + kr.size(block_b), block_a);
        let rest = kr.next(BASE);
        assert_eq!(kr.next(rest), block_a);
        kr.set_next(rest, block_b);
        kr.set_next(block_b, block_a);
        assert_eq!(kr.check_heap(), Err(HeapCheckError::new(block_b, Invariant::Uncoalesced)));
    }
}
