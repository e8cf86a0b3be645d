//! # mm-explicit: an explicit free list
//!
//! The implicit list's heap layout plus a free list. Blocks are exactly the implicit
//! list's: both are built on the boundary-tag layer [`mm_tags`] (its [`Block`], [`Tag`]
//! and guards), a one-word header and footer, immediate coalescing, a prologue and an
//! epilogue. What
//! is new is a doubly linked list threaded through the payloads of the free blocks, so
//! `malloc` walks only the free blocks instead of every block, and `free` links a block
//! in without a walk.
//!
//! ## Heap layout and the list
//!
//! ```text
//!  heap_lo                                                                      brk
//!  | pad | prologue |  allocated block         |  free block                 | ... | epilogue |
//!  |     | hdr| ftr | hdr | payload ...| ftr   | hdr | next| prev| ... | ftr  |     |   hdr    |
//!  |     | 16/a     | 48/a|            | 48/a  | 96/f| u32 | u32 |     | 96/f |     |   0/a    |
//!
//!  the list, through the free blocks (LIFO order):
//!
//!  head --> [freed last] <--> [freed before] <--> ... <--> [the wilderness] <-- tail
//! ```
//!
//! * A link is the heap offset of a block's header, as a `u32` (`src/list.rs`). Two
//!   four-byte links fit where the implicit list would leave an 8-byte payload, so the
//!   smallest block stays at 24 bytes (at alignment 8): a 1-byte request costs exactly
//!   what it costs on the implicit list. Eight-byte links would make it 32 bytes, a
//!   third more for every request of 8 bytes or less, which are a quarter to over half
//!   of the requests in the `tiny` workload. The price is a 4 GiB cap on the heap
//!   ([`MAX_HEAP`]), far above the simulated heap's 20 MiB.
//! * The *wilderness* is the free block that ends the heap, when there is one.
//!
//! ## Policies and trade-offs
//!
//! * **First fit over the free blocks only.** The cost of a search is the number of
//!   free blocks passed, not of all blocks: 13 to 95 times faster than the implicit
//!   list on the traces with thousands of live blocks. A search that fails has seen
//!   every block, so it remembers the largest (`fit_bound`): a later request above it
//!   skips the walk and goes straight to the heap. That changes no decision, only
//!   the time a miss takes.
//! * **Where a free block goes in the list** ([`FreeListOrder`], and the three rules of
//!   `spot_for`, in order):
//!   1. the wilderness goes to the back, where first fit reaches it last (*wilderness
//!      preservation*): the end of the heap is the one place that can grow for free,
//!      so it is kept whole for requests nothing else fits;
//!   2. a block that replaces listed blocks takes their place: a block merged with a
//!      free neighbour takes the neighbour's place, a split remainder the place of the
//!      block it was cut from;
//!   3. any other freed block goes to its place in address order
//!      ([`FreeListOrder::AddressOrdered`]) or, under LIFO (the default), to the front
//!      if it is ordinary and to the back (before the wilderness) if it is *large*:
//!      more than twice the running average request.
//!
//!   Rules 1 and 2 are what an address-ordered list does anyway. In a LIFO list they
//!   are the mechanism that keeps its utilization near the implicit list's: with every
//!   freed block at the front (textbook LIFO), first fit keeps cutting small requests
//!   out of the most recently freed block, however large, and the big holes that
//!   later large requests need are gone. On the bundled suite that lost up to 0.43 of
//!   utilization against the implicit list (`realloc-1` 0.11 against 0.55, `churn-3`
//!   0.72 against 0.91, `program-4` 0.83 against 0.98). Rule 1 matters most where
//!   small requests would eat the end of the heap (`program`, `realloc-shrink`), rule
//!   2 where a large merged region would be offered first to every small request
//!   (`churn`, `random`, `realloc`). Together they cut the average loss over 81 fresh
//!   traces from 0.155 to 0.031, and both are O(1).
//! * **Address order** costs a search when a freed block touches no free block. Three
//!   walks run in lockstep and the first to settle it wins: down the heap to the
//!   nearest free block, up the heap to the nearest free block, and along the list
//!   from the head. So `free` costs the shortest of the three distances, usually a few
//!   steps, and the address-ordered list is nearly as fast as the LIFO one. Its first
//!   fit picks the same block as the implicit list's.
//! * **Split** a fit when the rest can be a block (the allocated part at the front):
//!   the rest takes over the block's place in the list (rule 2), so splitting costs no
//!   search in either order. Otherwise hand out the whole block.
//! * **Coalesce** immediately, with the four boundary-tag cases; a swallowed neighbour
//!   is unlinked in O(1) thanks to its prev link.
//! * **Grow** the heap only by what is missing: with no fit, the wilderness (if any)
//!   is topped up by the shortfall, else the heap grows by the request.
//! * **Resize in place** where the neighbourhood allows, taking as little new heap as
//!   possible: shrink by freeing the tail (merged with a free right neighbour); grow
//!   into a free right neighbour (the rest stays listed in its place); if that is not
//!   enough, also into a free left neighbour, sliding the payload down
//!   ([`MemLib::copy_within`]); if the block then ends the heap, extend the heap by
//!   the shortfall. Only otherwise allocate, copy and free. Sliding down costs a copy,
//!   as a move does, but reuses the neighbourhood instead of leaving a hole: over 40
//!   seeds each of the `realloc` and `realloc-shrink` workloads it halves the LIFO
//!   list's average utilization loss against the implicit list.
//!
//!   Rule 3's split of LIFO is for the remaining case: a *large* block freed into the
//!   middle of the heap. At the front, first fit would cut every small request out of
//!   it (long-lived small blocks land in the big hole, and the big requests that follow
//!   must grow the heap); at the back, small requests find the small blocks first and
//!   the large block waits, whole, for a request that needs it. The average request
//!   adapts to the program, so no size is built in. It took `churn-3` from 0.798 to
//!   0.860 (implicit: 0.907) and the bundled average from 0.738 to 0.752. A large
//!   request looks among those large blocks first, from the back, so it does not walk
//!   past every ordinary block to reach them.
//!
//! What remains: the `realloc` workloads, where the larger minimum block (24 bytes, for
//! the links) costs what the implicit list does not pay; `docs/explicit.md` has the
//! measurements.
//!
//! ## Misuse
//!
//! Every build checks each pointer given to `free` and `realloc`, and the tags of the
//! block and of a free neighbour before a merge, exactly as the implicit list does
//! ([`mm_tags::guard`]): a pointer that is no payload of the heap or whose header
//! says free is refused, changing nothing, and kept for [`Allocator::take_misuse`] (a
//! freed header says free also once the block merged into its left neighbour, or slid
//! down in `realloc`); tags that cannot be right stop the call with a [`Corruption`]
//! panic naming the broken rule. The list adds its own checks (`src/list.rs`): safe
//! unlinking (the block's tags say free and its list neighbours name it back), safe
//! linking, links followed only into the heap, walks no longer than the list. A program
//! that writes into a block it freed overwrites links, and the first operation that
//! would follow them stops with "corrupted double-linked list" before writing through
//! them. Every access is bounds-checked besides, so no bytes a program writes make the
//! allocator touch memory outside its heap.
//!
//! The hardened mode ([`mm_core::hardened`]) knows every live block, so it also catches
//! the double free of a block handed out again, and before each `free` and `realloc` it
//! asks [`Allocator::check_neighbourhood`]: the block's tags, both neighbours' tags, and
//! the links of a free neighbour. An overflow of up to 16 bytes is reported at the
//! latest when the block or its neighbour is freed.

