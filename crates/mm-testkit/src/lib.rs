//! # mm-testkit: the conformance kit
//!
//! One suite, run by every strategy crate's tests, so that implicit, explicit, segregated
//! and buddy allocators are all held to the same contract ([`Allocator`]). A strategy
//! crate takes this crate as a dev-dependency and writes one line in
//! `tests/conformance.rs`:
//!
//! ```text
//! mm_testkit::conformance_tests!(|heap, align| MyStrategy::new(heap, align));
//! ```
//!
//! which expands to a `mod conformance` holding one `#[test]` per scenario, each run at
//! every alignment in [`ALIGNMENTS`]. Several invocations in one file take a module name
//! first: `mm_testkit::conformance_tests!(first_fit, |heap, align| ...)`.
//!
//! Beside the scenarios the crate holds what the strategies' own tests share:
//!
//! * [`misuse`]: the scenarios of programs that break the contract (double frees, wild
//!   pointers, overflows);
//! * [`fault`]: a bump allocator that can be told to break one rule at a time, which
//!   the kit's own tests and the driver's tests race to show that a broken allocator is
//!   caught;
//! * [`checked`]: `malloc`, `free` and `realloc` that run the strategy's `check_heap`
//!   after the call, for white-box unit tests.
//!
//! ## What is checked, and when
//!
//! The kit drives the allocator through a *harness* that keeps a model of the live
//! blocks (the [`mm_shadow`] model the driver's checked replay uses too: their address
//! intervals and their payload pattern), and after **every** operation it checks that:
//!
//! * `check_heap()` is `Ok` (so a strategy's own checker runs thousands of times);
//! * when the strategy describes its heap ([`Allocator::heap_spans`] returns `Some`),
//!   the spans tile `[0, heap_size)` exactly (no gap, no overlap), every live block's
//!   usable bytes lie inside one `Payload` span, and the `Payload` spans hold exactly
//!   the live blocks' usable bytes (so their total is at least the live requested
//!   bytes): a span list that mislabels, loses or invents a byte is caught;
//! * every returned payload is aligned to `alignment()`, has `usable_size() >=
//!   requested`, and all its usable bytes lie wholly inside `[heap_lo, heap_lo +
//!   heap_size)` and overlap no other live block. The caller may use every usable byte,
//!   so the kit does, and a `usable_size` that overstates shows up as damage. A
//!   zero-size block is modelled as at least one byte long, which makes "unique"
//!   testable;
//! * contents survive: each block's usable bytes are filled with a pseudo-random pattern
//!   keyed by its id (not its address, so a `realloc` that moves the block keeps the
//!   same pattern), verified before it is freed or resized, after a resize for the
//!   first `min(old, new)` requested bytes, and for every live block periodically and
//!   at the end.
//!
//! The pattern ([`mm_shadow::pattern`]) is a window into a fixed table of period
//! [`PATTERN_PERIOD`] (a prime), so a copy that is shifted, truncated, zeroed or taken
//! from another block shows up, and filling or verifying a block is a `memcpy`/`memcmp`
//! even in debug builds.
//!
//! Every failure panics with the strategy's `describe()`, the alignment, the scenario,
//! the op number and the op itself; randomized runs add the seed and the exact call
//! that replays them ([`random_ops`]).
//!
//! That includes a panic inside the strategy: a bug that panics in its own code (an
//! index out of bounds in `malloc`, a `Corruption` its `free` found, an `unwrap` in
//! `check_heap`) would otherwise unwind through the kit with its own message alone. So
//! every call the kit makes to the strategy (`init`, `malloc`, `calloc`, `realloc`,
//! `free`, `usable_size`, `check_heap`, `heap_spans`, `alignment`) runs under
//! `catch_unwind`, and a panic fails the op it happened in like any other failure:
//! `... op #8 malloc(4072): the strategy panicked: index out of bounds: the len is 4 but
//! the index is 4` (a payload that is no string reads "a non-string payload"). The
//! default panic hook has already printed the panic's own location just above.
//!
//! ## Scenarios
//!
//! | function | what it pins down | needs reuse |
//! |---|---|---|
//! | [`short1`], [`short2`] | the shapes of the classic short traces | no |
//! | [`realloc_shrink`], [`realloc_grow`], [`realloc_into_free_neighbour`] | data kept for `min(old, new)` | no |
//! | [`realloc_null_is_malloc`], [`realloc_zero_frees`] | C's edge cases | no |
//! | [`malloc_zero`] | unique, aligned, non-null | no |
//! | [`calloc`] | zeroing over dirty memory, overflow of `count * size` | no |
//! | [`huge_requests`] | sizes near `usize::MAX` fail cleanly, the old block stays, the heap does not grow for them | no |
//! | [`before_init`] | before `init`: nothing served, nothing written, nothing to check | no |
//! | [`reinit`] | `init` after `reset_brk` rebuilds *all* state | no |
//! | [`exhaustion`] | running out is clean; freed memory is handed out again | yes |
//! | [`coalescing`] | freeing everything gives back one region | yes |
//! | [`random_mixed`], [`random_realloc`] | seeded op soup with a bounded live set | no, at these sizes |
//!
//! [`misuse`] holds the scenarios of programs that break the contract (double frees,
//! wild pointers, overflows), which every strategy of ours runs too.
//!
//! "Needs reuse" marks the scenarios that a correct allocator which never reuses memory
//! (a bump allocator) is *expected* to fail; the kit's own tests rely on that split.
//! The randomized runs need reuse only when they are long enough: [`RANDOM_OPS`] ops
//! grow a bump heap to about 12 MiB at most, of the 20 MiB [`DEFAULT_MAX_HEAP`], so a
//! bump allocator passes them, while a 100 000-op [`RandomProfile::Mixed`] run runs
//! it dry with little live payload, which is a failure.
//!
//! ## Trade-offs
//!
//! Checking the whole heap after every op makes the suite quadratic in the live set, so
//! the randomized runs bound it (a few hundred blocks) and stay in the low seconds per
//! strategy in a debug build. Sizes are drawn mostly small (where the classic traces
//! live), with a tail of large blocks to exercise heap growth and splitting.

pub mod checked;
pub mod fault;
pub mod misuse;

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use mm_core::{Align, Allocator, DEFAULT_MAX_HEAP, MemLib, PAGE_SIZE, SpanKind, check_span_tiling};
pub use mm_shadow::PATTERN_PERIOD;
use mm_shadow::{LiveIntervals, pattern};

