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
//! [`MemLib::read`] / [`MemLib::write`], so a corrupted link can never make the
//! allocator touch memory outside the heap.
//!
//! Links live in the payloads of free blocks, where a program that writes into a block
//! it freed overwrites them. So the list trusts a link no further than it checks it:
//!
//! * a block a link names is read only inside the heap: [`next_free`] and [`prev_free`]
//!   check that its header and links lie there, and first fit's walk, the hot loop,
//!   reads them with [`MemLib::get`], whose bounds check is that check;
//! * no walk takes more steps than the list holds blocks, so a cycle stops it;
//! * [`Explicit::unlink`] checks, as glibc's "safe unlinking" does, that the block's
//!   tags say free and agree and that its neighbours on the list name it back
//!   ([`Explicit::check_listed`]), and [`Explicit::link`] that the two blocks of the spot
//!   are neighbours;
//!
//! and each failure stops the operation with a [`Corruption`] panic ("corrupted
//! double-linked list") before anything is written through the links.
//!
//! The list operations are expressed with a [`Spot`], a place between two neighbours:
//! [`Explicit::unlink`] returns the spot a block leaves, and [`Explicit::link`] puts a
//! block into a spot. That is what lets a block be *replaced* in the list (a split
//! remainder, a merged block) without searching for its place again, which is what
//! keeps the address-ordered list's splits and most of its frees O(1).

use mm_core::{Corruption, MemLib};
use mm_tags::{Block, Tag, WORD};

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
#[inline]
pub(crate) fn next_word(heap: &MemLib, block: Block) -> u32 {
    heap.read(block.payload() + NEXT_AT)
}

/// The raw prev-link word of the free `block`.
#[inline]
pub(crate) fn prev_word(heap: &MemLib, block: Block) -> u32 {
    heap.read(block.payload() + PREV_AT)
}

/// The heap offset of the free `block`'s next-link word (for tests that damage it).
#[cfg(test)]
pub(crate) fn next_link_offset(block: Block) -> usize {
    block.payload() + NEXT_AT
}

/// True when a free block at `block` can have its header and links read: a word
/// boundary whose links lie inside the heap.
pub(crate) fn can_hold_links(heap: &MemLib, block: Block) -> bool {
    block.offset().is_multiple_of(WORD) && block.payload() + 2 * LINK <= heap.heap_size()
}

/// The block the link `word` of `from` names, once it is checked to be readable.
#[inline]
fn follow(heap: &MemLib, from: Block, word: u32) -> Option<Block> {
    let target = decode(word)?;
    if !can_hold_links(heap, target) {
        Corruption::new("corrupted double-linked list", from.offset()).panic();
    }
    Some(target)
}

/// The block after the free `block` in the list.
///
/// # Panics
/// With a [`Corruption`] when the link names no place a free block can be.
pub(crate) fn next_free(heap: &MemLib, block: Block) -> Option<Block> {
    follow(heap, block, next_word(heap, block))
}

/// The block before the free `block` in the list.
///
/// # Panics
/// As [`next_free`].
pub(crate) fn prev_free(heap: &MemLib, block: Block) -> Option<Block> {
    follow(heap, block, prev_word(heap, block))
}

fn set_next(heap: &mut MemLib, block: Block, next: Option<Block>) {
    heap.write(block.payload() + NEXT_AT, encode(next));
}

fn set_prev(heap: &mut MemLib, block: Block, prev: Option<Block>) {
    heap.write(block.payload() + PREV_AT, encode(prev));
}

