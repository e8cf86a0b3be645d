//! # mm-explicit: explicit free lists
//!
//! The implicit list's heap layout plus a free list. Blocks are exactly the implicit
//! list's: both are built on the boundary-tag layer [`mm_tags`] (its [`Block`], [`Tag`]
//! and guards), a one-word header and footer, immediate coalescing, a prologue and an
//! epilogue. What is new is a doubly linked list threaded through the payloads of the
//! free blocks, so `malloc` walks only the free blocks instead of every block, and
//! `free` links a block in without a walk.
//!
//! Two lists share that mechanism (`src/list.rs`):
//!
//! * [`Explicit`] (`explicit`, `explicit-addr`), the tuned list this crate is about: LIFO
//!   or address-ordered, with the three placement rules, the fit bound and the
//!   realloc slide described below.
//! * [`ExplicitTextbook`] (`explicit-textbook`, `src/textbook.rs`), the list of the
//!   textbook (CS:APP §9.9.13): every free block goes to the front (LIFO), first fit
//!   from the front, immediate coalescing, and nothing more. It is the baseline the
//!   tuning is measured against, and the version to read first.
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
//!   third more for every request of 8 bytes or less, a large share of the requests in
//!   the `tiny` workload (`docs/explicit.md`). The price is a 4 GiB cap on the heap
//!   ([`MAX_HEAP`]), far above the simulated heap's 20 MiB.
//! * The *wilderness* is the free block that ends the heap, when there is one.
//!
//! ## The tuned list: policies and trade-offs
//!
//! * **First fit over the free blocks only.** The cost of a search is the number of
//!   free blocks passed, not of all blocks, which on the traces with thousands of live
//!   blocks is most of the difference in speed from the implicit list
//!   (`docs/explicit.md` has the measurements). A search that fails has seen
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
//!   freed block at the front (the textbook LIFO list, [`ExplicitTextbook`]), first fit
//!   keeps cutting small requests out of the most recently freed block, however large,
//!   and the big holes that later large requests need are gone. Rule 1 matters most
//!   where small requests would eat the end of the heap (`program`, `realloc-shrink`),
//!   rule 2 where a large merged region would be offered first to every small request
//!   (`churn`, `random`, `realloc`). Both are O(1); `docs/explicit.md` has what each
//!   recovers.
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
//!   as a move does, but reuses the neighbourhood instead of leaving a hole, which
//!   narrows the LIFO list's utilization loss against the implicit list on the
//!   `realloc` workloads (`docs/explicit.md`).
//!
//!   Rule 3's split of LIFO is for the remaining case: a *large* block freed into the
//!   middle of the heap. At the front, first fit would cut every small request out of
//!   it (long-lived small blocks land in the big hole, and the big requests that follow
//!   must grow the heap); at the back, small requests find the small blocks first and
//!   the large block waits, whole, for a request that needs it. The average request
//!   adapts to the program, so no size is built in. A large request looks among those
//!   large blocks first, from the back, so it does not walk past every ordinary block
//!   to reach them.
//!
//! What remains: the `realloc` workloads, where the larger minimum block (24 bytes, for
//! the links) costs what the implicit list does not pay; `docs/explicit.md` has the
//! measurements.
//!
//! ## The steps
//!
//! Every strategy of the lab names its steps alike; both lists here have them:
//!
//! * `malloc`: `find_fit` (first fit along the list), else `extend_heap`; then `place`
//!   (split the fit when the rest can be a block, and list the rest).
//! * `free`: `coalesce` (the four boundary-tag cases, the swallowed neighbours
//!   unlinked) and list the result.
//! * `realloc`: `shrink_in_place`, else `grow_in_place`, else `move_block` (allocate,
//!   copy, free); the tuned list's are in `src/realloc.rs`.
//!
//! Build them with `Explicit::new(heap, config)` and `ExplicitTextbook::new(heap, config)`
//! (the lab's one constructor shape: a heap and anything that converts into the
//! strategy's `Copy` configuration, a bare [`Align`] giving the default policy), then
//! call [`Allocator::init`].
//!
//! ## Invariants
//!
//! [`Allocator::check_heap`] verifies these and reports each broken one as the typed
//! value named (tests match the value, not the message). Rules 1 to 7 are the
//! boundary-tag layout's ([`mm_tags`] lists them): the prologue (`BadPrologue`); block
//! sizes (`SizeNotAligned`, `TooSmall`, `PastHeapEnd`); aligned payloads
//! (`PayloadMisaligned`); footer equals header (`HeaderFooterMismatch`); no unknown flag
//! bits ([`TagRule::UnknownFlags`](mm_tags::TagRule::UnknownFlags)); no two free blocks
//! touch (`Uncoalesced`); the epilogue at `brk - 8` (`BadEpilogue`). The list adds,
//! each an [`ExplicitRule`]:
//!
//! 8. The heap is at most [`MAX_HEAP`] bytes, so links name every block
//!    ([`ExplicitRule::HeapPastLinks`]).
//! 9. The head and every next link name a free block of the heap
//!    ([`ExplicitRule::LinkToNonFree`]).
//! 10. No block is listed twice: the list has no cycle ([`ExplicitRule::ListedTwice`]).
//! 11. Each listed block's prev link names the block before it in the list, none for
//!     the head ([`ExplicitRule::PrevMismatch`]).
//! 12. Every free block is listed ([`ExplicitRule::Unlisted`]).
//! 13. The list ends at its recorded tail ([`ExplicitRule::TailMismatch`]).
//! 14. An address-ordered list is sorted by address ([`ExplicitRule::Unsorted`]).
//! 15. The tuned list only: a free last block of the heap (the wilderness) is the
//!     list's tail ([`ExplicitRule::WildernessNotLast`]).
//! 16. The tuned list only: no listed block is larger than the fit bound
//!     ([`ExplicitRule::AboveFitBound`]).
//!
//! `check_heap` before `init` returns `Ok(())`: the heap has nothing in it to check (the
//! workspace's one rule for every strategy). Before `init`, too, `malloc` and `realloc`
//! fail, `free` refuses every pointer (an invalid pointer), [`Allocator::heap_spans`] is
//! `None` and [`Allocator::check_neighbourhood`] is `Ok`.
//!
//! ## Misuse
//!
//! Both lists make the same checks. Every build checks each pointer given to `free` and `realloc`, and the tags of the
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
mod policy;
mod realloc;
mod textbook;

