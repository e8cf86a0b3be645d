//! The only code that reads or writes the heap: the control area, the two bitmaps and
//! the free lists' links.
//!
//! ## The bitmaps
//!
//! One bit of each per *unit* (smallest block) of the coverage, in a block of the heap:
//!
//! ```text
//!  bitmap block:  | allocated[0] start[0] | allocated[1] start[1] | ... | allocated[W-1] start[W-1] |
//!  unit u = arena offset / unit;   bit u of a bitmap = word u / 64, bit u % 64
//! ```
//!
//! The two bitmaps are interleaved word by word: the allocated and start words of the
//! same 64 units are neighbours, on one cache line, and one bounds check reads both
//! ([`Tree::words`]). Every operation asks both questions of the same units ("is the
//! buddy allocated? does a block start at its midpoint?"), so two separate arrays cost a
//! second cache line and a second check each time. Growing still appends: the pairs of a
//! larger tree are the old pairs followed by new ones.
//!
//! * **start**: set exactly at the units where a block begins, below the frontier.
//!   This *is* the classic "split" bit per tree node, stored at the node's midpoint:
//!   a node is split exactly when a block begins at its midpoint (the start of its right
//!   half), and every unit but 0 is the midpoint of exactly one node, so the tree's
//!   split bits and the start bits are the same bits (see the crate docs). Numbered by
//!   address rather than level by level, they grow by appending when the tree doubles.
//! * **allocated**: set exactly at the starts of allocated blocks.
//!
//! Every access goes through [`MemLib::read`] / [`MemLib::write`], which bounds-check,
//! so a damaged heap makes the allocator panic rather than touch memory outside it.

use mm_core::{Corruption, MemLib};

use crate::layout::{
    BITMAP_AT, Block, COVERAGE_AT, FRONTIER_AT, LINKS_BYTES, Layout, NONEMPTY_AT, WORD, WORDS_AT, decode,
    encode, size_of_order,
};

/// Bits per bitmap word.
pub(crate) const BITS: usize = u64::BITS as usize;
/// Bytes of a pair of words, the allocated and the start word of the same 64 units.
const PAIR: usize = 2 * WORD;

/// Which of the two bitmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bits {
    /// Set at the start of every allocated block (the first word of a pair).
    Allocated = 0,
    /// Set at the start of every block (the split bit of the node whose midpoint it is;
    /// the second word of a pair).
    Start = 1,
}

/// Where the two bitmaps lie now: read from the control area once per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bitmaps {
    /// Arena offset of the bitmap block.
    pub(crate) block: Block,
    /// The coverage order `R`.
    pub(crate) coverage: u32,
    /// Heap offset of the first pair of words (allocated, start).
    first_pair_at: usize,
    /// Words of each bitmap (pairs of words in the block).
    pub(crate) words: usize,
}

impl Bitmaps {
    /// The bitmaps of a coverage of order `coverage`, in the block at `block`.
    pub(crate) fn new(layout: &Layout, block: Block, coverage: u32) -> Bitmaps {
        Bitmaps::with_words(layout, block, coverage, layout.bitmap_words(coverage))
    }

    /// The bitmaps of `words` words each in the block at `block`. A damaged control
    /// area gives offsets past the heap, which every read refuses; they are clamped so
    /// that no offset computed from them wraps round to one inside the heap.
    #[inline]
    pub(crate) fn with_words(layout: &Layout, block: Block, coverage: u32, words: usize) -> Bitmaps {
        // The largest offset `word_at` makes is `first_pair_at + PAIR * words + WORD`:
        // with the first term at most MAX/2 and the second at most MAX/4, it fits.
        let first_pair_at = layout.base.saturating_add(block.offset()).min(usize::MAX / 2);
        let words = words.min(usize::MAX / (4 * PAIR));
        Bitmaps { block, coverage, first_pair_at, words }
    }

    /// Heap offset of word `word` of `bits` (`word` at most [`Bitmaps::words`]).
    #[inline]
    pub(crate) fn word_at(&self, bits: Bits, word: usize) -> usize {
        self.pair_at(word) + bits as usize * WORD
    }

    /// Heap offset of the pair of words (allocated, start) number `word`.
    #[inline]
    pub(crate) fn pair_at(&self, word: usize) -> usize {
        debug_assert!(word <= self.words, "bitmap word {word} of {}", self.words);
        self.first_pair_at + PAIR * word
    }