/// The alignments every scenario runs at: the classic lab's 8 and x86-64's 16.
pub const ALIGNMENTS: [Align; 2] = [Align::MIN, Align::SIXTEEN];

/// The seeds [`random_mixed`] and [`random_realloc`] run.
pub const RANDOM_SEEDS: [u64; 3] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003];

/// Operations per seed in [`random_mixed`] and [`random_realloc`].
pub const RANDOM_OPS: usize = 10_000;

/// Returns `factory` unchanged. Passing a closure through here gives it the factory
/// signature, so `|heap, align| ...` needs no type annotations in
/// [`conformance_tests!`](crate::conformance_tests).
pub fn as_factory<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F) -> F {
    factory
}

/// Expands to a module of `#[test]`s, one per conformance scenario, each run at every
/// alignment in [`ALIGNMENTS`].
///
/// The factory is any expression usable as `Fn(MemLib, Align) -> A` with
/// `A: Allocator`; it builds the strategy *without* calling `init` (the kit does). The
/// module `use`s `super::*`, so names imported by the calling file are in scope.
///
/// ```text
/// mm_testkit::conformance_tests!(|heap, align| Implicit::new(heap, ImplicitConfig::new(align, Placement::FirstFit)));
/// mm_testkit::conformance_tests!(next_fit, |heap, align| Implicit::new(heap, ImplicitConfig::new(align, Placement::NextFit)));
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (@tests $factory:expr; $($scenario:ident)*) => {
        $(
            #[test]
            fn $scenario() {
                let factory = $crate::as_factory($factory);
                for align in $crate::ALIGNMENTS {
                    $crate::$scenario(&factory, align);
                }
            }
        )*
    };
    ($module:ident, $factory:expr $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $crate::conformance_tests!(@tests $factory;
                short1 short2
                realloc_shrink realloc_grow realloc_into_free_neighbour
                realloc_null_is_malloc realloc_zero_frees
                malloc_zero calloc huge_requests before_init reinit
                exhaustion coalescing random_mixed random_realloc
            );
        }
    };
    ($factory:expr $(,)?) => {
        $crate::conformance_tests!(conformance, $factory);
    };
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// The shape of `short1-bal`: a run of allocations, then frees, in a row; then the same
/// sizes again into the freed space, freed in reverse.
pub fn short1<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "short1");
    // The classic trace's own interleaving first.
    let a0 = h.must_malloc(2040);
    let a1 = h.must_malloc(2040);
    h.free(a1);
    let a2 = h.must_malloc(48);
    let a3 = h.must_malloc(4072);
    h.free(a3);
    let a4 = h.must_malloc(4072);
    h.free(a0);
    h.free(a2);
    let a5 = h.must_malloc(4072);
    h.free(a4);
    h.free(a5);

    let sizes = [2040, 2040, 48, 4072, 4072, 4072, 16, 512, 1, 128, 8190, 24, 3, 700, 2];
    let ids: Vec<Id> = sizes.iter().map(|&s| h.must_malloc(s)).collect();
    ids.iter().for_each(|&id| h.free(id));
    let ids: Vec<Id> = sizes.iter().map(|&s| h.must_malloc(s)).collect();
    h.verify_all();
    ids.iter().rev().for_each(|&id| h.free(id));
    h.finish();
}

/// The shape of `short2-bal`: alternating small and large sizes, freed in a different
/// order than they were allocated, with new blocks landing in the holes.
pub fn short2<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "short2");
    let sizes: Vec<usize> =
        (0..24).map(|i| if i % 2 == 0 { 16 + 8 * (i % 5) } else { 4000 + 100 * (i % 3) }).collect();
    let ids: Vec<Id> = sizes.iter().map(|&s| h.must_malloc(s)).collect();
    // Large ones, newest first.
    ids.iter().skip(1).step_by(2).rev().for_each(|&id| h.free(id));
    let mid: Vec<Id> = (0..12).map(|i| h.must_malloc(1000 + 24 * i)).collect();
    h.verify_all();
    // Small ones, oldest first.
    ids.iter().step_by(2).for_each(|&id| h.free(id));
    let small: Vec<Id> = (0..12).map(|i| h.must_malloc(8 + i)).collect();
    // The middle ones interleaved: every third, then the rest.
    mid.iter().step_by(3).for_each(|&id| h.free(id));
    mid.iter().enumerate().filter(|(i, _)| i % 3 != 0).for_each(|(_, &id)| h.free(id));
    small.iter().rev().for_each(|&id| h.free(id));
    h.finish();
}

/// Shrinking keeps the prefix, and the space given up can hold new blocks.
pub fn realloc_shrink<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "realloc_shrink");
    let a = h.must_malloc(4000);
    let guard = h.must_malloc(16);
    for size in [3000, 2000, 2000, 1000, 512, 100, 8, 1] {
        h.must_realloc(a, size);
    }
    let b = h.must_malloc(1000);
    // A block followed by a free block, shrunk: the freed tail meets the free block.
    let c = h.must_malloc(3000);
    let d = h.must_malloc(500);
    let e = h.must_malloc(64);
    h.free(d);
    h.must_realloc(c, 200);
    h.must_realloc(e, 10);
    h.free(guard);
    h.free(b);
    h.finish();
}

/// Growing keeps every byte: doubling with neighbours in the way, creeping by a few bytes
/// at a time (`realloc-bal`), and two blocks taking turns (`realloc2-bal`).
pub fn realloc_grow<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "realloc_grow");
    let a = h.must_malloc(1);
    let _fence = h.must_malloc(8);
    let mut size = 1;
    while size < 32 * 1024 {
        size *= 2;
        h.must_realloc(a, size);
        if size == 256 || size == 4096 {
            h.must_malloc(size);
        }
    }
    let b = h.must_malloc(100);
    for k in 1..=64 {
        h.must_realloc(b, 100 + 13 * k);
    }
    let c = h.must_malloc(16);
    let d = h.must_malloc(16);
    for k in 1..=40 {
        h.must_realloc(c, 16 + 64 * k);
        h.must_realloc(d, 16 + 48 * k);
    }
    h.finish();
}

