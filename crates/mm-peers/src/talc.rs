//! `talc`: talc 5, fed by a [`Source`] that `sbrk`s.
//!
//! Talc is a boundary-tag allocator in dlmalloc's line, with TLSF-like binning: free
//! *gaps* sit on size-binned lists found through an availability bitmap, every chunk
//! ends in one tag word (allocated, is the chunk above free), and a freed chunk merges
//! with both neighbours at once. Chunks are multiples of [`CHUNK_UNIT`] (32 bytes) with
//! one word of overhead. The bin array lives at the start of the first heap.
//!
//! **Memory source.** Talc calls [`Source::acquire`] when no gap fits. Ours is talc's
//! own `WasmGrowAndExtend` with the simulated heap in place of WebAssembly's linear
//! memory: it `sbrk`s enough whole pages for the request to fit in the new memory alone
//! (the request's chunk, one chunk unit, the alignment when it exceeds a chunk unit, and
//! on the first call the bin array), `claim`s the first region and `extend`s the heap
//! over every later one, so the gap at the top and the new pages merge into one.
//!
//! **Layouts.** Talc finds a chunk's tag from the pointer *and the size*, so `free`
//! and `realloc` need the layout: it comes from the [side table](crate::side_table).
//! **Realloc** is talc's own (what its `GlobalAlloc` does): `try_realloc_in_place`
//! (shrinks always succeed; grows take the free gap above), else allocate, copy, free.
//! **`check_heap`** checks the side table (aligned, inside the heap, disjoint), that the
//! heap talc manages ends at the break, and that every live block lies below the top of
//! talc's reserved region ([`Talc::reserved`]). Talc's own scan of its free lists runs
//! only in its test builds; its counters feature is left off, as it costs every op.

use std::alloc::Layout;
use std::ptr::NonNull;

use ::talc::base::binning::Binning;
use ::talc::base::{CHUNK_UNIT, Talc};
use ::talc::source::Source;
use ::talc::{DefaultBinning, min_first_heap_size};
use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib};

use crate::side_table::SideTable;
use crate::{request, whole_pages};

/// talc over the simulated heap.
pub struct TalcPeer {
    talc: Talc<MemlibSource, DefaultBinning>,
    table: SideTable,
    align: Align,
    /// Whether `init` has run: before it nothing is allocated (the contract's rule).
    ready: bool,
}

/// Talc's memory source: the simulated heap itself, and where talc's heap ends.
#[derive(Debug)]
struct MemlibSource {
    /// Always `Some`, except for the instant [`TalcPeer::init`] moves it into a fresh
    /// talc.
    heap: Option<MemLib>,
    /// The end of the heap talc manages, once it has claimed one.
    end: Option<NonNull<u8>>,
}

impl MemlibSource {
    /// What `sbrk` must add for `layout` to fit in the new memory alone: the pages of
    /// `WasmGrowAndExtend`'s `delta_pages_for`, the request's chunk (its size plus the
    /// tag word, in whole chunk units) and one chunk unit more.
    fn growth_for<B: Binning>(talc: &Talc<Self, B>, layout: Layout) -> Option<usize> {
        let chunk = layout.size().checked_add(size_of::<usize>())?.checked_next_multiple_of(CHUNK_UNIT)?;
        let mut bytes = chunk.checked_add(CHUNK_UNIT)?;
        if layout.align() > CHUNK_UNIT {
            bytes = bytes.checked_add(layout.align())?;
        }
        if !talc.is_metadata_established() {
            bytes = bytes.checked_add(min_first_heap_size::<B>())?;
        }
        whole_pages(bytes)
    }
}

// SAFETY: `acquire` touches nothing but the `Talc` it is given and the simulated heap
// that talc's source owns; it never calls into a global allocator that could be this
// talc (the simulated heap never allocates after it is created).
unsafe impl Source for MemlibSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        let bytes = Self::growth_for(talc, layout).ok_or(())?;
        let heap = talc.source.heap.as_mut().ok_or(())?;
        let base = heap.extend(bytes).map_err(drop)?;
        let new_end = heap.brk();
        talc.source.end = match talc.source.end {
            // SAFETY: `[end, new_end)` was just handed out by `sbrk`, directly after the
            // heap talc manages; nothing else uses it, and the simulated heap keeps the
            // memory allocated for as long as talc (which owns it) lives.
            Some(end) if end == base => Some(unsafe { talc.extend(end, new_end.as_ptr()) }),
            // The first region (or, were anything else to move the break, a new heap).
            // SAFETY: as above, for `[base, base + bytes)`.
            _ => Some(unsafe { talc.claim(base.as_ptr(), bytes) }.ok_or(())?),
        };
        Ok(())
    }
}