    /// Heap offset just past the bitmaps.
    pub(crate) fn end(&self) -> usize {
        self.pair_at(self.words)
    }

    /// The units the bitmaps describe.
    pub(crate) fn units(&self) -> usize {
        self.words * BITS
    }
}

/// Two native-endian words from 16 bytes of the heap (a pair of bitmap words, or a free
/// block's two links).
#[inline]
fn two_words(bytes: [u8; PAIR]) -> (u64, u64) {
    // Split as slices: destructuring the sixteen bytes one by one compiled to slower code.
    let (first, second) = bytes.split_at(WORD);
    let word = |half: &[u8]| u64::from_ne_bytes(half.try_into().expect("eight bytes"));
    (word(first), word(second))
}

/// The heap and its layout, for reading.
#[derive(Clone, Copy)]
pub(crate) struct Tree<'a> {
    pub(crate) heap: &'a MemLib,
    pub(crate) layout: &'a Layout,
}

impl<'a> Tree<'a> {
    #[inline]
    pub(crate) fn frontier(&self) -> usize {
        self.heap.read(FRONTIER_AT)
    }

    #[inline]
    pub(crate) fn nonempty(&self) -> u64 {
        self.heap.read(NONEMPTY_AT)
    }

    /// Where the bitmaps are (a damaged control area panics on the first access).
    #[inline]
    pub(crate) fn bitmaps(&self) -> Bitmaps {
        let block = Block::at(self.heap.read(BITMAP_AT));
        let coverage = self.heap.read::<u64>(COVERAGE_AT).min(u64::from(usize::BITS - 1)) as u32;
        Bitmaps::with_words(self.layout, block, coverage, self.heap.read(WORDS_AT))
    }

    /// Arena bytes the heap holds so far: the blocks and the untouched tail.
    #[inline]
    pub(crate) fn materialized(&self) -> usize {
        self.heap.heap_size() - self.layout.base
    }

    /// The unit of arena offset `offset`.
    #[inline]
    pub(crate) fn unit_of(&self, offset: usize) -> usize {
        offset >> self.layout.min_order
    }

    /// Bit `unit` of `bits` (`false` past the bitmaps' end).
    #[inline]
    pub(crate) fn bit(&self, maps: &Bitmaps, bits: Bits, unit: usize) -> bool {
        let word = unit / BITS;
        word < maps.words && self.word(maps, bits, word) & (1 << (unit % BITS)) != 0
    }

    /// Word `word` of `bits`.
    #[inline]
    pub(crate) fn word(&self, maps: &Bitmaps, bits: Bits, word: usize) -> u64 {
        // As bytes: the offset is a multiple of 8 by construction, and a byte read's
        // bounds check is one compare shorter than a word read's (no alignment test).
        u64::from_ne_bytes(self.heap.read_bytes(maps.word_at(bits, word)))
    }

    /// Word `word` of both bitmaps, (allocated, start), in one read.
    #[inline]
    pub(crate) fn words(&self, maps: &Bitmaps, word: usize) -> (u64, u64) {
        two_words(self.heap.read_bytes(maps.pair_at(word)))
    }

    /// True when a block begins at `block` (below the frontier).
    #[inline]
    pub(crate) fn is_start(&self, maps: &Bitmaps, block: Block) -> bool {
        self.bit(maps, Bits::Start, self.unit_of(block.offset()))
    }

    /// True when `block` is the start of an allocated block.
    #[inline]
    pub(crate) fn is_allocated(&self, maps: &Bitmaps, block: Block) -> bool {
        self.bit(maps, Bits::Allocated, self.unit_of(block.offset()))
    }

    /// The order of the block that starts at `block`, from the start bits alone: the
    /// block ends at the first of `block + 2^j`, `j = min, min + 1, ...`, that starts
    /// another block or is the frontier (every unit strictly inside a block has its
    /// start bit clear). In tree terms: the first ancestor of the smallest node at
    /// `block` that is split. `None` when `block` starts no block of a sound tree.
    ///
    /// Most blocks end within the word of their start bit: those are found in one read,
    /// by the next set bit of that word (the same answer, in a single step); the probes
    /// go on past the word's end.
    #[inline]
    pub(crate) fn order_of(&self, maps: &Bitmaps, frontier: usize, block: Block) -> Option<u32> {
        let word = self.unit_of(block.offset()) / BITS;
        let start = if word < maps.words { self.word(maps, Bits::Start, word) } else { 0 };
        self.order_with_start_word(maps, frontier, block, start)
    }

