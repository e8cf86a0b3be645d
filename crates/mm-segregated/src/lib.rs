//! # mm-segregated: segregated fits
//!
//! The strategy we race against the best allocators there are. Free blocks sit on one
//! of 416 lists by size class, a bitmap says which lists are non-empty, and every
//! block pays only a 4-byte header while allocated.
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
//!   (see [`block`](crate::block)). Allocated blocks have **no footer**; only free blocks
//!   do, because only a free left neighbour is ever merged with.
//! * The **minimum block** is 16 bytes (header, two 32-bit links, footer), rounded up
//!   to the alignment: a 12-byte request costs 16 bytes.
//! * An **epilogue** header (size 0, allocated) at `brk - 4` ends the heap; its
//!   `PREV_ALLOCATED` bit tells whether the last block is free.
//!
//! ## Finding a fit
//!
//! [`classes`](crate::classes) maps a block size to a class: one class per 8 bytes up to
//! 256, then 16 slices per power of two. `malloc(n)` looks for a block of
//! `asize = round_up(n + 4, align)` bytes:
//!
//! 1. in `asize`'s own class, the best fit among the first few blocks of its list (a
//!    class below 256 bytes holds only blocks of exactly its size, so the head is a
//!    perfect fit);
//! 2. otherwise in the first non-empty larger class, found with two bit scans; any
//!    block there fits, and the first is taken;
//! 3. otherwise the heap grows by what is missing: if the last block is free, by
//!    `asize` minus its size, and the two merge, so the break tracks the live payload.
//!
//! A fit larger than needed is split when the remainder can be a block of its own.
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
//! unused part of the last chunk is the price, at most about 1.6% of the heap. The rule
//! looks at no particular size: the average adapts to the program.
//!
//! ## Freeing
//!
//! `free` merges at once with a free right neighbour (its header says so) and a free
//! left neighbour (our `PREV_ALLOCATED` bit says so; its footer gives its size), then
//! pushes the result on its class's list. No two free blocks ever touch.
//!
//! ## realloc
//!
//! In place whenever possible, in this order: shrink by splitting off the tail (only
//! when the block shrinks below half its size: smaller shrinks keep the block whole,
//! since what shrinks a little often grows back); grow
//! into a free right neighbour; grow into a free left neighbour (and right) by sliding
//! the payload down. Then, before growing the heap, move into a listed free block that
//! fits: extending the last block while free memory elsewhere lies unused would raise
//! the break for nothing. Only then grow the last block of the heap by extending the
//! heap by just the missing amount, or else allocate at the end, copy and free.
//!
//! ## Trade-offs
//!
//! * 4-byte headers and links cap a block at 4 GiB and the heap at 32 GiB, in exchange
//!   for half the overhead of word-sized tags on every block.
//! * LIFO lists make `free` O(1); the short best-fit scan buys back most of the
//!   utilization that address-ordered lists would give.
//! * Immediate coalescing keeps the heap compact (good for utilization) at the cost of
//!   some split/merge churn when the same size is freed and allocated again and again.

mod block;
mod check;
pub mod classes;
mod freelist;
mod spans;
#[cfg(test)]
mod tests;

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};

use crate::block::{Block, HEADER, MAX_BLOCK, MAX_HEAP, MIN_FREE, allocated, in_heap};
pub use crate::block::{Header, HeaderFlags};
use crate::classes::class_of;
use crate::freelist::{FreeLists, check_free_tags};

/// How to build a [`Segregated`] allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SegregatedConfig {
    /// The alignment of every payload (default 8).
    pub align: Align,
}

/// How many blocks of a request's own class are examined for the best fit.
const FIT_SCAN: usize = 8;

