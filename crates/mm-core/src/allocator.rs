//! The allocator contract: the classic `mm_init` / `mm_malloc` / `mm_free` /
//! `mm_realloc` interface as a Rust trait, plus the heap checker's error type.
//!
//! Every strategy owns its [`MemLib`] heap and grows it only through `sbrk`. The driver
//! resets the heap's break and calls [`Allocator::init`] before each trace, so `init`
//! must rebuild *all* of a strategy's state from nothing.

use std::ptr::NonNull;

use thiserror::Error;

use crate::memlib::{MemLib, SbrkError};

/// A payload alignment: a power of two between [`Align::MIN`] and [`Align::MAX`].
///
/// Strategies take the alignment as configuration rather than a hard-wired constant so
/// the same code serves the classic 8-byte contract and the 16-byte alignment that
/// x86-64 C programs expect from `malloc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Align(usize);

/// Why a strategy could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The alignment is not a power of two in the supported range.
    #[error("{}", bad_alignment_message(*.0))]
    BadAlignment(usize),
}

/// Says which rule an alignment breaks, and the range it must be in: a power of two
/// outside the range (8192, say) is not "not a power of two".
fn bad_alignment_message(bytes: usize) -> String {
    let (min, max) = (Align::MIN.get(), Align::MAX.get());
    if bytes.is_power_of_two() {
        format!("alignment {bytes} is out of range: it must be a power of two from {min} to {max}")
    } else {
        format!("alignment {bytes} is not a power of two (it must be a power of two from {min} to {max})")
    }
}

impl Align {
    /// The classic lab's alignment, and the smallest supported.
    pub const MIN: Align = Align(8);
    /// x86-64's `max_align_t`, what C programs expect from `malloc`.
    pub const SIXTEEN: Align = Align(16);
    /// The largest supported: one page of the simulated heap.
    pub const MAX: Align = Align(crate::memlib::PAGE_SIZE);

    /// Validates `bytes` as an alignment.
    pub fn new(bytes: usize) -> Result<Align, ConfigError> {
        if bytes.is_power_of_two() && (Self::MIN.0..=Self::MAX.0).contains(&bytes) {
            Ok(Align(bytes))
        } else {
            Err(ConfigError::BadAlignment(bytes))
        }
    }

    /// The alignment in bytes.
    pub const fn get(self) -> usize {
        self.0
    }

    /// Rounds `n` up to a multiple of the alignment; `None` on overflow.
    pub const fn round_up(self, n: usize) -> Option<usize> {
        match n.checked_add(self.0 - 1) {
            Some(m) => Some(m & !(self.0 - 1)),
            None => None,
        }
    }

    /// True when `n` (an address or a size) is a multiple of the alignment.
    pub const fn is_aligned(self, n: usize) -> bool {
        n & (self.0 - 1) == 0
    }
}

impl Default for Align {
    fn default() -> Self {
        Align::MIN
    }
}

impl std::fmt::Display for Align {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why `init` failed. The heap is left as it was found or partly grown; a later `init`
/// on a reset heap may succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InitError {
    /// The heap could not grow to hold the strategy's initial structures.
    #[error("init: {0}")]
    Heap(#[from] SbrkError),
}

/// A broken heap invariant, found by [`Allocator::check_heap`]: which block, and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("heap check: block at heap offset {offset:#x}: {invariant}")]
pub struct HeapCheckError {
    /// Offset of the block (its first byte, header included) from `heap_lo`.
    pub offset: usize,
    /// The invariant that does not hold.
    pub invariant: Invariant,
}

impl HeapCheckError {
    /// A broken `invariant` at heap `offset`.
    pub fn new(offset: usize, invariant: Invariant) -> Self {
        HeapCheckError { offset, invariant }
    }
}

/// The invariants a heap checker verifies: those many strategies share, and
/// [`Invariant::Rule`] for a rule of one strategy's own, kept typed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Invariant {
    /// Boundary tags disagree.
    #[error("header says {header:#x}, footer says {footer:#x}")]
    HeaderFooterMismatch {
        /// The header word.
        header: usize,
        /// The footer word.
        footer: usize,
    },
    /// A block size that is not a multiple of the alignment.
    #[error("size {size} is not a multiple of the alignment {align}")]
    SizeNotAligned {
        /// The block size.
        size: usize,
        /// The alignment.
        align: usize,
    },
    /// A block smaller than the strategy's minimum block.
    #[error("size {size} is below the minimum block size {min}")]
    TooSmall {
        /// The block size.
        size: usize,
        /// The minimum.
        min: usize,
    },
    /// A payload address that is not aligned.
    #[error("payload is not aligned to {align} bytes")]
    PayloadMisaligned {
        /// The alignment.
        align: usize,
    },
    /// A block that runs past the break.
    #[error("block of {size} bytes runs past the end of the heap")]
    PastHeapEnd {
        /// The block size.
        size: usize,
    },
    /// Two neighbouring free blocks that immediate coalescing should have merged.
    #[error("free block is followed by another free block (not coalesced)")]
    Uncoalesced,
    /// The sentinel block at the start of the heap was overwritten.
    #[error("the prologue block is damaged")]
    BadPrologue,
    /// The sentinel header at the end of the heap is missing or wrong.
    #[error("the epilogue header is damaged or not at the end of the heap")]
    BadEpilogue,
    /// Header flag bits that contradict the neighbouring blocks.
    #[error("flags: {0}")]
    Flags(String),
    /// A free-list structure that does not match the heap.
    #[error("free list: {0}")]
    FreeList(String),
    /// Any other strategy-specific invariant.
    #[error("{0}")]
    Other(String),
    /// A numbered rule of one strategy (its crate documentation lists them), carried as
    /// the strategy's own typed value: tests match it with [`Invariant::rule`] instead
    /// of searching the message.
    #[error("{0}")]
    Rule(StrategyRule),
}

