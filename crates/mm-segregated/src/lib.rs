//! # mm-segregated: segregated fits
//!
//! The strategy we race against the best allocators there are. Free blocks sit on one
//! of [`CLASSES`] (416) lists by size class, a bitmap says which lists
//! are non-empty, and every block pays only a 4-byte header while allocated.
//!
//! Build it with [`Segregated::new`]`(heap, config)`, where `config` is a
//! [`SegregatedConfig`] or just an [`Align`], as every strategy crate of the workspace
//! is built; then call [`Allocator::init`].
//!
//! ## Heap layout
//!
//! ```text
//!  heap_lo                                                                 brk
//!  | pad | block          | block   | free block              | ... | epilogue |
//!  |     | hdr | payload  | hdr | p | hdr | next | prev | ftr |     |   hdr    |
//!                ^ aligned                                            size 0, allocated
//! ```
//!
//! * **Headers** are 4 bytes: the size and two flags, `ALLOCATED` and `PREV_ALLOCATED`
//!   (see `src/block.rs`). Allocated blocks have **no footer**; only free blocks
//!   do, because only a free left neighbour is ever merged with.
//! * The **minimum block** is 16 bytes (header, two 32-bit links, footer), rounded up
//!   to the alignment: a 12-byte request costs 16 bytes.
//! * An **epilogue** header (size 0, allocated) at `brk - 4` ends the heap; its
//!   `PREV_ALLOCATED` bit tells whether the last block is free.
//!
//! ## Finding a fit
//!
//! [`classes`] maps a block size to a class: one class per 8 bytes up to
//! 256, then 16 slices per power of two. `malloc(n)` looks for a block of
//! `asize = round_up(n + 4, align)` bytes (`find_fit`):
//!
//! 1. in `asize`'s own class, the best fit among the first `FIT_SCAN` (8) blocks of its
//!    list (a class below 256 bytes holds only blocks of exactly its size, so the head
//!    is a perfect fit);
//! 2. otherwise in the first non-empty larger class, found with two bit scans; any
//!    block there fits, and the first is taken;
//! 3. otherwise the heap grows by what is missing (`extend_heap`): if the last block is
//!    free, by `asize` minus its size, and the two merge, so the break tracks the live
//!    payload.
//!
//! A fit larger than needed is split when the remainder can be a block of its own
//! (`place`).
//!
//! The free block at the end of the heap, the **top**, is kept off the lists and used
//! only when no listed block fits (the "wilderness preservation" rule of dlmalloc): it
//! is the one free block that can grow, so it is saved for the requests nothing else
//! can hold.
//!
//! ## Keeping small and large blocks apart
//!
//! When a split leaves a remainder, the allocated part goes to one end of the free block
//! and the remainder to the other. Requests smaller than the recent (geometric) average
//! request size go to the *high* end, larger ones to the *low* end, so small and large
//! blocks carved from the same free region grow towards each other instead of
//! alternating. Freeing all the large ones then leaves one coalesced hole rather than
//! many small ones that a later, larger request cannot use.
//!
//! For that to work there must be a free region to carve from, so a *small* request
//! that has to grow the heap grows it by a chunk (1/64 of the heap, at least the
//! request) rather than by exactly its size; large requests still grow it exactly. The
//! unused part of the last chunk is the price, at most 1/`SMALL_CHUNK_DIVISOR`
//! (1/64) of the heap. The rule looks at no particular size: the average adapts to the program.
//!
//! ## Freeing
//!
//! `free` merges at once (`coalesce`) with a free right neighbour (its header says so)
//! and a free left neighbour (our `PREV_ALLOCATED` bit says so; its footer gives its
//! size), then pushes the result on its class's list. No two free blocks ever touch.
//!
//! ## realloc
//!
//! In place whenever possible, in this order (`src/realloc.rs`): shrink by splitting off
//! the tail (`shrink_in_place`, only when the block shrinks below half its size: smaller
//! shrinks keep the block whole, since what shrinks a little often grows back); grow
//! into a free right neighbour (`grow_in_place`); grow into a free left neighbour (and
//! right) by sliding the payload down (`grow_into_left`). Then, before growing the
//! heap, move into a listed free block that fits (`move_into_fit`): extending the last
//! block while free memory elsewhere lies unused would raise the break for nothing.
//! Only then grow the last block of the heap by extending the heap by just the missing
//! amount (`grow_at_heap_end`), or else allocate at the end, copy and free
//! (`move_block`).
//!
//! ## Trade-offs
//!
//! * 4-byte headers and links cap a block at 4 GiB and the heap at 32 GiB, in exchange
//!   for half the overhead of word-sized tags on every block.
//! * LIFO lists make `free` O(1); the short best-fit scan buys back most of the
//!   utilization that address-ordered lists would give.
//! * Immediate coalescing keeps the heap compact (good for utilization) at the cost of
//!   some split/merge churn when the same size is freed and allocated again and again.
//!
//! What these choices measure on the bundled traces, against the other strategies and
//! the peers, is in `docs/segregated.md`.
//!
//! ## Invariants
//!
//! What [`Allocator::check_heap`] verifies, in this order. A broken rule that other
//! strategies share is reported as mm-core's [`Invariant`](mm_core::Invariant) variant
//! named here; a rule of segregated fits' own as a [`SegregatedRule`] whose
//! [`number`](mm_core::allocator::Rule::number) is the rule's number below.
//!
//! 1. The blocks tile the heap from the first header to the epilogue: every size is a
//!    multiple of the alignment (`SizeNotAligned`), at least the minimum block
//!    (`TooSmall`) and ends at or before the epilogue (`PastHeapEnd`), and every payload
//!    is aligned (`PayloadMisaligned`).
//! 2. A header holds no flag bits but `ALLOCATED` and `PREV_ALLOCATED`
//!    ([`SegregatedRule::UnknownFlags`]).
//! 3. A header's `PREV_ALLOCATED` bit says whether the block to its left is allocated
//!    ([`SegregatedRule::PrevAllocated`]).
//! 4. A free block's footer repeats its size (`HeaderFooterMismatch`).
//! 5. No two free blocks touch, unless together they would exceed the largest block a
//!    header holds (`Uncoalesced`).
//! 6. The epilogue, a size-0 allocated header at `brk - 4`, ends the heap, and its
//!    `PREV_ALLOCATED` bit says whether the last block is allocated (`BadEpilogue`).
//! 7. A class's bitmap bit is set exactly when its list is non-empty
//!    ([`SegregatedRule::Bitmap`]).
//! 8. Every list link names a block inside the heap, with an aligned payload
//!    ([`SegregatedRule::LinkOutsideHeap`]).
//! 9. Every listed block is free ([`SegregatedRule::AllocatedOnList`]).
//! 10. Every listed block is in the class of its size ([`SegregatedRule::WrongClass`]).
//! 11. A listed block's prev link names the block before it on its list, or none at the
//!     head ([`SegregatedRule::PrevLink`]).
//! 12. The lists hold exactly the heap's free blocks, the top excepted
//!     ([`SegregatedRule::ListedCount`]).
//!
//! `check_heap` before `init` returns `Ok(())`: the heap has nothing in it to check (the
//! workspace's one rule for every strategy).