    /// [`Tree::order_of`] given the start word of `block`'s unit (0 when it lies past
    /// the bitmaps), which the caller has read already.
    #[inline]
    pub(crate) fn order_with_start_word(
        &self,
        maps: &Bitmaps,
        frontier: usize,
        block: Block,
        start: u64,
    ) -> Option<u32> {
        let unit = self.unit_of(block.offset());
        let mut order = self.layout.min_order;
        if unit / BITS < maps.words {
            // The start bits after `unit` in its word, with the frontier's as one more
            // start if it falls in that word (two shifts: `unit % 64 + 1` may be 64).
            let mut word = start;
            let frontier_unit = self.unit_of(frontier);
            if frontier_unit / BITS == unit / BITS {
                word |= 1 << (frontier_unit % BITS);
            }
            let later = word >> (unit % BITS) >> 1;
            if later != 0 {
                let size = (later.trailing_zeros() as usize + 1) << self.layout.min_order;
                let fits = size.is_power_of_two()
                    && block.offset().is_multiple_of(size)
                    && block.offset() + size <= frontier;
                return fits.then(|| size.trailing_zeros());
            }
            // None in this word: the block reaches at least its end.
            let to_word_end = BITS - unit % BITS;
            order += to_word_end.next_power_of_two().trailing_zeros();
        }
        self.probe_order(maps, frontier, block, order)
    }

    /// [`Tree::order_of`] by probing `block + 2^j` for each `j` from `order` on: blocks
    /// of 1 KiB and more, out of line.
    #[inline(never)]
    fn probe_order(&self, maps: &Bitmaps, frontier: usize, block: Block, mut order: u32) -> Option<u32> {
        loop {
            if !block.offset().is_multiple_of(size_of_order(order)) || order > self.layout.max_order {
                return None;
            }
            let end = block.end(order);
            if end >= frontier {
                return (end == frontier).then_some(order);
            }
            if self.bit(maps, Bits::Start, self.unit_of(end)) {
                return Some(order);
            }
            order += 1;
        }
    }

    /// True when the block of `order` at `block`, whose parent is split (it is the buddy
    /// of a block) and which ends at or below the frontier, is one whole free block: not
    /// allocated, and not split (no block begins at its midpoint).
    ///
    /// Both bits are usually in one pair of words (a block under 1 KiB, its midpoint in
    /// the same 64 units): one read.
    #[inline]
    pub(crate) fn is_free_whole(&self, maps: &Bitmaps, block: Block, order: u32) -> bool {
        let unit = self.unit_of(block.offset());
        let word = unit / BITS;
        if word >= maps.words {
            // Past the bitmaps every bit reads clear.
            return true;
        }
        let (allocated, start) = self.words(maps, word);
        if allocated & (1 << (unit % BITS)) != 0 {
            return false;
        }
        if order == self.layout.min_order {
            return true;
        }
        let midpoint = self.unit_of(block.offset() + size_of_order(order - 1));
        if midpoint / BITS == word {
            start & (1 << (midpoint % BITS)) == 0
        } else {
            !self.bit(maps, Bits::Start, midpoint)
        }
    }

    /// The block that ends at the frontier `end > 0`, with its order: the first
    /// `end - 2^j` that starts a block. `None` only in a damaged heap.
    pub(crate) fn block_ending_at(&self, maps: &Bitmaps, end: usize) -> Option<(Block, u32)> {
        let mut order = self.layout.min_order;
        while order <= self.layout.max_order && size_of_order(order) <= end {
            let block = Block::at(end - size_of_order(order));
            if !block.offset().is_multiple_of(size_of_order(order)) {
                return None;
            }
            if self.is_start(maps, block) {
                return Some((block, order));
            }
            order += 1;
        }
        None
    }

    #[inline]
    pub(crate) fn head_word(&self, order: u32) -> u64 {
        self.heap.read(self.layout.head_at(order))
    }

    #[inline]
    pub(crate) fn head(&self, order: u32) -> Option<Block> {
        decode(self.head_word(order))
    }

    #[inline]
    pub(crate) fn next_word(&self, block: Block) -> u64 {
        self.heap.read(self.layout.base + block.offset())
    }

    #[inline]
    pub(crate) fn prev_word(&self, block: Block) -> u64 {
        self.heap.read(self.layout.base + block.offset() + WORD)
    }

