//! The allocator contract: the classic `mm_init` / `mm_malloc` / `mm_free` /
//! `mm_realloc` interface as a Rust trait, the heap spans that describe a heap, and the
//! helpers every strategy shares. Its errors are in [`error`](crate::error) (re-exported
//! here and at the crate's root); this module names no wrapper of the trait.
//!
//! Every strategy owns its [`MemLib`] heap and grows it only through `sbrk`. The driver
//! resets the heap's break and calls [`Allocator::init`] before each trace, so `init`
//! must rebuild *all* of a strategy's state from nothing.

use std::ptr::NonNull;

pub use crate::align::{Align, ConfigError};
pub use crate::error::{Corruption, HeapCheckError, InitError, Invariant, Misuse, Rule, StrategyRule};
use crate::memlib::MemLib;

/// The checks every strategy makes, in every build, on a pointer handed to `free` or
/// `realloc` before it reads anything through it: the payload lies inside the heap's
/// bytes in use, at or after `first_payload` (the lowest offset a payload can have),
/// and is aligned. Returns the payload's heap offset.
pub fn payload_offset(
    heap: &MemLib,
    align: Align,
    first_payload: usize,
    ptr: NonNull<u8>,
) -> Result<usize, Misuse> {
    let offset = heap.offset_of(ptr.as_ptr());
    if offset >= first_payload && offset < heap.heap_size() && align.is_aligned(offset) {
        Ok(offset)
    } else {
        Err(Misuse::InvalidPointer { offset })
    }
}

/// The classic dynamic-memory-allocator contract.
///
/// * [`init`](Allocator::init) may be called again at any time on a reset heap and must
///   rebuild all state.
/// * [`malloc`](Allocator::malloc) returns a payload aligned to
///   [`alignment`](Allocator::alignment) of at least `size` bytes, wholly inside the
///   heap, overlapping no live block; `malloc(0)` returns a unique minimum block (as
///   glibc does). When the heap cannot grow it returns `None` and the heap stays
///   consistent.
/// * [`realloc`](Allocator::realloc) follows C: `realloc(None, n)` is `malloc(n)`,
///   `realloc(Some(p), 0)` is `free(p)` and returns `None`; otherwise the first
///   `min(old, new)` bytes are preserved, and on failure the old block is untouched.
/// * **Before `init`** (a strategy just built by its `new`), the heap is empty and so is
///   the strategy: building it writes nothing to the heap, `malloc` and `realloc(None,
///   _)` return `None` without growing it, `check_heap` is `Ok(())` (there is nothing to
///   check yet) and `heap_spans` is `None`. The conformance kit's `before_init`
///   scenario holds every strategy to this.
///
/// The trait is object safe, so a driver can hold `Box<dyn Allocator>`.
pub trait Allocator {
    /// One line describing the policy, for tables and docs
    /// (e.g. "implicit free list, first fit, boundary tags").
    fn describe(&self) -> String;

    /// The heap this strategy allocates from.
    fn heap(&self) -> &MemLib;

    /// The heap, mutably (the driver resets its break before each trace).
    fn heap_mut(&mut self) -> &mut MemLib;

    /// The alignment of every payload this strategy returns.
    fn alignment(&self) -> Align;

    /// Builds the strategy's initial structures on the heap (`mm_init`).
    fn init(&mut self) -> Result<(), InitError>;

    /// Allocates at least `size` bytes (`mm_malloc`).
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>>;

    /// Frees a block (`mm_free`).
    ///
    /// # Safety
    /// `ptr` was returned by `malloc` or `realloc` of this allocator since the last
    /// `init`, and has not been freed since.
    unsafe fn free(&mut self, ptr: NonNull<u8>);

    /// The number of payload bytes the block at `ptr` can hold (at least what was asked).
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator.
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize;