mod block;
mod check;
pub mod classes;
mod freelist;
mod realloc;
mod spans;
#[cfg(test)]
mod tests;

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};

use crate::block::{Block, HEADER, MAX_BLOCK, MAX_HEAP, MIN_FREE, allocated, in_heap};
pub use crate::block::{Header, HeaderFlags};
pub use crate::check::SegregatedRule;
use crate::classes::{CLASSES, class_of};
use crate::freelist::{FreeLists, check_free_tags};

/// How to build a [`Segregated`] allocator. [`Segregated::new`] also takes a bare
/// [`Align`], which converts into the default configuration with that alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SegregatedConfig {
    /// The alignment of every payload (default 8).
    pub align: Align,
}

impl From<Align> for SegregatedConfig {
    fn from(align: Align) -> Self {
        SegregatedConfig { align }
    }
}

/// How many blocks of a request's own class are examined for the best fit.
const FIT_SCAN: usize = 8;

/// A small request that must grow the heap grows it by at least the heap's size over
/// this: the room small and large blocks then fill from opposite ends. Larger chunks
/// separate the two better; the unused part of the last chunk counts against
/// utilization, so a 1/64 chunk costs at most 1/64 of the heap at the peak.
const SMALL_CHUNK_DIVISOR: usize = 64;

