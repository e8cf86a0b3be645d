//! # mm-buddy: a binary buddy allocator
//!
//! Every block is a power of two, `2^k` bytes for an *order* `k` between a minimum (16
//! bytes, or the alignment if larger) and a maximum (the largest power of two the heap
//! could hold), and starts at a multiple of its own size, counted from the start of
//! its *segment* of the arena (see "Growth"; a heap that grew block by block from
//! small requests has only a few). Cut a block of order `k + 1` in two and you get two
//! *buddies* of order `k`; the buddy of the block at offset `o` of a segment starting
//! at `s` is at `s + ((o - s) XOR 2^k)`. That one XOR is the whole trick: a freed block
//! finds its buddy by arithmetic, checks one header, and merges if the buddy is free
//! and whole, then tries again one order up. There is a free list per order, so
//! `malloc` and `free` cost O(number of orders).
//!
//! Build it with [`Buddy::new`]`(heap, config)`, where `config` is a [`BuddyConfig`] or
//! just an [`Align`], as every strategy crate of the workspace is built; then call
//! [`Allocator::init`].
//!
//! ## The steps, named as in the other chapters
//!
//! * `malloc` is `find_fit` (the first block of the smallest non-empty list of at least
//!   the request's order), `split` (cut it in halves down to that order, listing each
//!   right half), `place` (its header says allocated); when every list is empty,
//!   `extend_heap` makes the block at the end of the heap instead (see "Growth").
//! * `free` is `coalesce`, with the buddy system's meaning: merge with the block's
//!   *buddy* for as long as the buddy is a whole free block of the same order inside
//!   the block's segment, never with the neighbour on the other side; then list the
//!   result, or give it back to the untouched tail when it ends at the frontier.
//! * `realloc` (`src/realloc.rs`) is `shrink_in_place`, `grow_into_buddies` and
//!   `move_block`.
//!
//! ## Layout
//!
//! ```text
//!  heap_lo                                                 base                  base+F       brk
//!  | frontier | nonempty | segment starts, count | heads[min..=top] | pad | blocks tiling [0, F)  | untouched |
//!  '------------------------ control area (init) ---------------------'
//!
//!  one segment's buddy tree (offsets from its start; the buddy of (o, k) is o XOR 2^k):
//!   offset  0       16      32              64                              128
//!   order 7 |                        split (the root)                       |
//!   order 6 |             split             |        free, on list 6        |
//!   order 5 |     split     |   allocated   |
//!   order 4 | alloc |  free |  <- free, on list 4: its buddy [0, 16) is allocated
//!
//!  a block:       | hdr | payload ..........................|   (2^k bytes)
//!  a free block:  | hdr | next | prev | (unused) ............|
//!                   u16 ^ u32    u32
//!                       payload: aligned to `align`
//!  the header:    order (6 bits) | allocated, free | segment number (3 bits)
//! ```
//!
//! * **Header, not bitmap.** Each block starts with a 2-byte [`Header`]: its order,
//!   free or allocated, and the number of its segment, which `free` needs besides the
//!   order and so finds in the word it reads anyway: it names the two table entries
//!   that hold the segment's start (which the buddy arithmetic counts from) and end
//!   (which no buddy may cross). `base` is placed so that the byte after every header is aligned
//!   (blocks start at multiples of the minimum block, which is a multiple of the
//!   alignment), so the header costs 2 bytes and never a whole alignment unit. Side
//!   bitmaps would make payload = block start, and save the doubling of requests of
//!   exactly `2^k` bytes (a 4096-byte request takes an 8192-byte block here), but they
//!   must live in the heap and grow with the arena, while the heap only grows at its
//!   end where the arena grows: they would have to be sized for the largest heap up
//!   front (320 KiB for the 20 MiB heap at 2 bits per 16 bytes) or moved on every
//!   doubling. `docs/buddy.md` measures what the header costs.
//! * **Free lists** are doubly linked (32-bit links inside the free blocks, heads in
//!   the control area) so a buddy can be unlinked in O(1) when it merges; a 64-bit
//!   mask of non-empty lists finds the smallest order with a free block in one step.
//! * **Growth: by exactly the block, at the break.** The arena is used from the bottom
//!   up to a *frontier* `F`; above it is the *untouched tail* (heap `sbrk` handed out
//!   once, free again, on no list), and past the break heap never asked for. A request
//!   with no free block is made at the frontier. Within the last segment it would have
//!   to start at a multiple of its size from the segment's start; when the frontier is
//!   not one, a new segment starts at the frontier instead, with the block as its
//!   first, and the heap grows by the block's size and nothing more:
//!
//!   ```text
//!    arena offset  0    16        144  176                      segment 1 starts at 16
//!    segment 0     | a16 |
//!    segment 1           |  a128   | a32 |-- tail --> break      (a32: 128 into it, aligned)
//!
//!    aligned growth would have put the 128-byte block at 128, with free blocks of
//!    16, 32 and 64 bytes in [16, 128) and the break 112 bytes further up
//!   ```
//!
//!   So a segment is the sum of maximal aligned buddy trees of its length (the binary
//!   digits of its size, largest first), and the heap is a sequence of such sums: a
//!   large block after small ones costs its own size of heap, not up to twice that.
//!   Merges stay inside a segment (a buddy past its end is no buddy), so a segment's
//!   free blocks never merge with the next one's; a segment left empty at the frontier
//!   is dropped. The table has [`MAX_SEGMENTS`] entries, the start of each segment and
//!   a mark past the last one, so that the end of segment `i` is entry `i + 1` or the
//!   frontier, whichever is lower: two loads for `free`, whatever the segment. It
//!   lives in the control area, so all state stays in the heap; with it full, growth
//!   carves the block at the next
//!   aligned place and puts the gap on the free lists, which is also what
//!   [`BuddyConfig::aligned_growth`] always does: one arena, a single sequence of trees
//!   that grows as if doubled lazily (the old arena is the left buddy of the new root).
//!   A free block that ends at `F` is given back to the tail, so no free block ever
//!   touches the frontier.
//! * **Realloc** keeps the block whenever the new size fits it, growing *or shrinking*:
//!   a buffer that shrinks usually grows back, and a kept block grows back for free,
//!   while released halves are soon split for small requests and force a move later
//!   (`docs/buddy.md` measures both; [`BuddyConfig::release_on_shrink`] selects the
//!   latter). To grow, it takes the
//!   block's ancestor of the needed order whole when, at every order on the way up,
//!   the other half is a whole free block of its segment or untouched tail (the last
//!   block grows by `sbrk`): in place when those halves are all on the right, with the payload slid
//!   down when some were on the left. Otherwise it allocates, copies and frees.
//!
//! ## Trade-offs
//!
//! The buddy system buys fast, bounded `malloc` and `free` and cheap, complete
//! merging with **internal fragmentation**: a request is rounded up to a power of two,
//! so on average a quarter of each block is waste, and a request just over a power of
//! two wastes almost half. Blocks must also sit at multiples of their size, so a big
//! block after small ones leaves a gap (on the free lists, but only reusable by
//! requests that fit its pieces); growth by segments avoids that gap at the end of the
//! heap, at the price of a boundary no merge crosses, and of some time: `free` reads
//! two table entries after the header (a load that waits for it) and counts each buddy
//! from the segment's start, and `malloc` carries the segment number into every half
//! it lists (`docs/buddy.md` measures what that costs against the single arena, and
//! what searching the table instead would). Freed blocks merge only with their own
//! buddy, never with the free neighbour on the other side.
//!
//! Links of 32 bits in units of 16 bytes name arena offsets below 2^36 - 16, so the
//! arena stops there, however large the heap; the 6-bit order of a header names blocks
//! far larger than that. Both limits are checks in every build: a request past them
//! fails, and nothing is ever truncated.
//!
//! ## Misuse
//!
//! Every build checks each pointer given to `free` and `realloc` (`src/guard.rs`): it
//! must be a payload position of the arena whose header says allocated. Otherwise the
//! call changes nothing and the misuse, a double free or an invalid pointer, is kept
//! for [`Allocator::take_misuse`] (the C library and the preload library abort on it,
//! as glibc does). A freed block's header says free from then on, also when it merged
//! into its left buddy and when `realloc` slid its payload down, so a second free of
//! the same pointer is seen. Unlinking checks, as glibc's "safe unlinking" does, that
//! the block is free and that its neighbours on the list name it back; a block a
//! program wrote into stops the operation with a [`Corruption`] panic naming the broken
//! rule ("corrupted double-linked list") before anything is written through its links.
//! Every heap access is bounds-checked besides, so no bytes a program writes into freed
//! blocks or past the end of its blocks make the allocator touch memory outside its
//! heap.
//!
//! The hardened mode ([`mm_core::hardened`]) knows every live block, so it also catches
//! the double free of a block handed out again, and before each `free` and `realloc`
//! it asks [`Allocator::check_neighbourhood`]: the block's header, every buddy the free
//! would merge with (listed, links mutual) and the block after it, which an overflow
//! reaches first. An overflow of up to 16 bytes out of a block is reported at the
//! latest when the block or its neighbour is freed.
//!
//! ## Invariants
//!
//! What [`Allocator::check_heap`] verifies, in this order. A broken rule that other
//! strategies share is reported as mm-core's [`Invariant`](mm_core::Invariant) variant
//! named here; a rule of the buddy system's own as a [`BuddyRule`] whose
//! [`number`](mm_core::allocator::Rule::number) is the rule's number below.
//!
//! 1. The heap holds at least the control area ([`BuddyRule::ControlArea`]).
//! 2. The frontier is a multiple of the smallest block, within the arena bytes the heap
//!    holds ([`BuddyRule::Frontier`]).
//! 3. The segment table holds 1 to [`MAX_SEGMENTS`] segments, the first at 0, each
//!    later one starting above the one before it, below the frontier, at a multiple of
//!    the smallest block, and every entry past the last segment is the no-segment mark
//!    ([`BuddyRule::SegmentCount`], [`BuddyRule::SegmentStart`],
//!    [`BuddyRule::SegmentEndMark`]).
//! 4. Every header below the frontier is sound: exactly one of `ALLOCATED` and `FREE`,
//!    and no bits but those of the order and the segment number
//!    ([`BuddyRule::BadHeader`]); its segment number is the segment the block lies in
//!    ([`BuddyRule::SegmentNumber`]).
//! 5. A block's order is at least the smallest order (`TooSmall`) and at most the
//!    largest order of this heap ([`BuddyRule::OrderTooLarge`]).
//! 6. A block starts at a multiple of its size from its segment's start
//!    ([`BuddyRule::Misplaced`]).
//! 7. Every block lies wholly below the frontier (`PastHeapEnd`) and inside its
//!    segment ([`BuddyRule::CrossesSegment`]), and its payload is aligned
//!    (`PayloadMisaligned`).
//! 8. No free block is followed by its free buddy of the same order in the same
//!    segment: they would have merged (`Uncoalesced`).
//! 9. The block that ends at the frontier is not free: it would have gone back to the
//!    untouched tail ([`BuddyRule::FreeAtFrontier`]).
//! 10. Every entry of the list of order `k` is a free block of order `k`
//!     ([`BuddyRule::NotAFreeBlock`]).
//! 11. An entry's `prev` link names the entry before it, or none at the head
//!     ([`BuddyRule::PrevLink`]).
//! 12. No block is on its list twice ([`BuddyRule::ListedTwice`]).
//! 13. The list of order `k` holds every free block of order `k`
//!     ([`BuddyRule::Unlisted`]).
//! 14. The non-empty mask has exactly the bits of the non-empty lists
//!     ([`BuddyRule::Mask`]).
//!
//! `check_heap` before `init` returns `Ok(())`: the heap has nothing in it to check (the
//! workspace's one rule for every strategy).

