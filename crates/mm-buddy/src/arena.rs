//! Where everything lives in the heap, and the only code that reads or writes it.
//!
//! ```text
//!  heap offset 0                                                              base           base + F     brk
//!  | frontier | nonempty | starts  | count | head[min] ... head[top] | pad | arena: blocks  | untouched |
//!  |  usize   |   u64    | u32 x 9 |  u32  |  u32 per order          |     | tile [0, F)    | [F, E)    |
//!  |<-------------------------------- the control area ----------------->|
//! ```
//!
//! * Blocks are named by their **arena offset** ([`Block`]), the distance from `base`.
//! * The arena is cut into at most [`MAX_SEGMENTS`] **segments** (`starts` holds the
//!   start of each, in link units, the first at 0, then [`NO_SEGMENT`] past the last
//!   one; `count` says how many there are). A segment `[s, e)` is a sequence of buddy
//!   trees of its own: a block of
//!   order `k` in it starts at `s` plus a multiple of `2^k`, so its buddy is at
//!   `s + ((offset - s) XOR 2^k)`, and a buddy that does not lie wholly inside `[s, e)`
//!   is no buddy ([`Segment`]). The last segment ends at the frontier. Every block's
//!   header names its segment, so `free` reads the segment's start and end
//!   ([`Arena::segment`]: entries `i` and `i + 1`, the frontier if lower) without a
//!   search; the checker and the cold paths search the table ([`Arena::segment_of`]).
//! * `base` is chosen so that `base + HEADER_BYTES` is a multiple of the alignment:
//!   every block starts at a multiple of the minimum block (itself a multiple of the
//!   alignment), so every payload, two bytes into its block, is aligned.
//! * The **frontier** `F` is the end of the last block; `[F, E)` (with `E = brk - base`)
//!   is heap that was handed out by `sbrk` once and is free again, but belongs to no
//!   block: the *untouched tail*. Past `E` lies heap not yet asked for.
//! * `nonempty` has bit `k - min_order` set when the free list of order `k` is not
//!   empty, so the smallest order with a free block is one `trailing_zeros` away.
//! * Free-list links (in the free blocks) and heads (here) are 32-bit: `0` is the end
//!   of a list, `n` names arena offset `(n - 1) * 16`. That keeps the smallest block at
//!   16 bytes (a 2-byte header and two links) and caps the arena at 2^36 - 16 bytes
//!   ([`ARENA_REACH`]): a larger heap is used up to there, never past it, so no block
//!   ever has an offset its link would truncate.
//!
//! Every access goes through [`MemLib::read`] / [`MemLib::write`], which bounds-check
//! the offset, so a corrupted heap makes the allocator panic rather than touch memory
//! outside its heap. Unlinking goes further ([`Arena::check_listed`]): it checks, as
//! glibc does, that the block is free and that its neighbours on the list name it back,
//! so that links a program overwrote (a write into a freed block) stop the operation
//! with a message naming the corruption, before anything is written through them.

use std::fmt;

use mm_core::{Align, Corruption, MemLib};

use crate::check::BuddyRule;
use crate::header::{HEADER_BYTES, Header};

/// Heap offset of the frontier word (a `usize`, in a slot of 8 bytes).
pub(crate) const FRONTIER_AT: usize = 0;
/// Heap offset of the non-empty-lists mask (a `u64`).
pub(crate) const NONEMPTY_AT: usize = FRONTIER_AT + size_of::<u64>();
/// Heap offset of the segment table: the start of segment `i` (a `u32` in link units,
/// [`NO_SEGMENT`] past the last segment) for `i` in `0..=MAX_SEGMENTS`. Segment 0
/// starts at 0; the one entry past the last segment marks where it ends (at the
/// frontier), so that the end of segment `i` is entry `i + 1` or the frontier, whichever
/// is lower, for every `i` a header can name.
pub(crate) const SEGMENTS_AT: usize = NONEMPTY_AT + size_of::<u64>();
/// The most segments the arena is ever cut into: the table has a fixed size, so all
/// state stays inside the heap; a growth that would need one more carves an aligned
/// block in the last segment instead.
pub const MAX_SEGMENTS: usize = 8;
/// The segment table's word for "no segment starts here": above every arena offset.
pub(crate) const NO_SEGMENT: u32 = u32::MAX;
/// Heap offset of the segment count (a `u32`), after the table.
pub(crate) const SEGMENT_COUNT_AT: usize = SEGMENTS_AT + LINK_BYTES * (MAX_SEGMENTS + 1);
/// Heap offset of the first free-list head.
pub(crate) const HEADS_AT: usize = SEGMENT_COUNT_AT + size_of::<u32>();
/// Bytes per free-list head or link.
const LINK_BYTES: usize = size_of::<u32>();

