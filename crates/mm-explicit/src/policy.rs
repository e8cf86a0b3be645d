//! The tuned list's policy: where a free block goes in the list (the three rules of the
//! crate docs, [`Explicit::spot_for`]), first fit's search for a large request from the
//! back, and the address-ordered list's search for a lone block's place.

use mm_core::Corruption;
use mm_tags::{Block, Tag, WORD};

use crate::list::{Spot, next_free, prev_free};
use crate::{Explicit, FreeListOrder};

impl Explicit {
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
            return self.list.back();
        }
        match (hint, self.config.order) {
            (Some(hint), _) => hint,
            (None, FreeListOrder::Lifo) if self.is_large(block.size(&self.heap)) => self.back_spot(),
            (None, FreeListOrder::Lifo) => self.list.front(),
            (None, FreeListOrder::AddressOrdered) => self.sorted_spot(block),
        }
    }

    /// First fit for a large request among the large blocks at the back of a LIFO list:
    /// walks from the back (past the wilderness, which is kept for last) while the
    /// blocks are large. `None` sends the caller to the ordinary front-to-back walk.
    pub(crate) fn find_large_fit(&self, asize: usize) -> Option<Block> {
        let mut at = match self.list.tail {
            Some(tail) if self.is_last(tail) => prev_free(&self.heap, tail),
            tail => tail,
        };
        let mut left = self.list.len;
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
    pub(crate) fn is_large(&self, size: usize) -> bool {
        size / 2 > self.average_request
    }

    /// The back of the list, but in front of the wilderness, which stays last.
    fn back_spot(&self) -> Spot {
        match self.list.tail {
            Some(tail) if self.is_last(tail) => Spot { prev: prev_free(&self.heap, tail), next: Some(tail) },
            _ => self.list.back(),
        }
    }

    /// True when `block` is the last block of the heap (the epilogue follows it).
    pub(crate) fn is_last(&self, block: Block) -> bool {
        block.end(&self.heap) == self.layout.epilogue(&self.heap).offset()
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
        let epilogue = self.layout.epilogue(heap);
        let (mut down, mut up) = (block, block);
        let (mut before, mut listed) = (None, self.list.head);
        loop {
            down = self.block_before(down);
            if down == prologue {
                return self.list.front();
            }
            if down.is_free(heap) {
                return Spot { prev: Some(down), next: next_free(heap, down) };
            }
            up = self.block_after(up);
            if up == epilogue {
                return self.list.back();
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
