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
//!   costs utilization on small blocks. The second word links a free block; in an
//!   allocated one it holds an *in-use mark* (see below), which K&R did not have.
//! * Next fit spreads allocations around the heap, which is fast but fragments more
//!   than first or best fit.
//! * `realloc` is the textbook one (allocate, copy, free): no resizing in place.
//!
//! ## Misuse
//!
//! K&R's `free` trusts its pointer: given one twice, it walks the list for ever (the
//! block is on the list, so no place between two free blocks is found), and a size or
//! a link a program overwrote sends it anywhere. This version checks, in every build,
//! what is nearly free to check:
//!
//! * **the pointer** is a payload position of the heap (`mm_core::payload_offset`, at a
//!   whole unit), and its header's second word is the block's in-use mark, which
//!   `malloc` writes and `free` replaces with a link: otherwise the call changes nothing
//!   and the misuse (an invalid pointer, a double free) is kept for
//!   [`Allocator::take_misuse`]. A block that merged into a free neighbour holds a link
//!   there, not the mark, so a second free of it is seen too;
//! * **the size** of the block is whole units that end inside the heap, or the call
//!   stops with a [`Corruption`] panic ("invalid block size");
//! * **every link** the list walks follow is a whole unit inside the heap, above the
//!   block it leaves (the list is in address order) or the sentinel, and a search that
//!   passes the sentinel twice without meeting the rover stops: a link a program
//!   overwrote stops the call with "corrupted free list" instead of a write through it
//!   or a walk without end; the free blocks around the freed one must not overlap it,
//!   and a free block's size must fit the heap before `malloc` cuts from it.
//!
//! Every access is bounds-checked besides, so nothing a program writes makes the
//! allocator touch memory outside its heap. A write into a freed block's payload
//! touches nothing the allocator reads: the header, before the payload, is the only
//! metadata.
//!
//! The hardened mode ([`mm_core::hardened`]) asks [`Allocator::check_neighbourhood`]
//! before each `free` and `realloc`. What it can check follows from the design: the
//! block's own header, and the block right after it (which an overflow reaches first):
//! its size, whether it is in use, and if free its link and that the block after it is
//! in use. What it cannot: the block on the left, which has no footer to find it by
//! (only a walk of the list does, in O(free blocks)), and the links `free` will walk
//! from the rover, which `free` checks itself as it goes.

use std::ptr::NonNull;

use mm_core::{
    Align, Allocator, Corruption, HeapCheckError, InitError, Invariant, MemLib, Misuse, PAGE_SIZE,
};

/// The heap offset of the sentinel `base` block (size 0, always on the list).
const BASE: usize = 0;

/// The in-use mark of the block at heap offset `block`: what its second header word
/// holds while it is allocated. No link is ever this large, and a mark is valid only at
/// its own block, so neither a free block's link nor a header copied elsewhere passes
/// for one.
const fn in_use_mark(block: usize) -> usize {
    !block
}