impl Invariant {
    /// A broken rule of the strategy whose rule type is `R`.
    pub fn rule_of<R: Rule>(rule: R) -> Invariant {
        Invariant::Rule(StrategyRule(std::sync::Arc::new(rule)))
    }

    /// The strategy's typed rule, when this is an [`Invariant::Rule`] of type `R`.
    pub fn rule<R: Rule>(&self) -> Option<&R> {
        match self {
            Invariant::Rule(StrategyRule(rule)) => {
                let any: &dyn std::any::Any = rule.as_any();
                any.downcast_ref::<R>()
            }
            _ => None,
        }
    }
}

/// A strategy's own heap rule: typically an enum with a variant per numbered invariant of
/// its crate documentation, each holding the values that break it.
pub trait Rule: std::any::Any + std::fmt::Debug + std::fmt::Display + Send + Sync {
    /// The rule's number in the strategy's crate documentation.
    fn number(&self) -> u32;
    /// Itself as `Any`, for [`Invariant::rule`]'s downcast.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A [`Rule`] behind a shared pointer, so that [`Invariant`] stays `Clone` and `Eq`
/// (two rules are equal when they print the same and have the same number).
#[derive(Clone)]
pub struct StrategyRule(std::sync::Arc<dyn Rule>);

impl StrategyRule {
    /// The rule's number in its strategy's documentation.
    pub fn number(&self) -> u32 {
        self.0.number()
    }
}

impl std::fmt::Debug for StrategyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for StrategyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {}: {}", self.0.number(), self.0)
    }
}

impl PartialEq for StrategyRule {
    fn eq(&self, other: &Self) -> bool {
        self.0.number() == other.0.number() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for StrategyRule {}

/// A misuse caught at `free` or `realloc`: a pointer the allocator refuses to act on.
/// Offsets are from the heap's start.
///
/// Every strategy makes the checks that are nearly free in every build (the pointer is
/// inside the heap and aligned; its block's header says allocated) and reports a failure
/// through [`Allocator::take_misuse`] instead of acting on the pointer;
/// [`Hardened`](crate::hardened::Hardened) makes the exact checks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Misuse {
    /// The block was freed already.
    #[error("double free of the block at heap offset {offset:#x}")]
    DoubleFree {
        /// The payload's offset.
        offset: usize,
    },
    /// A pointer this allocator never returned (or one outside its heap).
    #[error("free of a pointer this allocator never returned (heap offset {offset:#x})")]
    InvalidPointer {
        /// The pointer's offset from the heap's start (wrapped for pointers below it).
        offset: usize,
    },
    /// The block's header no longer says what it said when the block was allocated.
    #[error(
        "the header of the block at heap offset {offset:#x} was overwritten \
         (usable size {recorded} when allocated, {found} now)"
    )]
    CorruptedHeader {
        /// The payload's offset.
        offset: usize,
        /// The usable size recorded at allocation.
        recorded: usize,
        /// The usable size the strategy reports now.
        found: usize,
    },
    /// The block's metadata or a neighbour's that the call would use is inconsistent
    /// (typically an overflow out of a block, or a write into a freed one).
    #[error("{0}")]
    Corrupted(Corruption),
}

impl Misuse {
    /// The operation name glibc would print with it.
    pub fn short(&self) -> &'static str {
        match self {
            Misuse::DoubleFree { .. } => "double free detected",
            Misuse::InvalidPointer { .. } => "invalid pointer",
            Misuse::CorruptedHeader { .. } => "corrupted block header",
            Misuse::Corrupted(corruption) => corruption.what,
        }
    }

    /// The heap offset the misuse concerns.
    pub fn offset(&self) -> usize {
        match *self {
            Misuse::DoubleFree { offset }
            | Misuse::InvalidPointer { offset }
            | Misuse::CorruptedHeader { offset, .. } => offset,
            Misuse::Corrupted(corruption) => corruption.offset,
        }
    }
}

