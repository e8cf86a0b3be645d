//! # A bump allocator that breaks one rule on request
//!
//! A checker is only worth something if it fails on a broken allocator. [`Bump`] is the
//! one test allocator that shows it: correct with [`Fault::None`], and broken in exactly
//! one way otherwise ([`Fault`]), so that a test can race it or run a conformance
//! scenario on it and expect the failure that fault should cause, and no other. Its heap
//! description ([`Allocator::heap_spans`]) is off unless asked for, right or wrong in
//! one way ([`Spans`]).
//!
//! It never reuses memory: each block is carved at the break, as
//!
//! ```text
//! [padding to the alignment][payload, rounded up to the alignment][8-byte size word]
//! ```
//!
//! so the first block's payload is at heap offset 0 and a 40-byte block takes 48 bytes
//! at alignment 8. `free` only marks the block freed; the sizes live in a side table
//! keyed by the payload's heap offset, so `usable_size` is exactly what was asked.
//!
//! ```text
//! use mm_testkit::fault::{Bump, Fault};
//! mm_testkit::short1(Bump::factory(Fault::Overlap { every: 4, into: 0 }), Align::MIN); // fails
//! ```

use std::collections::BTreeMap;
use std::ptr::NonNull;

use mm_core::{
    Align, Allocator, HeapCheckError, HeapSpan, HeapSpans, InitError, Invariant, MemLib, PAGE_SIZE,
    SbrkError, SpanKind, resize_by_moving,
};

/// The word after each payload, holding the requested size.
const SIZE_WORD: usize = 8;

/// The one rule a [`Bump`] breaks. Counts (`nth`, `every`, `after_mallocs`) count
/// `malloc` calls since `init`, from 1, including those `realloc` and `calloc` make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// None: a correct allocator (that never reuses memory).
    None,
    /// Every `every`-th `malloc` returns a block starting `into` bytes into the block the
    /// `malloc` before it returned (0: the same block again).
    Overlap {
        /// Which mallocs overlap.
        every: usize,
        /// How far into the previous block.
        into: usize,
    },
    /// Payloads are one byte past the alignment.
    Misaligned,
    /// The `nth` `malloc` returns a block 64 bytes past the break.
    PastTheBreak {
        /// Which malloc.
        nth: usize,
    },
    /// `realloc` moves the block without copying its bytes.
    LossyRealloc,
    /// `realloc` hands back the block freed last, uncopied, when it is big enough:
    /// stale bytes where the data should be.
    ReallocToLastFreed,
    /// Each `malloc` flips the last requested byte of the block the `malloc` before it
    /// returned.
    ClobbersNeighbour,
    /// The `nth` `malloc` returns `None` with the heap far from full.
    NullOnMalloc {
        /// Which malloc.
        nth: usize,
    },
    /// `calloc` trusts the memory to be zero already.
    DirtyCalloc,
    /// Size arithmetic wraps instead of failing: a request near `usize::MAX` gets a block.
    WrappingSizes,
    /// `init` cannot grow the heap.
    InitFails,
    /// `malloc` serves blocks before `init` was called.
    ServesBeforeInit,
    /// A request larger than the whole heap grows the heap by a page before it is
    /// refused.
    GrowsForHugeRequests,
    /// `init` does not reset the count of mallocs, which shifts blocks by 8 bytes once
    /// past 20: state that survives `init`.
    StaleInit,
    /// `init` panics, with a payload that is no string, when blocks were allocated before.
    ReinitPanics,
    /// `check_heap` reports a broken invariant at heap offset `at` once `after_mallocs`
    /// mallocs were made.
    CheckFails {
        /// From which malloc on.
        after_mallocs: usize,
        /// The heap offset it names.
        at: usize,
    },
    /// `check_heap` panics once `after_mallocs` mallocs were made.
    CheckPanics {
        /// From which malloc on.
        after_mallocs: usize,
    },
    /// The first `nth` mallocs look their size class up in a table one entry short: the
    /// `nth` indexes past its end (a panic inside the strategy's own code).
    PanicsInMalloc {
        /// Which malloc panics.
        nth: usize,
    },
    /// `free` of a block of `size` usable bytes panics with a message of its own.
    PanicsInFree {
        /// The size whose free panics.
        size: usize,
    },
}