/// The bytes a free block's header and links take: what must lie inside the heap before
/// they are read (10).
const FREE_BLOCK_BYTES: usize = HEADER_BYTES + 2 * LINK_BYTES;
/// The smallest order any configuration uses: the smallest power of two that holds a
/// header and two links (16 bytes).
pub(crate) const MIN_ORDER_FLOOR: u32 = FREE_BLOCK_BYTES.next_power_of_two().trailing_zeros();
/// Links count in units of the smallest possible block.
const LINK_SHIFT: u32 = MIN_ORDER_FLOOR;
/// log2 of the arena bytes a link can reach: 32-bit links in 16-byte units (36).
const LINK_REACH_BITS: u32 = u32::BITS + LINK_SHIFT;
/// The largest order links can name: the largest power of two below what they reach
/// (and, on a target whose `usize` is no wider than that, one that fits a `usize` with
/// room to spare).
const MAX_ORDER_CAP: u32 = if usize::BITS > LINK_REACH_BITS { LINK_REACH_BITS - 1 } else { usize::BITS - 2 };
/// The most arena bytes links can reach: the last link word, `u32::MAX`, names arena
/// offset `2^36 - 32`, the start of the last 16-byte block below `2^36 - 16`.
pub(crate) const ARENA_REACH: usize = (u32::MAX as usize) << LINK_SHIFT;

// The numbers the docs quote: 16-byte smallest blocks, links reaching 2^36 - 16 bytes.
const _: () = assert!(MIN_ORDER_FLOOR == 4 && LINK_REACH_BITS == 36 && HEADS_AT == 56);

/// Where things are, fixed by the alignment and the heap's maximum size alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The smallest block's order: 16 bytes, or the alignment if that is larger.
    pub(crate) min_order: u32,
    /// The largest block's order: the largest power of two the arena can ever hold.
    /// Below `min_order` only for a heap too small to hold one block.
    pub(crate) max_order: u32,
    /// How many free-list heads the control area holds (orders `min_order..`).
    pub(crate) lists: usize,
    /// Heap offset of arena offset 0.
    pub(crate) base: usize,
    /// The most arena bytes the heap can ever hold: what the heap leaves after the
    /// control area, but no more than links can reach ([`ARENA_REACH`]).
    pub(crate) capacity: usize,
}

impl Layout {
    pub(crate) fn new(align: Align, max_heap: usize) -> Layout {
        let min_order = align.get().trailing_zeros().max(MIN_ORDER_FLOOR);
        // One head per order that could ever fit in the heap (an upper bound: the
        // control area itself takes a little of it).
        let top = max_heap.checked_ilog2().unwrap_or(0).min(MAX_ORDER_CAP);
        let lists = (top.saturating_sub(min_order) + 1) as usize;
        let control_end = HEADS_AT + LINK_BYTES * lists;
        let base =
            align.round_up(control_end + HEADER_BYTES).expect("alignments are at most a page") - HEADER_BYTES;
        let capacity = max_heap.saturating_sub(base).min(ARENA_REACH);
        let max_order = capacity.checked_ilog2().unwrap_or(0).min(MAX_ORDER_CAP);
        Layout { min_order, max_order, lists, base, capacity }
    }

    /// The bit of `order` in the non-empty mask.
    pub(crate) fn list_bit(&self, order: u32) -> u64 {
        1 << (order - self.min_order)
    }

    /// Heap offset of the free-list head of `order`.
    pub(crate) fn head_at(&self, order: u32) -> usize {
        HEADS_AT + LINK_BYTES * (order - self.min_order) as usize
    }
}

/// A block, named by its arena offset.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Block(usize);