/// Growing a block whose next neighbour is free, where an allocator can grow in place;
/// also growing the last block of the heap, alone or followed by a free block. Only
/// correctness is checked here: whether a strategy really stays in place is its own
/// business (and its own unit tests').
pub fn realloc_into_free_neighbour<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "realloc_into_free_neighbour");
    let a = h.must_malloc(100);
    let b = h.must_malloc(200);
    let c = h.must_malloc(100);
    h.free(b);
    h.must_realloc(a, 250);
    h.must_realloc(a, 300);
    h.must_realloc(a, 1000);
    let d = h.must_malloc(64);
    h.must_realloc(d, 10_000);
    let e = h.must_malloc(64);
    let f = h.must_malloc(64);
    h.free(f);
    h.must_realloc(e, 20_000);
    h.must_realloc(e, 20_001);
    h.free(c);
    h.must_realloc(a, 1200);
    h.finish();
}

/// `realloc(None, n)` behaves as `malloc(n)`, including for `n == 0`.
pub fn realloc_null_is_malloc<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "realloc_null_is_malloc");
    let a = h.must_realloc_null(100);
    let z = h.must_realloc_null(0);
    let b = h.must_malloc(50);
    let big = h.must_realloc_null(5000);
    h.must_realloc(a, 200);
    h.must_realloc(z, 16);
    h.free(b);
    h.free(big);
    h.finish();
}

/// `realloc(Some(p), 0)` frees `p` and returns `None`.
pub fn realloc_zero_frees<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "realloc_zero_frees");
    let a = h.must_malloc(100);
    let b = h.must_malloc(100);
    let c = h.must_malloc(3000);
    h.realloc_to_zero(a);
    h.realloc_to_zero(c);
    let d = h.must_malloc(100);
    let z = h.must_malloc(0);
    h.realloc_to_zero(z);
    h.realloc_to_zero(b);
    h.free(d);
    h.finish();
}

/// `malloc(0)` returns a unique, aligned, non-null block, which can be freed and grown.
pub fn malloc_zero<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "malloc_zero");
    let mut zeros = Vec::new();
    for i in 0..8 {
        zeros.push(h.must_malloc(0));
        if i % 3 == 0 {
            h.must_malloc(1);
        }
    }
    for &z in zeros.iter().step_by(2) {
        h.free(z);
    }
    let again: Vec<Id> = (0..4).map(|_| h.must_malloc(0)).collect();
    h.must_realloc(zeros[1], 64);
    h.must_realloc(again[0], 0x100);
    h.realloc_to_zero(again[1]);
    h.finish();
}

/// `calloc` zeroes even memory that held data (freed blocks, and a heap re-initialised
/// over old contents); `count * size` overflow returns `None` and leaves the heap as it
/// was; a zero product behaves as `malloc(0)`.
pub fn calloc<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "calloc");
    let dirty: Vec<Id> = (0..64).map(|i| h.must_malloc(256 + 97 * i)).collect();
    dirty.iter().step_by(2).for_each(|&id| h.free(id));
    for (count, size) in [(1, 1000), (10, 24), (3, 333), (1, 4096), (7, 1)] {
        h.must_calloc(count, size);
    }
    // `reset_brk` keeps the bytes, so a fresh heap here is full of old patterns.
    h.reinit();
    for (count, size) in [(1, 100), (64, 1024), (5, 5), (1, 200_000), (3, 7)] {
        h.must_calloc(count, size);
    }
    for (count, size) in [(0, 8), (8, 0), (0, 0)] {
        h.must_calloc(count, size);
    }
    let half = 1usize << (usize::BITS / 2);
    for (count, size) in [
        (usize::MAX, 2),
        (2, usize::MAX),
        (usize::MAX / 2 + 1, 2),
        (half, half),
        (usize::MAX, usize::MAX),
        (1, usize::MAX),
        (usize::MAX, 1),
    ] {
        h.refuse_calloc(count, size);
    }
    h.verify_all();
    h.must_calloc(2, 50);
    h.finish();
}

/// Requests no heap can satisfy, many of them overflowing naive size arithmetic, return
/// `None` without panicking; a failed `realloc` leaves the old block intact.
pub fn huge_requests<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "huge_requests");
    let keep = h.must_malloc(100);
    let max = h.max_size();
    let a = align.get();
    let sizes = [
        usize::MAX,
        usize::MAX - 7,
        usize::MAX - a,
        usize::MAX - 2 * a + 1,
        usize::MAX - PAGE_SIZE,
        usize::MAX / 2 + 1,
        isize::MAX as usize,
        max,
        max + 1,
    ];
    // A request larger than the whole reservation is refused before the heap is touched:
    // growing it first would waste what the program could still use.
    let before = h.heap_size();
    let untouched = |h: &Harness<A>, size: usize| {
        if size > max && h.heap_size() != before {
            h.fail(format_args!(
                "refusing {size} bytes (more than the {max}-byte heap could ever hold) grew the heap \
                 from {before} to {} bytes",
                h.heap_size()
            ));
        }
    };
    for size in sizes {
        h.refuse_malloc(size);
        untouched(&h, size);
    }
    h.refuse_realloc_null(usize::MAX);
    untouched(&h, usize::MAX);
    for size in [usize::MAX, usize::MAX - 7, usize::MAX - a, isize::MAX as usize, max] {
        h.refuse_realloc(keep, size);
        untouched(&h, size);
    }
    h.verify_all();
    let small = h.must_malloc(1000);
    h.must_realloc(keep, 5000);
    h.refuse_realloc(small, usize::MAX - 15);
    h.finish();
}

