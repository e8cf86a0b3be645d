//! The free list: two link words at the start of every free block's payload.
//!
//! ```text
//!  a free block:
//!  | header | next: u32 | prev: u32 | (unused) ... | footer |
//!           ^ payload()  ^ payload() + 4
//! ```
//!
//! A link is the heap offset of the linked block's header, as a `u32`; [`NIL`] (all
//! ones) means "none". Four-byte links keep the smallest free block at 24 bytes, the
//! same as the smallest block the implicit list hands out for a 1-byte request, and cap
//! the heap at 4 GiB ([`MAX_HEAP`]), which [`Explicit`](crate::Explicit) enforces when
//! it grows the heap. Every link is read and written through the bounds-checked
//! [`MemLib::read`] / [`MemLib::write`], so a corrupted link makes the allocator panic
//! at worst, never touch memory outside the heap.
//!
//! The list operations are expressed with a [`Spot`], a place between two neighbours:
//! [`Explicit::unlink`] returns the spot a block leaves, and [`Explicit::link`] puts a
//! block into a spot. That is what lets a block be *replaced* in the list (a split
//! remainder, a merged block) without searching for its place again, which is what
//! keeps the address-ordered list's splits and most of its frees O(1).

use mm_core::MemLib;
use mm_implicit::Block;

use crate::{Explicit, FreeListOrder};

/// Byte size of one link word.
pub(crate) const LINK: usize = size_of::<u32>();

/// The link value meaning "no block".
pub(crate) const NIL: u32 = u32::MAX;

/// The largest heap whose block offsets all fit in a four-byte link (and none is the
/// all-ones "no block" value): 4 GiB - 1.
pub const MAX_HEAP: usize = NIL as usize;

/// Where a link word sits, relative to the block's payload.
const NEXT_AT: usize = 0;
const PREV_AT: usize = LINK;

/// A place in the free list: after `prev` (or at the head when `None`) and before
/// `next` (or at the tail when `None`). Invariant while it is used: `prev` and `next`
/// are neighbours in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spot {
    pub(crate) prev: Option<Block>,
    pub(crate) next: Option<Block>,
}

/// The link word naming `block`.
pub(crate) fn encode(block: Option<Block>) -> u32 {
    match block {
        // `MAX_HEAP` keeps every offset below `NIL`.
        Some(b) => u32::try_from(b.offset()).expect("heap offsets fit in a link (the heap is capped)"),
        None => NIL,
    }
}

fn decode(word: u32) -> Option<Block> {
    (word != NIL).then(|| Block::at(word as usize))
}

/// The raw next-link word of the free `block` (for the checker and tests).
pub(crate) fn next_word(heap: &MemLib, block: Block) -> u32 {
    heap.read(block.payload() + NEXT_AT)
}

/// The raw prev-link word of the free `block`.
pub(crate) fn prev_word(heap: &MemLib, block: Block) -> u32 {
    heap.read(block.payload() + PREV_AT)
}

/// The heap offset of the free `block`'s next-link word (for tests that damage it).
#[cfg(test)]
pub(crate) fn next_link_offset(block: Block) -> usize {
    block.payload() + NEXT_AT
}

/// The block after the free `block` in the list.
pub(crate) fn next_free(heap: &MemLib, block: Block) -> Option<Block> {
    decode(next_word(heap, block))
}

/// The block before the free `block` in the list.
pub(crate) fn prev_free(heap: &MemLib, block: Block) -> Option<Block> {
    decode(prev_word(heap, block))
}

fn set_next(heap: &mut MemLib, block: Block, next: Option<Block>) {
    heap.write(block.payload() + NEXT_AT, encode(next));
}

fn set_prev(heap: &mut MemLib, block: Block, prev: Option<Block>) {
    heap.write(block.payload() + PREV_AT, encode(prev));
}

impl Explicit {
    /// The free blocks in list order. Trusts the links: the checker is the walk that
    /// doubts them.
    pub(crate) fn free_list(&self) -> impl Iterator<Item = Block> + '_ {
        std::iter::successors(self.head, |&b| next_free(&self.heap, b))
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
    pub(crate) fn find_fit(&mut self, asize: usize) -> Option<Block> {
        if asize > self.fit_bound {
            return None;
        }
        if self.config.order == FreeListOrder::Lifo
            && self.is_large(asize)
            && let Some(block) = self.find_large_fit(asize)
        {
            return Some(block);
        }
        let mut largest = 0;
        for block in self.free_list() {
            let size = block.size(&self.heap);
            if size >= asize {
                return Some(block);
            }
            largest = largest.max(size);
        }
        self.fit_bound = largest;
        None
    }

    /// Takes the listed `block` off the list; returns the spot it left.
    pub(crate) fn unlink(&mut self, block: Block) -> Spot {
        let prev = prev_free(&self.heap, block);
        let next = next_free(&self.heap, block);
        match prev {
            Some(p) => set_next(&mut self.heap, p, next),
            None => self.head = next,
        }
        match next {
            Some(n) => set_prev(&mut self.heap, n, prev),
            None => self.tail = prev,
        }
        Spot { prev, next }
    }

