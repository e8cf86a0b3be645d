//! # mm-buddy-bitmap: a binary buddy allocator with no header in the block
//!
//! The buddy system of `mm-buddy` (power-of-two blocks at multiples of their size,
//! buddies found by `offset XOR 2^k`, a free list per order), with one difference:
//! **nothing is stored in an allocated block**. A request of `2^k` bytes takes a `2^k`
//! block, and the payload is the block's start. What a header held, "is it allocated?"
//! and "which order?", lives in two bitmaps inside the heap, one bit each per smallest
//! block (16 bytes): 2 bits per 16 bytes, 1/64 of the heap the bitmaps cover.
//!
//! Build it with [`BuddyBitmap::new`]`(heap, align)`, then call [`Allocator::init`].
//!
//! ## The steps, named as in the other chapters
//!
//! * `malloc` is `find_fit` (the first block of the smallest non-empty list of at least
//!   the request's order), `split` (halve it down to that order, listing each right half
//!   and marking where it starts), `place` (set its allocated bit); when every list is
//!   empty, `extend_heap` carves the block out of the untouched tail, after growing the
//!   bitmaps when the block lies past what they cover (`src/growth.rs`).
//! * `free` finds the block's order from the start bits (`order_of`), then `coalesce`s:
//!   merges with the buddy for as long as it is a whole free block (two bit reads), then
//!   lists the result, or gives it back to the untouched tail at the frontier.
//! * `realloc` (`src/realloc.rs`) keeps the block when the new size fits, grows into
//!   free buddies when it can, and otherwise moves it.
//!
//! ## Layout
//!
//! ```text
//!  heap_lo                   base                                   base+F        brk
//!  | control area     | pad  | blocks tiling [0, F) (one is the bitmaps) | untouched |
//!  | frontier, mask, bitmap offset, coverage, heads[min..=max]          |
//!
//!  a block of the arena, the two bitmaps' bits at its units (u = offset / 16):
//!   offset   0      16     32     48     64                            128
//!            | bitmaps | free |  allocated  |          free               |
//!   start    1        1      1      0      1      0 ...                 (1 or F)
//!   alloc    1        0      1      0      0      0 ...
//!
//!  an allocated block: | payload .......................................| (2^k bytes)
//!  a free block:       | next | prev | (unused) ..........................|
//!                        u64    u64
//! ```
//!
//! ## Design: the bitmaps, and how they grow
//!
//! * **The start bitmap is the classic split bitmap.** The textbook layout keeps one
//!   "split" bit per node of the buddy tree. Number each internal node by its
//!   *midpoint*, the first unit of its right half: every unit but 0 is the midpoint of
//!   exactly one node, and a node is split exactly when a block begins at its midpoint.
//!   So the split bits, stored at their midpoints, are one bit per unit saying "a block
//!   starts here" (below the frontier). `free(p)` reads the order from them: the block
//!   at `p` ends at the first `p + 2^j` (`j` = min, min+1, ...) that starts a block or is
//!   the frontier, which is the walk up the tree from `p`'s smallest node to its first
//!   split ancestor. A small block costs one or two reads. Numbered by address rather
//!   than level by level, the bits of a tree twice as large are the old ones followed by
//!   new ones: growing the tree appends.
//! * **The allocated bitmap** has a bit set at each allocated block's start. A buddy is
//!   a whole free block when its allocated bit is clear and no block starts at its
//!   midpoint: two bit reads per merge. The two bitmaps are stored interleaved, word by
//!   word (the allocated and start words of the same 64 units side by side), so both
//!   bits are usually one read of one cache line (`src/tree.rs`).
//! * **The bitmaps live in a block of the heap**, allocated like any other, and grow
//!   with it. They cover a buddy tree of order `R`, `[0, 2^R)` (clipped to the heap's
//!   capacity), in a block of `2^R / 64` bytes. `init` starts with `R = 10` (1 KiB of
//!   tree, a 16-byte bitmap block). When a block must be carved past `2^R`, the bitmaps
//!   move to a block covering a tree of order at least `R + 1` (one found on the free
//!   lists if any, else carved from the tail just above where the request will go): the
//!   old bits are copied, the new tail bits zeroed, the control area pointed at the
//!   new block, and the old block freed like any other (it merges, and small requests
//!   reuse it). **Cost:** the live bitmap is at most 1/64 of twice the heap (the tree is
//!   at most twice the frontier), about 1.6% to 3%; each growth copies the bitmap
//!   (amortised O(1) per byte of heap, as a doubling vector); and the freed old bitmaps
//!   (geometric, together less than the live one) are free blocks reused by later
//!   requests. The alternatives were worse: bitmaps sized for the largest heap up front
//!   (320 KiB for 20 MiB, ruinous on small traces), or bitmaps at a fixed place in each
//!   region of the heap, which would forbid blocks larger than the region.
//! * **The bitmaps never stand in a request's way.** A block of the heap, the bitmap
//!   block keeps every block that contains it from merging. So when a request finds no
//!   free block and the bitmaps are all that keeps their ancestor of the request's order
//!   from being one whole free block, they move first (to a free block outside it, else
//!   above it) and the request takes the ancestor (`unpin` in `src/growth.rs`). Without
//!   it, a program that frees everything and asks for one large block gets it above
//!   them, and the heap doubles (`coalesce-2`: 0.428 instead of 0.766).
//! * **Free lists** are doubly linked with 64-bit links in the free blocks (a 16-byte
//!   free block is its two links and nothing else, so any write into it reaches a link
//!   the list checks see), heads in the control area, and a 64-bit mask of non-empty
//!   lists finds the smallest order with a free block in one step.
//! * **The frontier and the untouched tail** are as in `mm-buddy`: blocks tile the
//!   arena up to a frontier `F`; above it the heap is part of no block, and a request
//!   with no free block is carved at the first multiple of its size at or above `F`
//!   (the skipped gap goes on the free lists); a free block that ends at `F` goes back
//!   to the tail, so the break follows the highest live block.
//!
//! ## Trade-offs
//!
//! Against `mm-buddy`'s 2-byte header, a request of exactly `2^k` bytes takes `2^k`
//! bytes and not `2^(k+1)`, and the payload is aligned to its block's size. The price is
//! the bitmaps (1/64 of the tree) and, on `free`, a few bit reads to find the order. The
//! buddy system's own waste remains: a request just over a power of two wastes almost
//! half of its block, a block must sit at a multiple of its size, and a block merges only
//! with its buddy.
//!
//! ## Misuse
//!
//! `free` and `realloc` check every pointer in every build (`src/guard.rs`): it must be a
//! unit of the arena below the frontier whose start and allocated bits are set.
//! Otherwise the call changes nothing and the misuse is kept for
//! [`Allocator::take_misuse`]: a pointer inside (or at) a free block or in the untouched
//! tail is a double free, anything else an invalid pointer. Unlinking checks, as glibc's
//! "safe unlinking" does, that the block is a free block start and that its list
//! neighbours name it back, and stops with a [`Corruption`] panic otherwise.
//!
//! What the hardened mode ([`mm_core::hardened`]) can still catch without a header: its
//! table catches every double and invalid free; [`Allocator::check_neighbourhood`]
//! verifies the block's bits, every buddy `free` would merge with (listed, links
//! mutual) and the block after it when free, so an overflow into a free neighbour (its
//! links) or a write into a freed block is reported before it is acted on. An overflow
//! into an *allocated* neighbour overwrites only that neighbour's data: there is no
//! metadata between two allocated blocks to smash, so nothing can notice it (and nothing
//! of the allocator's is damaged by it). An overflow out of the block just below the
//! bitmap block damages the bitmaps; [`Allocator::check_heap`] reports it, `free` may
//! stop with a [`Corruption`] panic on it.
//!
//! ## Invariants
//!
//! What [`Allocator::check_heap`] verifies, in this order (a [`BitmapRule`] numbered as
//! here, or mm-core's shared [`Invariant`](mm_core::Invariant) where one fits):
//!
//! 1. The heap holds at least the control area ([`BitmapRule::ControlArea`]).
//! 2. The frontier is a multiple of the smallest block, within the arena bytes the heap
//!    holds, and within the coverage ([`BitmapRule::Frontier`]).
//! 3. The coverage order is at least the first one, the word count is the one it
//!    needs, the control area names the bitmaps the allocator uses, and they lie below
//!    the frontier ([`BitmapRule::Bitmaps`]).
//! 4. No bit of either bitmap is set at or past the frontier
//!    ([`BitmapRule::TailBit`]).
//! 5. Every allocated bit is at a block start ([`BitmapRule::AllocatedInside`]).
//! 6. Unit 0 starts a block when the frontier is not 0, and each block (from a start
//!    bit to the next, or to the frontier) is a power of two no smaller than the
//!    smallest block at a multiple of its size ([`BitmapRule::Misplaced`]).
//! 7. No free block is the right buddy of a free block of the same order: they would
//!    have merged (`Uncoalesced`).
//! 8. The block that ends at the frontier is not free ([`BitmapRule::FreeAtFrontier`]).
//! 9. The bitmap block is an allocated block of the order its coverage needs
//!    ([`BitmapRule::BitmapBlock`]).
//! 10. Every entry of the list of order `k` is a free block of order `k`
//!     ([`BitmapRule::NotAFreeBlock`]).
//! 11. An entry's `prev` link names the entry before it ([`BitmapRule::PrevLink`]).
//! 12. No block is on its list twice ([`BitmapRule::ListedTwice`]).
//! 13. The list of order `k` holds every free block of order `k`
//!     ([`BitmapRule::Unlisted`]).
//! 14. The non-empty mask has exactly the bits of the non-empty lists
//!     ([`BitmapRule::Mask`]).
//!
//! `check_heap` before `init` returns `Ok(())`.