mod check;
mod list;

use std::fmt;
use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};
use mm_tags::{Block, OVERHEAD, Tag, TaggedLayout, WORD};

pub use crate::list::MAX_HEAP;
use crate::list::{LINK, Spot};

/// Where a newly freed block goes in the free list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FreeListOrder {
    /// At the front: `free` is O(1), and first fit tries the most recently freed
    /// blocks first.
    #[default]
    Lifo,
    /// In address order: `free` may search for the place (the shortest of a walk down
    /// the heap, up the heap and along the list), and first fit takes the
    /// lowest-addressed block that fits, as on the implicit list.
    AddressOrdered,
}

impl FreeListOrder {
    /// Both orders, for tables and tests.
    pub const ALL: [FreeListOrder; 2] = [FreeListOrder::Lifo, FreeListOrder::AddressOrdered];

    /// The order's name: "LIFO" or "address-ordered".
    pub const fn name(self) -> &'static str {
        match self {
            FreeListOrder::Lifo => "LIFO",
            FreeListOrder::AddressOrdered => "address-ordered",
        }
    }
}

impl fmt::Display for FreeListOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to build an [`Explicit`] allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExplicitConfig {
    /// The alignment of every payload (default 8).
    pub align: Align,
    /// Where freed blocks go in the list (default LIFO).
    pub order: FreeListOrder,
}