impl Block {
    /// The block at arena offset `offset`.
    pub(crate) const fn at(offset: usize) -> Block {
        Block(offset)
    }

    /// The arena offset.
    pub(crate) const fn offset(self) -> usize {
        self.0
    }

    /// The block `bytes` further on.
    pub(crate) const fn plus(self, bytes: usize) -> Block {
        Block(self.0 + bytes)
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block@{:#x}", self.0)
    }
}

/// `2^order` bytes.
pub(crate) const fn size_of_order(order: u32) -> usize {
    1 << order
}

/// A segment of the arena, `[base, end)`: a sequence of buddy trees whose blocks are
/// aligned to their size counted from `base`, and whose merges stay inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Its number: its entry in the segment table, and what its blocks' headers say.
    pub(crate) index: usize,
    /// The arena offset where it starts.
    pub(crate) base: usize,
    /// The arena offset where it ends: the next segment's start, or the frontier.
    pub(crate) end: usize,
    /// True for the last segment, which ends at the frontier and grows into the tail.
    pub(crate) last: bool,
}

impl Segment {
    /// True when a block of `order` can start at `block` in this segment: at `base`
    /// plus a multiple of its size.
    pub(crate) const fn aligns(&self, block: Block, order: u32) -> bool {
        (block.0 - self.base) & (size_of_order(order) - 1) == 0
    }

    /// The buddy of `block` at `order`: the other half of the block of `order + 1`
    /// that contains it, counted from the segment's start.
    pub(crate) const fn buddy(&self, block: Block, order: u32) -> Block {
        Block(self.base + ((block.0 - self.base) ^ size_of_order(order)))
    }

    /// The block of `order` that contains `block` (its ancestor in the tree).
    pub(crate) const fn ancestor(&self, block: Block, order: u32) -> Block {
        Block(self.base + ((block.0 - self.base) & !(size_of_order(order) - 1)))
    }

    /// True when the block of `order` at `block` lies wholly inside the segment.
    pub(crate) const fn holds(&self, block: Block, order: u32) -> bool {
        block.0 >= self.base && block.0 < self.end && size_of_order(order) <= self.end - block.0
    }
}

/// A link word for `block` (`0` for none).
///
/// # Panics
/// When the block lies past what a link can name: the arena's capacity keeps every
/// block below [`ARENA_REACH`], and a link must never be truncated into another block's.
#[inline]
fn encode(block: Option<Block>) -> u32 {
    match block {
        None => 0,
        Some(b) => match u32::try_from((b.0 >> LINK_SHIFT) + 1) {
            Ok(link) => link,
            Err(_) => panic!("arena offset {:#x} is past what a link can name", b.0),
        },
    }
}

/// The block a link word names.
pub(crate) fn decode(link: u32) -> Option<Block> {
    link.checked_sub(1).map(|n| Block((n as usize) << LINK_SHIFT))
}

/// The heap and its layout: typed reads and writes of the control area and of blocks.
pub(crate) struct Arena<'a> {
    pub(crate) heap: &'a MemLib,
    pub(crate) layout: &'a Layout,
}

