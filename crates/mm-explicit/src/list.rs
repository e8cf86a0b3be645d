//! The free list, shared by the tuned list ([`Explicit`](crate::Explicit)) and the
//! textbook one ([`ExplicitTextbook`](crate::ExplicitTextbook)): two link words at the
//! start of every free block's payload, and the operations on them. Where a block goes
//! in the list is the policy's business; this module only links, unlinks and walks.
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
//! the heap at 4 GiB ([`MAX_HEAP`], enforced by [`extend_capped`]). Every link is read
//! and written through the bounds-checked [`MemLib::read`] / [`MemLib::write`], so a
//! corrupted link can never make the allocator touch memory outside the heap.
//!
//! Links live in the payloads of free blocks, where a program that writes into a block
//! it freed overwrites them. So the list trusts a link no further than it checks it:
//!
//! * a block a link names is read only inside the heap: [`next_free`] and [`prev_free`]
//!   check that its header and links lie there, and first fit's walk, the hot loop,
//!   reads them with [`MemLib::get`], whose bounds check is that check;
//! * no walk takes more steps than the list holds blocks, so a cycle stops it;
//! * [`FreeList::unlink`] checks, as glibc's "safe unlinking" does, that the block's
//!   tags say free and agree and that its neighbours on the list name it back
//!   ([`FreeList::check_listed`]), and [`FreeList::link`] that the two blocks of the
//!   spot are neighbours;
//!
//! and each failure stops the operation with a [`Corruption`] panic ("corrupted
//! double-linked list") before anything is written through the links.
//!
//! The list operations are expressed with a [`Spot`], a place between two neighbours:
//! [`FreeList::unlink`] returns the spot a block leaves, and [`FreeList::link`] puts a
//! block into a spot. That is what lets the tuned list *replace* a block (a split
//! remainder, a merged block) without searching for its place again, which is what
//! keeps the address-ordered list's splits and most of its frees O(1).

use std::ptr::NonNull;

use mm_core::{Corruption, MemLib};
use mm_tags::{Block, Tag, TaggedLayout, WORD};

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

/// The block a link word names, `None` for [`NIL`].
pub(crate) fn decode(word: u32) -> Option<Block> {
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

/// Moves the break by `bytes` and rewrites the epilogue at the new end
/// ([`TaggedLayout::extend`]); `None`, with nothing changed, past the heap's maximum or
/// [`MAX_HEAP`], the largest heap a link can name.
pub(crate) fn extend_capped(heap: &mut MemLib, layout: &TaggedLayout, bytes: usize) -> Option<()> {
    let new_size = heap.heap_size().checked_add(bytes)?;
    if new_size > MAX_HEAP {
        return None;
    }
    layout.extend(heap, bytes)
}

/// The size of the block at `block` (whose header lies inside the heap) when its header
/// says free with a size that fits the heap, and its footer agrees.
#[inline(always)]
fn free_tags(heap: &MemLib, layout: &TaggedLayout, block: Block) -> Option<usize> {
    let header = block.header(heap);
    let size = header.size();
    let agree = !header.is_allocated()
        && layout.is_block_size(heap, block, size)
        && heap.read::<usize>(block.offset() + size - WORD) == header.word();
    agree.then_some(size)
}

/// The list's ends and length; the links themselves live in the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FreeList {
    /// The first block of the list, `None` when no block is free.
    pub(crate) head: Option<Block>,
    /// The last block of the list, `None` when no block is free.
    pub(crate) tail: Option<Block>,
    /// How many blocks the list holds: no walk along it takes more steps, so links a
    /// program overwrote into a cycle stop the walk instead of hanging it.
    pub(crate) len: usize,
}

impl FreeList {
    /// The spot at the front of the list.
    #[inline]
    pub(crate) fn front(&self) -> Spot {
        Spot { prev: None, next: self.head }
    }

    /// The spot at the back of the list.
    #[inline]
    pub(crate) fn back(&self) -> Spot {
        Spot { prev: self.tail, next: None }
    }