/// Allocator metadata found inconsistent: what is wrong, and where. It holds only a
/// static text and a number, so that reporting it never allocates: it may be found
/// inside a program's `malloc`, where allocating would re-enter the broken heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{what} (heap offset {offset:#x})")]
pub struct Corruption {
    /// The broken rule, glibc-style: "corrupted double-linked list".
    pub what: &'static str,
    /// The heap offset of the block (or word) concerned.
    pub offset: usize,
}

impl Corruption {
    /// `what` is wrong at heap offset `offset`.
    pub const fn new(what: &'static str, offset: usize) -> Corruption {
        Corruption { what, offset }
    }

    /// Stops the operation that found it, by panicking with its text.
    ///
    /// An operation that finds its own metadata inconsistent cannot finish without
    /// reading or writing where the metadata points, so it stops. A panic (not an abort)
    /// lets a driver or a test report the broken run; the deployments (the global
    /// allocator, libmm, the preload library) turn it into an abort that says the heap
    /// is corrupted.
    #[cold]
    #[inline(never)]
    #[track_caller]
    pub fn panic(self) -> ! {
        panic!("{self}")
    }
}

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

    /// Walks the heap and verifies every invariant of the strategy (`mm_checkheap`).
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
    /// block is free); checking wrappers such as [`Hardened`](crate::hardened::Hardened)
    /// catch every double or invalid free. Callers that cannot return an error (a global
    /// allocator, the C libraries) abort when this is `Some`. The provided version
    /// catches nothing.
    fn take_misuse(&mut self) -> Option<Misuse> {
        None
    }

    /// Verifies, without changing anything, the metadata that freeing or resizing the
    /// live block at `ptr` would rely on: the block's own header, and its neighbours'
    /// headers, footers and list links where the strategy would read or merge them.
    /// [`Hardened`](crate::hardened::Hardened) calls it before every `free` and
    /// `realloc`, so that an overflow out of a block or a write into a freed one is
    /// reported as the misuse it is instead of being acted upon. O(1); never allocates.
    /// The provided version checks nothing.
    ///
    /// Meant for a `ptr` that passed [`payload_offset`]; given any other pointer the
    /// answer means nothing, but the check still reads nothing outside the heap.
    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        let _ = ptr;
        Ok(())
    }
}

/// A boxed strategy is a strategy: the driver holds `Box<dyn Allocator>`, and wrappers
/// such as [`Hardened`](crate::hardened::Hardened) take any `Allocator`.
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
    fn alignments_are_validated_and_round() {
        assert!(Align::new(4).is_err());
        assert!(Align::new(24).is_err());
        assert!(Align::new(8192).is_err());
        let a = Align::new(16).unwrap();
        assert_eq!(a.round_up(1), Some(16));
        assert_eq!(a.round_up(32), Some(32));
        assert_eq!(a.round_up(usize::MAX - 3), None);
        assert!(a.is_aligned(48) && !a.is_aligned(40));
        assert_eq!(
            ConfigError::BadAlignment(3).to_string(),
            "alignment 3 is not a power of two (it must be a power of two from 8 to 4096)"
        );
        assert_eq!(
            ConfigError::BadAlignment(8192).to_string(),
            "alignment 8192 is out of range: it must be a power of two from 8 to 4096"
        );
        assert_eq!(
            ConfigError::BadAlignment(4).to_string(),
            "alignment 4 is out of range: it must be a power of two from 8 to 4096"
        );
    }

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

    #[test]
    fn heap_check_errors_name_block_and_rule() {
        let e = HeapCheckError::new(0x40, Invariant::Uncoalesced);
        assert_eq!(
            e.to_string(),
            "heap check: block at heap offset 0x40: free block is followed by another free block (not coalesced)"
        );
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum DemoRule {
        Odd { size: usize },
    }

    impl std::fmt::Display for DemoRule {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                DemoRule::Odd { size } => write!(f, "size {size} is odd"),
            }
        }
    }

    impl Rule for DemoRule {
        fn number(&self) -> u32 {
            3
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[test]
    fn a_strategy_rule_is_matched_by_type_and_printed_with_its_number() {
        let err = HeapCheckError::new(0x10, Invariant::rule_of(DemoRule::Odd { size: 7 }));
        assert_eq!(err.invariant.rule::<DemoRule>(), Some(&DemoRule::Odd { size: 7 }));
        assert_eq!(Invariant::Uncoalesced.rule::<DemoRule>(), None);
        assert_eq!(err.to_string(), "heap check: block at heap offset 0x10: rule 3: size 7 is odd");
        assert_eq!(err.clone(), err);
        assert_ne!(err.invariant, Invariant::rule_of(DemoRule::Odd { size: 9 }));
    }
}