mod check;
mod growth;
mod guard;
mod layout;
mod realloc;
mod spans;
mod tree;

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Corruption, HeapCheckError, HeapSpan, InitError, MemLib, Misuse};

pub use crate::check::BitmapRule;
use crate::layout::{Block, Layout, size_of_order};
use crate::tree::{Bitmaps, Tree, TreeMut};

/// Where the heap's bytes are (see [`BuddyBitmap::stats`]). The fields add up:
/// `heap_bytes = control_bytes + bitmap_bytes + allocated_bytes + free_bytes +
/// untouched_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BitmapStats {
    /// The heap's size (its break).
    pub heap_bytes: usize,
    /// The control area and the padding that aligns the arena.
    pub control_bytes: usize,
    /// The block that holds the bitmaps.
    pub bitmap_bytes: usize,
    /// Allocated blocks (rounding included).
    pub allocated_bytes: usize,
    /// How many blocks are allocated (the bitmap block not counted).
    pub allocated_blocks: usize,
    /// Free blocks (all on the free lists).
    pub free_bytes: usize,
    /// How many blocks are free.
    pub free_blocks: usize,
    /// Heap above the frontier, part of no block.
    pub untouched_bytes: usize,
    /// The order of the tree the bitmaps cover.
    pub coverage_order: u32,
}