    /// The free blocks in list order, for tests. Trusts the links as far as staying in the heap
    /// and taking no more steps than the list holds blocks (else a [`Corruption`]
    /// panic): the checker is the walk that doubts them.
    #[cfg(test)]
    pub(crate) fn iter<'h>(&self, heap: &'h MemLib) -> impl Iterator<Item = Block> + 'h {
        let mut left = self.len;
        std::iter::successors(self.head, |&b| next_free(heap, b)).inspect(move |&b| {
            if left == 0 {
                Corruption::new("corrupted double-linked list", b.offset()).panic();
            }
            left -= 1;
        })
    }

    /// The first listed block of at least `asize` bytes, walking from the head (first
    /// fit in list order); `Err` with the largest block seen when none fits (the walk
    /// saw them all).
    ///
    /// # Panics
    /// With a [`Corruption`] when a link leads outside the heap or the walk is longer
    /// than the list (a cycle).
    #[inline]
    pub(crate) fn first_fit(&self, heap: &MemLib, asize: usize) -> Result<Block, usize> {
        let mut largest = 0;
        let mut at = self.head;
        let mut steps = 0;
        while let Some(block) = at {
            let size = self.listed_size(heap, block, steps);
            if size >= asize {
                return Ok(block);
            }
            largest = largest.max(size);
            at = match heap.get::<u32>(block.payload() + NEXT_AT) {
                Some(link) => decode(link),
                None => Corruption::new("corrupted double-linked list", block.offset()).panic(),
            };
            steps += 1;
        }
        Err(largest)
    }

    /// The size in the header of `block`, the `steps`-th block of a walk along the list:
    /// the hot loop of first fit, so the check that the link led inside the heap is the
    /// bounds check of the read itself, and the walk's length one compare.
    ///
    /// # Panics
    /// With a [`Corruption`] when a link led outside the heap (the header cannot be
    /// read) or the walk is longer than the list (a cycle).
    #[inline(always)]
    fn listed_size(&self, heap: &MemLib, block: Block, steps: usize) -> usize {
        match heap.get::<usize>(block.offset()) {
            Some(header) if steps < self.len => Tag::from_word(header).size(),
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
    pub(crate) fn check_listed(
        &self,
        heap: &MemLib,
        layout: &TaggedLayout,
        block: Block,
    ) -> Result<usize, Corruption> {
        if !can_hold_links(heap, block) {
            return Err(Corruption::new("corrupted double-linked list", block.offset()));
        }
        let Some(size) = free_tags(heap, layout, block) else {
            return Err(Corruption::new("free block's header and footer disagree", block.offset()));
        };
        if self.linked_back(heap, block, next_word(heap, block), prev_word(heap, block)) {
            Ok(size)
        } else {
            Err(Corruption::new("corrupted double-linked list", block.offset()))
        }
    }

    /// [`Allocator::check_neighbourhood`](mm_core::Allocator::check_neighbourhood) for a
    /// list on this layout: the block's tags and its neighbours'
    /// ([`TaggedLayout::neighbourhood`]), and the links of a free neighbour, which
    /// `free` would unlink ([`FreeList::check_listed`]).
    pub(crate) fn check_neighbourhood(
        &self,
        heap: &MemLib,
        layout: &TaggedLayout,
        ptr: NonNull<u8>,
    ) -> Result<(), Corruption> {
        let (left, right) = layout.neighbourhood(heap, ptr)?;
        for (free, _) in left.into_iter().chain(right) {
            self.check_listed(heap, layout, free)?;
        }
        Ok(())
    }

    /// True when the free `block`, whose link words are `next` and `prev`, is named back
    /// by them: the next block's prev link (or the tail), the previous block's next link
    /// (or the head). A link that names no place inside the heap names nothing back.
    #[inline(always)]
    fn linked_back(&self, heap: &MemLib, block: Block, next: u32, prev: u32) -> bool {
        let me = Some(encode(Some(block)));
        let link = |other: Block, at: usize| heap.get::<u32>(other.payload() + at);
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
    /// ([`FreeList::check_listed`]): unlinking through a forged link would write where a
    /// program chose (the classic unlink attack), so the operation stops instead.
    #[inline]
    pub(crate) fn unlink(&mut self, heap: &mut MemLib, layout: &TaggedLayout, block: Block) -> Spot {
        // The checks of `check_listed`, on the words the unlink reads anyway (`block` is
        // a listed block or a free neighbour found through checked tags: its header and
        // links lie inside the heap).
        let (next_link, prev_link) = (next_word(heap, block), prev_word(heap, block));
        if free_tags(heap, layout, block).is_none() || !self.linked_back(heap, block, next_link, prev_link) {
            self.refuse_unlink(heap, layout, block);
        }
        let (next, prev) = (decode(next_link), decode(prev_link));
        self.len -= 1;
        match prev {
            Some(p) => set_next(heap, p, next),
            None => self.head = next,
        }
        match next {
            Some(n) => set_prev(heap, n, prev),
            None => self.tail = prev,
        }
        Spot { prev, next }
    }

    /// Stops an unlink that [`FreeList::unlink`] found unsafe, naming what is wrong.
    #[cold]
    #[inline(never)]
    fn refuse_unlink(&self, heap: &MemLib, layout: &TaggedLayout, block: Block) -> ! {
        let found = self.check_listed(heap, layout, block).err();
        found.unwrap_or(Corruption::new("corrupted double-linked list", block.offset())).panic()
    }

    /// Puts the free, unlisted `block` (its tags already written) into `spot`.
    ///
    /// # Panics
    /// With a [`Corruption`] when the spot's two blocks are not neighbours on the list
    /// (a spot found through links or tags a program overwrote): linking there would
    /// write through them.
    #[inline]
    pub(crate) fn link(&mut self, heap: &mut MemLib, block: Block, spot: Spot) {
        // At the head or the tail, the one block written is the one the list names. In
        // between, the two blocks (listed blocks, or free blocks found through checked
        // tags, whose links lie inside the heap) must name each other.
        let at_end = (spot.prev.is_none() && spot.next == self.head)
            || (spot.next.is_none() && spot.prev == self.tail);
        if !at_end {
            let after = spot.prev.map_or(self.head, |prev| decode(next_word(heap, prev)));
            let before = spot.next.map_or(self.tail, |next| decode(prev_word(heap, next)));
            if after != spot.next || before != spot.prev {
                Corruption::new("corrupted double-linked list", block.offset()).panic();
            }
        }
        self.len += 1;
        set_next(heap, block, spot.next);
        set_prev(heap, block, spot.prev);
        match spot.prev {
            Some(p) => set_next(heap, p, Some(block)),
            None => self.head = Some(block),
        }
        match spot.next {
            Some(n) => set_prev(heap, n, Some(block)),
            None => self.tail = Some(block),
        }
    }
}
