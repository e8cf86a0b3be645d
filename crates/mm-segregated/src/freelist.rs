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

use mm_core::MemLib;

use crate::block::{Block, decode, encode};
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

    /// Takes the free block `block` of `size` bytes off its list.
    pub(crate) fn remove(&mut self, heap: &mut MemLib, block: Block, size: usize) {
        let next = block.next_link(heap);
        let prev = block.prev_link(heap);
        match prev {
            Some(prev) => prev.set_next_link(heap, next),
            None => {
                let class = class_of(size);
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
}