/// What a [`Bump`]'s [`heap_spans`](Allocator::heap_spans) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spans {
    /// Nothing (the trait's default): the allocator does not describe its heap.
    Silent,
    /// The truth: padding, payload, size word, and freed blocks as free.
    Correct,
    /// The payload of the newest live block is left out: a gap in the tiling.
    Gap,
    /// Freed blocks still read as payload.
    FreedAsPayload,
    /// The newest live block's payload reads as metadata.
    PayloadAsMetadata,
    /// The newest live block's payload span is one byte short (the byte reads as padding).
    ShortPayload,
}

/// A block as the side table knows it (heap offsets).
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Where the block's bytes start (its padding).
    start: usize,
    /// The requested size: what `usable_size` says.
    size: usize,
    /// One past its size word.
    end: usize,
    live: bool,
}

/// A bump allocator with one planted [`Fault`]; see the module documentation.
#[derive(Debug)]
pub struct Bump {
    heap: MemLib,
    align: Align,
    fault: Fault,
    spans: Spans,
    mallocs: usize,
    /// Payload offset -> block, for every block since `init`.
    blocks: BTreeMap<usize, Block>,
    /// The payload offset and size of the block the last `malloc` returned.
    last: Option<(usize, usize)>,
    /// The payload offset of the block freed last.
    last_freed: Option<usize>,
    /// Whether `init` has run (before it, nothing is served).
    ready: bool,
}

impl Bump {
    /// A bump allocator over `heap` with `fault`, which does not describe its heap.
    pub fn new(heap: MemLib, align: Align, fault: Fault) -> Bump {
        Bump {
            heap,
            align,
            fault,
            spans: Spans::Silent,
            mallocs: 0,
            blocks: BTreeMap::new(),
            last: None,
            last_freed: None,
            ready: false,
        }
    }

    /// The same allocator, describing its heap as `spans` says.
    pub fn with_spans(self, spans: Spans) -> Bump {
        Bump { spans, ..self }
    }

    /// A factory for the conformance kit: `Bump::new(heap, align, fault)`.
    pub fn factory(fault: Fault) -> impl Fn(MemLib, Align) -> Bump {
        move |heap, align| Bump::new(heap, align, fault)
    }

    /// A factory of allocators with no fault that describe their heap as `spans` says.
    pub fn factory_with_spans(spans: Spans) -> impl Fn(MemLib, Align) -> Bump {
        move |heap, align| Bump::new(heap, align, Fault::None).with_spans(spans)
    }

    fn ptr_at(&self, offset: usize) -> Option<NonNull<u8>> {
        NonNull::new(self.heap.heap_lo().wrapping_add(offset))
    }

    /// Carves a block for `size` bytes at the break: its payload's offset.
    fn carve(&mut self, size: usize) -> Option<usize> {
        let start = self.heap.heap_size();
        let skew = if self.fault == Fault::StaleInit && self.mallocs > 20 { 8 } else { 0 };
        let (payload, end) = if self.fault == Fault::WrappingSizes {
            let mask = !(self.align.get() - 1);
            let payload = (start + skew + self.align.get() - 1) & mask;
            let rounded = payload.wrapping_add(size.max(1)).wrapping_add(self.align.get() - 1) & mask;
            (payload, rounded.wrapping_add(SIZE_WORD))
        } else {
            let payload = self.align.round_up(start + skew)?;
            (payload, self.align.round_up(payload.checked_add(size.max(1))?)?.checked_add(SIZE_WORD)?)
        };
        self.heap.extend(end.saturating_sub(start)).ok()?;
        if end > start + SIZE_WORD {
            self.heap.write::<usize>(end - SIZE_WORD, size);
        }
        self.blocks.insert(payload, Block { start, size, end, live: true });
        Some(payload)
    }

    /// Records a block placed where `payload` says, not carved at the break (an overlap,
    /// a block past the break).
    fn place(&mut self, payload: usize, size: usize) -> usize {
        let end = payload.saturating_add(size.max(1)).saturating_add(SIZE_WORD);
        self.blocks.insert(payload, Block { start: payload, size, end, live: true });
        payload
    }

    /// Flips the last requested byte of the block the previous `malloc` returned.
    fn clobber_the_last_block(&mut self) {
        if let Some((prev, prev_size)) = self.last
            && prev_size > 0
        {
            let at = self.heap.heap_lo().wrapping_add(prev + prev_size - 1);
            // SAFETY: the previous block is `prev_size` bytes inside the heap; the write
            // is the deliberate fault under test.
            unsafe { at.write(0xFF ^ at.read()) };
        }
    }

