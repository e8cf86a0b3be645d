//! # mm-core: the contract every mmlab strategy obeys
//!
//! * [`memlib`]: the simulated heap, a fixed reservation that grows only through `sbrk`.
//! * [`align`]: the payload alignment a strategy is configured with.
//! * [`error`]: the contract's errors: `init`'s, the heap checker's, and the misuse
//!   `free` and `realloc` refuse.
//! * [`allocator`]: the [`Allocator`] trait (the classic `mm_init` / `mm_malloc` /
//!   `mm_free` / `mm_realloc` contract plus a heap checker) and the heap spans.
//! * [`hardened`]: any strategy with double frees, invalid frees and overwritten headers
//!   caught at `free`.
//!
//! Nothing else is here, so that the `#[global_allocator]` facade and the preload
//! library build the contract alone. What serves the driver and the tests lives beside
//! it: `mm-trace` (the `.rep` format and the workload generator), `mm-shadow` (the
//! shadow model of live blocks the checkers share) and `mm-testkit` (the conformance
//! kit, a dev-dependency of each strategy).

pub mod align;
pub mod allocator;
pub mod error;
pub mod hardened;
pub mod memlib;

pub use align::{Align, ConfigError};
pub use allocator::{
    Allocator, HeapSpan, HeapSpans, SpanKind, check_span_tiling, payload_offset, resize_by_moving,
};
pub use error::{Corruption, HeapCheckError, InitError, Invariant, Misuse, Rule, StrategyRule};
pub use memlib::{DEFAULT_MAX_HEAP, HeapWord, MemError, MemLib, PAGE_SIZE, SbrkError};
