//! `rlsf`: rlsf 0.2's TLSF, one memory pool grown by `sbrk` and appended to.
//!
//! TLSF (two-level segregated fit, Masmano et al., 2004) keeps a free list for every
//! size class of a two-level grid: the first level is the power of two of the size, the
//! second splits each power of two into `SLLEN` equal steps. Two bitmaps make finding
//! the smallest non-empty class that is *guaranteed* to fit a request two
//! find-first-set instructions, so `malloc` and `free` take constant time; blocks carry
//! a two-word header (size and flags, the previous physical block) and merge with both
//! neighbours when freed. The price is good fit, not best fit: the request is rounded up
//! to the next class boundary before the search, so a block a little larger than the
//! request, sitting in the request's own class, is passed over.
//!
//! **Configuration.** The one `GlobalTlsf` uses: `FLLEN = SLLEN = 64` with `usize`
//! bitmaps. Sixty-four second-level steps keep the rounding under 1/64 of the size, and
//! with that many first-level classes a pool's size is unbounded, which is what lets
//! rlsf *coalesce* a pool with memory appended to its end. The control block (4096 list
//! heads) lives in the adapter, not the heap.
//!
//! **Memory source.** rlsf's `FlexTlsf` policy over the simulated heap: when
//! `allocate` fails, `sbrk` the pages of a pool guaranteed to hold the request (its
//! size plus header and alignment overhead, rounded up to the next class boundary,
//! plus the sentinel block), `insert_free_block_ptr` the first region as the pool and
//! `append_free_block_ptr` every later one, which merges it with the free block at the
//! pool's end. We drive `Tlsf` directly rather than through `FlexTlsf` because
//! `FlexTlsf` owns its source and cannot be rebuilt over a reset heap.
//!
//! **Layouts.** rlsf's header finds a block from its pointer and needs only the
//! *alignment* on free, which is fixed per adapter: no side table. `usable_size` asks
//! rlsf (`allocation_usable_size`, behind the crate's `unstable` feature, which only
//! gates API). **Realloc** is `FlexTlsf`'s: rlsf's `reallocate` (in place when the
//! block shrinks or its next neighbour is free and large enough, else a move within the
//! pool); if the pool has no room, grow it and allocate, copy, free.
//! **`check_heap`** walks every block of the pool (`iter_blocks`, also `unstable`):
//! sizes are multiples of the granularity and tile the pool exactly up to the break, no
//! two free blocks are adjacent (immediate coalescing), and the number of allocated
//! blocks is the number of live allocations.

use std::alloc::Layout;
use std::ptr::NonNull;

use ::rlsf::{GRANULARITY, Tlsf};
use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib};

use crate::{request, whole_pages};

/// First-level classes (powers of two).
const FLLEN: usize = usize::BITS as usize;
/// Second-level classes per power of two.
const SLLEN: usize = usize::BITS as usize;

type Pool = Tlsf<'static, usize, usize, FLLEN, SLLEN>;

/// rlsf's TLSF over the simulated heap.
pub struct RlsfPeer {
    heap: MemLib,
    tlsf: Box<Pool>,
    /// The pool's start and length (the sum of what rlsf incorporated), once it exists.
    pool: Option<(NonNull<u8>, usize)>,
    /// Live allocations, for the heap check.
    live: usize,
    align: Align,
    /// Whether `init` has run: before it nothing is allocated (the contract's rule).
    ready: bool,
}

impl RlsfPeer {
    /// rlsf over `heap`, serving payloads aligned to `align`; call `init` before use.
    pub fn new(heap: MemLib, align: Align) -> RlsfPeer {
        RlsfPeer { heap, tlsf: Box::new(Pool::new()), pool: None, live: 0, align, ready: false }
    }

    /// The pool bytes that guarantee `layout` fits (rlsf's
    /// `pool_size_to_contain_allocation`, which `FlexTlsf` grows by), in whole pages.
    fn growth_for(layout: Layout) -> Option<usize> {
        let header = GRANULARITY / 2;
        let overhead = layout.align().saturating_sub(header) + header;
        let search = layout.size().checked_add(overhead)?.checked_next_multiple_of(GRANULARITY)?;
        // The smallest size of the class whose every block fits `search`: the class
        // width is 2^(log2(search) - log2(SLLEN)).
        let class_width = 1usize << search.ilog2().saturating_sub(SLLEN.ilog2());
        let list_min = search.checked_next_multiple_of(class_width.max(GRANULARITY))?;
        whole_pages(list_min.checked_add(GRANULARITY)?)
    }