    /// A free block's next and prev links, read together (one bounds check).
    #[inline]
    pub(crate) fn links(&self, block: Block) -> (Option<Block>, Option<Block>) {
        let (next, prev) = two_words(self.heap.read_bytes(self.layout.base + block.offset()));
        (decode(next), decode(prev))
    }

    #[inline]
    pub(crate) fn next(&self, block: Block) -> Option<Block> {
        decode(self.next_word(block))
    }

    #[inline]
    pub(crate) fn prev(&self, block: Block) -> Option<Block> {
        decode(self.prev_word(block))
    }

    /// True when a free block at `block` can have its links read: it starts at a
    /// multiple of the smallest block and they lie inside the heap.
    #[inline]
    pub(crate) fn can_hold_links(&self, block: Block) -> bool {
        block.offset().is_multiple_of(self.layout.unit())
            && block.offset().checked_add(LINKS_BYTES).is_some_and(|end| end <= self.materialized())
    }

    /// Checks that `block` is a listed free block of `order`, as glibc's "safe
    /// unlinking" does: the bitmaps say it is a free block start, and its neighbours on
    /// the list name it back. A block whose links a program overwrote (a write into a
    /// freed block, an overflow out of the block below) almost never passes. Reads
    /// nothing outside the heap and never panics.
    #[inline]
    pub(crate) fn check_listed(&self, maps: &Bitmaps, block: Block, order: u32) -> Result<(), Corruption> {
        let at = self.layout.base + block.offset();
        let listable = (self.layout.min_order..=self.layout.max_order).contains(&order);
        if !listable || !self.is_start(maps, block) || self.is_allocated(maps, block) {
            return Err(Corruption::new("free block's bitmap bits are corrupted", at));
        }
        self.check_linked(block, order)
    }

    /// The half of [`Tree::check_listed`] that `unlink` makes: the links. (Its callers
    /// know the block is free from the bitmaps, which a program cannot reach by writing
    /// into a freed block; the links it can.)
    #[inline]
    pub(crate) fn check_linked(&self, block: Block, order: u32) -> Result<(), Corruption> {
        if !self.can_hold_links(block) {
            let at = self.layout.base + block.offset();
            return Err(Corruption::new("corrupted double-linked list", at));
        }
        let (next, prev) = self.links(block);
        self.linked_back(block, order, next, prev)
    }

    /// The check of [`Tree::check_linked`] on links already read: `next`'s prev link,
    /// and `prev`'s next link or the list's head, name `block`.
    #[inline]
    fn linked_back(
        &self,
        block: Block,
        order: u32,
        next: Option<Block>,
        prev: Option<Block>,
    ) -> Result<(), Corruption> {
        let at = self.layout.base + block.offset();
        let me = encode(Some(block));
        // Link word `index` (0: next, 1: prev) of `other`, read only inside the heap.
        let link = |other: Block, index: usize| {
            let at = (self.layout.base + index * WORD).checked_add(other.offset())?;
            self.heap.get::<u64>(at)
        };
        let next_ok = next.is_none_or(|next| link(next, 1) == Some(me));
        let prev_ok = match prev {
            Some(prev) => link(prev, 0) == Some(me),
            None => self.head_word(order) == me,
        };
        if next_ok && prev_ok { Ok(()) } else { Err(Corruption::new("corrupted double-linked list", at)) }
    }
}

/// The heap and its layout, for writing.
pub(crate) struct TreeMut<'a> {
    pub(crate) heap: &'a mut MemLib,
    pub(crate) layout: &'a Layout,
}