/// The contract's rule for a strategy that has not been `init`ed yet: building it wrote
/// nothing to the heap, `check_heap` is `Ok(())`, `heap_spans` is `None`, and `malloc` and
/// `realloc(None, _)` return `None` without growing the heap; `init` then starts it.
pub fn before_init<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let fail = |alloc: &A, what: &dyn fmt::Display| -> ! {
        panic!(
            "conformance failure: `{}` at alignment {align}: scenario `before_init`: {what}",
            alloc.describe()
        )
    };
    let heap = MemLib::new(DEFAULT_MAX_HEAP).expect("conformance kit: cannot create a heap");
    let mut alloc = factory(heap, align);
    let size = alloc.heap().heap_size();
    if size != 0 {
        fail(&alloc, &format_args!("building the strategy grew the heap to {size} bytes before init"));
    }
    if let Err(e) = alloc.check_heap() {
        fail(&alloc, &format_args!("check_heap before init: {e} (the rule: Ok(()), nothing to check yet)"));
    }
    if let Some(spans) = alloc.heap_spans() {
        fail(
            &alloc,
            &format_args!("heap_spans before init described {} spans (the rule: None)", spans.len()),
        );
    }
    if let Some(p) = alloc.malloc(8) {
        fail(&alloc, &format_args!("malloc(8) before init returned {p:p} (the rule: None)"));
    }
    // SAFETY: no pointer is passed.
    if let Some(p) = unsafe { alloc.realloc(None, 8) } {
        fail(&alloc, &format_args!("realloc(NULL, 8) before init returned {p:p} (the rule: None)"));
    }
    let size = alloc.heap().heap_size();
    if size != 0 {
        fail(&alloc, &format_args!("malloc before init grew the heap to {size} bytes"));
    }
    if let Err(e) = alloc.init() {
        fail(&alloc, &format_args!("init after the calls before it failed: {e}"));
    }
    let mut h = Harness::from_ready(alloc, align, "before_init");
    let id = h.must_malloc(8);
    h.free(id);
    h.finish();
}

/// `init` after `reset_brk` rebuilds all state: the heap is as small as after the first
/// `init`, and the same operations give the same block offsets and heap size as they did
/// on the fresh heap (stale free lists, rovers or counters would change them).
pub fn reinit<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "reinit");
    let fresh_size = h.heap_size();
    let first = reinit_script(&mut h);
    // Leave the allocator in a very different state before resetting it.
    let mess: Vec<Id> = (0..100).map(|i| h.must_malloc(8 + (i * 131) % 3000)).collect();
    mess.iter().skip(1).step_by(3).for_each(|&id| h.free(id));
    h.reinit();
    if h.heap_size() != fresh_size {
        h.fail(format_args!(
            "after reset_brk + init the heap is {} bytes, but the first init left it at {fresh_size}",
            h.heap_size()
        ));
    }
    let second = reinit_script(&mut h);
    if let Some(k) = (0..first.0.len().max(second.0.len())).find(|&k| first.0.get(k) != second.0.get(k)) {
        h.fail(format_args!(
            "after re-init the same operations placed block {k} at offset {:#x?}, on the fresh heap at {:#x?}: \
             init did not rebuild all state",
            second.0.get(k),
            first.0.get(k)
        ));
    }
    if first.1 != second.1 {
        h.fail(format_args!(
            "after re-init the same operations left the heap at {} bytes, on the fresh heap at {}",
            second.1, first.1
        ));
    }
    h.finish();
}

/// A fixed sequence whose outcome (block offsets, heap size) [`reinit`] compares.
fn reinit_script<A: Allocator>(h: &mut Harness<A>) -> (Vec<usize>, usize) {
    let mut offsets = Vec::new();
    let mut ids = Vec::new();
    for (i, size) in [100, 2000, 1, 0, 500, 64, 4096, 24].into_iter().enumerate() {
        let id = h.must_malloc(size);
        offsets.push(h.offset_of(id));
        ids.push(id);
        if i % 3 == 1 {
            h.free(ids[i - 1]);
        }
    }
    h.must_realloc(ids[1], 3000);
    offsets.push(h.offset_of(ids[1]));
    for size in [16, 90, 1500] {
        let id = h.must_malloc(size);
        offsets.push(h.offset_of(id));
    }
    (offsets, h.heap_size())
}

/// Running out of heap is clean (the failed `malloc` returns `None`, the heap checks
/// out, every block's data is intact), and freed memory is handed out again: after
/// freeing every other block, as many smaller blocks fit; after freeing everything, a
/// quarter of the heap fits in one block. **Needs reuse.**
pub fn exhaustion<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    const HEAP: usize = 64 * 1024;
    const SIZE: usize = 200;
    let mut h = Harness::new(&factory, align, HEAP, "exhaustion");
    let mut ids = Vec::new();
    loop {
        if ids.len() > HEAP / SIZE {
            h.fail(format_args!("{} blocks of {SIZE} bytes fit in a {HEAP}-byte heap", ids.len()));
        }
        match h.malloc(SIZE) {
            Some(id) => ids.push(id),
            None => break,
        }
    }
    if h.live_bytes() < HEAP / 4 {
        h.fail(format_args!(
            "malloc({SIZE}) failed with only {} live payload bytes in a {HEAP}-byte heap",
            h.live_bytes()
        ));
    }
    h.verify_all();
    h.refuse_malloc(HEAP);
    let freed: Vec<Id> = ids.iter().copied().step_by(2).collect();
    freed.iter().for_each(|&id| h.free(id));
    h.note(format!("{} blocks of {SIZE} bytes freed from an exhausted heap", freed.len()));
    for k in 0..freed.len() {
        if h.malloc(SIZE / 2).is_none() {
            h.fail(format_args!("smaller block {k} did not fit: freed memory was not reused"));
        }
    }
    h.note("everything freed from an exhausted heap".to_string());
    h.free_all();
    if h.malloc(HEAP / 4).is_none() {
        h.fail(format_args!("a {}-byte block did not fit: the free blocks were not coalesced", HEAP / 4));
    }
    h.finish();
}

/// The orders in which [`coalescing`] frees its blocks, chosen so that every boundary-tag
/// case (neither, previous, next, both neighbours free) happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreeOrder {
    Forward,
    Reverse,
    EvensThenOdds,
    Shuffled,
}