    /// Resizes a live block to `size > 0` bytes, keeping the first `min(old, size)`
    /// bytes; returns `None` (leaving the block untouched) when the heap cannot grow.
    ///
    /// The provided version is the textbook one: allocate, copy, free. Strategies
    /// override it to resize in place when they can.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator.
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { resize_by_moving(self, ptr, size) }
    }

    /// `mm_realloc`, with C's rules for a null pointer and a zero size.
    ///
    /// # Safety
    /// `ptr`, when given, is a live block of this allocator.
    unsafe fn realloc(&mut self, ptr: Option<NonNull<u8>>, size: usize) -> Option<NonNull<u8>> {
        match (ptr, size) {
            (None, _) => self.malloc(size),
            (Some(p), 0) => {
                // SAFETY: the caller guarantees `p` is live.
                unsafe { self.free(p) };
                None
            }
            // SAFETY: the caller guarantees `p` is live.
            (Some(p), _) => unsafe { self.resize(p, size) },
        }
    }

    /// Allocates zeroed space for `count` elements of `size` bytes; `None` when the
    /// product overflows or the heap cannot grow.
    fn calloc(&mut self, count: usize, size: usize) -> Option<NonNull<u8>> {
        let bytes = count.checked_mul(size)?;
        let ptr = self.malloc(bytes)?;
        // SAFETY: `malloc` returned a block of at least `bytes` writable bytes.
        unsafe { ptr.as_ptr().write_bytes(0, bytes) };
        Some(ptr)
    }

    /// Walks the heap and verifies every invariant of the strategy (`mm_checkheap`);
    /// `Ok(())` before `init`.
    fn check_heap(&self) -> Result<(), HeapCheckError>;

    /// What every byte of the heap holds: [`HeapSpan`]s in address order that tile
    /// `[0, heap().heap_size())` exactly, each labelled with a [`SpanKind`]. This is what
    /// `mdriver heapmap` draws; [`check_span_tiling`] states the rules and the conformance
    /// kit holds every strategy that answers to them.
    ///
    /// The provided version returns `None`: "this strategy does not say". A strategy
    /// also returns `None` when it cannot say *now*: before `init`, or when the walk
    /// finds the heap inconsistent (its `check_heap` then tells why). Walking costs
    /// O(blocks), like `check_heap`; it is meant for tools and tests, not hot paths.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        None
    }

    /// The misuse the last `free` or `realloc` caught and refused, if any (and forgets
    /// it). Strategies catch the cheap cases ([`payload_offset`], a header that says the
    /// block is free); checking wrappers catch every double or invalid free. Callers that cannot return an error (a global
    /// allocator, the C libraries) abort when this is `Some`. The provided version
    /// catches nothing.
    fn take_misuse(&mut self) -> Option<Misuse> {
        None
    }

    /// Verifies, without changing anything, the metadata that freeing or resizing the
    /// live block at `ptr` would rely on: the block's own header, and its neighbours'
    /// headers, footers and list links where the strategy would read or merge them.
    /// A checking wrapper calls it before every `free` and `realloc`, so that an overflow
    /// out of a block or a write into a freed one is reported as the misuse it is instead
    /// of being acted upon. O(1); never allocates.
    /// The provided version checks nothing.
    ///
    /// Meant for a `ptr` that passed [`payload_offset`]; given any other pointer the
    /// answer means nothing, but the check still reads nothing outside the heap.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        let _ = ptr;
        Ok(())
    }

    /// Checks, without changing anything, what `free(ptr)` would check before freeing:
    /// the misuse it would report for `ptr`, if any. A layer that keeps freed blocks for
    /// reuse instead of freeing them (a thread cache) calls it, so that a checking
    /// wrapper still catches an invalid or double free of a block that never reaches
    /// `free`. O(1); never allocates.
    /// The provided version checks nothing (strategies check only inside `free`).
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        let _ = ptr;
        Ok(())
    }

    /// [`check_free`](Allocator::check_free), and the usable size of the block it
    /// accepted when the checks read it anyway: `Ok(Some(bytes))` is what
    /// [`usable_size`](Allocator::usable_size) would answer, `Ok(None)` means "ask it".
    /// A thread cache sorting freed blocks by size calls this once per block instead
    /// of reading the header twice.
    /// The provided version is `check_free` and `Ok(None)`.
    fn check_free_sized(&self, ptr: NonNull<u8>) -> Result<Option<usize>, Misuse> {
        self.check_free(ptr).map(|()| None)
    }
}