mod arena;
mod check;
mod guard;
mod header;
mod realloc;
mod spans;

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};

pub use crate::arena::MAX_SEGMENTS;
use crate::arena::{Arena, ArenaMut, Block, Layout, Segment, size_of_order};
pub use crate::check::BuddyRule;
pub use crate::header::{HEADER_BYTES, Header, HeaderFlags};

/// How to build a [`Buddy`] allocator. [`Buddy::new`] also takes a bare [`Align`],
/// which converts into the default configuration with that alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BuddyConfig {
    /// The alignment of every payload (default 8). Alignments above 16 raise the
    /// minimum block to the alignment.
    pub align: Align,
    /// Whether a shrinking `realloc` gives back the halves it no longer needs (default
    /// `false`: the block is kept whole, ready to grow back; see the crate docs).
    pub release_on_shrink: bool,
    /// Whether the heap grows only by blocks aligned in one sequence of trees, filling
    /// the gap before each with free blocks, as a single lazily doubled arena does
    /// (default `false`: a growth that would leave a gap starts a new segment at the
    /// frontier instead; see "Growth" in the crate docs and `docs/buddy.md` for where
    /// each wins).
    pub aligned_growth: bool,
}

impl BuddyConfig {
    /// A configuration with the given alignment (and the default policies).
    pub const fn new(align: Align) -> Self {
        BuddyConfig { align, release_on_shrink: false, aligned_growth: false }
    }
}