/// The running average of log2 request sizes moves 1/`AVERAGE_STEPS` of the way
/// towards each new request: it follows a change of the program's sizes within a few
/// dozen requests, and one odd request moves it little.
const AVERAGE_STEPS: usize = 8;

/// Fraction bits of [`log2_fixed`]: log2 in 1/256ths.
const LOG2_FRACTION_BITS: u32 = 8;

/// A shrinking `realloc` splits off the tail only when the new size is below the
/// block's size over this (below half): what shrinks a little often grows back.
const SHRINK_SPLIT_DIVISOR: usize = 2;

/// The segregated-fits allocator. Build it with [`Segregated::new`], then call
/// [`Allocator::init`].
#[derive(Debug)]
pub struct Segregated {
    heap: MemLib,
    config: SegregatedConfig,
    /// The smallest block: [`MIN_FREE`] rounded up to the alignment.
    min_block: usize,
    /// The free lists; they hold exactly the free blocks of the heap.
    lists: FreeLists,
    /// A running average of log2 of request block sizes (in 1/256ths), which decides
    /// which end of a split free block a request takes and whether growing the heap
    /// for it takes a chunk.
    average_log_request: usize,
    /// Set by a successful `init`; until then every request fails.
    ready: bool,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl Segregated {
    /// An allocator that will live in `heap`, configured by a [`SegregatedConfig`] or an
    /// [`Align`]. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: impl Into<SegregatedConfig>) -> Segregated {
        let config = config.into();
        let min_block = config.align.round_up(MIN_FREE).expect("alignments are at most a page");
        Segregated {
            heap,
            config,
            min_block,
            lists: FreeLists::new(),
            average_log_request: 0,
            ready: false,
            misuse: None,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> SegregatedConfig {
        self.config
    }

    /// The block size that holds `size` payload bytes; `None` when it is too large.
    fn adjusted(&self, size: usize) -> Option<usize> {
        let asize = self.config.align.round_up(size.checked_add(HEADER)?)?.max(self.min_block);
        (asize <= MAX_BLOCK).then_some(asize)
    }

    fn epilogue(&self) -> Block {
        Block::at(self.heap.heap_size() - HEADER)
    }

    fn payload_ptr(&self, block: Block) -> NonNull<u8> {
        self.heap.ptr_at(block.payload())
    }

    /// The block behind a payload pointer, when the pointer is a payload position
    /// inside the heap (`mm_core::payload_offset`; the first payload is at offset
    /// `align`, after the first header).
    fn block_of(&self, ptr: NonNull<u8>) -> Result<Block, Misuse> {
        let first_payload = self.config.align.get();
        mm_core::payload_offset(&self.heap, self.config.align, first_payload, ptr).map(Block::from_payload)
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, with its size,
    /// after the checks that cost next to nothing: the pointer is a payload position
    /// inside the heap, the header says allocated (else it is a double free, or a
    /// pointer we never returned), and the size keeps the block inside the heap. A
    /// refused pointer is kept for [`Allocator::take_misuse`] and nothing is touched.
    ///
    /// # Panics
    /// When the header of an allocated block gives a size no block can have: it was
    /// overwritten, and freeing on its word would corrupt whatever lies behind it.
    #[inline]
    fn live_block(&mut self, ptr: NonNull<u8>) -> Option<(Block, usize)> {
        let block = match self.block_of(ptr) {
            Ok(block) => block,
            Err(misuse) => {
                self.misuse = Some(misuse);
                return None;
            }
        };
        let header = block.header(&self.heap);
        if !header.is_allocated() {
            self.misuse = Some(Misuse::DoubleFree { offset: block.payload() });
            return None;
        }
        let size = header.size();
        if !self.is_block_size(block, size) {
            Corruption::new("invalid block size", block.offset()).panic();
        }
        Some((block, size))
    }

    /// True when `size` is a size the block at `block` can have: at least the minimum,
    /// a multiple of the alignment, and ending at or before the epilogue.
    fn is_block_size(&self, block: Block, size: usize) -> bool {
        size >= self.min_block
            && self.config.align.is_aligned(size)
            && size <= self.epilogue().offset().saturating_sub(block.offset())
    }

    // ---- malloc: find_fit, place, or extend_heap ------------------------------------

    /// A free block of at least `asize` bytes, taken off its list, with its size.
    #[inline]
    fn find_fit(&mut self, asize: usize) -> Option<(Block, usize)> {
        let class = class_of(asize);
        let mut best: Option<(Block, usize)> = None;
        let mut candidate = self.lists.head(class);
        for _ in 0..FIT_SCAN {
            let Some(block) = candidate else { break };
            if !in_heap(&self.heap, block) {
                Corruption::new("corrupted double-linked list", block.offset()).panic();
            }
            let size = block.header(&self.heap).size();
            if size >= asize && best.is_none_or(|(_, best_size)| size < best_size) {
                best = Some((block, size));
                if size == asize {
                    break;
                }
            }
            candidate = block.next_link(&self.heap);
        }
        if best.is_none() {
            let larger = self.lists.bitmap.first_at_or_above(class + 1)?;
            let block = self.lists.head(larger).expect("the bitmap marks only non-empty classes");
            best = Some((block, block.header(&self.heap).size()));
        }
        let (block, size) = best?;
        self.lists.remove(&mut self.heap, block, size);
        Some((block, size))
    }

    /// Allocates `asize` bytes out of the free block `block` of `size` bytes (already off
    /// its list), splitting off a remainder that can stand alone. Returns the allocated
    /// block. `log` is [`log2_fixed`]`(asize)`, which decides the end of the split the
    /// request takes.
    #[inline]
    fn place(&mut self, block: Block, size: usize, asize: usize, log: usize) -> Block {
        let remainder = size - asize;
        if remainder < self.min_block {
            let header = block.header(&self.heap);
            block.set_header(&mut self.heap, Header::new(size, allocated(header.prev_allocated())));
            block.tell_next(&mut self.heap, size, true);
            return block;
        }
        if self.is_small_log(log) {
            // Small: take the high end, leave the remainder low.
            let prev_allocated = block.header(&self.heap).prev_allocated();
            block.set_free(&mut self.heap, remainder, prev_allocated);
            self.lists.push(&mut self.heap, block, remainder);
            let high = block.plus(remainder);
            high.set_header(&mut self.heap, Header::new(asize, allocated(false)));
            high.tell_next(&mut self.heap, asize, true);
            high
        } else {
            let header = block.header(&self.heap);
            block.set_header(&mut self.heap, Header::new(asize, allocated(header.prev_allocated())));
            let rest = block.plus(asize);
            rest.set_free(&mut self.heap, remainder, true);
            self.put_free(rest, remainder);
            block
        }
    }

    /// No free block holds `asize` bytes: grows the heap for it, by a chunk when the
    /// request is small (see [`Segregated::growth_for`]) and by what it needs when the
    /// heap cannot give the chunk. Returns the free region that now ends the heap, off
    /// the lists, with its size.
    #[cold]
    #[inline(never)]
    fn extend_heap(&mut self, asize: usize) -> Option<(Block, usize)> {
        // A chunk is a preference: when the heap cannot give it, take what is needed.
        self.extend_heap_by(self.growth_for(asize)).or_else(|| self.extend_heap_by(asize))
    }

    /// Grows the heap so that a free region of at least `want` bytes ends it, merging
    /// with a free last block; returns that region, off the free lists, with its size.
    fn extend_heap_by(&mut self, want: usize) -> Option<(Block, usize)> {
        let epilogue = self.epilogue();
        let (start, have) = if epilogue.header(&self.heap).prev_allocated() {
            (epilogue, 0)
        } else {
            epilogue.prev_free(&self.heap).unwrap_or_else(|c| c.panic())
        };
        // The region's left neighbour is the old last block (allocated, when the last
        // block was not free) or the free last block's left neighbour, whose state that
        // block's header tells.
        let prev_allocated = start.header(&self.heap).prev_allocated();
        let missing = want.saturating_sub(have);
        if self.heap.heap_size().checked_add(missing)? > MAX_HEAP {
            return None;
        }
        self.heap.extend(missing).ok()?;
        let size = have + missing;
        // `place` finishes the headers; the new epilogue's PREV_ALLOCATED bit too.
        let flags = if prev_allocated { HeaderFlags::PREV_ALLOCATED } else { HeaderFlags::empty() };
        start.set_header(&mut self.heap, Header::new(size, flags));
        self.write_epilogue(false);
        Some((start, size))
    }

    /// How much to grow the heap by for a request of `asize` bytes that nothing free
    /// can hold. Requests larger than the recent average get exactly what they need;
    /// smaller ones get a chunk of the heap's size / [`SMALL_CHUNK_DIVISOR`], so that
    /// the small blocks that follow are carved from its high end while the large ones
    /// grow up from its low end (see "Keeping small and large blocks apart").
    fn growth_for(&self, asize: usize) -> usize {
        if !self.is_small(asize) {
            return asize;
        }
        let chunk = self.config.align.round_up(self.heap.heap_size() / SMALL_CHUNK_DIVISOR).unwrap_or(asize);
        chunk.max(asize)
    }

    /// True when the free block `block` of `size` bytes is the *top*: the free block
    /// at the end of the heap, which is kept off the lists.
    fn is_top(&self, block: Block, size: usize) -> bool {
        block.plus(size) == self.epilogue()
    }

    /// Lists the free block `block` of `size` bytes, unless it is the top.
    fn put_free(&mut self, block: Block, size: usize) {
        if !self.is_top(block, size) {
            self.lists.push(&mut self.heap, block, size);
        }
    }

    /// Unlists the free block `block` of `size` bytes, unless it is the top (whose
    /// header and footer are still checked: it is about to be merged on their word).
    fn take_free(&mut self, block: Block, size: usize) {
        if self.is_top(block, size) {
            check_free_tags(&self.heap, block, size).unwrap_or_else(|c| c.panic());
        } else {
            self.lists.remove(&mut self.heap, block, size);
        }
    }

    fn write_epilogue(&mut self, prev_allocated: bool) {
        let flags = if prev_allocated { allocated(true) } else { allocated(false) };
        let epilogue = self.epilogue();
        epilogue.set_header(&mut self.heap, Header::new(0, flags));
    }

    // ---- free: coalesce -------------------------------------------------------------

    /// Frees `block` of `size` bytes, merging it with free neighbours, as long as the
    /// merged block stays within [`MAX_BLOCK`] (past it, the pieces stay separate free
    /// blocks: only blocks of gigabytes ever meet that limit), and lists the result
    /// unless it is the top.
    #[inline]
    fn coalesce(&mut self, block: Block, size: usize) {
        let header = block.header(&self.heap);
        let (mut start, mut total) = (block, size);
        let mut prev_allocated = header.prev_allocated();
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        if !next_header.prev_allocated() {
            // The header we just read tells whether `block` is in use, and it is.
            Corruption::new("next block does not know its neighbour is in use", next.offset()).panic();
        }
        if !next_header.is_allocated() && next_header.size() <= MAX_BLOCK - total {
            self.take_free(next, next_header.size());
            total += next_header.size();
        }
        if !prev_allocated {
            let (prev, prev_size) = block.prev_free(&self.heap).unwrap_or_else(|c| c.panic());
            if prev_size <= MAX_BLOCK - total {
                self.lists.remove(&mut self.heap, prev, prev_size);
                prev_allocated = prev.header(&self.heap).prev_allocated();
                start = prev;
                total += prev_size;
                // The freed block's own header is now inside the merged block: mark it
                // free, so that a second `free` of the same pointer is seen as one.
                block.set_header(&mut self.heap, Header::new(size, HeaderFlags::empty()));
            }
        }
        start.set_free(&mut self.heap, total, prev_allocated);
        start.tell_next(&mut self.heap, total, false);
        self.put_free(start, total);
    }

    // ---- the running average of request sizes ---------------------------------------

    /// Learns from a request of `asize` bytes: the running average of log2(size) moves
    /// 1/[`AVERAGE_STEPS`] of the way towards it. A geometric average, so that a few
    /// huge requests do not make every ordinary one look small.
    fn observe(&mut self, asize: usize) {
        self.observe_log(log2_fixed(asize));
    }

    /// [`Segregated::observe`] for a request whose [`log2_fixed`] is `log`.
    fn observe_log(&mut self, log: usize) {
        self.average_log_request = if self.average_log_request == 0 {
            log // the first request starts the average
        } else {
            self.average_log_request - self.average_log_request / AVERAGE_STEPS + log / AVERAGE_STEPS
        };
    }

    /// True for a request below the running average: it takes the high end of a split.
    fn is_small(&self, asize: usize) -> bool {
        self.is_small_log(log2_fixed(asize))
    }

    /// [`Segregated::is_small`] for a request whose [`log2_fixed`] is `log`: malloc
    /// computes the log once for the split and the average.
    fn is_small_log(&self, log: usize) -> bool {
        log < self.average_log_request
    }
}

/// log2(n) in fixed point, in 1/256ths ([`LOG2_FRACTION_BITS`]): the fraction is the 8
/// bits after the leading one, a piecewise-linear log, which is all an average of sizes
/// needs.
fn log2_fixed(n: usize) -> usize {
    const FRACTION_MASK: usize = (1 << LOG2_FRACTION_BITS) - 1;
    let n = n.max(1);
    let int = usize::BITS - 1 - n.leading_zeros();
    let frac = if int >= LOG2_FRACTION_BITS {
        (n >> (int - LOG2_FRACTION_BITS)) & FRACTION_MASK
    } else {
        (n << (LOG2_FRACTION_BITS - int)) & FRACTION_MASK
    };
    ((int as usize) << LOG2_FRACTION_BITS) + frac
}

impl Allocator for Segregated {
    fn describe(&self) -> String {
        format!(
            "segregated fits: {CLASSES} size classes with a bitmap, best of {FIT_SCAN} in class, \
             {HEADER}-byte headers, no footers when allocated"
        )
    }

    fn heap(&self) -> &MemLib {
        &self.heap
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        &mut self.heap
    }

    fn alignment(&self) -> Align {
        self.config.align
    }

    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.lists.clear();
        self.average_log_request = 0;
        // Rebuild on an empty heap even if the caller did not reset the break.
        self.heap.reset_brk();
        // The first header sits just below the first aligned payload offset.
        self.heap.extend(self.config.align.get())?;
        self.write_epilogue(true);
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let asize = self.adjusted(size)?;
        let (block, found) = match self.find_fit(asize) {
            Some(fit) => fit,
            None => self.extend_heap(asize)?,
        };
        let log = log2_fixed(asize);
        let block = self.place(block, found, asize, log);
        self.observe_log(log);
        Some(self.payload_ptr(block))
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, size)) = self.live_block(ptr) {
            self.coalesce(block, size);
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // Checked, and saturating: a hardened caller may ask about a block whose header
        // was smashed, and `malloc_usable_size` about any pointer into the heap.
        self.block_of(ptr).map_or(0, |block| block.header(&self.heap).size().saturating_sub(HEADER))
    }

    /// The paths of `src/realloc.rs`, in the order of the crate docs.
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded with the caller's guarantee that `ptr` is live.
        unsafe { self.resize_block(ptr, size) }
    }

