//! # mm-tags: the boundary-tag layer
//!
//! The heap layout of CS:APP §9.9, which the implicit free list (`mm-implicit`) and the
//! explicit free lists (`mm-explicit`) share: every block, free or allocated, carries its
//! size in a one-word header and an identical footer (*boundary tags*), so the blocks
//! form an implicit list walked by adding sizes, and a block finds its left neighbour
//! through the footer just below its header. The strategies differ only in how they
//! find a free block (a walk of every block, or a list threaded through the free ones);
//! everything that touches the tags lives here, once, so that no strategy builds on
//! another.
//!
//! ## Heap layout
//!
//! ```text
//!  heap_lo (page aligned)                                              brk
//!  |  pad  | prologue  |  block                      |  block  ... | epilogue |
//!  |       | hdr | ftr | hdr | payload         | ftr | hdr | ...   |   hdr    |
//!  |       | 16/a| 16/a|  size/flags     ...   | s/f |             |   0/a    |
//!                           ^ first payload: aligned to `align`
//! ```
//!
//! * Tags are one word ([`Tag`]): the size, a multiple of the alignment, with
//!   [`TagFlags::ALLOCATED`] in the low bits.
//! * The *prologue* is an allocated block of just its two tags and the *epilogue* a
//!   zero-size allocated header at `brk - 8`. They turn the edge cases of coalescing
//!   into the common case: the first block's left neighbour and the last block's right
//!   neighbour are always "allocated".
//! * Payloads sit one word after their header and block sizes are multiples of the
//!   alignment, so one aligned first payload aligns them all. The padding before the
//!   prologue makes that happen for any alignment from 8 to 4096 ([`TaggedLayout`]).
//!
//! ## What is here
//!
//! * [`block`]: [`Tag`], [`Block`] and the bounds-checked word accessors, the only code
//!   that reads or writes a tag, and [`walk`], the trusting walk the fit searches use.
//! * [`layout`]: [`TaggedLayout`], where the fixed parts are for an alignment, and the
//!   steps every boundary-tag strategy takes alike: size a request
//!   ([`TaggedLayout::adjusted`]), lay out an empty heap ([`TaggedLayout::lay_out`]),
//!   split a fit ([`TaggedLayout::split`]), move the epilogue.
//! * [`guard`]: what `free` and `realloc` check before they trust a tag.
//! * [`check`]: the heap walk that doubts every tag ([`check_tagged_heap`]).
//! * [`spans`]: what every byte of the heap holds ([`tagged_heap_spans`]).
//!
//! ## The layout's invariants
//!
//! [`check_tagged_heap`] verifies these, and reports each as the typed value named; a
//! strategy on this layer numbers its own rules from 8 on.
//!
//! 1. The prologue is intact: two allocated tags of [`OVERHEAD`] bytes at
//!    [`TaggedLayout::prologue`], and the heap is at least the initial layout long
//!    ([`Invariant::BadPrologue`](mm_core::Invariant::BadPrologue)).
//! 2. Every block's size is a multiple of the alignment, at least the minimum block,
//!    and ends at or before the epilogue (`SizeNotAligned`, `TooSmall`,
//!    `PastHeapEnd`).
//! 3. Every payload is aligned (`PayloadMisaligned`).
//! 4. Every block's footer equals its header (`HeaderFooterMismatch`).
//! 5. No tag has a flag bit that [`TagFlags`] does not name ([`TagRule::UnknownFlags`]).
//! 6. No two free blocks touch: freeing coalesces at once (`Uncoalesced`).
//! 7. The blocks end at the epilogue, a zero-size allocated header exactly at
//!    `brk - 8` (`BadEpilogue`).

pub mod block;
pub mod check;
pub mod guard;
pub mod layout;
pub mod spans;

pub use crate::block::{Block, OVERHEAD, Tag, TagFlags, WORD, read_word, walk, write_word};
pub use crate::check::{TagRule, check_tagged_heap};
pub use crate::guard::FreeNeighbours;
pub use crate::layout::TaggedLayout;
pub use crate::spans::tagged_heap_spans;