impl From<Align> for BuddyConfig {
    fn from(align: Align) -> Self {
        BuddyConfig::new(align)
    }
}

/// Where the heap's bytes are, block by block (see [`Buddy::stats`]). The fields add
/// up: `heap_bytes = control_bytes + allocated_bytes + free_bytes + untouched_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuddyStats {
    /// The heap's size (its break).
    pub heap_bytes: usize,
    /// The control area and the padding that aligns the arena.
    pub control_bytes: usize,
    /// Allocated blocks, headers and rounding included.
    pub allocated_bytes: usize,
    /// How many blocks are allocated.
    pub allocated_blocks: usize,
    /// Free blocks (all on the free lists).
    pub free_bytes: usize,
    /// How many blocks are free.
    pub free_blocks: usize,
    /// Heap above the frontier: handed out by `sbrk` once, part of no block now.
    pub untouched_bytes: usize,
    /// How many segments the arena is cut into (1 until a growth starts a new one).
    pub segments: usize,
}

/// The binary buddy allocator. Build it with [`Buddy::new`], then call
/// [`Allocator::init`] before anything else.
///
/// All of its state (frontier, free-list heads, headers, links) lives in the heap; the
/// struct holds only the configuration and the layout derived from it.
#[derive(Debug)]
pub struct Buddy {
    heap: MemLib,
    config: BuddyConfig,
    layout: Layout,
    /// Set by a successful `init`; until then every request fails.
    ready: bool,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl Buddy {
    /// An allocator that will live in `heap`, configured by a [`BuddyConfig`] or an
    /// [`Align`]. Nothing is written until `init`.
    pub fn new(heap: MemLib, config: impl Into<BuddyConfig>) -> Buddy {
        let config = config.into();
        let layout = Layout::new(config.align, heap.max_size());
        Buddy { heap, config, layout, ready: false, misuse: None }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> BuddyConfig {
        self.config
    }

    /// The order of the smallest block.
    pub fn min_order(&self) -> u32 {
        self.layout.min_order
    }

    /// The order of the largest block the heap could ever hold.
    pub fn max_order(&self) -> u32 {
        self.layout.max_order
    }

    /// The block size (header included) that holds `size` payload bytes; `None` when no
    /// block of this heap can.
    pub fn block_size_for(&self, size: usize) -> Option<usize> {
        self.order_for(size).map(size_of_order)
    }

    /// Counts the heap's bytes by what they hold, walking every block (O(blocks)).
    pub fn stats(&self) -> BuddyStats {
        let mut stats = BuddyStats { heap_bytes: self.heap.heap_size(), ..BuddyStats::default() };
        if !self.ready {
            stats.control_bytes = stats.heap_bytes;
            return stats;
        }
        let arena = self.arena();
        let frontier = arena.frontier();
        let mut at = 0;
        while at < frontier {
            let header = arena.header(Block::at(at));
            let size = size_of_order(header.order());
            if header.is_free() {
                stats.free_bytes += size;
                stats.free_blocks += 1;
            } else {
                stats.allocated_bytes += size;
                stats.allocated_blocks += 1;
            }
            at += size;
        }
        stats.control_bytes = self.layout.base;
        stats.untouched_bytes = arena.materialized() - frontier;
        stats.segments = arena.segment_count();
        stats
    }

    fn arena(&self) -> Arena<'_> {
        Arena { heap: &self.heap, layout: &self.layout }
    }

    fn arena_mut(&mut self) -> ArenaMut<'_> {
        ArenaMut { heap: &mut self.heap, layout: &self.layout }
    }