/// The header-free binary buddy allocator. Build it with [`BuddyBitmap::new`], then call
/// [`Allocator::init`] before anything else.
///
/// All of its state (control area, bitmaps, links) lives in the heap; the struct holds
/// only the alignment, the layout derived from it, and a copy of where the bitmaps are.
#[derive(Debug)]
pub struct BuddyBitmap {
    heap: MemLib,
    align: Align,
    layout: Layout,
    /// Where the bitmaps are: a copy of the control area's words (which `check_heap`
    /// compares with it), kept here because every operation needs it.
    maps: Bitmaps,
    /// Set by a successful `init`; until then every request fails.
    ready: bool,
    /// The misuse the last `free` or `realloc` refused, for [`Allocator::take_misuse`].
    misuse: Option<Misuse>,
}

impl BuddyBitmap {
    /// An allocator that will live in `heap`, serving payloads aligned to `align`.
    /// Nothing is written until `init`.
    pub fn new(heap: MemLib, align: Align) -> BuddyBitmap {
        let layout = Layout::new(align, heap.max_size());
        let maps = Bitmaps::new(&layout, Block::at(0), layout.first_coverage);
        BuddyBitmap { heap, align, layout, maps, ready: false, misuse: None }
    }

    /// The order of the smallest block.
    pub fn min_order(&self) -> u32 {
        self.layout.min_order
    }