/// A boxed strategy is a strategy: the driver holds `Box<dyn Allocator>`, and wrappers
/// take any `Allocator`.
impl<A: Allocator + ?Sized> Allocator for Box<A> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn heap(&self) -> &MemLib {
        (**self).heap()
    }
    fn heap_mut(&mut self) -> &mut MemLib {
        (**self).heap_mut()
    }
    fn alignment(&self) -> Align {
        (**self).alignment()
    }
    fn init(&mut self) -> Result<(), InitError> {
        (**self).init()
    }
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        (**self).malloc(size)
    }
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { (**self).free(ptr) }
    }
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { (**self).usable_size(ptr) }
    }
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { (**self).resize(ptr, size) }
    }
    unsafe fn realloc(&mut self, ptr: Option<NonNull<u8>>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { (**self).realloc(ptr, size) }
    }
    fn calloc(&mut self, count: usize, size: usize) -> Option<NonNull<u8>> {
        (**self).calloc(count, size)
    }
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        (**self).check_heap()
    }
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        (**self).heap_spans()
    }
    fn take_misuse(&mut self) -> Option<Misuse> {
        (**self).take_misuse()
    }
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        (**self).check_free(ptr)
    }
    fn check_free_sized(&self, ptr: NonNull<u8>) -> Result<Option<usize>, Misuse> {
        (**self).check_free_sized(ptr)
    }
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        (**self).check_neighbourhood(ptr)
    }
}

/// What a run of heap bytes holds, as the strategy that owns the heap sees it (see
/// [`Allocator::heap_spans`]).
///
/// The four kinds answer "where did the heap go?": the payload the program can use,
/// memory the allocator could hand out again, the allocator's bookkeeping, and bytes
/// that serve nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpanKind {
    /// The usable payload of an allocated block: from the pointer `malloc` returned,
    /// exactly [`usable_size`](Allocator::usable_size) bytes. The allocator does not
    /// know the request, so this includes any rounding; a caller that knows each
    /// block's requested size (the driver does) can split the tail beyond the request
    /// off as padding.
    Payload,
    /// Memory the allocator holds free and can hand out again: a free block *whole*
    /// (its header, footer and free-list links included, since all of it is reused
    /// when the block is), and free heap that belongs to no block yet (the buddy
    /// system's untouched tail).
    Free,
    /// Bookkeeping: the headers and footers of allocated blocks, sentinel blocks
    /// (prologue, epilogue), and control areas kept in the heap (list heads, masks).
    Metadata,
    /// Bytes that hold nothing and cannot be handed out as they are: the padding that
    /// aligns the first block or the start of an arena.
    Padding,
}

impl SpanKind {
    /// Every kind, in the order above.
    pub const ALL: [SpanKind; 4] = [SpanKind::Payload, SpanKind::Free, SpanKind::Metadata, SpanKind::Padding];

    /// The kind's name in lower case: "payload", "free", "metadata", "padding".
    pub const fn name(self) -> &'static str {
        match self {
            SpanKind::Payload => "payload",
            SpanKind::Free => "free",
            SpanKind::Metadata => "metadata",
            SpanKind::Padding => "padding",
        }
    }
}

