//! # mm-shadow: the live blocks, as a checker outside the allocator sees them
//!
//! A checker that holds an allocator to the contract keeps its own model of the blocks
//! the allocator handed out and the program has not freed, and compares the two after
//! every call. This crate is that model, shared by the two checkers of mmlab: the
//! conformance kit (`mm-testkit`, every strategy's tests) and `mdriver`'s checked
//! replay (the race). It knows no allocator and no trace; each checker keeps its own
//! names for blocks (a kit id, a trace id) and words its own messages.
//!
//! * [`LiveIntervals`]: the live blocks' address intervals, to find a new block that
//!   overlaps a live one ([`Overlap`]). A zero-byte block counts as one byte, so two of
//!   them at one address overlap: `malloc(0)` must return unique pointers.
//! * [`pattern`]: the bytes every block is filled with when it is handed out and
//!   verified against before it is freed or resized, after a resize (the first
//!   `min(old, new)` bytes) and at the end ([`Mismatch`]). The pattern is keyed by the
//!   block, not its address, so a block that `realloc` moved keeps its pattern, and a
//!   block handed out again (a reused trace id, a stale block returned by a buggy
//!   `realloc`) never matches what its predecessor left.
//!
//! It lives in a crate of its own, with no dependency, because `mdriver` needs it at
//! run time while the conformance kit is a dev-dependency only.

pub mod intervals;
pub mod pattern;

pub use intervals::{LiveIntervals, Overlap};
pub use pattern::{Mismatch, PATTERN_PERIOD};
