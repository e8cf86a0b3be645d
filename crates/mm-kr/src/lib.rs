//! # K&R's malloc, as an mmlab strategy
//!
//! The worked example of [the lab guide](../../../docs/lab.md): the allocator of
//! Kernighan and Ritchie's *The C Programming Language* (section 8.7), about as small as
//! an allocator can be while still reusing and merging memory, written against the
//! [`Allocator`] trait so that the conformance kit tests it and `mdriver` races it
//! (`mdriver -s kr`).
//!
//! Build it with [`KAndR::new`]`(heap, config)`, where `config` is a [`KAndRConfig`] or
//! just an [`Align`], as every strategy crate of the workspace is built; then call
//! [`Allocator::init`].
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
//!   `freep`) and takes the first block that fits (**next fit**, `find_fit`). An exact
//!   fit is unlinked; a larger block gives up its *tail*, so the free block stays where
//!   it is in the list and nothing needs relinking (`place`). A full lap without a fit
//!   grows the heap by at least a page (`extend_heap`, K&R's `morecore`) and frees the
//!   new memory into the list, where it merges with a free block that ended at the old
//!   break.
//! * `free` finds the block's place in address order and **merges** it with the free
//!   blocks just before and just after it, if they touch it (`coalesce`, K&R's `free`).
//!   Keeping the list in address order is what makes merging possible without footers.
//! * `realloc` is `move_block`: allocate, copy, free.
//!
//! ## Trade-offs
//!
//! * `free` is O(free blocks): it searches for the block's place in the list. The
//!   boundary tags of `mm-implicit` make it O(1), at the cost of a footer per block.
//! * Allocated blocks carry a whole unit of header (two words, 16 bytes) where one
//!   word would do, which costs utilization on small blocks. The second word links a free block; in an
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
//!
//! What these choices measure on the bundled traces is in `docs/lab.md`.
//!
//! ## Invariants
//!
//! What [`Allocator::check_heap`] verifies (`src/check.rs`), in this order. A broken
//! rule that other strategies share is reported as mm-core's
//! [`Invariant`](mm_core::Invariant) variant named here; a rule of K&R's own as a
//! [`KAndRRule`] whose [`number`](mm_core::allocator::Rule::number) is the rule's number
//! below.
//!
//! 1. The sentinel `base` at heap offset 0 has size 0 (`BadPrologue`).
//! 2. The blocks tile the heap from the first unit to the break: every size is whole
//!    units (`SizeNotAligned`), at least one (`TooSmall`: a one-unit block, a split's
//!    leftover, is legal while free), and ends at or before the break (`PastHeapEnd`).
//! 3. Every link of the free list names a block ([`KAndRRule::NotABlock`]).
//! 4. The list is in address order: every link goes up, but the one back to the
//!    sentinel ([`KAndRRule::NotInAddressOrder`]).
//! 5. No two blocks on the list touch: they would have merged (`Uncoalesced`).
//! 6. The list returns to the sentinel ([`KAndRRule::Unterminated`]; rules 3 and 4
//!    imply it, and checking it bounds the walk).
//! 7. The rover is on the list ([`KAndRRule::RoverOffList`]).
//!
//! `check_heap` before `init` returns `Ok(())`: the heap has nothing in it to check (the
//! workspace's one rule for every strategy).

mod check;
#[cfg(test)]
mod tests;

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, InitError, MemLib, Misuse, PAGE_SIZE};

pub use crate::check::KAndRRule;

/// How to build a [`KAndR`] allocator. [`KAndR::new`] also takes a bare [`Align`], which
/// converts into the configuration with that alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KAndRConfig {
    /// The alignment of every payload (default 8). The unit, header and allocation
    /// granularity, is the alignment, at least [`MIN_UNIT`] bytes.
    pub align: Align,
}

impl From<Align> for KAndRConfig {
    fn from(align: Align) -> Self {
        KAndRConfig { align }
    }
}

/// The heap offset of the sentinel `base` block (size 0, always on the list).
const BASE: usize = 0;

/// Bytes of a header word: a block's size, or its link (or in-use mark).
const WORD: usize = size_of::<usize>();