/// K&R's allocator over a memlib heap.
pub struct KAndR {
    heap: MemLib,
    align: Align,
    /// Header and allocation granularity: the alignment, at least 16 bytes.
    unit: usize,
    /// Where the next search starts (K&R's `freep`): a block on the free list.
    rover: usize,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl KAndR {
    /// A K&R allocator over `heap` serving payloads aligned to `align`; call
    /// [`Allocator::init`] before use.
    pub fn new(heap: MemLib, align: Align) -> Self {
        KAndR { heap, align, unit: align.get().max(16), rover: BASE, misuse: None }
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

    /// The free block the link of `from` names, checked before anything is read
    /// through it: the sentinel, or a whole unit above `from` whose header lies inside
    /// the heap (the list is in address order, so every other step goes up).
    ///
    /// # Panics
    /// With a [`Corruption`] when the link cannot be right: a program overwrote it (an
    /// overflow into the free block's header).
    #[inline]
    fn follow(&self, from: usize) -> usize {
        let next = self.next(from);
        let ok = next == BASE
            || (next > from && next.is_multiple_of(self.unit) && next <= self.heap.heap_size() - self.unit);
        if !ok {
            Corruption::new("corrupted free list", from).panic();
        }
        next
    }

    /// True when `size` can be the size of a block at `block`: whole units, at least
    /// `min` of them, ending inside the heap.
    fn fits(&self, block: usize, size: usize, min: usize) -> bool {
        size >= min * self.unit
            && size.is_multiple_of(self.unit)
            && size <= self.heap.heap_size().saturating_sub(block)
    }

    /// The block behind a payload pointer: a payload position of the heap, at a whole
    /// unit after the sentinel.
    fn payload_block(&self, ptr: NonNull<u8>) -> Result<usize, Misuse> {
        let offset = mm_core::payload_offset(&self.heap, self.align, 2 * self.unit, ptr)?;
        if offset.is_multiple_of(self.unit) {
            Ok(offset - self.unit)
        } else {
            Err(Misuse::InvalidPointer { offset })
        }
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, after the
    /// checks of the module docs; a refused pointer is kept for `take_misuse`.
    ///
    /// # Panics
    /// With a [`Corruption`] when the block is in use but its size cannot be right.
    fn live_block(&mut self, ptr: NonNull<u8>) -> Option<usize> {
        let block = match self.payload_block(ptr) {
            Ok(block) => block,
            Err(misuse) => {
                self.misuse = Some(misuse);
                return None;
            }
        };
        if self.next(block) != in_use_mark(block) {
            self.misuse = Some(Misuse::DoubleFree { offset: block + self.unit });
            return None;
        }
        if !self.fits(block, self.size(block), 2) {
            Corruption::new("invalid block size", block).panic();
        }
        Some(block)
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
        // New memory above every block: never on the list.
        self.insert_free(block).is_ok()
    }

    /// Puts `block` on the free list in address order, merging it with the free blocks
    /// just before and after it when they touch (K&R's `free`). `Err` when `block` is on
    /// the list already (a double free), with nothing changed.
    ///
    /// # Panics
    /// With a [`Corruption`] when a link on the way cannot be right, or a free neighbour
    /// overlaps `block`: the sizes or links were overwritten.
    fn insert_free(&mut self, block: usize) -> Result<(), Misuse> {
        // Find `prev`, the last free block below `block`: either `block` lies between
        // `prev` and its successor, or `prev` is the highest block and the list wraps.
        // Every link goes up but the one to the sentinel, so this ends within two laps.
        let mut prev = self.rover;
        loop {
            let next = self.follow(prev);
            if next == block {
                return Err(Misuse::DoubleFree { offset: block + self.unit });
            }
            let between = prev < block && block < next;
            let wraps = next <= prev && (block > prev || block < next);
            if between || wraps {
                break;
            }
            prev = next;
        }
        let next = self.next(prev);
        // The free blocks on either side must end before `block` and start after it.
        let end = block + self.size(block);
        let overlaps = (next != BASE && (end > next || !self.fits(next, self.size(next), 1)))
            || (prev != BASE && (!self.fits(prev, self.size(prev), 1) || prev + self.size(prev) > block));
        if overlaps {
            Corruption::new("block overlaps a free block", block).panic();
        }
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
        Ok(())
    }

    fn payload(&self, block: usize) -> NonNull<u8> {
        self.heap.ptr_at(block + self.unit)
    }

    /// [`Allocator::check_neighbourhood`] for the block at `block` (see the module
    /// docs): reads only inside the heap, never panics.
    fn neighbourhood(&self, block: usize) -> Result<(), Corruption> {
        let heap_size = self.heap.heap_size();
        if self.next(block) != in_use_mark(block) {
            return Err(Corruption::new("invalid block header", block));
        }
        let size = self.size(block);
        if !self.fits(block, size, 2) {
            return Err(Corruption::new("invalid block size", block));
        }
        let right = block + size;
        if right == heap_size {
            return Ok(());
        }
        // Read with `get`: a header that does not lie wholly inside the heap is no header.
        let word = |at: usize| self.heap.get::<usize>(at);
        let right_size = word(right).unwrap_or(0);
        if !self.fits(right, right_size, 1) {
            return Err(Corruption::new("invalid next size", right));
        }
        let link = word(right + 8);
        if link == Some(in_use_mark(right)) {
            return Ok(());
        }
        // A free block: it links up (or to the sentinel), and never touches another.
        let after = right + right_size;
        let link_ok = link.is_some_and(|link| {
            link == BASE || (link > after && link.is_multiple_of(self.unit) && link < heap_size)
        });
        let after_in_use = after == heap_size || word(after + 8) == Some(in_use_mark(after));
        if link_ok && after_in_use { Ok(()) } else { Err(Corruption::new("corrupted free list", right)) }
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
        self.misuse = None;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let need = self.block_size(size)?;
        let mut prev = self.rover;
        // A lap from the rover passes the sentinel at most once.
        let mut passed_base = false;
        loop {
            let block = self.follow(prev);
            let have = self.size(block);
            if have >= need {
                if !self.fits(block, have, 1) {
                    Corruption::new("corrupted free block size", block).panic();
                }
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
                self.set_next(taken, in_use_mark(taken));
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
                passed_base = false;
                continue;
            }
            if block == BASE {
                if passed_base {
                    // Round twice without meeting the rover: a link skips it.
                    Corruption::new("corrupted free list", prev).panic();
                }
                passed_base = true;
            }
            prev = block;
        }
    }

    /// Frees `ptr`, or refuses it (see the module docs): a pointer that is no payload
    /// of the heap, or whose block is not in use, is kept for
    /// [`Allocator::take_misuse`] and nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some(block) = self.live_block(ptr)
            && let Err(misuse) = self.insert_free(block)
        {
            self.misuse = Some(misuse);
        }
    }

    /// 0 for a pointer that is no payload of the heap. Reads only the size word, and
    /// saturates: a hardened caller may ask about a block whose header was smashed.
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.payload_block(ptr).map_or(0, |block| self.size(block).saturating_sub(self.unit))
    }

    /// The textbook `realloc` (allocate, copy, free), once the pointer passed the
    /// checks `free` makes: a refused one returns `None` with nothing changed.
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        self.live_block(ptr)?;
        // SAFETY: `ptr` is a block in use (the caller's guarantee, and its mark says so).
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// What the design lets it check (see the module docs): the block's header, and
    /// the block after it.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        match self.payload_block(ptr) {
            Ok(block) => self.neighbourhood(block),
            Err(misuse) => Err(Corruption::new("invalid pointer", misuse.offset())),
        }
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
        let (block_a, block_b) = (kr.payload_block(a).unwrap(), kr.payload_block(b).unwrap());
        assert_eq!(block_b + kr.size(block_b), block_a);
        let rest = kr.next(BASE);
        assert_eq!(kr.next(rest), block_a);
        kr.set_next(rest, block_b);
        kr.set_next(block_b, block_a);
        assert_eq!(kr.check_heap(), Err(HeapCheckError::new(block_b, Invariant::Uncoalesced)));
    }

    #[test]
    fn blocks_of_gigabytes_are_sized_in_whole_words() {
        // Sizes and links are whole words: blocks of more than 4 GiB are served, merged
        // and reused; a request past the reservation fails. Payloads are never touched.
        const GIB: usize = 1 << 30;
        let mut kr = KAndR::new(MemLib::reserve(16 * GIB).unwrap(), Align::SIXTEEN);
        kr.init().unwrap();
        let p = kr.malloc(5 * GIB).unwrap();
        let q = kr.malloc(6 * GIB).unwrap();
        let _keep = kr.malloc(64).unwrap();
        // SAFETY: `p` and `q` are live and freed once.
        unsafe {
            assert!(kr.usable_size(p) >= 5 * GIB);
            kr.free(p);
            kr.free(q);
        }
        kr.check_heap().unwrap();
        let heap = kr.heap().heap_size();
        assert!(kr.malloc(11 * GIB).is_some(), "the two merged");
        assert_eq!(kr.heap().heap_size(), heap, "without growing");
        assert_eq!(kr.malloc(8 * GIB), None, "past the reservation");
        kr.check_heap().unwrap();
    }

    // --- misuse ---------------------------------------------------------------------

    use mm_core::testkit::{ALIGNMENTS, misuse};

    #[test]
    fn a_double_free_is_refused_and_reported_even_after_merging() {
        // K&R's own free walks the list for ever on a double free.
        for align in ALIGNMENTS {
            misuse::double_free(KAndR::new, align);
        }
    }

    #[test]
    fn pointers_that_are_not_payloads_are_refused() {
        for align in ALIGNMENTS {
            misuse::wild_pointers(KAndR::new, align);
        }
    }

    #[test]
    fn an_overflow_never_makes_the_default_build_write_outside_the_heap() {
        misuse::overflows_stay_inside_the_heap(KAndR::new);
    }

    #[test]
    fn hardened_catches_an_overflow_when_either_neighbour_is_freed() {
        // Every overflow changes the low byte of the neighbour's size, the first thing
        // past a block: the one check K&R's design allows on the right is enough.
        assert_eq!(misuse::hardened_catches_overflows(KAndR::new), 144);
    }

    #[test]
    fn a_free_blocks_link_overwritten_stops_the_walk() {
        // The only metadata of a free block is its header, which an overflow out of the
        // block below it reaches: its link, forged, must not be followed.
        type Forge = fn(&KAndR, usize) -> usize;
        let forgeries: [(&str, Forge); 5] = [
            ("past the break", |kr, _| kr.heap().heap_size() + 4096),
            ("far past the break", |_, _| 1 << 40),
            ("down the heap", |kr, _| kr.unit),
            ("at itself", |_, me| me),
            ("mid-unit", |_, me| me + 8 + 64),
        ];
        for (what, forge) in forgeries {
            let mut kr = kr();
            let blocks = misuse::neighbours(&mut kr, 5);
            // SAFETY: each block is live and freed once.
            unsafe {
                kr.free(blocks[1]);
                kr.free(blocks[3]);
            }
            kr.check_heap().unwrap();
            let free_block = kr.payload_block(blocks[3]).unwrap();
            let link = forge(&kr, free_block);
            kr.set_next(free_block, link);
            misuse::stops_inside_the_heap(&mut kr, what, "corrupted free list", |kr| {
                for _ in 0..4 {
                    kr.malloc(40);
                    kr.malloc(5000);
                }
            });
        }
    }

    #[test]
    fn a_link_that_skips_the_rover_stops_the_search() {
        // Links that go up and stay in the heap, but skip the block the search started
        // from: without a bound, the search would go round for ever.
        let mut kr = kr();
        let blocks = misuse::neighbours(&mut kr, 5);
        // SAFETY: each block is live and freed once.
        unsafe {
            kr.free(blocks[1]);
            kr.free(blocks[3]);
        }
        let (b1, b3) = (kr.payload_block(blocks[1]).unwrap(), kr.payload_block(blocks[3]).unwrap());
        assert_eq!(kr.rover, b1);
        let rest = kr.next(BASE);
        assert_eq!(kr.next(rest), b1, "the list: sentinel, the rest of the page, b1, b3");
        kr.set_next(rest, b3);
        misuse::stops_inside_the_heap(&mut kr, "skipping the rover", "corrupted free list", |kr| {
            kr.malloc(5000);
        });
    }

    #[test]
    fn a_free_blocks_size_overwritten_is_not_cut_from() {
        let mut kr = kr();
        let blocks = misuse::neighbours(&mut kr, 3);
        // SAFETY: the block is live and freed once.
        unsafe { kr.free(blocks[1]) };
        let free_block = kr.payload_block(blocks[1]).unwrap();
        kr.set_size(free_block, 1 << 40);
        misuse::stops_inside_the_heap(&mut kr, "a huge size", "corrupted free block size", |kr| {
            kr.rover = BASE;
            kr.malloc(4000);
        });
    }

    #[test]
    fn a_write_into_a_freed_blocks_payload_changes_nothing_the_allocator_reads() {
        let mut kr = kr();
        let blocks = misuse::neighbours(&mut kr, 3);
        // SAFETY: the block is live and freed once; then its payload bytes, inside the
        // heap, are overwritten.
        unsafe {
            kr.free(blocks[1]);
            blocks[1].as_ptr().write_bytes(0xFF, 48);
        }
        kr.check_heap().unwrap();
        let p = kr.malloc(40).unwrap();
        // SAFETY: each block is live and freed once.
        unsafe {
            kr.free(blocks[0]);
            kr.free(p);
        }
        assert_eq!(kr.take_misuse(), None);
        kr.check_heap().unwrap();
    }
}