/// After allocating 32 blocks and freeing them all (in several orders), one block of
/// their total requested size fits while growing the heap by at most one page: the
/// freed neighbours were merged back into one region. **Needs reuse.**
pub fn coalescing<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    const COUNT: usize = 32;
    let orders = [FreeOrder::Forward, FreeOrder::Reverse, FreeOrder::EvensThenOdds, FreeOrder::Shuffled];
    for size in [24, 100, 1000] {
        for order in orders {
            let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "coalescing");
            h.note(format!("{COUNT} blocks of {size} bytes freed in {order:?} order"));
            let ids: Vec<Id> = (0..COUNT).map(|_| h.must_malloc(size)).collect();
            let mut order_ids = ids.clone();
            match order {
                FreeOrder::Forward => {}
                FreeOrder::Reverse => order_ids.reverse(),
                FreeOrder::EvensThenOdds => {
                    order_ids = ids.iter().step_by(2).chain(ids.iter().skip(1).step_by(2)).copied().collect()
                }
                FreeOrder::Shuffled => {
                    let mut rng = ChaCha8Rng::seed_from_u64(size as u64);
                    for i in (1..order_ids.len()).rev() {
                        order_ids.swap(i, rng.random_range(0..=i));
                    }
                }
            }
            order_ids.iter().for_each(|&id| h.free(id));
            let before = h.heap_size();
            let total = COUNT * size;
            if h.malloc(total).is_none() {
                h.fail(format_args!("malloc({total}) failed after freeing every block"));
            }
            let growth = h.heap_size() - before;
            if growth > PAGE_SIZE {
                h.fail(format_args!(
                    "malloc({total}) after freeing every block grew the heap by {growth} bytes (more than \
                     {PAGE_SIZE}): the freed blocks were not coalesced"
                ));
            }
            h.finish();
        }
    }
}

/// The flavours of randomized run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RandomProfile {
    /// Mostly `malloc`/`free` with some `realloc` and `calloc`; the live set swells and
    /// drains in phases so the heap sees both a crowd and an emptying.
    Mixed,
    /// Mostly `realloc`, largely growing, over a smaller live set: the traffic that
    /// in-place resizing is for.
    ReallocHeavy,
}

impl RandomProfile {
    /// Most live blocks at once.
    fn live_cap(self) -> usize {
        match self {
            RandomProfile::Mixed => 300,
            RandomProfile::ReallocHeavy => 64,
        }
    }

    /// Percent chance that an op allocates, while the live set is swelling / draining.
    fn alloc_percent(self, swelling: bool) -> u32 {
        match (self, swelling) {
            (RandomProfile::Mixed, true) => 60,
            (RandomProfile::Mixed, false) => 35,
            (RandomProfile::ReallocHeavy, true) => 30,
            (RandomProfile::ReallocHeavy, false) => 12,
        }
    }

    /// Of the ops on an existing block: percent that are frees, then the rest reallocs.
    fn free_percent(self) -> u32 {
        match self {
            RandomProfile::Mixed => 65,
            RandomProfile::ReallocHeavy => 25,
        }
    }
}

/// Ops between switches from swelling to draining the live set.
const PHASE_OPS: usize = 1000;
/// Ops between verifications of every live block.
const VERIFY_EVERY: usize = 64;
/// The largest block a randomized run grows a block to.
const MAX_RANDOM_BLOCK: usize = 128 * 1024;

/// [`RANDOM_SEEDS`] × [`RANDOM_OPS`] of [`RandomProfile::Mixed`]. Needs reuse only in
/// longer runs (see the module doc).
pub fn random_mixed<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    for seed in RANDOM_SEEDS {
        random_ops(&factory, align, RandomProfile::Mixed, seed, RANDOM_OPS);
    }
}

/// [`RANDOM_SEEDS`] × [`RANDOM_OPS`] of [`RandomProfile::ReallocHeavy`]. Needs reuse
/// only in longer runs (see the module doc).
pub fn random_realloc<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    for seed in RANDOM_SEEDS {
        random_ops(&factory, align, RandomProfile::ReallocHeavy, seed, RANDOM_OPS);
    }
}

/// One seeded randomized run of `ops` operations on a fresh default-size heap; the
/// function a failure message tells you to call to replay it. The op sequence depends
/// only on the seed and on which calls succeed, never on addresses, so a replay is exact.
///
/// Running out of memory counts as a failure only while the live payload is under a
/// quarter of the heap, which no allocator that reuses memory should come near.
pub fn random_ops<A: Allocator, F: Fn(MemLib, Align) -> A>(
    factory: F,
    align: Align,
    profile: RandomProfile,
    seed: u64,
    ops: usize,
) {
    random_ops_verifying(factory, align, profile, seed, ops, VERIFY_EVERY);
}

/// [`random_ops`], verifying every live block's full contents every `verify_every`
/// operations (1: after every operation) besides the checks made after each one
/// (`check_heap`, bounds, alignment, overlap, and the contents of the block the
/// operation touched). The soak test's entry point.
pub fn random_ops_verifying<A: Allocator, F: Fn(MemLib, Align) -> A>(
    factory: F,
    align: Align,
    profile: RandomProfile,
    seed: u64,
    ops: usize,
    verify_every: usize,
) {
    let verify_every = verify_every.max(1);
    let mut h = Harness::new(&factory, align, DEFAULT_MAX_HEAP, "random");
    h.replay = Some(format!(
        "seed {seed:#x}; replay: mm_testkit::random_ops_verifying(factory, Align::new({align}).unwrap(), \
         RandomProfile::{profile:?}, {seed:#x}, {ops}, {verify_every})"
    ));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for op in 0..ops {
        let swelling = (op / PHASE_OPS).is_multiple_of(2);
        let live = h.live.len();
        let allocate = live == 0
            || (live < profile.live_cap() && rng.random_range(0..100) < profile.alloc_percent(swelling));
        let ok = if allocate {
            match rng.random_range(0..100) {
                0..90 => h.malloc(random_size(&mut rng)).is_some(),
                90..96 => h.calloc(rng.random_range(0..=16), rng.random_range(0..=64)).is_some(),
                _ => h.realloc_null(random_size(&mut rng)).is_some(),
            }
        } else {
            let Live { id, size: old, .. } = h.live[rng.random_range(0..live)];
            match rng.random_range(0..100) {
                p if p < profile.free_percent() => {
                    h.free(id);
                    true
                }
                p if p < profile.free_percent() + 3 => {
                    h.realloc_to_zero(id);
                    true
                }
                p => {
                    let grow = p % 3 != 0 || old == 0;
                    let size = if grow && old < MAX_RANDOM_BLOCK {
                        let step = match profile {
                            RandomProfile::Mixed => random_size(&mut rng).max(1),
                            RandomProfile::ReallocHeavy => rng.random_range(1..=old.clamp(16, 4096)),
                        };
                        (old + step).min(MAX_RANDOM_BLOCK)
                    } else {
                        rng.random_range(1..=old.max(1))
                    };
                    h.realloc(id, size)
                }
            }
        };
        if !ok && h.live_bytes() < h.max_size() / 4 {
            h.fail(format_args!(
                "out of memory with only {} live payload bytes in a {}-byte heap",
                h.live_bytes(),
                h.max_size()
            ));
        }
        if op % verify_every == verify_every - 1 {
            h.verify_all();
        }
    }
    h.finish();
}