/// The smallest unit: a header of two words (the size, then the link or the in-use
/// mark), 16 bytes. A larger alignment makes a larger unit, so that a payload one unit
/// into its block is aligned.
pub const MIN_UNIT: usize = 2 * WORD;

/// The fewest units of an allocated block: the header, and one of payload.
const MIN_ALLOCATED_UNITS: usize = 2;

/// The fewest units of a free block: the header alone (a split's one-unit leftover).
const MIN_FREE_UNITS: usize = 1;

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
    /// Header and allocation granularity: the alignment, at least [`MIN_UNIT`] bytes.
    unit: usize,
    /// Where the next search starts (K&R's `freep`): a block on the free list.
    rover: usize,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl KAndR {
    /// A K&R allocator over `heap`, configured by a [`KAndRConfig`] or an [`Align`] (the
    /// alignment of its payloads); call [`Allocator::init`] before use.
    pub fn new(heap: MemLib, config: impl Into<KAndRConfig>) -> Self {
        let KAndRConfig { align } = config.into();
        KAndR { heap, align, unit: align.get().max(MIN_UNIT), rover: BASE, misuse: None }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> KAndRConfig {
        KAndRConfig { align: self.align }
    }

    // The two header words. A block's size (in bytes, header included) is its first
    // word; the offset of the next free block is its second (one `WORD` in), valid while
    // it is free.
    fn size(&self, block: usize) -> usize {
        self.heap.read::<usize>(block)
    }
    fn set_size(&mut self, block: usize, size: usize) {
        self.heap.write(block, size);
    }
    fn next(&self, block: usize) -> usize {
        self.heap.read::<usize>(block + WORD)
    }
    fn set_next(&mut self, block: usize, next: usize) {
        self.heap.write(block + WORD, next);
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
        // The first payload is one unit into the first block, which follows the sentinel.
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
        if !self.fits(block, self.size(block), MIN_ALLOCATED_UNITS) {
            Corruption::new("invalid block size", block).panic();
        }
        Some(block)
    }

    /// The block size for a request: the payload rounded up to whole units, plus the
    /// header unit. `None` when the arithmetic would overflow.
    fn block_size(&self, request: usize) -> Option<usize> {
        request.max(1).checked_next_multiple_of(self.unit)?.checked_add(self.unit)
    }

    // ---- malloc: find_fit, place, or extend_heap ------------------------------------

    /// One lap of the list from the rover (next fit): the first free block of at least
    /// `need` bytes, with the block before it on the list. `None` after a whole lap,
    /// which ends at the rover itself.
    ///
    /// # Panics
    /// With a [`Corruption`] when a link cannot be right, or the lap passes the
    /// sentinel twice without meeting the rover (a link skips it).
    fn find_fit(&self, need: usize) -> Option<(usize, usize)> {
        let mut prev = self.rover;
        // A lap from the rover passes the sentinel at most once.
        let mut passed_base = false;
        loop {
            let block = self.follow(prev);
            if self.size(block) >= need {
                return Some((prev, block));
            }
            if block == self.rover {
                return None;
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

    /// Allocates `need` bytes from the free `block` (which follows `prev` on the list):
    /// an exact fit is unlinked, a larger block gives up its tail and keeps its place.
    /// Marks the block taken in use and returns it; the next search starts at `prev`.
    ///
    /// # Panics
    /// With a [`Corruption`] when the free block's size cannot be right.
    fn place(&mut self, prev: usize, block: usize, need: usize) -> usize {
        let have = self.size(block);
        if !self.fits(block, have, MIN_FREE_UNITS) {
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
        taken
    }

    /// Grows the heap by at least `size` bytes (`size` is whole units; a page when the
    /// heap has room for one) and frees the new memory into the list (K&R's
    /// `morecore`). False when the heap cannot grow by `size`.
    #[cold]
    #[inline(never)]
    fn extend_heap(&mut self, size: usize) -> bool {
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
        self.coalesce(block).is_ok()
    }

    // ---- free: coalesce -------------------------------------------------------------

    /// Puts `block` on the free list in address order, merging it with the free blocks
    /// just before and after it when they touch (K&R's `free`). `Err` when `block` is on
    /// the list already (a double free), with nothing changed.
    ///
    /// # Panics
    /// With a [`Corruption`] when a link on the way cannot be right, or a free neighbour
    /// overlaps `block`: the sizes or links were overwritten.
    fn coalesce(&mut self, block: usize) -> Result<(), Misuse> {
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
        let overlaps = (next != BASE && (end > next || !self.fits(next, self.size(next), MIN_FREE_UNITS)))
            || (prev != BASE
                && (!self.fits(prev, self.size(prev), MIN_FREE_UNITS) || prev + self.size(prev) > block));
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

    // ---- realloc: move_block -------------------------------------------------------

    /// The textbook `realloc`: allocate, copy, free.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator.
    unsafe fn move_block(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
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
        if !self.fits(block, size, MIN_ALLOCATED_UNITS) {
            return Err(Corruption::new("invalid block size", block));
        }
        let right = block + size;
        if right == heap_size {
            return Ok(());
        }
        // Read with `get`: a header that does not lie wholly inside the heap is no header.
        let word = |at: usize| self.heap.get::<usize>(at);
        let right_size = word(right).unwrap_or(0);
        if !self.fits(right, right_size, MIN_FREE_UNITS) {
            return Err(Corruption::new("invalid next size", right));
        }
        let link = word(right + WORD);
        if link == Some(in_use_mark(right)) {
            return Ok(());
        }
        // A free block: it links up (or to the sentinel), and never touches another.
        let after = right + right_size;
        let link_ok = link.is_some_and(|link| {
            link == BASE || (link > after && link.is_multiple_of(self.unit) && link < heap_size)
        });
        let after_in_use = after == heap_size || word(after + WORD) == Some(in_use_mark(after));
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
        // Before `init` there is no sentinel to start a search from (only `init` writes
        // one, and it is the heap's first unit): nothing can be allocated yet.
        if self.heap.heap_size() == 0 {
            return None;
        }
        let need = self.block_size(size)?;
        let (prev, block) = loop {
            if let Some(fit) = self.find_fit(need) {
                break fit;
            }
            // A whole lap without a fit: grow, and look again from the new rover, just
            // before the new memory `extend_heap`'s free put on the list (K&R's
            // `p = morecore(nunits)` followed by the loop's step).
            if !self.extend_heap(need) {
                return None;
            }
        };
        let taken = self.place(prev, block, need);
        Some(self.payload(taken))
    }

    /// Frees `ptr`, or refuses it (see the module docs): a pointer that is no payload
    /// of the heap, or whose block is not in use, is kept for
    /// [`Allocator::take_misuse`] and nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some(block) = self.live_block(ptr)
            && let Err(misuse) = self.coalesce(block)
        {
            self.misuse = Some(misuse);
        }
    }

    /// 0 for a pointer that is no payload of the heap. Reads only the size word, and
    /// saturates: a hardened caller may ask about a block whose header was smashed.
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.payload_block(ptr).map_or(0, |block| self.size(block).saturating_sub(self.unit))
    }

    /// The textbook `realloc` (`move_block`: allocate, copy, free), once the pointer
    /// passed the checks `free` makes: a refused one returns `None` with nothing
    /// changed.
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        self.live_block(ptr)?;
        // SAFETY: `ptr` is a block in use (the caller's guarantee, and its mark says so).
        unsafe { self.move_block(ptr, size) }
    }

    /// `Ok(())` before `init` (see the crate docs' list of invariants).
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.check()
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// `free`'s checks without freeing: a payload of the heap, marked in use, of a size
    /// that fits (one that does not goes to `free`, which stops on it).
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        let block = self.payload_block(ptr)?;
        if self.next(block) != in_use_mark(block) {
            return Err(Misuse::DoubleFree { offset: block + self.unit });
        }
        if !self.fits(block, self.size(block), MIN_ALLOCATED_UNITS) {
            return Err(Misuse::InvalidPointer { offset: block + self.unit });
        }
        Ok(())
    }

    /// What the design lets it check (see the module docs): the block's header, and
    /// the block after it.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        match self.payload_block(ptr) {
            Ok(block) => self.neighbourhood(block),
            Err(misuse) => Err(Corruption::new("invalid pointer", misuse.offset())),
        }
    }
}