    /// The order of the block that holds `size` payload bytes; `None` when it would be
    /// larger than the heap allows (or the arithmetic overflows).
    fn order_for(&self, size: usize) -> Option<u32> {
        let need = size.checked_add(HEADER_BYTES)?.checked_next_power_of_two()?;
        let order = need.trailing_zeros().max(self.layout.min_order);
        (order <= self.layout.max_order).then_some(order)
    }

    fn payload_ptr(&self, block: Block) -> NonNull<u8> {
        self.heap.ptr_at(self.layout.base + block.offset() + HEADER_BYTES)
    }

    // ---- malloc: find_fit, split, place, or extend_heap ------------------------------

    /// The first block of the smallest non-empty list of at least `order`, taken off
    /// its list, with that list's order and its segment's number. `None` when every
    /// list from `order` up is empty.
    #[inline]
    fn find_fit(&mut self, order: u32) -> Option<(Block, u32, usize)> {
        let above = self.arena().nonempty() >> (order - self.layout.min_order);
        if above == 0 {
            return None;
        }
        let from = order + above.trailing_zeros();
        let (block, segment) = self.arena_mut().pop(from)?;
        Some((block, from, segment))
    }

    /// Splits the free `block` of order `from` in segment number `segment` down to
    /// `order`: its left half at each order is kept (`block` itself), its right half
    /// goes onto the list of its order.
    #[inline]
    fn split(&mut self, block: Block, from: u32, order: u32, segment: usize) {
        let mut arena = self.arena_mut();
        for k in (order..from).rev() {
            arena.push(block.plus(size_of_order(k)), k, segment);
        }
    }

