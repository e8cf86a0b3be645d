//! # mm-core: the contract every mmlab strategy obeys
//!
//! * [`memlib`]: the simulated heap, a fixed reservation that grows only through `sbrk`.
//! * [`allocator`]: the [`Allocator`] trait (the classic `mm_init` / `mm_malloc` /
//!   `mm_free` / `mm_realloc` contract plus a heap checker) and its error types.
//! * [`trace`]: the CS:APP `.rep` trace format, fully validated.
//! * [`workload`]: a seeded generator of named workloads, which made the bundled traces.
//! * [`testkit`]: the conformance kit every strategy's tests run.
//! * [`hardened`]: any strategy with double frees, invalid frees and overwritten headers
//!   caught at `free`.

pub mod allocator;
pub mod hardened;
pub mod memlib;
pub mod testkit;
pub mod trace;
pub mod workload;

pub use allocator::{
    Align, Allocator, ConfigError, Corruption, HeapCheckError, HeapSpan, HeapSpans, InitError, Invariant,
    Misuse, Rule, SpanKind, StrategyRule, check_span_tiling, payload_offset, resize_by_moving,
};
pub use memlib::{DEFAULT_MAX_HEAP, HeapWord, MemError, MemLib, PAGE_SIZE, SbrkError};
pub use trace::{Header, IgnoredTail, Op, Trace, TraceError, TraceErrorKind};