    /// `Ok(())` before `init` (see the crate docs' list of invariants).
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Ok(());
        }
        check::check(self)
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// `free`'s checks without freeing: a payload position of the heap, an allocated
    /// header, a possible size (one that is not goes to `free`, which stops on it).
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        self.check_free_sized(ptr).map(|_| ())
    }

    /// The checks of `check_free` read the header, which holds the size too.
    fn check_free_sized(&self, ptr: NonNull<u8>) -> Result<Option<usize>, Misuse> {
        let block = self.block_of(ptr)?;
        let header = block.header(&self.heap);
        if !header.is_allocated() {
            return Err(Misuse::DoubleFree { offset: block.payload() });
        }
        if !self.is_block_size(block, header.size()) {
            return Err(Misuse::InvalidPointer { offset: block.payload() });
        }
        Ok(Some(header.size() - HEADER))
    }

    /// The block's header and size; its right neighbour's header (and, when it is
    /// free, its footer and links); its left neighbour when our header says it is
    /// free (found through the footer, which must agree with its header and links).
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        match self.block_of(ptr) {
            Ok(block) => check::neighbourhood(self, block),
            Err(misuse) => Err(Corruption::new("invalid pointer", misuse.offset())),
        }
    }

    /// Padding, headers, payloads, free blocks (the top among them) and the epilogue
    /// (see `src/spans.rs`); `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        self.spans()
    }
}