impl Arena<'_> {
    pub(crate) fn frontier(&self) -> usize {
        self.heap.read(FRONTIER_AT)
    }

    pub(crate) fn nonempty(&self) -> u64 {
        self.heap.read(NONEMPTY_AT)
    }

    /// The segment count word as stored (`check_heap` verifies it).
    pub(crate) fn segment_count_word(&self) -> u32 {
        self.heap.read(SEGMENT_COUNT_AT)
    }

    /// Entry `i` of the segment table as stored (`i <= MAX_SEGMENTS`).
    #[inline]
    pub(crate) fn segment_word(&self, i: usize) -> u32 {
        self.heap.read(SEGMENTS_AT + LINK_BYTES * i)
    }

    /// How many segments there are: the stored count, kept within `1..=MAX_SEGMENTS`
    /// so that a damaged word never makes a lookup read past the table.
    #[inline]
    pub(crate) fn segment_count(&self) -> usize {
        (self.segment_count_word() as usize).clamp(1, MAX_SEGMENTS)
    }

    /// Where segment `i` starts (`i <= MAX_SEGMENTS`; past the last segment, above
    /// every arena offset).
    #[inline]
    pub(crate) fn segment_base(&self, i: usize) -> usize {
        (self.segment_word(i) as usize) << LINK_SHIFT
    }

    /// Segment number `index` (below [`MAX_SEGMENTS`], as a header's three bits are),
    /// from two table entries and the frontier: what `free` uses, given the number in the
    /// block's header. A number past the last segment gives a segment that starts above
    /// the frontier, and so holds no block.
    #[inline(always)]
    pub(crate) fn segment(&self, index: usize) -> Segment {
        let frontier = self.frontier();
        let base = self.segment_base(index);
        let end = self.segment_base(index + 1).min(frontier);
        Segment { index, base, end, last: end == frontier }
    }

    /// The segment holding arena offset `at` (below the frontier): the last one that
    /// starts at or before it. O(MAX_SEGMENTS), for the checker and the cold paths; a
    /// block's header names its segment for the hot ones.
    pub(crate) fn segment_of(&self, at: usize) -> Segment {
        let count = self.segment_count();
        let mut end = self.frontier();
        for index in (1..count).rev() {
            let base = self.segment_base(index);
            if base <= at {
                return Segment { index, base, end, last: index + 1 == count };
            }
            end = base;
        }
        Segment { index: 0, base: 0, end, last: count == 1 }
    }

    /// Checks the segment table against the frontier (rule 3 of the crate docs): a
    /// count in `1..=MAX_SEGMENTS`, segment 0 at 0, later starts that are multiples of
    /// the smallest block, increasing, and below the frontier (an empty last segment is
    /// dropped), and every entry past the last segment [`NO_SEGMENT`]. `Err` holds the
    /// heap offset of the first bad word and the broken rule.
    pub(crate) fn check_segments(&self) -> Result<(), (usize, BuddyRule)> {
        let count = self.segment_count_word();
        if !(1..=MAX_SEGMENTS).contains(&(count as usize)) {
            return Err((SEGMENT_COUNT_AT, BuddyRule::SegmentCount { count, max: MAX_SEGMENTS }));
        }
        let frontier = self.frontier();
        let min_block = size_of_order(self.layout.min_order);
        let first = self.segment_base(0);
        if first != 0 {
            let rule = BuddyRule::SegmentStart { index: 0, start: first, previous: 0, frontier };
            return Err((SEGMENTS_AT, rule));
        }
        let mut previous = 0;
        for index in 1..count as usize {
            let start = self.segment_base(index);
            if start <= previous || start >= frontier || !start.is_multiple_of(min_block) {
                let rule = BuddyRule::SegmentStart { index, start, previous, frontier };
                return Err((SEGMENTS_AT + LINK_BYTES * index, rule));
            }
            previous = start;
        }
        for index in count as usize..=MAX_SEGMENTS {
            let word = self.segment_word(index);
            if word != NO_SEGMENT {
                return Err((SEGMENTS_AT + LINK_BYTES * index, BuddyRule::SegmentEndMark { index, word }));
            }
        }
        Ok(())
    }

    /// The last segment, which ends at the frontier.
    #[inline]
    pub(crate) fn last_segment(&self) -> Segment {
        let index = self.segment_count() - 1;
        let base = self.segment_base(index);
        Segment { index, base, end: self.frontier().max(base), last: true }
    }

    pub(crate) fn head_word(&self, order: u32) -> u32 {
        self.heap.read(self.layout.head_at(order))
    }

    pub(crate) fn head(&self, order: u32) -> Option<Block> {
        decode(self.head_word(order))
    }

    pub(crate) fn header(&self, block: Block) -> Header {
        Header::from_word(self.heap.read(self.layout.base + block.0))
    }

    pub(crate) fn next_word(&self, block: Block) -> u32 {
        self.heap.read(self.layout.base + block.0 + HEADER_BYTES)
    }

    pub(crate) fn prev_word(&self, block: Block) -> u32 {
        self.heap.read(self.layout.base + block.0 + HEADER_BYTES + LINK_BYTES)
    }

    pub(crate) fn next(&self, block: Block) -> Option<Block> {
        decode(self.next_word(block))
    }

    pub(crate) fn prev(&self, block: Block) -> Option<Block> {
        decode(self.prev_word(block))
    }

    /// A free block's header and its next and prev links, read together (one bounds
    /// check for the three words an unlink needs).
    #[inline]
    pub(crate) fn free_block_words(&self, block: Block) -> (Header, Option<Block>, Option<Block>) {
        let bytes: [u8; FREE_BLOCK_BYTES] = self.heap.read_bytes(self.layout.base + block.0);
        let [h0, h1, n0, n1, n2, n3, p0, p1, p2, p3] = bytes;
        (
            Header::from_word(u16::from_ne_bytes([h0, h1])),
            decode(u32::from_ne_bytes([n0, n1, n2, n3])),
            decode(u32::from_ne_bytes([p0, p1, p2, p3])),
        )
    }

    /// Arena bytes the heap holds so far: the blocks and the untouched tail.
    pub(crate) fn materialized(&self) -> usize {
        self.heap.heap_size() - self.layout.base
    }

    /// True when a free block at `block` can have its header and links read: it starts
    /// at a multiple of the smallest block, and they lie inside the heap. Every block a
    /// link names is checked so before it is read through.
    #[inline]
    pub(crate) fn can_hold_links(&self, block: Block) -> bool {
        block.0.is_multiple_of(size_of_order(self.layout.min_order))
            && block.0.checked_add(FREE_BLOCK_BYTES).is_some_and(|end| end <= self.materialized())
    }

    /// Checks that `block` is a listed free block of `order`, as glibc's "safe
    /// unlinking" does: its header says free and `order`, and its neighbours on the list
    /// name it back (the next block's prev link, and the previous block's next link or
    /// the list's head). Every listed block passes; a block whose header or links a
    /// program overwrote (an overflow out of the block below, a write into a freed
    /// block) almost never does. Reads nothing outside the heap and never panics.
    #[inline]
    pub(crate) fn check_listed(&self, block: Block, order: u32) -> Result<(), Corruption> {
        let at = self.layout.base + block.0;
        let listable = (self.layout.min_order..=self.layout.max_order).contains(&order);
        let header = self.header(block).without_segment();
        if !listable || !self.can_hold_links(block) || header != Header::free(order, 0) {
            return Err(Corruption::new("free block's header is corrupted", at));
        }
        let linked_back = self.linked_back(block, order, self.next(block), self.prev(block));
        if linked_back { Ok(()) } else { Err(Corruption::new("corrupted double-linked list", at)) }
    }

    /// True when the free `block` of `order`, whose links name `next` and `prev`, is
    /// named back by them: `next`'s prev link, and `prev`'s next link or the list's head.
    /// A link that names no place inside the heap names nothing back.
    #[inline(always)]
    fn linked_back(&self, block: Block, order: u32, next: Option<Block>, prev: Option<Block>) -> bool {
        let me = encode(Some(block));
        // The link word `index` (0: next, 1: prev) of `other`, read only inside the heap.
        let link = |other: Block, index: usize| {
            let at = (self.layout.base + HEADER_BYTES + index * LINK_BYTES).checked_add(other.0)?;
            self.heap.get::<u32>(at)
        };
        next.is_none_or(|next| link(next, 1) == Some(me))
            && match prev {
                Some(prev) => link(prev, 0) == Some(me),
                None => self.head_word(order) == me,
            }
    }

    /// The block that ends at `end` (a block boundary of the segment starting at
    /// `base`, `base < end <= frontier`): the node `[end - 2^t, end)` with
    /// `t = trailing_zeros(end - base)` starts a block, and if that block is smaller the
    /// node is split, so its right half starts one, and so on down. `None` only in a
    /// damaged heap.
    pub(crate) fn block_ending_at(&self, base: usize, end: usize) -> Option<(Block, u32)> {
        let mut order = (end - base).trailing_zeros().min(self.layout.max_order);
        loop {
            let block = Block(end - size_of_order(order));
            if self.header(block).order() == order {
                return Some((block, order));
            }
            if order <= self.layout.min_order {
                return None;
            }
            order -= 1;
        }
    }
}