impl Explicit {
    /// The free blocks in list order, for tests. Trusts the links as far as staying in
    /// the heap and taking no more steps than the list holds blocks (else a
    /// [`Corruption`] panic): the checker is the walk that doubts them.
    #[cfg(test)]
    pub(crate) fn free_list(&self) -> impl Iterator<Item = Block> + '_ {
        let mut left = self.free_blocks;
        std::iter::successors(self.head, |&b| next_free(&self.heap, b)).inspect(move |&b| {
            if left == 0 {
                Corruption::new("corrupted double-linked list", b.offset()).panic();
            }
            left -= 1;
        })
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
        let mut at = self.head;
        let mut steps = 0;
        while let Some(block) = at {
            let size = self.listed_size(block, steps);
            if size >= asize {
                return Some(block);
            }
            largest = largest.max(size);
            at = match self.heap.get::<u32>(block.payload() + NEXT_AT) {
                Some(link) => decode(link),
                None => Corruption::new("corrupted double-linked list", block.offset()).panic(),
            };
            steps += 1;
        }
        self.fit_bound = largest;
        None
    }

    /// The size in the header of `block`, the `steps`-th block of a walk along the list:
    /// the hot loop of first fit, so the check that the link led inside the heap is the
    /// bounds check of the read itself, and the walk's length one compare.
    ///
    /// # Panics
    /// With a [`Corruption`] when a link led outside the heap (the header cannot be
    /// read) or the walk is longer than the list (a cycle).
    #[inline(always)]
    fn listed_size(&self, block: Block, steps: usize) -> usize {
        match self.heap.get::<usize>(block.offset()) {
            Some(header) if steps < self.free_blocks => Tag::from_word(header).size(),
            _ => Corruption::new("corrupted double-linked list", block.offset()).panic(),
        }
    }

    /// Checks that `block` is a listed free block, as glibc's "safe unlinking" does:
    /// its header says free with a size that fits the heap, its footer agrees, and its
    /// neighbours on the list name it back (the next block's prev link, or the tail; the
    /// previous block's next link, or the head). Returns its size. Every listed block
    /// passes; a free block a program wrote into (a use after free, an overflow out of
    /// the block before it) almost never does. Reads nothing outside the heap, and
    /// never panics.
    pub(crate) fn check_listed(&self, block: Block) -> Result<usize, Corruption> {
        let heap = &self.heap;
        if !can_hold_links(heap, block) {
            return Err(Corruption::new("corrupted double-linked list", block.offset()));
        }
        let Some(size) = self.free_tags(block) else {
            return Err(Corruption::new("free block's header and footer disagree", block.offset()));
        };
        if self.linked_back(block, next_word(heap, block), prev_word(heap, block)) {
            Ok(size)
        } else {
            Err(Corruption::new("corrupted double-linked list", block.offset()))
        }
    }

    /// The size of the block at `block` (whose header lies inside the heap) when its
    /// header says free with a size that fits the heap, and its footer agrees.
    #[inline(always)]
    fn free_tags(&self, block: Block) -> Option<usize> {
        let heap = &self.heap;
        let header = block.header(heap);
        let size = header.size();
        let agree = !header.is_allocated()
            && self.layout.is_block_size(heap, block, size)
            && heap.read::<usize>(block.offset() + size - WORD) == header.word();
        agree.then_some(size)
    }

    /// True when the free `block`, whose link words are `next` and `prev`, is named back
    /// by them: the next block's prev link (or the tail), the previous block's next link
    /// (or the head). A link that names no place inside the heap names nothing back.
    #[inline(always)]
    fn linked_back(&self, block: Block, next: u32, prev: u32) -> bool {
        let me = Some(encode(Some(block)));
        let link = |other: Block, at: usize| self.heap.get::<u32>(other.payload() + at);
        (match decode(next) {
            Some(next) => link(next, PREV_AT) == me,
            None => self.tail == Some(block),
        }) && match decode(prev) {
            Some(prev) => link(prev, NEXT_AT) == me,
            None => self.head == Some(block),
        }
    }

    /// Takes the listed `block` off the list; returns the spot it left.
    ///
    /// # Panics
    /// With a [`Corruption`] when the block is not what the list says
    /// ([`Explicit::check_listed`]): unlinking through a forged link would write where a
    /// program chose (the classic unlink attack), so the operation stops instead.
    #[inline]
    pub(crate) fn unlink(&mut self, block: Block) -> Spot {
        // The checks of `check_listed`, on the words the unlink reads anyway (`block` is
        // a listed block or a free neighbour found through checked tags: its header and
        // links lie inside the heap).
        let (next_link, prev_link) = (next_word(&self.heap, block), prev_word(&self.heap, block));
        if self.free_tags(block).is_none() || !self.linked_back(block, next_link, prev_link) {
            self.refuse_unlink(block);
        }
        let (next, prev) = (decode(next_link), decode(prev_link));
        self.free_blocks -= 1;
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

    /// Stops an unlink that [`Explicit::unlink`] found unsafe, naming what is wrong.
    #[cold]
    #[inline(never)]
    fn refuse_unlink(&self, block: Block) -> ! {
        let found = self.check_listed(block).err();
        found.unwrap_or(Corruption::new("corrupted double-linked list", block.offset())).panic()
    }

    /// Puts the free, unlisted `block` (its tags already written) into `spot`.
    ///
    /// # Panics
    /// With a [`Corruption`] when the spot's two blocks are not neighbours on the list
    /// (a spot found through links or tags a program overwrote): linking there would
    /// write through them.
    #[inline]
    pub(crate) fn link(&mut self, block: Block, spot: Spot) {
        // At the head or the tail, the one block written is the one the list names. In
        // between, the two blocks (listed blocks, or free blocks found through checked
        // tags, whose links lie inside the heap) must name each other.
        let at_end = (spot.prev.is_none() && spot.next == self.head)
            || (spot.next.is_none() && spot.prev == self.tail);
        if !at_end {
            let after = spot.prev.map_or(self.head, |prev| decode(next_word(&self.heap, prev)));
            let before = spot.next.map_or(self.tail, |next| decode(prev_word(&self.heap, next)));
            if after != spot.next || before != spot.prev {
                Corruption::new("corrupted double-linked list", block.offset()).panic();
            }
        }
        self.free_blocks += 1;
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
        let mut left = self.free_blocks;
        while let Some(block) = at {
            if left == 0 {
                Corruption::new("corrupted double-linked list", block.offset()).panic();
            }
            left -= 1;
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
            down = self.block_before(down);
            if down == prologue {
                return Spot { prev: None, next: self.head };
            }
            if down.is_free(heap) {
                return Spot { prev: Some(down), next: next_free(heap, down) };
            }
            up = self.block_after(up);
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

impl Explicit {
    /// The block before the block boundary `block` (the prologue before the first
    /// block), through its footer, whose size is checked to lead to a block boundary
    /// inside the heap: the address-ordered search walks the heap through tags a program
    /// can have overwritten, and must neither leave the heap nor stand still.
    fn block_before(&self, block: Block) -> Block {
        if block == self.layout.first {
            return Block::at(self.layout.prologue);
        }
        let size = Tag::from_word(self.heap.read(block.offset() - WORD)).size();
        if size < self.layout.min_block || size > block.offset() - self.layout.first.offset() {
            Corruption::new("corrupted size vs. prev_size", block.offset() - WORD).panic();
        }
        Block::at(block.offset() - size)
    }

    /// The block after the block `block` (before the epilogue), whose size is checked
    /// as for [`Explicit::block_before`].
    fn block_after(&self, block: Block) -> Block {
        let size = block.size(&self.heap);
        if !self.layout.is_block_size(&self.heap, block, size) {
            Corruption::new("invalid block size", block.offset()).panic();
        }
        Block::at(block.offset() + size)
    }
}