impl TalcPeer {
    /// talc over `heap`, serving payloads aligned to `align`; call `init` before use.
    pub fn new(heap: MemLib, align: Align) -> TalcPeer {
        TalcPeer { talc: Self::fresh(Some(heap)), table: SideTable::new(), align, ready: false }
    }

    fn fresh(heap: Option<MemLib>) -> Talc<MemlibSource, DefaultBinning> {
        Talc::new(MemlibSource { heap, end: None })
    }

    /// Allocates `layout` and records it.
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: `request` never makes a zero-size layout.
        let ptr = unsafe { self.talc.allocate(layout) }?;
        self.table.insert(ptr, layout);
        Some(ptr)
    }
}

impl Allocator for TalcPeer {
    fn describe(&self) -> String {
        "talc 5: binned boundary-tag gaps, one tag word per chunk, 32-byte chunks; sbrk source, layouts from a side table"
            .to_owned()
    }

    fn heap(&self) -> &MemLib {
        self.talc.source.heap.as_ref().expect("the heap is only moved out inside init")
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        self.talc.source.heap.as_mut().expect("the heap is only moved out inside init")
    }

    fn alignment(&self) -> Align {
        self.align
    }

    fn init(&mut self) -> Result<(), InitError> {
        let heap = self.talc.source.heap.take();
        self.talc = Self::fresh(heap);
        self.table.clear();
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let layout = request(self.heap(), size, self.align, self.ready)?;
        self.allocate(layout)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some(layout) = self.table.remove(ptr) {
            // SAFETY: the table holds exactly the blocks talc allocated since `init` and
            // not yet freed, with the layout each was allocated (or last resized) with.
            unsafe { self.talc.deallocate(ptr.as_ptr(), layout) }
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.table.get(ptr).map_or(0, |layout| layout.size())
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let old = self.table.get(ptr)?;
        let new = request(self.heap(), size, self.align, self.ready)?;
        // SAFETY: `ptr` is live with layout `old` (the table says so), and `new` is not
        // zero-size.
        if unsafe { self.talc.try_realloc_in_place(ptr.as_ptr(), old, new.size()) } {
            self.table.insert(ptr, new);
            return Some(ptr);
        }
        // Growing in place failed, so `new` is larger than `old`: copy all of `old`.
        let moved = self.allocate(new)?;
        // SAFETY: both blocks are live and distinct, `old.size()` bytes long at least;
        // `ptr` was allocated with `old` and is freed once, here.
        unsafe {
            moved.as_ptr().copy_from_nonoverlapping(ptr.as_ptr(), old.size());
            self.table.remove(ptr);
            self.talc.deallocate(ptr.as_ptr(), old);
        }
        Some(moved)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        let heap = self.heap();
        self.table.check(heap, self.align)?;
        let Some(end) = self.talc.source.end else {
            return match self.table.sorted().first() {
                Some(&(addr, _)) => Err(HeapCheckError::new(
                    heap.offset_of(addr as *const u8),
                    Invariant::Other("a block is live, but talc has no heap".to_owned()),
                )),
                None => Ok(()),
            };
        };
        if end != heap.brk() {
            return Err(HeapCheckError::new(
                heap.offset_of(end.as_ptr()),
                Invariant::Other(format!(
                    "talc's heap ends here, but the break is at heap offset {:#x}",
                    heap.heap_size()
                )),
            ));
        }
        // SAFETY: `end` is the end of talc's heap as `claim`/`extend` last returned it.
        let reserved = unsafe { self.talc.reserved(end) }.up_to.as_ptr() as usize;
        if let Some(&(addr, layout)) = self.table.sorted().last().filter(|(a, l)| a + l.size() > reserved) {
            return Err(HeapCheckError::new(
                heap.offset_of(addr as *const u8),
                Invariant::Other(format!(
                    "live block of {} bytes reaches past the top of talc's reserved region (heap offset {:#x})",
                    layout.size(),
                    heap.offset_of(reserved as *const u8)
                )),
            ));
        }
        Ok(())
    }
}