impl TreeMut<'_> {
    #[inline]
    pub(crate) fn view(&self) -> Tree<'_> {
        Tree { heap: self.heap, layout: self.layout }
    }

    #[inline]
    pub(crate) fn set_frontier(&mut self, frontier: usize) {
        self.heap.write(FRONTIER_AT, frontier);
    }

    #[inline]
    pub(crate) fn set_nonempty(&mut self, mask: u64) {
        self.heap.write(NONEMPTY_AT, mask);
    }

    /// Points the control area at new bitmaps.
    pub(crate) fn set_bitmaps(&mut self, maps: &Bitmaps) {
        self.heap.write(BITMAP_AT, maps.block.offset());
        self.heap.write(COVERAGE_AT, u64::from(maps.coverage));
        self.heap.write(WORDS_AT, maps.words);
    }

    /// Sets or clears bit `unit` of `bits`.
    #[inline]
    pub(crate) fn set_bit(&mut self, maps: &Bitmaps, bits: Bits, unit: usize, value: bool) {
        let at = maps.word_at(bits, unit / BITS);
        let mask = 1u64 << (unit % BITS);
        let word = u64::from_ne_bytes(self.heap.read_bytes(at));
        let word = if value { word | mask } else { word & !mask };
        self.heap.write_bytes(at, word.to_ne_bytes());
    }

    /// Marks `block` as the start of a block (or, with `false`, as no longer one).
    #[inline]
    pub(crate) fn set_start(&mut self, maps: &Bitmaps, block: Block, value: bool) {
        let unit = self.view().unit_of(block.offset());
        self.set_bit(maps, Bits::Start, unit, value);
    }

    /// Marks the block at `block` allocated (or free, with `false`).
    #[inline]
    pub(crate) fn set_allocated(&mut self, maps: &Bitmaps, block: Block, value: bool) {
        let unit = self.view().unit_of(block.offset());
        self.set_bit(maps, Bits::Allocated, unit, value);
    }

    #[inline]
    pub(crate) fn set_head(&mut self, order: u32, block: Option<Block>) {
        self.heap.write(self.layout.head_at(order), encode(block));
    }

    /// Writes a free block's next and prev links together (one bounds check).
    #[inline]
    pub(crate) fn set_links(&mut self, block: Block, next: Option<Block>, prev: Option<Block>) {
        let mut bytes = [0u8; LINKS_BYTES];
        bytes[..WORD].copy_from_slice(&encode(next).to_ne_bytes());
        bytes[WORD..].copy_from_slice(&encode(prev).to_ne_bytes());
        self.heap.write_bytes(self.layout.base + block.offset(), bytes);
    }

    #[inline]
    pub(crate) fn set_next(&mut self, block: Block, next: Option<Block>) {
        self.heap.write(self.layout.base + block.offset(), encode(next));
    }

    #[inline]
    pub(crate) fn set_prev(&mut self, block: Block, prev: Option<Block>) {
        self.heap.write(self.layout.base + block.offset() + WORD, encode(prev));
    }

    /// Writes an empty control area: no blocks, every list empty (the bitmaps are
    /// placed by the caller).
    pub(crate) fn clear(&mut self) {
        self.set_frontier(0);
        self.set_nonempty(0);
        for i in 0..self.layout.lists {
            self.set_head(self.layout.min_order + i as u32, None);
        }
    }

    /// Puts the free `block` of `order` at the head of its list (its bits are the
    /// caller's: a start, not allocated).
    #[inline(always)]
    pub(crate) fn push(&mut self, block: Block, order: u32) {
        let head = self.view().head(order);
        self.set_links(block, head, None);
        if let Some(head) = head {
            self.set_prev(head, Some(block));
        }
        self.set_head(order, Some(block));
        let mask = self.view().nonempty() | self.layout.list_bit(order);
        self.set_nonempty(mask);
    }

    /// Takes the listed free `block` off the list of `order` (a list head, or a block
    /// the bitmaps say is free).
    ///
    /// # Panics
    /// With a [`Corruption`] when its links and its neighbours' do not name each other
    /// ([`Tree::check_linked`]), before anything is written through them.
    #[inline(always)]
    pub(crate) fn unlink(&mut self, block: Block, order: u32) {
        // `check_linked`'s steps, spelled out: returning the links through its `Result`
        // sends them through memory on the hottest path of `malloc` and `free`.
        let view = self.view();
        if !view.can_hold_links(block) {
            Corruption::new("corrupted double-linked list", self.layout.base + block.offset()).panic();
        }
        let (next, prev) = view.links(block);
        if let Err(corruption) = view.linked_back(block, order, next, prev) {
            corruption.panic();
        }
        match prev {
            Some(prev) => self.set_next(prev, next),
            None => {
                self.set_head(order, next);
                if next.is_none() {
                    let mask = self.view().nonempty() & !self.layout.list_bit(order);
                    self.set_nonempty(mask);
                }
            }
        }
        if let Some(next) = next {
            self.set_prev(next, prev);
        }
    }

    /// Takes the first block off the list of `order` (which the caller knows is not
    /// empty).
    #[inline]
    pub(crate) fn pop(&mut self, order: u32) -> Option<Block> {
        let block = self.view().head(order)?;
        self.unlink(block, order);
        Some(block)
    }
}