/// Mostly small sizes (where the classic traces live), some medium, a few large, and
/// the occasional zero.
fn random_size(rng: &mut ChaCha8Rng) -> usize {
    match rng.random_range(0..100) {
        0 => 0,
        1..80 => rng.random_range(1..=256),
        80..96 => rng.random_range(257..=4096),
        _ => rng.random_range(4097..=64 * 1024),
    }
}

// ---------------------------------------------------------------------------------------
// The harness: a model of the live blocks and the checks run after every op
// ---------------------------------------------------------------------------------------

/// A block's identity in the model. It survives `realloc`, so a moved block keeps its
/// fill pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Id(u64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block #{}", self.0)
    }
}

/// A live block as the model knows it.
#[derive(Debug, Clone, Copy)]
struct Live {
    id: Id,
    ptr: NonNull<u8>,
    /// What was asked for.
    size: usize,
    /// What `usable_size` promised: the bytes the kit fills, verifies and keeps apart.
    usable: usize,
}

/// The operation in progress, for failure messages.
#[derive(Debug, Clone, Copy)]
enum Step {
    Init,
    Malloc(usize),
    Calloc(usize, usize),
    Free(Id),
    Realloc(Id, usize),
    ReallocNull(usize),
    Reinit,
    Verify,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Step::Init => write!(f, "init()"),
            Step::Malloc(n) => write!(f, "malloc({n})"),
            Step::Calloc(c, n) => write!(f, "calloc({c}, {n})"),
            Step::Free(id) => write!(f, "free({id})"),
            Step::Realloc(id, n) => write!(f, "realloc({id}, {n})"),
            Step::ReallocNull(n) => write!(f, "realloc(None, {n})"),
            Step::Reinit => write!(f, "reset_brk() + init()"),
            Step::Verify => write!(f, "verifying every live block"),
        }
    }
}

struct Harness<A: Allocator> {
    alloc: A,
    align: Align,
    scenario: &'static str,
    /// Scenario detail for messages (which round, which order).
    context: Option<String>,
    /// The seed and replay call, for randomized runs.
    replay: Option<String>,
    /// Ops done so far; the current op's number.
    op: usize,
    step: Step,
    live: Vec<Live>,
    /// The live blocks' address intervals, spanning their usable bytes. Zero-size
    /// blocks span at least one byte so that two of them at one address count as
    /// overlapping.
    intervals: LiveIntervals<Id>,
    next_id: u64,
    live_bytes: usize,
}

impl<A: Allocator> Harness<A> {
    /// Builds the strategy on a fresh heap of `heap_bytes` and initialises it.
    fn new<F: Fn(MemLib, Align) -> A>(
        factory: &F,
        align: Align,
        heap_bytes: usize,
        scenario: &'static str,
    ) -> Self {
        let heap = MemLib::new(heap_bytes)
            .unwrap_or_else(|e| panic!("conformance kit: cannot create a {heap_bytes}-byte heap: {e}"));
        let mut h = Harness::around(factory(heap, align), align, scenario);
        h.begin(Step::Init);
        let built = h.call_ref(|a| a.alignment());
        if built != align {
            h.fail(format_args!(
                "the factory was asked for alignment {align} but built an allocator with alignment {built}"
            ));
        }
        if let Err(e) = h.call(|a| a.init()) {
            h.fail(format_args!("init failed: {e}"));
        }
        h.check_heap();
        h
    }

    /// A harness around a strategy that its caller has already `init`ed.
    fn from_ready(alloc: A, align: Align, scenario: &'static str) -> Self {
        let mut h = Harness::around(alloc, align, scenario);
        h.begin(Step::Init);
        h.check_heap();
        h
    }

    /// The harness's state around `alloc`, with no block live and nothing called yet.
    fn around(alloc: A, align: Align, scenario: &'static str) -> Self {
        Harness {
            alloc,
            align,
            scenario,
            context: None,
            replay: None,
            op: 0,
            step: Step::Init,
            live: Vec::new(),
            intervals: LiveIntervals::new(),
            next_id: 0,
            live_bytes: 0,
        }
    }

    /// Panics with everything needed to find and replay the failure.
    #[track_caller]
    fn fail(&self, what: impl fmt::Display) -> ! {
        let context = self.context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
        let replay = self.replay.as_deref().map(|r| format!(", {r}")).unwrap_or_default();
        panic!(
            "conformance failure: `{}` at alignment {}: scenario `{}`{context}{replay}: op #{} {}: {what}",
            self.alloc.describe(),
            self.align,
            self.scenario,
            self.op,
            self.step
        );
    }

    /// Runs `f` on the strategy. A panic inside it (an index out of bounds in the
    /// strategy's own code, say) fails the current op like every other failure, naming
    /// the scenario, the op and the replay call, instead of unwinding through the kit with
    /// the strategy's message alone. The default panic hook has printed where it panicked.
    fn call<R>(&mut self, f: impl FnOnce(&mut A) -> R) -> R {
        let alloc = &mut self.alloc;
        // Unwind safety: after a panic the strategy is never called again, except for
        // `describe()` in the failure message.
        catch_unwind(AssertUnwindSafe(|| f(alloc))).unwrap_or_else(|payload| self.panicked(&*payload))
    }

    /// [`Harness::call`] for the strategy's `&self` methods.
    fn call_ref<R>(&self, f: impl FnOnce(&A) -> R) -> R {
        catch_unwind(AssertUnwindSafe(|| f(&self.alloc))).unwrap_or_else(|payload| self.panicked(&*payload))
    }

    fn panicked(&self, payload: &(dyn Any + Send)) -> ! {
        self.fail(format_args!("the strategy panicked: {}", panic_message(payload)))
    }

    fn note(&mut self, context: String) {
        self.context = Some(context);
    }

    fn begin(&mut self, step: Step) {
        self.op += 1;
        self.step = step;
    }

    fn check_heap(&self) {
        if let Err(e) = self.call_ref(|a| a.check_heap()) {
            self.fail(format_args!("check_heap() failed: {e}"));
        }
        self.check_spans();
    }