use std::fmt;
use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};
use mm_tags::{Block, OVERHEAD, Tag, TaggedLayout};

pub use crate::check::ExplicitRule;
pub use crate::list::MAX_HEAP;
use crate::list::{FreeList, LINK, Spot, extend_capped};
pub use crate::textbook::{ExplicitTextbook, ExplicitTextbookConfig};

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

/// How to build an [`Explicit`] allocator. [`Explicit::new`] also takes a bare
/// [`Align`], which converts into the default configuration with that alignment.
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

impl From<Align> for ExplicitConfig {
    fn from(align: Align) -> Self {
        ExplicitConfig { align, ..ExplicitConfig::default() }
    }
}

/// The smallest block of an explicit list holds its two tags and its two links.
const MIN_CONTENT: usize = OVERHEAD + 2 * LINK;

/// The tuned explicit-free-list allocator. Build it with [`Explicit::new`], then call
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
    /// The free list: it holds every free block exactly once and nothing else, its links
    /// are mutually consistent, under [`FreeListOrder::AddressOrdered`] it is sorted by
    /// address, and when the last block of the heap (the wilderness) is free, it is the
    /// list's tail.
    list: FreeList,
    /// No listed block is larger than this: first fit skips its walk for anything
    /// bigger. An upper bound, not always the maximum (it never drops when a block
    /// shrinks or leaves the list, only when a failed walk has seen them all).
    fit_bound: usize,
    /// Set by a successful `init`; until then every request fails.
    ready: bool,
    /// A running average of request block sizes (bytes), which decides whether a freed
    /// block counts as large under LIFO (see [`Explicit::spot_for`]).
    average_request: usize,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl Explicit {
    /// An allocator that will live in `heap`. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: impl Into<ExplicitConfig>) -> Self {
        let config = config.into();
        Explicit {
            heap,
            config,
            layout: TaggedLayout::new(config.align, MIN_CONTENT),
            list: FreeList::default(),
            fit_bound: 0,
            ready: false,
            average_request: 0,
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
                self.refuse(misuse);
                None
            }
        }
    }

    /// Keeps a refused pointer's misuse for [`Allocator::take_misuse`].
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, misuse: Misuse) {
        self.misuse = Some(misuse);
    }

    /// Takes the listed `block` off the list; returns the spot it left.
    #[inline]
    fn unlink(&mut self, block: Block) -> Spot {
        self.list.unlink(&mut self.heap, &self.layout, block)
    }

    /// Puts the free, unlisted `block` into `spot`, raising the fit bound to its size.
    #[inline]
    fn link(&mut self, block: Block, spot: Spot) {
        self.list.link(&mut self.heap, block, spot);
        self.fit_bound = self.fit_bound.max(block.size(&self.heap));
    }

    /// The first free block, in list order, of at least `asize` bytes (first fit).
    ///
    /// Under LIFO a *large* request (see [`Explicit::spot_for`]) first looks among the
    /// large blocks kept at the back, from the back: they are the only ones likely to
    /// fit, and walking past every ordinary block at the front to reach them made large
    /// requests the slowest part of the list.
    ///
    /// A search that fails has seen every listed block, so it tightens `fit_bound` to
    /// the largest of them; a request above the bound then fails at once, without a
    /// walk. The bound only ever errs high (a block that shrinks or leaves the list
    /// does not lower it), so no fit is ever missed.
    fn find_fit(&mut self, asize: usize) -> Option<Block> {
        if asize > self.fit_bound {
            return None;
        }
        if self.config.order == FreeListOrder::Lifo
            && self.is_large(asize)
            && let Some(block) = self.find_large_fit(asize)
        {
            return Some(block);
        }
        match self.list.first_fit(&self.heap, asize) {
            Ok(block) => Some(block),
            Err(largest) => {
                self.fit_bound = largest;
                None
            }
        }
    }

    /// Grows the heap so that a block of `asize` bytes ends it, asking `sbrk` only for
    /// what the free last block (if any) lacks. Returns that block, unlisted and with
    /// stale tags, and the list spot it left (if it was a listed free block).
    #[cold]
    #[inline(never)]
    fn extend_heap(&mut self, asize: usize) -> Option<(Block, Option<Spot>)> {
        let old_epilogue = self.layout.epilogue(&self.heap);
        if let Some((last, size)) = self.layout.free_left(&self.heap, old_epilogue) {
            // No fit was found, so the free last block is smaller than `asize`.
            extend_capped(&mut self.heap, &self.layout, asize - size)?;
            let spot = self.unlink(last);
            Some((last, Some(spot)))
        } else {
            extend_capped(&mut self.heap, &self.layout, asize)?;
            Some((old_epilogue, None))
        }
    }

    /// Makes the unlisted `block`, spanning `span` bytes, an allocated block of `asize`,
    /// splitting off the rest as a free block when it is big enough to be one. The
    /// remainder goes into the list at the spot `hint` (the spot of the block it was cut
    /// from) or where the order puts new free blocks. The caller guarantees the block
    /// after the span is allocated, so the remainder needs no coalescing.
    fn place(&mut self, block: Block, span: usize, asize: usize, hint: Option<Spot>) {
        if let Some(remainder) = self.layout.split(&mut self.heap, block, span, asize) {
            let spot = self.spot_for(remainder, hint);
            self.link(remainder, spot);
        }
    }

    /// Frees the block at `block` of `size` bytes (not listed): merges it with
    /// whichever neighbours are free (the four boundary-tag cases), their tags and links
    /// checked first, and lists the result.
    fn coalesce(&mut self, block: Block, size: usize) {
        let next = Block::at(block.offset() + size);
        let left = self.layout.free_left(&self.heap, block);
        let right = self.layout.free_right(&self.heap, next);
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

    /// Lays out padding, prologue and epilogue on an empty heap
    /// ([`TaggedLayout::lay_out`]) and empties the list (the break is reset first, so a
    /// second `init` without `reset_brk` also starts over).
    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.list = FreeList::default();
        self.fit_bound = 0;
        self.average_request = 0;
        self.layout.lay_out(&mut self.heap)?;
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let asize = self.layout.adjusted(size)?;
        self.observe(asize);
        let (block, span, hint) = match self.find_fit(asize) {
            Some(block) => (block, block.size(&self.heap), Some(self.unlink(block))),
            None => {
                let (block, hint) = self.extend_heap(asize)?;
                (block, asize, hint)
            }
        };
        self.place(block, span, asize, hint);
        Some(self.payload_ptr(block))
    }

    /// Frees `ptr`, or refuses it ([`mm_tags::guard`]): a pointer that is no payload of
    /// the heap, or whose header says free, is kept for [`Allocator::take_misuse`] and
    /// nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, size)) = self.live_block(ptr) {
            self.coalesce(block, size);
        }
    }

    /// 0 for a pointer that is no payload of the heap ([`TaggedLayout::usable_size`]).
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.layout.usable_size(&self.heap, ptr)
    }

    /// Refuses `ptr` as `free` does (returning `None`) before anything else; then
    /// resizes in place or moves (`src/realloc.rs`).
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let (block, current) = self.live_block(ptr)?;
        let asize = self.layout.adjusted(size)?;
        if asize <= current {
            self.shrink_in_place(block, current, asize);
            return Some(ptr);
        }
        if let Some(start) = self.grow_in_place(block, current, asize) {
            return Some(self.payload_ptr(start));
        }
        // SAFETY: the caller guarantees `ptr` is live, and nothing above changed it.
        unsafe { self.move_block(ptr, size) }
    }

    /// Rules 1 to 16 of the crate docs; `Ok(())` before `init`.
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.check()
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// `free`'s checks without freeing ([`mm_tags::TaggedLayout::check_free`]).
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        self.layout.check_free(&self.heap, ptr)
    }

    /// The block's tags and its neighbours', and the list links of a free neighbour,
    /// which `free` would unlink (`FreeList::check_neighbourhood`); `Ok` before `init`.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        self.list.check_neighbourhood(&self.heap, &self.layout, ptr)
    }

    /// The implicit list's reading of the same layout
    /// ([`mm_tags::tagged_heap_spans`]): a free block, links included, is free whole.
    /// `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        mm_tags::tagged_heap_spans(&self.heap, self.layout)
    }
}

#[cfg(test)]
mod tests;