    /// The order of the largest block the heap could ever hold.
    pub fn max_order(&self) -> u32 {
        self.layout.max_order
    }

    /// The block size that holds `size` payload bytes; `None` when no block can.
    pub fn block_size_for(&self, size: usize) -> Option<usize> {
        self.order_for(size).map(size_of_order)
    }

    /// Counts the heap's bytes by what they hold, walking every block (O(blocks)).
    pub fn stats(&self) -> BitmapStats {
        let mut stats = BitmapStats { heap_bytes: self.heap.heap_size(), ..BitmapStats::default() };
        if !self.ready {
            stats.control_bytes = stats.heap_bytes;
            return stats;
        }
        let tree = self.tree();
        let maps = tree.bitmaps();
        let frontier = tree.frontier();
        let mut at = 0;
        while at < frontier {
            let block = Block::at(at);
            let Some(order) = tree.order_of(&maps, frontier, block) else { break };
            let size = size_of_order(order);
            if block == maps.block {
                stats.bitmap_bytes = size;
            } else if tree.is_allocated(&maps, block) {
                stats.allocated_bytes += size;
                stats.allocated_blocks += 1;
            } else {
                stats.free_bytes += size;
                stats.free_blocks += 1;
            }
            at += size;
        }
        stats.control_bytes = self.layout.base;
        stats.untouched_bytes = tree.materialized() - frontier;
        stats.coverage_order = maps.coverage;
        stats
    }