    /// Grows the pool by enough pages for `layout`; `None`, with nothing changed, when
    /// the heap cannot grow.
    fn grow_for(&mut self, layout: Layout) -> Option<()> {
        let bytes = Self::growth_for(layout)?;
        let brk = self.heap.brk();
        if self.pool.is_some_and(|(start, len)| start.as_ptr().wrapping_add(len) != brk.as_ptr()) {
            // Only an append keeps one pool; something else moved the break.
            return None;
        }
        let base = self.heap.extend(bytes).ok()?;
        let region = NonNull::slice_from_raw_parts(base, bytes);
        match &mut self.pool {
            // SAFETY: `region` was just handed out by `sbrk`, directly after the pool;
            // nothing else uses it, and the simulated heap keeps it allocated for as
            // long as `self` (and so the TLSF) lives.
            Some((_, len)) => *len += unsafe { self.tlsf.append_free_block_ptr(region) },
            None => {
                // SAFETY: as above; this is the pool's first region.
                let len = unsafe { self.tlsf.insert_free_block_ptr(region) }?;
                self.pool = Some((base, len.get()));
            }
        }
        Some(())
    }

    /// `allocate`, growing the pool when it has no room.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let ptr = match self.tlsf.allocate(layout) {
            Some(ptr) => ptr,
            None => {
                self.grow_for(layout)?;
                self.tlsf.allocate(layout)?
            }
        };
        self.live += 1;
        Some(ptr)
    }
}

impl Allocator for RlsfPeer {
    fn describe(&self) -> String {
        "rlsf 0.2: TLSF, 64x64 size classes with bitmaps, 2-word headers; one pool grown by sbrk and appended"
            .to_owned()
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

    fn init(&mut self) -> Result<(), InitError> {
        *self.tlsf = Pool::new();
        self.pool = None;
        self.live = 0;
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let layout = request(&self.heap, size, self.align, self.ready)?;
        self.allocate(layout)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller guarantees `ptr` is live; every block was allocated at
        // `self.align`.
        unsafe { self.tlsf.deallocate(ptr, self.align.get()) };
        self.live = self.live.saturating_sub(1);
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: the caller guarantees `ptr` is a live block of this TLSF.
        unsafe { Pool::allocation_usable_size(ptr) }
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let layout = request(&self.heap, size, self.align, self.ready)?;
        // SAFETY: the caller guarantees `ptr` is live; it was allocated at `self.align`,
        // the alignment of `layout`.
        if let Some(moved) = unsafe { self.tlsf.reallocate(ptr, layout) } {
            return Some(moved);
        }
        // SAFETY: `ptr` is still live (a failed `reallocate` changes nothing).
        let old_size = unsafe { Pool::allocation_usable_size(ptr) };
        let moved = self.allocate(layout)?;
        // SAFETY: both blocks are live and distinct and hold at least the bytes copied;
        // `ptr` is freed once, here.
        unsafe {
            moved.as_ptr().copy_from_nonoverlapping(ptr.as_ptr(), old_size.min(layout.size()));
            self.free(ptr);
        }
        Some(moved)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        let Some((start, len)) = self.pool else {
            return match self.live {
                0 => Ok(()),
                n => Err(HeapCheckError::new(
                    0,
                    Invariant::Other(format!("{n} blocks are live, but rlsf has no pool")),
                )),
            };
        };
        let heap = &self.heap;
        let end = start.as_ptr().wrapping_add(len);
        if end != heap.brk().as_ptr() {
            return Err(HeapCheckError::new(
                heap.offset_of(end),
                Invariant::Other(format!("the pool ends here, but the break is at {:#x}", heap.heap_size())),
            ));
        }
        let (mut covered, mut occupied, mut prev_free) = (0, 0, false);
        // SAFETY: `(start, len)` is the pool exactly as `insert_free_block_ptr` and
        // every `append_free_block_ptr` since returned it.
        for block in unsafe { self.tlsf.iter_blocks(NonNull::slice_from_raw_parts(start, len)) } {
            let at = block.as_ptr().cast::<u8>().as_ptr();
            let fail = |what: String| Err(HeapCheckError::new(heap.offset_of(at), Invariant::Other(what)));
            let size = block.size();
            if size == 0 || !size.is_multiple_of(GRANULARITY) {
                return fail(format!("block size {size} is not a positive multiple of {GRANULARITY}"));
            }
            if !heap.contains(at, size) {
                return Err(HeapCheckError::new(heap.offset_of(at), Invariant::PastHeapEnd { size }));
            }
            if !block.is_occupied() && prev_free {
                return Err(HeapCheckError::new(heap.offset_of(at), Invariant::Uncoalesced));
            }
            prev_free = !block.is_occupied();
            occupied += usize::from(block.is_occupied());
            covered += size;
        }
        // The sentinel block, one granule at the pool's end, is not listed.
        if covered + GRANULARITY != len {
            return Err(HeapCheckError::new(
                heap.offset_of(start.as_ptr()),
                Invariant::Other(format!("the blocks cover {covered} bytes of a {len}-byte pool")),
            ));
        }
        if occupied != self.live {
            return Err(HeapCheckError::new(
                heap.offset_of(start.as_ptr()),
                Invariant::Other(format!("{occupied} blocks are allocated, but {} are live", self.live)),
            ));
        }
        Ok(())
    }
}