impl ExplicitConfig {
    /// A configuration with the given alignment and list order.
    pub const fn new(align: Align, order: FreeListOrder) -> Self {
        ExplicitConfig { align, order }
    }
}

/// The explicit-free-list allocator. Build it with [`Explicit::new`], then call
/// [`Allocator::init`] before anything else.
#[derive(Debug)]
pub struct Explicit {
    /// The simulated heap. Once `ready`: padding, prologue, blocks, epilogue, laid out
    /// as on the implicit list, and never more than [`MAX_HEAP`] bytes.
    heap: MemLib,
    /// Fixed at construction.
    config: ExplicitConfig,
    /// Derived from `config.align`; fixed at construction.
    layout: TaggedLayout,
    /// The first block of the free list, `None` when no block is free. The list holds
    /// every free block exactly once and nothing else, its links are mutually
    /// consistent, and under [`FreeListOrder::AddressOrdered`] it is sorted by address.
    head: Option<Block>,
    /// The last block of the free list, `None` when no block is free. When the last
    /// block of the heap (the wilderness) is free, it is this one.
    tail: Option<Block>,
    /// No listed block is larger than this: first fit skips its walk for anything
    /// bigger. An upper bound, not always the maximum (it never drops when a block
    /// shrinks or leaves the list, only when a failed walk has seen them all).
    fit_bound: usize,
    /// Set by a successful `init`; until then every request fails.
    ready: bool,
    /// A running average of request block sizes (bytes), which decides whether a freed
    /// block counts as large under LIFO (see [`Explicit::spot_for`]).
    average_request: usize,
    /// How many blocks the list holds: no walk along it takes more steps, so links a
    /// program overwrote into a cycle stop the walk instead of hanging it.
    free_blocks: usize,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl Explicit {
    /// An allocator that will live in `heap`. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: ExplicitConfig) -> Explicit {
        Explicit {
            heap,
            config,
            layout: TaggedLayout::new(config.align, OVERHEAD + 2 * LINK),
            head: None,
            tail: None,
            fit_bound: 0,
            ready: false,
            average_request: 0,
            free_blocks: 0,
            misuse: None,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> ExplicitConfig {
        self.config
    }

    /// Learns from a request of `asize` bytes: the running average moves 1/8 of the way
    /// towards it.
    fn observe(&mut self, asize: usize) {
        self.average_request = self.average_request - self.average_request / 8 + asize / 8;
    }

    /// The block size that holds `size` payload bytes; `None` when it overflows.
    fn adjusted(&self, size: usize) -> Option<usize> {
        let with_tags = size.checked_add(OVERHEAD)?;
        Some(self.config.align.round_up(with_tags)?.max(self.layout.min_block))
    }

    fn epilogue(&self) -> Block {
        Block::at(self.heap.heap_size() - WORD)
    }

    fn write_epilogue(&mut self) {
        let at = self.epilogue().offset();
        self.heap.write(at, Tag::EPILOGUE.word());
    }

    fn payload_ptr(&self, block: Block) -> NonNull<u8> {
        self.heap.ptr_at(block.payload())
    }

    /// The allocated block behind a pointer given to `free` or `realloc`, with its size
    /// (see [`mm_tags::guard`]); a refused pointer is kept for
    /// [`Allocator::take_misuse`].
    #[inline]
    fn live_block(&mut self, ptr: NonNull<u8>) -> Option<(Block, usize)> {
        match self.layout.live_block(&self.heap, ptr) {
            Ok(live) => Some(live),
            Err(misuse) => {
                self.misuse = Some(misuse);
                None
            }
        }
    }

    /// The free neighbour on the left of the block boundary `block`, with its size, its
    /// tags checked ([`TaggedLayout::free_left`]).
    #[inline]
    fn free_left(&self, block: Block) -> Option<(Block, usize)> {
        self.layout.free_left(&self.heap, block)
    }

    /// The size of the block at the boundary `next` when it is free, its tags checked
    /// ([`TaggedLayout::free_right`]).
    #[inline]
    fn free_right(&self, next: Block) -> Option<usize> {
        self.layout.free_right(&self.heap, next)
    }

    /// Moves the break by `bytes` and rewrites the epilogue at the new end; `None`, with
    /// nothing changed, past the heap's maximum or [`MAX_HEAP`].
    fn grow(&mut self, bytes: usize) -> Option<()> {
        let new_size = self.heap.heap_size().checked_add(bytes)?;
        if new_size > MAX_HEAP {
            return None;
        }
        self.heap.extend(bytes).ok()?;
        self.write_epilogue();
        Some(())
    }

    /// Grows the heap so that a block of `asize` bytes ends it, asking `sbrk` only for
    /// what the free last block (if any) lacks. Returns that block, unlisted and with
    /// stale tags, and the list spot it left (if it was a listed free block).
    fn extend_for(&mut self, asize: usize) -> Option<(Block, Option<Spot>)> {
        let old_epilogue = self.epilogue();
        if let Some((last, size)) = self.free_left(old_epilogue) {
            // No fit was found, so the free last block is smaller than `asize`.
            self.grow(asize - size)?;
            let spot = self.unlink(last);
            Some((last, Some(spot)))
        } else {
            self.grow(asize)?;
            Some((old_epilogue, None))
        }
    }

    /// Makes the unlisted `block`, spanning `span` bytes, an allocated block of `asize`,
    /// splitting off the rest as a free block when it is big enough to be one. The
    /// remainder goes into the list at the spot `hint` (the spot of the block it was cut
    /// from) or where the order puts new free blocks. The caller guarantees the block
    /// after the span is allocated, so the remainder needs no coalescing.
    fn place(&mut self, block: Block, span: usize, asize: usize, hint: Option<Spot>) {
        let rest = span - asize;
        if rest >= self.layout.min_block {
            block.set(&mut self.heap, Tag::allocated(asize));
            let remainder = Block::at(block.offset() + asize);
            remainder.set(&mut self.heap, Tag::free(rest));
            let spot = self.spot_for(remainder, hint);
            self.link(remainder, spot);
        } else {
            block.set(&mut self.heap, Tag::allocated(span));
        }
    }

    /// Frees the block at `block` of `size` bytes (not listed): merges it with
    /// whichever neighbours are free (the four boundary-tag cases), their tags and links
    /// checked first, and lists the result.
    fn release(&mut self, block: Block, size: usize) {
        let next = Block::at(block.offset() + size);
        let (left, right) = (self.free_left(block), self.free_right(next));
        let mut start = block;
        let mut total = size;
        // The merged block occupies the addresses of the free neighbours it swallows,
        // so in an address-ordered list it can take over their spot.
        let mut hint = None;
        if let Some(next_size) = right {
            total += next_size;
            hint = Some(self.unlink(next));
        }
        if let Some((prev, prev_size)) = left {
            start = prev;
            total += prev_size;
            hint = Some(self.unlink(prev));
            // The block's own header is now inside the merged block: mark it free, so
            // that a second `free` of the same pointer is seen as one.
            self.heap.write(block.offset(), Tag::free(size).word());
        }
        start.set(&mut self.heap, Tag::free(total));
        let spot = self.spot_for(start, hint);
        self.link(start, spot);
    }

    /// Shrinks the allocated `block` of `size` bytes to `asize`, giving the tail back
    /// when it is big enough to be a block of its own.
    fn shrink(&mut self, block: Block, size: usize, asize: usize) {
        if size - asize >= self.layout.min_block {
            block.set(&mut self.heap, Tag::allocated(asize));
            let tail = Block::at(block.offset() + asize);
            tail.set(&mut self.heap, Tag::allocated(size - asize));
            self.release(tail, size - asize);
        }
    }

    /// Grows the allocated `block` of `size` bytes to at least `asize` bytes within its
    /// neighbourhood, taking as little new heap as possible: into a free right
    /// neighbour; when that is not enough, also into a free left neighbour (sliding the
    /// payload down); when even that is not enough and the block (with its right
    /// neighbour) ends the heap, past the end of the heap by the shortfall. Returns the
    /// block that now holds the payload (`block` or its left neighbour); `None`, with
    /// nothing changed, when the neighbourhood is too small.
    fn grow_in_place(&mut self, block: Block, size: usize, asize: usize) -> Option<Block> {
        let next = Block::at(block.offset() + size);
        let right = self.free_right(next);
        let next_free = right.is_some();
        let free_after = right.unwrap_or(0);
        let beyond = Block::at(next.offset() + free_after);
        let mut start = block;
        let mut span = size + free_after;
        if span < asize
            && let Some((prev, prev_size)) = self.free_left(block)
        {
            start = prev;
            span += prev_size;
        }
        if span < asize {
            if beyond != self.epilogue() || self.grow(asize - span).is_none() {
                return None;
            }
            span = asize;
        }
        let mut hint = None;
        if next_free {
            hint = Some(self.unlink(next));
        }
        if start != block {
            // Unlink first: the payload slides over the left neighbour's links.
            hint = Some(self.unlink(start));
            // Mark the old header free before the slide: where the copy does not
            // overwrite it, a `free` of the old pointer is then seen as a double free.
            self.heap.write(block.offset(), Tag::free(size).word());
            self.heap.copy_within(block.payload(), start.payload(), size - OVERHEAD);
        }
        self.place(start, span, asize, hint);
        Some(start)
    }
}

impl Allocator for Explicit {
    fn describe(&self) -> String {
        format!("explicit free list, {}, first fit, boundary tags, immediate coalescing", self.config.order)
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

    /// Lays out padding, prologue and epilogue on an empty heap and empties the list
    /// (the break is reset first, so a second `init` without `reset_brk` also starts
    /// over).
    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.head = None;
        self.tail = None;
        self.free_blocks = 0;
        self.fit_bound = 0;
        self.average_request = 0;
        self.heap.reset_brk();
        self.heap.extend(self.layout.initial_heap)?;
        Block::at(self.layout.prologue).set(&mut self.heap, Tag::allocated(OVERHEAD));
        self.write_epilogue();
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let asize = self.adjusted(size)?;
        self.observe(asize);
        let (block, span, hint) = match self.find_fit(asize) {
            Some(block) => (block, block.size(&self.heap), Some(self.unlink(block))),
            None => {
                let (block, hint) = self.extend_for(asize)?;
                (block, asize, hint)
            }
        };
        self.place(block, span, asize, hint);
        Some(self.payload_ptr(block))
    }

    /// Frees `ptr`, or refuses it ([`mm_tags::guard`]): a pointer that is no
    /// payload of the heap, or whose header says free, is kept for
    /// [`Allocator::take_misuse`] and nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, size)) = self.live_block(ptr) {
            self.release(block, size);
        }
    }