/// A small request that must grow the heap grows it by at least the heap's size over
/// this: the room small and large blocks then fill from opposite ends. Larger chunks
/// separate the two better; the unused part of the last chunk counts against
/// utilization, so a 1/64 chunk costs at most about 1.6% at the peak.
const SMALL_CHUNK_DIVISOR: usize = 64;

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
    /// An allocator that will live in `heap`. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: SegregatedConfig) -> Segregated {
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
    /// block.
    #[inline]
    fn place(&mut self, block: Block, size: usize, asize: usize) -> Block {
        let remainder = size - asize;
        if remainder < self.min_block {
            let header = block.header(&self.heap);
            block.set_header(&mut self.heap, Header::new(size, allocated(header.prev_allocated())));
            block.tell_next(&mut self.heap, size, true);
            return block;
        }
        if self.is_small(asize) {
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

    /// Grows the heap so that a free region of at least `want` bytes ends it, merging
    /// with a free last block; returns that region, off the free lists, with its size.
    fn grow(&mut self, want: usize) -> Option<(Block, usize)> {
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

    /// Frees `block` of `size` bytes, merging it with free neighbours, as long as the
    /// merged block stays within [`MAX_BLOCK`]: past it, the pieces stay separate free
    /// blocks (only blocks of gigabytes ever meet that limit).
    #[inline]
    fn release(&mut self, block: Block, size: usize) {
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

    /// Learns from a request of `asize` bytes: the running average of log2(size) moves
    /// 1/8 of the way towards it. A geometric average, so that a few huge requests do
    /// not make every ordinary one look small.
    fn observe(&mut self, asize: usize) {
        let log = log2_fixed(asize);
        self.average_log_request = if self.average_log_request == 0 {
            log // the first request starts the average
        } else {
            self.average_log_request - self.average_log_request / 8 + log / 8
        };
    }

    /// True for a request below the running average: it takes the high end of a split.
    fn is_small(&self, asize: usize) -> bool {
        log2_fixed(asize) < self.average_log_request
    }

    /// Shrinks the allocated `block` of `size` bytes to `asize`, freeing the tail if it
    /// can stand alone.
    fn shrink(&mut self, block: Block, size: usize, asize: usize) {
        if size - asize < self.min_block {
            return;
        }
        let header = block.header(&self.heap);
        block.set_header(&mut self.heap, Header::new(asize, allocated(header.prev_allocated())));
        let tail = block.plus(asize);
        tail.set_header(&mut self.heap, Header::new(size - asize, allocated(true)));
        self.release(tail, size - asize);
    }

    /// Tries to resize the allocated `block` of `size` bytes to `asize` without moving
    /// its payload and without growing the heap; true on success.
    fn resize_in_place(&mut self, block: Block, size: usize, asize: usize) -> bool {
        if asize <= size {
            // A block that keeps at least half its size stays whole: what shrinks a
            // little often grows back, and a freed tail would be nibbled by the next
            // small requests, forcing that regrowth to move the block.
            if asize < size / 2 {
                self.shrink(block, size, asize);
            }
            return true;
        }
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        if next_header.is_allocated()
            || size + next_header.size() < asize
            || size + next_header.size() > MAX_BLOCK
        {
            return false;
        }
        let grown = size + next_header.size();
        self.take_free(next, next_header.size());
        let header = block.header(&self.heap);
        block.set_header(&mut self.heap, Header::new(grown, allocated(header.prev_allocated())));
        block.tell_next(&mut self.heap, grown, true);
        self.shrink(block, grown, asize);
        true
    }

    /// Tries to grow the last block of the heap (`block`, of `size` bytes, possibly
    /// followed by a free last block) to `asize` by extending the heap by only the
    /// missing amount; true on success.
    fn resize_at_heap_end(&mut self, block: Block, size: usize, asize: usize) -> bool {
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        let next_free = if next_header.is_allocated() { 0 } else { next_header.size() };
        if next.plus(next_free) != self.epilogue() || size + next_free >= asize {
            return false;
        }
        if next_free > 0 {
            check_free_tags(&self.heap, next, next_free).unwrap_or_else(|c| c.panic());
        }
        let missing = asize - size - next_free;
        if self.heap.heap_size().checked_add(missing).is_none_or(|end| end > MAX_HEAP)
            || self.heap.extend(missing).is_err()
        {
            return false;
        }
        let header = block.header(&self.heap);
        block.set_header(&mut self.heap, Header::new(asize, allocated(header.prev_allocated())));
        self.write_epilogue(true);
        true
    }

    /// Tries to grow the allocated `block` of `size` bytes to `asize` by merging with a
    /// free left neighbour (and a free right one), sliding the payload down. Returns the
    /// new block.
    fn resize_into_left(&mut self, block: Block, size: usize, asize: usize) -> Option<Block> {
        let header = block.header(&self.heap);
        if header.prev_allocated() {
            return None;
        }
        let (prev, prev_size) = block.prev_free(&self.heap).unwrap_or_else(|c| c.panic());
        let next = block.plus(size);
        let next_header = next.header(&self.heap);
        let next_free = if next_header.is_allocated() { 0 } else { next_header.size() };
        let total = prev_size + size + next_free;
        if total < asize || total > MAX_BLOCK {
            return None;
        }
        self.lists.remove(&mut self.heap, prev, prev_size);
        if next_free > 0 {
            self.take_free(next, next_free);
        }
        let prev_allocated = prev.header(&self.heap).prev_allocated();
        // The old header ends up inside the moved block: mark it free first, so that a
        // later `free` of the old pointer is seen as the double free it is (unless the
        // payload slid over it).
        block.set_header(&mut self.heap, Header::new(size, HeaderFlags::empty()));
        self.heap.copy_within(block.payload(), prev.payload(), size - HEADER);
        prev.set_header(&mut self.heap, Header::new(total, allocated(prev_allocated)));
        prev.tell_next(&mut self.heap, total, true);
        self.shrink(prev, total, asize);
        Some(prev)
    }
}

/// log2(n) in fixed point, in 1/256ths (the fraction is the 8 bits after the leading
/// one: a piecewise-linear log, which is all an average of sizes needs).
fn log2_fixed(n: usize) -> usize {
    let n = n.max(1);
    let int = (usize::BITS - 1 - n.leading_zeros()) as usize;
    let frac = if int >= 8 { (n >> (int - 8)) & 0xff } else { (n << (8 - int)) & 0xff };
    int * 256 + frac
}

impl Allocator for Segregated {
    fn describe(&self) -> String {
        "segregated fits: 416 size classes with a bitmap, best of 8 in class, 4-byte headers, no footers when allocated"
            .to_owned()
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
            // A chunk is a preference: when the heap cannot give it, take what is needed.
            None => self.grow(self.growth_for(asize)).or_else(|| self.grow(asize))?,
        };
        let block = self.place(block, found, asize);
        self.observe(asize);
        Some(self.payload_ptr(block))
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, size)) = self.live_block(ptr) {
            self.release(block, size);
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // Checked, and saturating: a hardened caller may ask about a block whose header
        // was smashed, and `malloc_usable_size` about any pointer into the heap.
        self.block_of(ptr).map_or(0, |block| block.header(&self.heap).size().saturating_sub(HEADER))
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, current) = self.live_block(ptr)?;
        let asize = self.adjusted(size)?;
        self.observe(asize);
        if self.resize_in_place(block, current, asize) {
            return Some(ptr);
        }
        if let Some(moved) = self.resize_into_left(block, current, asize) {
            return Some(self.payload_ptr(moved));
        }
        // Growing the last block with the heap would leave free memory elsewhere
        // unused: move into a free block that fits, if there is one.
        if let Some((fit, fit_size)) = self.find_fit(asize) {
            let new = self.place(fit, fit_size, asize);
            self.heap.copy_within(block.payload(), new.payload(), current - HEADER);
            self.release(block, current);
            return Some(self.payload_ptr(new));
        }
        if self.resize_at_heap_end(block, current, asize) {
            return Some(ptr);
        }
        // SAFETY: the caller guarantees `ptr` is live; nothing above changed it.
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Ok(());
        }
        check::check(self)
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
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