    /// Hands out `block`, in segment number `segment`, as an allocated block of `order`.
    #[inline]
    fn place(&mut self, block: Block, order: u32, segment: usize) {
        self.arena_mut().set_header(block, Header::allocated(order, segment));
    }

    /// The buddy system's `extend_heap`: a block of `order` made at the end of the
    /// heap, growing it only as far as the block's end.
    ///
    /// In the last segment the block must start at a multiple of its size from the
    /// segment's start: the first such place at or above the frontier. When that leaves
    /// a gap (the frontier is not such a multiple), a new segment starts at the frontier
    /// instead and the block is its first, so the heap grows by exactly the block; only
    /// when the segment table is full is the gap filled with free blocks (each the
    /// largest aligned block that fits where it starts, which is what splitting the tree
    /// down to the new block would leave). `None`, with nothing changed, when the heap
    /// cannot grow. Returns the block with its segment's number.
    #[cold]
    #[inline(never)]
    fn extend_heap(&mut self, order: u32) -> Option<(Block, usize)> {
        let arena = self.arena();
        let frontier = arena.frontier();
        let segment = arena.last_segment();
        let size = size_of_order(order);
        let materialized = arena.materialized();
        let aligned = segment.base + (frontier - segment.base).checked_next_multiple_of(size)?;
        let new_segment =
            aligned > frontier && !self.config.aligned_growth && arena.segment_count() < MAX_SEGMENTS;
        let start = if new_segment { frontier } else { aligned };
        let end = start.checked_add(size).filter(|&end| end <= self.layout.capacity)?;
        if end > materialized {
            self.heap.extend(end - materialized).ok()?;
        }
        let mut arena = self.arena_mut();
        let index = if new_segment { arena.push_segment(frontier) } else { segment.index };
        let mut at = frontier;
        while at < start {
            let k = (at - segment.base).trailing_zeros();
            arena.push(Block::at(at), k, segment.index);
            at += size_of_order(k);
        }
        arena.set_frontier(end);
        Some((Block::at(start), index))
    }

    // ---- free: coalesce --------------------------------------------------------------

    /// Gives free blocks at the frontier back to the untouched tail, for as long as the
    /// block ending at the frontier is free; a segment left empty is dropped.
    fn trim(&mut self) {
        let mut frontier = self.arena().frontier();
        while frontier > 0 {
            let segment = self.arena().last_segment();
            if frontier == segment.base {
                // An empty segment (never the first, which starts at 0).
                self.arena_mut().pop_segment();
                continue;
            }
            let Some((block, order)) = self.arena().block_ending_at(segment.base, frontier) else { break };
            if !self.arena().header(block).is_free() {
                break;
            }
            self.arena_mut().unlink(block, order);
            frontier = block.offset();
        }
        self.arena_mut().set_frontier(frontier);
    }