    /// When the strategy describes its heap: the spans tile it, every live block's
    /// usable bytes are inside one `Payload` span, and the `Payload` spans hold nothing
    /// else (their total is the live blocks' usable total, which is at least the live
    /// requested bytes).
    fn check_spans(&self) {
        let Some(spans) = self.call_ref(|a| a.heap_spans()) else { return };
        let heap_size = self.heap_size();
        if let Err(e) = check_span_tiling(&spans, heap_size) {
            self.fail(format_args!("heap_spans() do not tile the heap: {e}"));
        }
        let mut live: Vec<&Live> = self.live.iter().filter(|b| b.usable > 0).collect();
        live.sort_unstable_by_key(|b| b.ptr);
        for b in live {
            let off = self.offset(b.ptr);
            // The last span starting at or below the payload holds its first byte.
            let index = spans.partition_point(|s| s.offset <= off).saturating_sub(1);
            let Some(&span) = spans.get(index) else {
                self.fail(format_args!("heap_spans() is empty, but {} is live", b.id));
            };
            if span.kind != SpanKind::Payload || off + b.usable > span.end() {
                self.fail(format_args!(
                    "heap_spans(): the usable bytes of {} [{off:#x}, {:#x}) are not inside one payload span: \
                     the span at {off:#x} is {} [{:#x}, {:#x})",
                    b.id,
                    off + b.usable,
                    span.kind,
                    span.offset,
                    span.end()
                ));
            }
        }
        let payload: usize = spans.iter().filter(|s| s.kind == SpanKind::Payload).map(|s| s.len).sum();
        let usable: usize = self.live.iter().map(|b| b.usable).sum();
        if payload != usable {
            self.fail(format_args!(
                "heap_spans() label {payload} bytes as payload, but the {} live blocks have {usable} usable \
                 bytes ({} requested)",
                self.live.len(),
                self.live_bytes
            ));
        }
    }

    fn heap_size(&self) -> usize {
        self.alloc.heap().heap_size()
    }

    fn max_size(&self) -> usize {
        self.alloc.heap().max_size()
    }

    fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    fn offset(&self, ptr: NonNull<u8>) -> usize {
        self.alloc.heap().offset_of(ptr.as_ptr())
    }

    fn offset_of(&self, id: Id) -> usize {
        self.offset(self.live[self.index_of(id)].ptr)
    }

    fn index_of(&self, id: Id) -> usize {
        self.live
            .iter()
            .position(|b| b.id == id)
            .unwrap_or_else(|| self.fail(format_args!("kit bug: {id} is not live")))
    }

    fn fresh_id(&mut self) -> Id {
        self.next_id += 1;
        Id(self.next_id)
    }

    /// Checks a block the allocator just returned against the contract and the model,
    /// then enters it into the model.
    fn admit(&mut self, ptr: NonNull<u8>, size: usize, id: Id) {
        let addr = ptr.as_ptr() as usize;
        let off = self.offset(ptr);
        if !self.align.is_aligned(addr) {
            self.fail(format_args!("payload at heap offset {off:#x} is not aligned to {}", self.align));
        }
        if !self.alloc.heap().contains(ptr.as_ptr(), size.max(1)) {
            self.fail(format_args!(
                "block [{off:#x}, {off:#x} + {size}) is not inside the heap [0, {:#x})",
                self.heap_size()
            ));
        }
        // SAFETY: the allocator just returned `ptr` as a live block.
        let usable = self.call_ref(|a| unsafe { a.usable_size(ptr) });
        if usable < size {
            self.fail(format_args!("usable_size() is {usable}, less than the {size} bytes asked for"));
        }
        // From here on the block is all of its usable bytes: a caller may use them all.
        let extent = usable.max(1);
        if !self.alloc.heap().contains(ptr.as_ptr(), extent) {
            self.fail(format_args!(
                "usable_size() says {usable} bytes, but [{off:#x}, {off:#x} + {usable}) is not inside the \
                 heap [0, {:#x})",
                self.heap_size()
            ));
        }
        if let Err(other) = self.intervals.insert(addr, extent, id) {
            self.fail(format_args!(
                "block [{off:#x}, +{size}) overlaps live {} [{:#x}, +{})",
                other.owner,
                self.alloc.heap().offset_of(other.start as *const u8),
                other.end - other.start
            ));
        }
        self.live.push(Live { id, ptr, size, usable });
        self.live_bytes += size;
    }

    /// Drops the block at `index` from the model.
    fn forget(&mut self, index: usize) -> Live {
        let b = self.live.swap_remove(index);
        self.intervals.remove(b.ptr.as_ptr() as usize);
        self.live_bytes -= b.size;
        b
    }