    /// The payload offset of the newest live block.
    fn newest_live(&self) -> Option<usize> {
        self.blocks.iter().rev().find(|(_, b)| b.live).map(|(&p, _)| p)
    }
}

impl Allocator for Bump {
    fn describe(&self) -> String {
        match self.spans {
            Spans::Silent => format!("bump allocator (bug: {:?})", self.fault),
            spans => format!("bump allocator (bug: {:?}, spans: {spans:?})", self.fault),
        }
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
        if self.fault == Fault::ReinitPanics && self.mallocs > 0 {
            std::panic::panic_any(self.mallocs);
        }
        if self.fault == Fault::InitFails {
            return Err(InitError::Heap(SbrkError::Negative(-1)));
        }
        if self.fault != Fault::StaleInit {
            self.mallocs = 0;
        }
        self.blocks.clear();
        self.last = None;
        self.last_freed = None;
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !self.ready && self.fault != Fault::ServesBeforeInit {
            return None;
        }
        if self.fault == Fault::GrowsForHugeRequests && size > self.heap.max_size() {
            let _ = self.heap.extend(PAGE_SIZE);
            return None;
        }
        self.mallocs += 1;
        let n = self.mallocs;
        if let Fault::PanicsInMalloc { nth } = self.fault
            && n <= nth
        {
            let classes = vec![16usize; nth - 1];
            std::hint::black_box(classes[n - 1]);
        }
        let payload = match self.fault {
            Fault::NullOnMalloc { nth } if n == nth => return None,
            Fault::Overlap { every, into } if n.is_multiple_of(every) && self.last.is_some() => {
                let (prev, _) = self.last?;
                let payload = self.place(prev + into, size);
                // A block that runs past the break grows the heap, as a block would.
                let end = self.blocks[&payload].end;
                self.heap.extend(end.saturating_sub(self.heap.heap_size())).ok()?;
                payload
            }
            Fault::PastTheBreak { nth } if n == nth => self.place(self.heap.heap_size() + 64, size),
            Fault::Misaligned => {
                let payload = self.carve(size)?;
                let block = self.blocks.remove(&payload)?;
                self.blocks.insert(payload + 1, block);
                payload + 1
            }
            _ => self.carve(size)?,
        };
        if self.fault == Fault::ClobbersNeighbour {
            self.clobber_the_last_block();
        }
        self.last = Some((payload, size));
        self.ptr_at(payload)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller guarantees `ptr` is a live block.
        let size = unsafe { self.usable_size(ptr) };
        if let Fault::PanicsInFree { size: bad } = self.fault
            && size == bad
        {
            panic!("no free list for {bad}-byte blocks");
        }
        let payload = self.heap.offset_of(ptr.as_ptr());
        if let Some(block) = self.blocks.get_mut(&payload)
            && block.live
        {
            block.live = false;
            self.last_freed = Some(payload);
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.blocks.get(&self.heap.offset_of(ptr.as_ptr())).map_or(0, |b| b.size)
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        if self.fault == Fault::LossyRealloc {
            let new = self.malloc(size)?;
            // SAFETY: `ptr` is live (the caller's guarantee).
            unsafe { self.free(ptr) };
            return Some(new);
        }
        if self.fault == Fault::ReallocToLastFreed
            && let Some(stale) = self.last_freed
            && self.blocks.get(&stale).is_some_and(|b| b.size >= size)
        {
            // SAFETY: `ptr` is live (the caller's guarantee).
            unsafe { self.free(ptr) };
            let block = self.blocks.get_mut(&stale)?;
            block.size = size;
            block.live = true;
            return self.ptr_at(stale);
        }
        // SAFETY: `ptr` is live (the caller's guarantee).
        unsafe { resize_by_moving(self, ptr, size) }
    }

    fn calloc(&mut self, count: usize, size: usize) -> Option<NonNull<u8>> {
        let bytes = count.checked_mul(size)?;
        let ptr = self.malloc(bytes)?;
        if self.fault != Fault::DirtyCalloc {
            // SAFETY: `malloc` returned a block of at least `bytes` writable bytes.
            unsafe { ptr.as_ptr().write_bytes(0, bytes) };
        }
        Some(ptr)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        match self.fault {
            Fault::CheckPanics { after_mallocs } if self.mallocs >= after_mallocs => {
                panic!("check_heap walked past the break")
            }
            Fault::CheckFails { after_mallocs, at } if self.mallocs >= after_mallocs => {
                Err(HeapCheckError::new(at, Invariant::Other("planted".into())))
            }
            _ => Ok(()),
        }
    }

    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if self.spans == Spans::Silent {
            return None;
        }
        let newest_live = self.newest_live();
        let mut spans = HeapSpans::new();
        for (&payload, b) in &self.blocks {
            let newest = Some(payload) == newest_live;
            let rounded = b.end - SIZE_WORD - payload;
            spans.push(b.start.saturating_sub(spans.end()) + (payload - b.start), SpanKind::Padding);
            match (b.live, self.spans) {
                (false, Spans::FreedAsPayload) => spans.push(rounded, SpanKind::Payload),
                (false, _) => spans.push(rounded, SpanKind::Free),
                (true, Spans::PayloadAsMetadata) if newest => spans.push(b.size, SpanKind::Metadata),
                (true, Spans::ShortPayload) if newest && b.size > 0 => {
                    spans.push(b.size - 1, SpanKind::Payload);
                    spans.push(1, SpanKind::Padding);
                }
                (true, _) => spans.push(b.size, SpanKind::Payload),
            }
            if b.live {
                spans.push(rounded - b.size, SpanKind::Padding);
            }
            spans.push(SIZE_WORD, SpanKind::Metadata);
        }
        spans.push(self.heap.heap_size().saturating_sub(spans.end()), SpanKind::Padding);
        let mut spans = spans.finish();
        if self.spans == Spans::Gap
            && let Some(newest) = newest_live
        {
            spans.retain(|s| !(s.offset == newest && s.kind == SpanKind::Payload));
        }
        Some(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bump(fault: Fault) -> Bump {
        let mut a = Bump::new(MemLib::new(1 << 16).unwrap(), Align::MIN, fault).with_spans(Spans::Correct);
        a.init().unwrap();
        a
    }

    fn offset(a: &Bump, p: NonNull<u8>) -> usize {
        a.heap().offset_of(p.as_ptr())
    }

    /// The heap offset of the next `malloc(size)`'s block.
    fn malloc_at(a: &mut Bump, size: usize) -> usize {
        let p = a.malloc(size).unwrap();
        offset(a, p)
    }

    /// The layout the module documentation promises, which the driver's tests quote
    /// (a 40-byte block at 0, the next at 0x30).
    #[test]
    fn blocks_are_carved_at_the_break_with_a_size_word_after_each() {
        let mut a = bump(Fault::None);
        let p = a.malloc(40).unwrap();
        let q = a.malloc(24).unwrap();
        assert_eq!((offset(&a, p), offset(&a, q), a.heap().heap_size()), (0, 0x30, 0x30 + 32));
        // SAFETY: both are live.
        assert_eq!(unsafe { (a.usable_size(p), a.usable_size(q)) }, (40, 24));
        assert_eq!(a.heap().read::<usize>(0x28), 40, "the size word");
        // SAFETY: `p` is live, freed once.
        unsafe { a.free(p) };
        let spans = a.heap_spans().unwrap();
        assert_eq!(mm_core::check_span_tiling(&spans, a.heap().heap_size()), Ok(()));
        assert_eq!(spans[0], HeapSpan::new(0, 40, SpanKind::Free));
    }

    #[test]
    fn each_fault_breaks_its_rule() {
        let mut a = bump(Fault::Overlap { every: 2, into: 8 });
        let p = malloc_at(&mut a, 40);
        assert_eq!(malloc_at(&mut a, 24), p + 8);
        let mut a = bump(Fault::PastTheBreak { nth: 1 });
        assert_eq!(malloc_at(&mut a, 8), 64);
        let mut a = bump(Fault::Misaligned);
        assert_eq!(malloc_at(&mut a, 8), 1);
        let mut a = bump(Fault::NullOnMalloc { nth: 2 });
        assert!(a.malloc(8).is_some() && a.malloc(8).is_none() && a.malloc(8).is_some());
        let mut a = bump(Fault::CheckFails { after_mallocs: 1, at: 0x10 });
        assert_eq!(a.check_heap(), Ok(()));
        a.malloc(8);
        assert_eq!(a.check_heap().unwrap_err().offset, 0x10);
        let mut a = Bump::new(MemLib::new(4096).unwrap(), Align::MIN, Fault::InitFails);
        assert!(a.init().is_err());
        assert!(bump(Fault::WrappingSizes).malloc(usize::MAX).is_some());
        assert!(bump(Fault::None).malloc(usize::MAX).is_none());
    }
}