/// The heap and its layout, for writing.
pub(crate) struct ArenaMut<'a> {
    pub(crate) heap: &'a mut MemLib,
    pub(crate) layout: &'a Layout,
}

impl ArenaMut<'_> {
    pub(crate) fn view(&self) -> Arena<'_> {
        Arena { heap: self.heap, layout: self.layout }
    }

    pub(crate) fn set_frontier(&mut self, frontier: usize) {
        self.heap.write(FRONTIER_AT, frontier);
    }

    /// Starts a new last segment at arena offset `base` (the caller checked that the
    /// table has room).
    /// Starts a new last segment at arena offset `base` (the caller checked that the
    /// table has room), and returns its number.
    pub(crate) fn push_segment(&mut self, base: usize) -> usize {
        let count = self.view().segment_count();
        debug_assert!(count < MAX_SEGMENTS);
        self.heap.write(SEGMENTS_AT + LINK_BYTES * count, encode(Some(Block(base))) - 1);
        self.heap.write(SEGMENT_COUNT_AT, count as u32 + 1);
        count
    }

    /// Drops the last segment (empty: the frontier went back to its start).
    pub(crate) fn pop_segment(&mut self) {
        let count = self.view().segment_count();
        if count > 1 {
            self.heap.write(SEGMENTS_AT + LINK_BYTES * (count - 1), NO_SEGMENT);
            self.heap.write(SEGMENT_COUNT_AT, count as u32 - 1);
        }
    }

    pub(crate) fn set_nonempty(&mut self, mask: u64) {
        self.heap.write(NONEMPTY_AT, mask);
    }

    pub(crate) fn set_head(&mut self, order: u32, block: Option<Block>) {
        self.heap.write(self.layout.head_at(order), encode(block));
    }

    pub(crate) fn set_header(&mut self, block: Block, header: Header) {
        self.heap.write(self.layout.base + block.0, header.word());
    }

    /// Writes a free block's header, its next link and an empty prev link together
    /// (one bounds check), as a block pushed at the head of its list has them.
    #[inline]
    fn set_free_block(&mut self, block: Block, header: Header, next: Option<Block>) {
        let [h0, h1] = header.word().to_ne_bytes();
        let [n0, n1, n2, n3] = encode(next).to_ne_bytes();
        let [p0, p1, p2, p3] = encode(None).to_ne_bytes();
        self.heap.write_bytes(self.layout.base + block.0, [h0, h1, n0, n1, n2, n3, p0, p1, p2, p3]);
    }

    pub(crate) fn set_next(&mut self, block: Block, next: Option<Block>) {
        self.heap.write(self.layout.base + block.0 + HEADER_BYTES, encode(next));
    }

    pub(crate) fn set_prev(&mut self, block: Block, prev: Option<Block>) {
        self.heap.write(self.layout.base + block.0 + HEADER_BYTES + LINK_BYTES, encode(prev));
    }

    /// Writes an empty control area: no blocks, every list empty.
    pub(crate) fn clear(&mut self) {
        self.set_frontier(0);
        self.set_nonempty(0);
        self.heap.write(SEGMENTS_AT, 0u32);
        for i in 1..=MAX_SEGMENTS {
            self.heap.write(SEGMENTS_AT + LINK_BYTES * i, NO_SEGMENT);
        }
        self.heap.write(SEGMENT_COUNT_AT, 1u32);
        for i in 0..self.layout.lists {
            self.set_head(self.layout.min_order + i as u32, None);
        }
    }

    /// Makes `block`, in segment number `segment`, a free block of `order` at the head
    /// of its list.
    #[inline]
    pub(crate) fn push(&mut self, block: Block, order: u32, segment: usize) {
        let head = self.view().head(order);
        self.set_free_block(block, Header::free(order, segment), head);
        if let Some(head) = head {
            self.set_prev(head, Some(block));
        }
        self.set_head(order, Some(block));
        let mask = self.view().nonempty() | self.layout.list_bit(order);
        self.set_nonempty(mask);
    }

    /// Takes the free `block` off the list of `order` (its header is left as it was:
    /// the caller re-labels the block), and returns the number of its segment, as its
    /// header says. `block` is a list head or a block the caller found below the
    /// frontier, so its header and links lie inside the heap.
    ///
    /// # Panics
    /// With a [`Corruption`] when the block is not what the list says
    /// ([`Arena::check_listed`]): unlinking through a forged link would write where a
    /// program chose (the classic unlink attack), so the operation stops instead.
    #[inline(always)]
    pub(crate) fn unlink(&mut self, block: Block, order: u32) -> usize {
        // The checks of `check_listed`, on the words the unlink reads anyway.
        let view = self.view();
        let (header, next, prev) = view.free_block_words(block);
        if header.without_segment() != Header::free(order, 0) || !view.linked_back(block, order, next, prev) {
            self.refuse_unlink(block, order);
        }
        match prev {
            Some(prev) => self.set_next(prev, next),
            None => self.set_head(order, next),
        }
        if let Some(next) = next {
            self.set_prev(next, prev);
        }
        if next.is_none() && prev.is_none() {
            let mask = self.view().nonempty() & !self.layout.list_bit(order);
            self.set_nonempty(mask);
        }
        header.segment()
    }

    /// Stops an unlink that [`ArenaMut::unlink`] found unsafe, naming what is wrong.
    #[cold]
    #[inline(never)]
    fn refuse_unlink(&self, block: Block, order: u32) -> ! {
        let found = self.view().check_listed(block, order).err();
        found
            .unwrap_or(Corruption::new("corrupted double-linked list", self.layout.base + block.offset()))
            .panic()
    }

    /// Takes the first block off the list of `order`, with its segment's number.
    #[inline]
    pub(crate) fn pop(&mut self, order: u32) -> Option<(Block, usize)> {
        let block = self.view().head(order)?;
        let segment = self.unlink(block, order);
        Some((block, segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buddies_are_found_by_xor_from_the_segment_start() {
        let first = Segment { index: 0, base: 0, end: 0x1000, last: false };
        let b = Block::at(0x40);
        assert_eq!(first.buddy(b, 6), Block::at(0x00));
        assert_eq!(first.buddy(b, 4), Block::at(0x50));
        assert_eq!(first.buddy(b, 5), Block::at(0x60));
        assert_eq!(first.ancestor(Block::at(0x70), 6), Block::at(0x40));
        // Buddy of the buddy is the block.
        for order in 4..10 {
            let x = Block::at(0x400);
            assert_eq!(first.buddy(first.buddy(x, order), order), x);
        }
        // A segment starting at 0x30 counts from there: 0x40 is 0x10 into it.
        let second = Segment { index: 1, base: 0x30, end: 0x130, last: true };
        assert_eq!(second.buddy(b, 4), Block::at(0x30));
        assert!(second.aligns(Block::at(0xb0), 7) && !second.aligns(b, 5));
        assert_eq!(second.ancestor(Block::at(0x70), 6), Block::at(0x70));
        assert!(second.holds(Block::at(0xb0), 7) && !second.holds(Block::at(0xc0), 7));
    }

    #[test]
    fn links_round_trip() {
        for off in [0, 16, 0x1230, (1 << 35) - 16] {
            assert_eq!(decode(encode(Some(Block::at(off)))), Some(Block::at(off)));
        }
        assert_eq!(encode(None), 0);
        assert_eq!(decode(0), None);
    }

    #[test]
    fn the_layout_aligns_payloads_and_sizes_the_lists() {
        let l = Layout::new(Align::MIN, 20 << 20);
        // 20 MiB: orders 4..=24, 21 heads; 56 + 84 = 140 bytes, then 2 of pad.
        assert_eq!((l.min_order, l.max_order, l.lists, l.base), (4, 24, 21, 142));
        assert_eq!(l.capacity, (20 << 20) - 142);
        for bytes in [8, 16, 32, 64, 4096] {
            let align = Align::new(bytes).unwrap();
            let l = Layout::new(align, 1 << 20);
            assert!(align.is_aligned(l.base + HEADER_BYTES), "alignment {bytes}");
            assert!(l.base >= HEADS_AT + 4 * l.lists);
            assert_eq!(l.min_order, bytes.trailing_zeros().max(4));
        }
        // A heap too small for any block.
        let tiny = Layout::new(Align::MAX, 4096);
        assert!(tiny.max_order < tiny.min_order);
    }
}