impl std::fmt::Display for SpanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `len` bytes from heap offset `offset` (from `heap_lo`), all of one [`SpanKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeapSpan {
    /// Offset of the first byte from `heap_lo`.
    pub offset: usize,
    /// Length in bytes (never zero in a list built by [`HeapSpans`]).
    pub len: usize,
    /// What the bytes hold.
    pub kind: SpanKind,
}

impl HeapSpan {
    /// The span `[offset, offset + len)` of `kind`.
    pub const fn new(offset: usize, len: usize, kind: SpanKind) -> HeapSpan {
        HeapSpan { offset, len, kind }
    }

    /// One past the last byte.
    pub const fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// Builds a span list from the bottom of the heap up, for
/// [`Allocator::heap_spans`]: each [`push`](HeapSpans::push) covers the next `len`
/// bytes, so the spans are contiguous by construction. Empty pushes are dropped and a
/// push of the same kind as the span before it extends that span, so the list stays
/// short (two adjacent free blocks read as one free span).
#[derive(Debug, Clone, Default)]
pub struct HeapSpans {
    spans: Vec<HeapSpan>,
    end: usize,
}

impl HeapSpans {
    /// An empty list, starting at heap offset 0.
    pub fn new() -> HeapSpans {
        HeapSpans::default()
    }

    /// Covers the next `len` bytes with `kind`.
    pub fn push(&mut self, len: usize, kind: SpanKind) {
        if len == 0 {
            return;
        }
        match self.spans.last_mut() {
            Some(last) if last.kind == kind => last.len += len,
            _ => self.spans.push(HeapSpan::new(self.end, len, kind)),
        }
        self.end += len;
    }

    /// One past the last byte covered so far.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The spans.
    pub fn finish(self) -> Vec<HeapSpan> {
        self.spans
    }
}

/// Checks that `spans` tile `[0, heap_size)` exactly: in address order, each starting
/// where the one before ended (the first at 0), none empty, the last ending at
/// `heap_size`. Returns what is wrong otherwise, naming the span.
pub fn check_span_tiling(spans: &[HeapSpan], heap_size: usize) -> Result<(), String> {
    let mut at = 0;
    for (i, span) in spans.iter().enumerate() {
        if span.len == 0 {
            return Err(format!("span {i} ({} at {:#x}) is empty", span.kind, span.offset));
        }
        if span.offset != at {
            let what = if span.offset > at { "leaves a gap after" } else { "overlaps" };
            return Err(format!(
                "span {i} ({}, [{:#x}, {:#x})) {what} the bytes before it, which end at {at:#x}",
                span.kind,
                span.offset,
                span.offset.wrapping_add(span.len)
            ));
        }
        at = span.offset.checked_add(span.len).ok_or_else(|| format!("span {i} runs past usize::MAX"))?;
    }
    if at != heap_size {
        return Err(format!("the spans end at {at:#x}, but the heap is {heap_size:#x} bytes"));
    }
    Ok(())
}

/// The textbook `realloc`: allocate a new block, copy `min(old, new)` bytes, free the
/// old block. Returns `None`, leaving the old block live, when the allocation fails.
///
/// # Safety
/// `ptr` is a live block of `alloc`.
pub unsafe fn resize_by_moving<A: Allocator + ?Sized>(
    alloc: &mut A,
    ptr: NonNull<u8>,
    size: usize,
) -> Option<NonNull<u8>> {
    // SAFETY: the caller guarantees `ptr` is live.
    let old_size = unsafe { alloc.usable_size(ptr) };
    let kept = old_size.min(size);
    // The size comes from the block's header, which the program can have overwritten:
    // never copy from outside the heap on its word.
    if !alloc.heap().contains(ptr.as_ptr(), kept) {
        Corruption::new("invalid old size", alloc.heap().offset_of(ptr.as_ptr())).panic();
    }
    let new = alloc.malloc(size)?;
    // SAFETY: `kept` bytes at `ptr` lie inside the heap (checked above) and the new
    // block holds at least `size >= kept`. They cannot overlap if the header told the
    // truth (the old block is still allocated); `copy` is memmove, so a lying header
    // costs garbage bytes, never undefined behaviour.
    unsafe {
        std::ptr::copy(ptr.as_ptr(), new.as_ptr(), kept);
        alloc.free(ptr);
    }
    Some(new)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_lists_merge_and_tile() {
        let mut b = HeapSpans::new();
        b.push(8, SpanKind::Padding);
        b.push(0, SpanKind::Metadata);
        b.push(16, SpanKind::Metadata);
        b.push(32, SpanKind::Free);
        b.push(16, SpanKind::Free);
        b.push(8, SpanKind::Metadata);
        assert_eq!(b.end(), 80);
        let spans = b.finish();
        assert_eq!(
            spans,
            [
                HeapSpan::new(0, 8, SpanKind::Padding),
                HeapSpan::new(8, 16, SpanKind::Metadata),
                HeapSpan::new(24, 48, SpanKind::Free),
                HeapSpan::new(72, 8, SpanKind::Metadata),
            ]
        );
        assert_eq!(check_span_tiling(&spans, 80), Ok(()));
        assert!(check_span_tiling(&spans, 88).unwrap_err().contains("heap is 0x58 bytes"));
        let mut gap = spans.clone();
        gap[2].offset += 8;
        assert!(
            check_span_tiling(&gap, 80).unwrap_err().contains("span 2 (free, [0x20, 0x50)) leaves a gap")
        );
        let mut overlap = spans.clone();
        overlap[1].len += 8;
        assert!(
            check_span_tiling(&overlap, 80).unwrap_err().contains("span 2 (free, [0x18, 0x48)) overlaps")
        );
        assert!(check_span_tiling(&[HeapSpan::new(0, 0, SpanKind::Free)], 0).unwrap_err().contains("empty"));
        assert_eq!(check_span_tiling(&[], 0), Ok(()));
        assert_eq!(SpanKind::ALL.map(SpanKind::name), ["payload", "free", "metadata", "padding"]);
    }
}