    /// Frees `block` of `order` and coalesces it, in the buddy system's sense: merges it
    /// with its buddy for as long as the buddy is a whole free block of the same order
    /// inside the block's segment (the neighbour on the other side is never merged
    /// with, nor a block of another segment), then lists the result, or gives it to the
    /// untouched tail if it ends at the frontier. `segment` is the block's, as
    /// [`Buddy::live_block`] found it from the number in its header.
    fn coalesce(&mut self, mut block: Block, mut order: u32, segment: Segment) {
        // The block's own header says free from now on, wherever the block ends up:
        // merged into a buddy on its left, it would otherwise keep saying "allocated",
        // and a second `free` of the same pointer would be taken for a first.
        self.arena_mut().set_header(block, Header::free(order, segment.index));
        while order < self.layout.max_order {
            let buddy = segment.buddy(block, order);
            // A right buddy must lie inside the segment: past the frontier is the tail,
            // past a segment's end the next segment. One compare covers both sides: a
            // left buddy ends where the block starts, inside the segment (the block is
            // aligned from the segment's start, so the left buddy starts at or after it).
            if buddy.offset() + size_of_order(order) > segment.end {
                break;
            }
            if self.arena().header(buddy) != Header::free(order, segment.index) {
                break;
            }
            self.arena_mut().unlink(buddy, order);
            block = block.min(buddy);
            order += 1;
        }
        if segment.last && block.offset() + size_of_order(order) == segment.end {
            self.arena_mut().set_frontier(block.offset());
            self.trim();
        } else {
            self.arena_mut().push(block, order, segment.index);
        }
    }
}

impl Allocator for Buddy {
    fn describe(&self) -> String {
        let growth = if self.config.aligned_growth {
            "one arena grown by aligned blocks".to_string()
        } else {
            format!("grown by each block at the break, up to {MAX_SEGMENTS} segments")
        };
        format!(
            "binary buddy, orders 2^{}..2^{}, {HEADER_BYTES}-byte header per block, {growth}",
            self.layout.min_order, self.layout.max_order
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

    /// Writes the control area on an empty heap: no blocks, every list empty (the break
    /// is reset first, so a second `init` without `reset_brk` also starts over).
    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.heap.reset_brk();
        self.heap.extend(self.layout.base)?;
        self.arena_mut().clear();
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let order = self.order_for(size)?;
        let (block, segment) = match self.find_fit(order) {
            Some((block, from, segment)) => {
                self.split(block, from, order, segment);
                (block, segment)
            }
            None => self.extend_heap(order)?,
        };
        self.place(block, order, segment);
        Some(self.payload_ptr(block))
    }

    /// Frees `ptr`, or refuses it (see `src/guard.rs`): a pointer that is no payload
    /// of the heap, or whose header does not say allocated, is kept for
    /// [`Allocator::take_misuse`] and nothing changes.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, order, segment)) = self.live_block(ptr) {
            self.coalesce(block, order, segment);
        }
    }

    /// 0 for a pointer that is no payload of the heap. Reads only the header word, and
    /// saturates: a hardened caller may ask about a block whose header was smashed.
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        let Ok(block) = self.payload_block(ptr) else { return 0 };
        let order = self.arena().header(block).order();
        1usize.checked_shl(order).map_or(0, |size| size.saturating_sub(HEADER_BYTES))
    }

    /// Refuses `ptr` as `free` does (returning `None`) before anything else; then the
    /// paths of `src/realloc.rs`.
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded with the caller's guarantee that `ptr` is live.
        unsafe { self.resize_block(ptr, size) }
    }

    /// `Ok(())` before `init` (see the crate docs' list of invariants).
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        if !self.ready {
            return Ok(());
        }
        self.check()
    }

    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take()
    }

    /// `free`'s checks without freeing: a payload position, a free header is a double
    /// free, anything but a well-formed allocated header of a block the heap holds goes
    /// to `free` (which refuses it, or stops on it) as an invalid pointer.
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        let block = self.payload_block(ptr)?;
        let offset = self.layout.base + HEADER_BYTES + block.offset();
        let header = self.arena().header(block);
        if header.is_free() {
            return Err(Misuse::DoubleFree { offset });
        }
        let order = header.order();
        let segment = self.arena().segment(header.segment());
        let well_formed = header == Header::allocated(order, header.segment())
            && (self.layout.min_order..=self.layout.max_order).contains(&order)
            && segment.holds(block, order)
            && segment.aligns(block, order)
            && size_of_order(order) <= self.arena().materialized().saturating_sub(block.offset());
        if well_formed { Ok(()) } else { Err(Misuse::InvalidPointer { offset }) }
    }

    /// The block's header, the buddies `free` would merge with and the block after it
    /// (see `src/guard.rs`).
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        match self.payload_block(ptr) {
            Ok(block) => self.neighbourhood(block),
            Err(misuse) => Err(Corruption::new("invalid pointer", misuse.offset())),
        }
    }

    /// The control area, headers, payloads, free blocks and the untouched tail (see
    /// `src/spans.rs`); `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        self.spans()
    }
}

#[cfg(test)]
mod tests;
