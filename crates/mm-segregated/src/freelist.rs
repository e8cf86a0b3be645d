//! The segregated free lists: one doubly linked list per size class, threaded through
//! the free blocks' payloads, with a [`ClassBitmap`] of the non-empty ones.
//!
//! ```text
//!  heads[c] ──► [free 272] ⇄ [free 280] ⇄ [free 272] ──► none
//!  bitmap:  bit c set  ⇔  heads[c] is not none
//! ```
//!
//! New free blocks go to the front of their list (LIFO): a block freed now is likely
//! to be asked for again soon, and pushing is O(1). Placement makes up for the loose
//! order by looking at a short prefix of a list for the best fit (see the crate docs).

use mm_core::{Corruption, MemLib};

use crate::block::{Block, HEADER, HeaderFlags, MIN_FREE, decode, encode, in_heap};
use crate::classes::{CLASSES, ClassBitmap, class_of};

/// The free lists of every class.
#[derive(Debug, Clone)]
pub(crate) struct FreeLists {
    /// `heads[c]`: the encoded link to the first free block of class `c` (0 when empty).
    /// Every listed block is free, in the class of its size, and its links are mutual.
    pub(crate) heads: [u32; CLASSES],
    /// Bit `c` set iff `heads[c] != 0`.
    pub(crate) bitmap: ClassBitmap,
}

impl FreeLists {
    pub(crate) fn new() -> Self {
        // Inline, not boxed: building an allocator must not allocate, since it may be the
        // global allocator being built.
        FreeLists { heads: [0; CLASSES], bitmap: ClassBitmap::default() }
    }

    /// Empties every list (the heap they lived in is gone).
    pub(crate) fn clear(&mut self) {
        self.heads.fill(0);
        self.bitmap = ClassBitmap::default();
    }

    /// The first block of class `class`.
    pub(crate) fn head(&self, class: usize) -> Option<Block> {
        decode(self.heads[class])
    }

    /// Puts the free block `block` of `size` bytes at the front of its class's list.
    #[inline(always)]
    pub(crate) fn push(&mut self, heap: &mut MemLib, block: Block, size: usize) {
        let class = class_of(size);
        let old = self.head(class);
        block.set_next_link(heap, old);
        block.set_prev_link(heap, None);
        if let Some(old) = old {
            old.set_prev_link(heap, Some(block));
        }
        self.heads[class] = encode(Some(block));
        self.bitmap.set(class);
    }

    /// Takes the free block `block` of `size` bytes off its list, after checking that it
    /// is what the list says (see [`FreeLists::check_listed`]).
    ///
    /// # Panics
    /// When the check fails: unlinking through a forged link would write where a program
    /// chose (the classic unlink attack), so the operation stops instead.
    #[inline(always)]
    pub(crate) fn remove(&mut self, heap: &mut MemLib, block: Block, size: usize) {
        // The checks of `check_listed`, in the order and form that cost least on this
        // path; each read happens only once the rules of `block.rs` allow it.
        let class = class_of(size);
        let tags_agree = is_sized(heap, block, size)
            && block.header(heap).word() & !HeaderFlags::PREV_ALLOCATED.bits() == size as u32
            && block.footer(heap, size) == size as u32;
        if !tags_agree {
            self.refuse_unlink(heap, block, size);
        }
        let next = block.next_link(heap);
        let prev = block.prev_link(heap);
        let linked_back = next.is_none_or(|next| in_heap(heap, next) && next.prev_link(heap) == Some(block))
            && match prev {
                Some(prev) => in_heap(heap, prev) && prev.next_link(heap) == Some(block),
                None => self.heads[class] == encode(Some(block)),
            };
        if !linked_back {
            self.refuse_unlink(heap, block, size);
        }
        match prev {
            Some(prev) => prev.set_next_link(heap, next),
            None => {
                self.heads[class] = encode(next);
                if next.is_none() {
                    self.bitmap.clear(class);
                }
            }
        }
        if let Some(next) = next {
            next.set_prev_link(heap, prev);
        }
    }

    /// Stops an unlink that [`FreeLists::remove`] found unsafe, naming what is wrong.
    #[cold]
    #[inline(never)]
    fn refuse_unlink(&self, heap: &MemLib, block: Block, size: usize) -> ! {
        let found = self.check_listed(heap, block, size).err();
        found.unwrap_or(Corruption::new("corrupted double-linked list", block.offset())).panic()
    }

    /// Checks that `block` is a listed free block of `size` bytes, as glibc's "safe
    /// unlinking" does: its header says free and `size`, its footer agrees, and its
    /// links are mutual (the next block's prev link and the previous block's next link,
    /// or the class's head, name it).
    ///
    /// Every block on a list passes; a free block a program wrote into (a use after
    /// free, or an overflow out of its left neighbour) almost never does.
    pub(crate) fn check_listed(&self, heap: &MemLib, block: Block, size: usize) -> Result<(), Corruption> {
        check_free_tags(heap, block, size)?;
        let next = block.next_link(heap);
        let prev = block.prev_link(heap);
        // A link must name a place where a free block's links can be, before they are
        // read; then each neighbour must name this block back.
        let inside = |link: Option<Block>| link.is_none_or(|b| in_heap(heap, b));
        let linked_back = inside(next)
            && inside(prev)
            && next.is_none_or(|next| next.prev_link(heap) == Some(block))
            && match prev {
                Some(prev) => prev.next_link(heap) == Some(block),
                None => self.head(class_of(size)) == Some(block),
            };
        if linked_back {
            Ok(())
        } else {
            Err(Corruption::new("corrupted double-linked list", block.offset()))
        }
    }
}

/// Checks that `block` is a free block of `size` bytes: its header says free and `size`,
/// and its footer says `size`.
#[inline]
pub(crate) fn check_free_tags(heap: &MemLib, block: Block, size: usize) -> Result<(), Corruption> {
    let header = block.header(heap);
    if header.is_allocated()
        || header.size() != size
        || !is_sized(heap, block, size)
        || block.footer(heap, size) != size as u32
    {
        return Err(Corruption::new("free block's header and footer disagree", block.offset()));
    }
    Ok(())
}

/// True when a free block at `block` (reached by the rules of `block.rs`) can be `size`
/// bytes: at least the smallest free block, and ending at or before the epilogue. Then
/// its footer and the next block's header may be read (rule 2).
#[inline]
pub(crate) fn is_sized(heap: &MemLib, block: Block, size: usize) -> bool {
    let epilogue = heap.heap_size() - HEADER;
    size >= MIN_FREE && size <= epilogue.saturating_sub(block.offset())
}