    fn tree(&self) -> Tree<'_> {
        Tree { heap: &self.heap, layout: &self.layout }
    }

    fn tree_mut(&mut self) -> TreeMut<'_> {
        TreeMut { heap: &mut self.heap, layout: &self.layout }
    }

    /// The order of the block that holds `size` bytes: the next power of two, no
    /// header added. `None` when larger than the heap allows.
    #[inline]
    fn order_for(&self, size: usize) -> Option<u32> {
        let order = size.checked_next_power_of_two()?.trailing_zeros().max(self.layout.min_order);
        (order <= self.layout.max_order).then_some(order)
    }

    fn payload_ptr(&self, block: Block) -> NonNull<u8> {
        self.heap.ptr_at(self.layout.base + block.offset())
    }

    // ---- malloc: find_fit, split, place, or extend_heap ------------------------------

    /// The first block of the smallest non-empty list of at least `order`, taken off
    /// its list, with that list's order.
    #[inline]
    fn find_fit(&mut self, order: u32) -> Option<(Block, u32)> {
        let above = self.tree().nonempty() >> (order - self.layout.min_order);
        if above == 0 {
            return None;
        }
        let from = order + above.trailing_zeros();
        let block = self.tree_mut().pop(from)?;
        Some((block, from))
    }

    /// Splits the free `block` of order `from` down to `order`: the right half at each
    /// order starts a block (its start bit) and goes onto its list.
    #[inline]
    fn split(&mut self, maps: &Bitmaps, block: Block, from: u32, order: u32) {
        let mut tree = self.tree_mut();
        for k in (order..from).rev() {
            let half = block.plus(size_of_order(k));
            tree.set_start(maps, half, true);
            tree.push(half, k);
        }
    }

    /// A block of `order`, off the free lists or out of the tail, not yet placed.
    #[inline]
    fn take_block(&mut self, order: u32) -> Option<Block> {
        match self.find_fit(order) {
            Some((block, from)) => {
                let maps = self.maps;
                self.split(&maps, block, from, order);
                Some(block)
            }
            None => self.extend_heap(order),
        }
    }

    /// Hands out `block`: its allocated bit (in the bitmaps `take_block` left, which
    /// `extend_heap` may have moved).
    #[inline]
    fn place(&mut self, block: Block) {
        let maps = self.maps;
        self.tree_mut().set_allocated(&maps, block, true);
    }

    // ---- free: coalesce --------------------------------------------------------------

    /// Frees the allocated `block` of `order` and coalesces it: merges with its buddy
    /// for as long as the buddy is a whole free block (clearing the start bit between
    /// them), then lists the result, or gives it to the untouched tail if it ends at
    /// the frontier.
    ///
    /// `frontier` is the frontier's value, which the caller has just read.
    #[inline]
    fn coalesce(&mut self, mut block: Block, mut order: u32, frontier: usize) {
        let maps = &{ self.maps };
        self.tree_mut().set_allocated(maps, block, false);
        while order < self.layout.max_order {
            let buddy = block.buddy(order);
            // A right buddy past the frontier is tail (or straddles it): no merge.
            if buddy > block && buddy.end(order) > frontier {
                break;
            }
            if !self.tree().is_free_whole(maps, buddy, order) {
                break;
            }
            let mut tree = self.tree_mut();
            tree.unlink(buddy, order);
            tree.set_start(maps, block.max(buddy), false);
            block = block.min(buddy);
            order += 1;
        }
        if block.end(order) == frontier {
            self.retreat_frontier(block);
            self.trim();
        } else {
            self.tree_mut().push(block, order);
        }
    }
}

impl Allocator for BuddyBitmap {
    fn describe(&self) -> String {
        format!(
            "binary buddy, orders 2^{}..2^{}, no header: start and allocated bitmaps in a block that grows with the heap",
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
        self.align
    }

    /// Writes the control area and the first bitmaps (a block at arena offset 0
    /// covering a tree of 64 smallest blocks) on an empty heap.
    fn init(&mut self) -> Result<(), InitError> {
        self.ready = false;
        self.misuse = None;
        self.heap.reset_brk();
        self.heap.extend(self.layout.base)?;
        self.tree_mut().clear();
        self.plant_first_bitmaps()?;
        self.ready = true;
        Ok(())
    }

    #[inline]
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready {
            return None;
        }
        let order = self.order_for(size)?;
        let block = self.take_block(order)?;
        self.place(block);
        Some(self.payload_ptr(block))
    }

    /// Frees `ptr`, or refuses it (see `src/guard.rs`) and keeps the misuse for
    /// [`Allocator::take_misuse`].
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some((block, order, frontier)) = self.live_block(ptr) {
            self.coalesce(block, order, frontier);
        }
    }

    /// 0 for a pointer that starts no block. Never panics, whatever the heap holds.
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.block_behind(ptr).map_or(0, |(_, _, order)| size_of_order(order))
    }

    /// Refuses `ptr` as `free` does, then the paths of `src/realloc.rs`.
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

    /// `free`'s checks without freeing (see `src/guard.rs`).
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        match self.block_behind(ptr) {
            Some((maps, block, _)) if self.tree().is_allocated(&maps, block) => Ok(()),
            _ => Err(self.misuse_of(ptr)),
        }
    }

    /// The block's bits, the buddies `free` would merge with and the block after it
    /// (see `src/guard.rs`).
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        if !self.ready {
            return Ok(());
        }
        self.neighbourhood(ptr)
    }

    /// The control area, the bitmap block, payloads, free blocks and the untouched tail
    /// (see `src/spans.rs`); `None` before `init`.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if !self.ready {
            return None;
        }
        self.spans()
    }
}

#[cfg(test)]
mod tests;