    /// The block's usable bytes.
    fn bytes(&self, b: &Live) -> &[u8] {
        // SAFETY: `b` is live in the model: the allocator handed out `[ptr, ptr + usable)`
        // inside the heap (checked by `admit`), the heap outlives `&self`, and no
        // allocator call (the only other writer) can run while the slice is borrowed.
        unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), b.usable) }
    }

    /// Writes the block's pattern over its usable bytes `from..`.
    fn fill(&mut self, index: usize, from: usize) {
        let b = self.live[index];
        // SAFETY: as in `bytes`, and `&mut self` means no other view of the block exists.
        unsafe { pattern::fill_block(b.ptr.as_ptr(), b.usable, b.id.0, from) };
    }

    /// Fails if the first `len` bytes of the block at `index` are not its pattern.
    fn expect_pattern(&self, index: usize, len: usize, why: &str) {
        let b = &self.live[index];
        if let Some(m) = pattern::mismatch(b.id.0, &self.bytes(b)[..len], 0) {
            self.fail(format_args!(
                "{why}: {} ({} bytes, {} usable, at heap offset {:#x}) differs at byte {}: found {:#04x}, \
                 expected {:#04x}",
                b.id,
                b.size,
                b.usable,
                self.offset(b.ptr),
                m.offset,
                m.found,
                m.expected
            ));
        }
    }

    fn verify(&self, index: usize) {
        self.expect_pattern(index, self.live[index].usable, "a live block was corrupted");
    }

    fn verify_all(&mut self) {
        let step = self.step;
        self.step = Step::Verify;
        (0..self.live.len()).for_each(|i| self.verify(i));
        self.step = step;
    }

    fn malloc(&mut self, size: usize) -> Option<Id> {
        self.begin(Step::Malloc(size));
        let ptr = self.call(|a| a.malloc(size));
        self.accept_new(ptr, size)
    }

    fn must_malloc(&mut self, size: usize) -> Id {
        self.malloc(size).unwrap_or_else(|| self.fail("returned None"))
    }

    fn refuse_malloc(&mut self, size: usize) {
        self.begin(Step::Malloc(size));
        if let Some(p) = self.call(|a| a.malloc(size)) {
            self.fail(format_args!("returned a block (heap offset {:#x}) that cannot exist", self.offset(p)));
        }
        self.check_heap();
    }

    fn realloc_null(&mut self, size: usize) -> Option<Id> {
        self.begin(Step::ReallocNull(size));
        // SAFETY: no pointer is passed.
        let ptr = self.call(|a| unsafe { a.realloc(None, size) });
        self.accept_new(ptr, size)
    }

    fn must_realloc_null(&mut self, size: usize) -> Id {
        self.realloc_null(size).unwrap_or_else(|| self.fail("returned None"))
    }

    fn refuse_realloc_null(&mut self, size: usize) {
        self.begin(Step::ReallocNull(size));
        // SAFETY: no pointer is passed.
        if let Some(p) = self.call(|a| unsafe { a.realloc(None, size) }) {
            self.fail(format_args!("returned a block (heap offset {:#x}) that cannot exist", self.offset(p)));
        }
        self.check_heap();
    }

    /// Admits a fresh block (from `malloc` or `realloc(None, _)`), fills it, checks the heap.
    fn accept_new(&mut self, ptr: Option<NonNull<u8>>, size: usize) -> Option<Id> {
        let id = ptr.map(|p| {
            let id = self.fresh_id();
            self.admit(p, size, id);
            self.fill(self.live.len() - 1, 0);
            id
        });
        self.check_heap();
        id
    }

    fn calloc(&mut self, count: usize, size: usize) -> Option<Id> {
        self.begin(Step::Calloc(count, size));
        let ptr = self.call(|a| a.calloc(count, size));
        let Some(bytes) = count.checked_mul(size) else {
            if let Some(p) = ptr {
                self.fail(format_args!(
                    "count * size overflows, but it returned a block (heap offset {:#x})",
                    self.offset(p)
                ));
            }
            self.check_heap();
            return None;
        };
        let id = ptr.map(|p| {
            let id = self.fresh_id();
            self.admit(p, bytes, id);
            let index = self.live.len() - 1;
            if let Some(at) = self.bytes(&self.live[index])[..bytes].iter().position(|&b| b != 0) {
                self.fail(format_args!("the block is not zeroed: byte {at} of {bytes} is nonzero"));
            }
            self.fill(index, 0);
            id
        });
        self.check_heap();
        id
    }

    fn must_calloc(&mut self, count: usize, size: usize) -> Id {
        self.calloc(count, size).unwrap_or_else(|| self.fail("returned None"))
    }

    fn refuse_calloc(&mut self, count: usize, size: usize) {
        if self.calloc(count, size).is_some() {
            self.fail("returned a block that cannot exist");
        }
        self.verify_all();
    }

    fn free(&mut self, id: Id) {
        let index = self.index_of(id);
        self.begin(Step::Free(id));
        self.verify(index);
        let b = self.forget(index);
        // SAFETY: `b` was live in the model, so it came from this allocator since the
        // last init and has not been freed.
        self.call(|a| unsafe { a.free(b.ptr) });
        self.check_heap();
    }

    fn free_all(&mut self) {
        while let Some(id) = self.live.first().map(|b| b.id) {
            self.free(id);
        }
    }

    /// `realloc(Some(p), size)` for `size > 0`: true when it resized (possibly moving),
    /// false when it failed, in which case the old block must be untouched.
    fn realloc(&mut self, id: Id, size: usize) -> bool {
        debug_assert!(size > 0, "use realloc_to_zero");
        let index = self.index_of(id);
        self.begin(Step::Realloc(id, size));
        self.verify(index);
        let old = self.live[index];
        // SAFETY: `old` is live in the model.
        match self.call(|a| unsafe { a.realloc(Some(old.ptr), size) }) {
            None => {
                self.expect_pattern(index, old.usable, "realloc failed, so the old block must be untouched");
                self.check_heap();
                false
            }
            Some(p) => {
                self.forget(index);
                self.admit(p, size, id);
                let index = self.live.len() - 1;
                let kept = old.size.min(size);
                self.expect_pattern(index, kept, "realloc did not keep the first min(old, new) bytes");
                self.fill(index, kept);
                self.check_heap();
                true
            }
        }
    }

    fn must_realloc(&mut self, id: Id, size: usize) {
        if !self.realloc(id, size) {
            self.fail("returned None");
        }
    }

    fn refuse_realloc(&mut self, id: Id, size: usize) {
        if self.realloc(id, size) {
            self.fail("resized to a size that cannot exist");
        }
    }

    /// `realloc(Some(p), 0)`: must free `p` and return `None`.
    fn realloc_to_zero(&mut self, id: Id) {
        let index = self.index_of(id);
        self.begin(Step::Realloc(id, 0));
        self.verify(index);
        let b = self.forget(index);
        // SAFETY: `b` was live in the model.
        if let Some(p) = self.call(|a| unsafe { a.realloc(Some(b.ptr), 0) }) {
            self.fail(format_args!(
                "realloc(p, 0) must free p and return None, but returned a block at heap offset {:#x}",
                self.offset(p)
            ));
        }
        self.check_heap();
    }

    /// Resets the break and re-initialises: every block in the model is gone.
    fn reinit(&mut self) {
        self.begin(Step::Reinit);
        self.live.clear();
        self.intervals.clear();
        self.live_bytes = 0;
        self.alloc.heap_mut().reset_brk();
        if let Err(e) = self.call(|a| a.init()) {
            self.fail(format_args!("init failed: {e}"));
        }
        self.check_heap();
    }

    /// Verifies every live block, then frees them all.
    fn finish(mut self) {
        self.verify_all();
        self.free_all();
    }
}

/// Runs `f` and returns the message it panicked with, or `None` when it returned: for
/// tests that expect a scenario (or anything) to fail.
pub fn failure_of(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(panic_message(&*payload).to_owned())
}

/// The message of a caught panic: its text when the payload is one (`panic!` makes a
/// `&str` or a `String`), "a non-string payload" otherwise.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string payload"
    }
}