    /// Puts the free, unlisted `block` (its tags already written) into `spot`.
    pub(crate) fn link(&mut self, block: Block, spot: Spot) {
        self.fit_bound = self.fit_bound.max(block.size(&self.heap));
        set_next(&mut self.heap, block, spot.next);
        set_prev(&mut self.heap, block, spot.prev);
        match spot.prev {
            Some(p) => set_next(&mut self.heap, p, Some(block)),
            None => self.head = Some(block),
        }
        match spot.next {
            Some(n) => set_prev(&mut self.heap, n, Some(block)),
            None => self.tail = Some(block),
        }
    }

    /// The spot for a newly free, unlisted `block`, in this order of precedence:
    ///
    /// 1. the *wilderness*, the free block that ends the heap, goes to the back, where
    ///    first fit reaches it last (in an address-ordered list that is its sorted
    ///    place anyway);
    /// 2. a block that replaces listed blocks (a merge swallowed a free neighbour, a
    ///    split remainder), given as `hint` the spot they left, takes that spot: it
    ///    occupies their addresses, so an address-ordered list stays sorted, and a LIFO
    ///    list keeps their age;
    /// 3. any other block goes to its sorted place, found by
    ///    [`Explicit::sorted_spot`] (address order), or under LIFO to the front, unless
    ///    it is *large*: more than twice the running average request. A large block
    ///    goes to the back (just before the wilderness), so that first fit hands small
    ///    requests the small blocks at the front instead of splitting the large ones,
    ///    which stay whole for the large requests that need them.
    pub(crate) fn spot_for(&self, block: Block, hint: Option<Spot>) -> Spot {
        if self.is_last(block) {
            return Spot { prev: self.tail, next: None };
        }
        match (hint, self.config.order) {
            (Some(hint), _) => hint,
            (None, FreeListOrder::Lifo) if self.is_large(block.size(&self.heap)) => self.back_spot(),
            (None, FreeListOrder::Lifo) => Spot { prev: None, next: self.head },
            (None, FreeListOrder::AddressOrdered) => self.sorted_spot(block),
        }
    }

    /// First fit for a large request among the large blocks at the back of a LIFO list:
    /// walks from the back (past the wilderness, which is kept for last) while the
    /// blocks are large. `None` sends the caller to the ordinary front-to-back walk.
    fn find_large_fit(&self, asize: usize) -> Option<Block> {
        let mut at = match self.tail {
            Some(tail) if self.is_last(tail) => prev_free(&self.heap, tail),
            tail => tail,
        };
        while let Some(block) = at {
            let size = block.size(&self.heap);
            if size >= asize {
                return Some(block);
            }
            if !self.is_large(size) {
                return None;
            }
            at = prev_free(&self.heap, block);
        }
        None
    }

    /// True for a free block of more than twice the running average request.
    fn is_large(&self, size: usize) -> bool {
        size / 2 > self.average_request
    }

    /// The back of the list, but in front of the wilderness, which stays last.
    fn back_spot(&self) -> Spot {
        match self.tail {
            Some(tail) if self.is_last(tail) => Spot { prev: prev_free(&self.heap, tail), next: Some(tail) },
            tail => Spot { prev: tail, next: None },
        }
    }

    /// True when `block` is the last block of the heap (the epilogue follows it).
    pub(crate) fn is_last(&self, block: Block) -> bool {
        block.end(&self.heap) == self.epilogue().offset()
    }

    /// The spot that keeps an address-ordered list sorted, for an unlisted `block` whose
    /// neighbours are allocated: after the nearest free block below it, before the
    /// nearest free block above it.
    ///
    /// Three walks run in lockstep and the first to settle the question wins: down the
    /// heap from `block` (a free block found there is the one to follow), up the heap
    /// (a free block found there is the one to precede), and along the list from the
    /// head (the first listed block above `block` is the one to precede). So the cost
    /// is the *shortest* of the three distances: a free block is rarely far away in
    /// the heap, and when the heap is crowded with allocated blocks the list is short.
    pub(crate) fn sorted_spot(&self, block: Block) -> Spot {
        let heap = &self.heap;
        let prologue = Block::at(self.layout.prologue);
        let epilogue = self.epilogue();
        let (mut down, mut up) = (block, block);
        let (mut before, mut listed) = (None, self.head);
        loop {
            down = down.prev(heap);
            if down == prologue {
                return Spot { prev: None, next: self.head };
            }
            if down.is_free(heap) {
                return Spot { prev: Some(down), next: next_free(heap, down) };
            }
            up = up.next(heap);
            if up == epilogue {
                return Spot { prev: self.tail, next: None };
            }
            if up.is_free(heap) {
                return Spot { prev: prev_free(heap, up), next: Some(up) };
            }
            match listed {
                Some(b) if b < block => {
                    before = listed;
                    listed = next_free(heap, b);
                }
                _ => return Spot { prev: before, next: listed },
            }
        }
    }
}