    /// 0 for a pointer that is no payload of the heap. Reads only the header word, and
    /// saturates: a hardened caller may ask about a block whose header was smashed.
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.layout
            .payload_block(&self.heap, ptr)
            .map_or(0, |block| block.size(&self.heap).saturating_sub(OVERHEAD))
    }

    /// Refuses `ptr` as `free` does (returning `None`) before anything else.
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, current) = self.live_block(ptr)?;
        let asize = self.adjusted(size)?;
        if asize <= current {
            self.shrink(block, current, asize);
            return Some(ptr);
        }
        if let Some(start) = self.grow_in_place(block, current, asize) {
            return Some(self.payload_ptr(start));
        }
        // SAFETY: the caller guarantees `ptr` is live, and nothing above changed it.
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.check()
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// The block's tags and its neighbours' ([`TaggedLayout::neighbourhood`]), and the
    /// list links of a free neighbour, which `free` would unlink
    /// ([`Explicit::check_listed`]).
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        let (left, right) = self.layout.neighbourhood(&self.heap, ptr)?;
        for (free, _) in left.into_iter().chain(right) {
            self.check_listed(free)?;
        }
        Ok(())
    }

    /// The implicit list's reading of the same layout
    /// ([`mm_tags::tagged_heap_spans`]): a free block, links included, is free
    /// whole. `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        mm_tags::tagged_heap_spans(&self.heap, self.layout)
    }
}

#[cfg(test)]
mod tests;
