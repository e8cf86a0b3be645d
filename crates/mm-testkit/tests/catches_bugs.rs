//! The conformance kit must be able to fail. A correct bump allocator (never reuses
//! memory) passes every scenario that does not need reuse and fails the ones that do;
//! bump allocators with one planted bug each fail the scenario aimed at that bug, with a
//! message that names the strategy, the scenario and the problem. A bug that makes the
//! strategy panic is reported the same way, with the panic's own message.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use mm_core::testkit::{self, RandomProfile};
use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib};

/// The one planted bug of a [`Bump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// Every fourth `malloc` starts over at the previous block.
    Overlap,
    /// `realloc` moves without copying.
    LossyRealloc,
    /// Payloads sit 8 bytes past the requested alignment.
    Misaligned,
    /// `calloc` trusts the memory to be zero already.
    DirtyCalloc,
    /// Size arithmetic wraps instead of failing.
    WrappingSizes,
    /// `check_heap` reports a broken invariant after 20 allocations.
    CheckFails,
    /// `init` does not reset the count of mallocs, which shifts blocks once past 20.
    StaleInit,
    /// A size-class table one entry short: the fifth `malloc` indexes past its end.
    PanicsInMalloc,
    /// `free` of a 48-byte block panics with a message of its own.
    PanicsInFree,
    /// `check_heap` panics once 3 blocks were allocated.
    CheckPanics,
    /// `init` panics, with a payload that is no string, when blocks were allocated before.
    ReinitPanics,
}

/// Each block: an 8-byte size word, then the payload, both rounded to the alignment.
/// `free` does nothing, so the heap only grows.
struct Bump {
    heap: MemLib,
    align: Align,
    bug: Bug,
    mallocs: usize,
    last: Option<NonNull<u8>>,
}

impl Bump {
    fn factory(bug: Bug) -> impl Fn(MemLib, Align) -> Bump {
        move |heap, align| Bump { heap, align, bug, mallocs: 0, last: None }
    }

    fn payload_at(&self, offset: usize) -> NonNull<u8> {
        NonNull::new(self.heap.heap_lo().wrapping_add(offset)).expect("inside the heap")
    }
}

impl Allocator for Bump {
    fn describe(&self) -> String {
        format!("bump allocator (bug: {:?})", self.bug)
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
        if self.bug == Bug::ReinitPanics && self.mallocs > 0 {
            std::panic::panic_any(self.mallocs);
        }
        if self.bug != Bug::StaleInit {
            self.mallocs = 0;
        }
        self.last = None;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        self.mallocs += 1;
        if self.bug == Bug::PanicsInMalloc {
            let classes = [16usize, 32, 64, 128];
            std::hint::black_box(classes[self.mallocs - 1]);
        }
        let a = self.align.get();
        let brk = self.heap.heap_size();
        let start = match self.last {
            Some(last) if self.bug == Bug::Overlap && self.mallocs.is_multiple_of(4) => {
                self.heap.offset_of(last.as_ptr()) - 8
            }
            _ => brk,
        };
        let skew = if self.bug == Bug::StaleInit && self.mallocs > 20 { 8 } else { 0 };
        let (payload, end) = if self.bug == Bug::WrappingSizes {
            let payload = (start + 8 + skew + a - 1) & !(a - 1);
            (payload, payload.wrapping_add(size.max(1)).wrapping_add(a - 1) & !(a - 1))
        } else {
            let payload = self.align.round_up(start + 8 + skew)?;
            (payload, self.align.round_up(payload.checked_add(size.max(1))?)?)
        };
        self.heap.extend(end.saturating_sub(brk)).ok()?;
        let payload = if self.bug == Bug::Misaligned && a > 8 { payload + 8 } else { payload };
        let ptr = self.payload_at(payload);
        // SAFETY: `payload - 8 >= start`, and `[start, end)` is inside the heap: it was
        // either just taken from sbrk or (for the overlap variant) starts at an older
        // block; for the misaligned variant the word is in the padding below the payload.
        unsafe { ptr.as_ptr().sub(8).cast::<usize>().write_unaligned(size) };
        self.last = Some(ptr);
        Some(ptr)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller guarantees `ptr` is a live block.
        if self.bug == Bug::PanicsInFree && unsafe { self.usable_size(ptr) } == 48 {
            panic!("no free list for 48-byte blocks");
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: `ptr` is a live block, whose size word `malloc` wrote just before it.
        unsafe { ptr.as_ptr().sub(8).cast::<usize>().read_unaligned() }
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        if self.bug == Bug::LossyRealloc {
            return self.malloc(size);
        }
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }

    fn calloc(&mut self, count: usize, size: usize) -> Option<NonNull<u8>> {
        if self.bug == Bug::DirtyCalloc {
            return self.malloc(count.checked_mul(size)?);
        }
        let bytes = count.checked_mul(size)?;
        let ptr = self.malloc(bytes)?;
        // SAFETY: `malloc` returned a block of at least `bytes` writable bytes.
        unsafe { ptr.as_ptr().write_bytes(0, bytes) };
        Some(ptr)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        if self.bug == Bug::CheckPanics && self.mallocs >= 3 {
            panic!("check_heap walked past the break");
        }
        if self.bug == Bug::CheckFails && self.mallocs >= 20 {
            return Err(HeapCheckError::new(0x40, Invariant::Other("planted".into())));
        }
        Ok(())
    }
}

/// Runs `scenario` and returns its panic message, or `None` when it passed.
fn failure(scenario: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(scenario)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

/// Asserts `scenario` panics with a message containing every one of `needles`.
#[track_caller]
fn assert_fails(scenario: impl FnOnce(), needles: &[&str]) {
    let message = failure(scenario).expect("the kit should have failed this allocator");
    for needle in needles {
        assert!(message.contains(needle), "message lacks {needle:?}: {message}");
    }
}

#[test]
fn a_correct_bump_allocator_passes_every_scenario_that_needs_no_reuse() {
    let ok = Bump::factory(Bug::None);
    for align in testkit::ALIGNMENTS {
        testkit::short1(&ok, align);
        testkit::short2(&ok, align);
        testkit::realloc_shrink(&ok, align);
        testkit::realloc_grow(&ok, align);
        testkit::realloc_into_free_neighbour(&ok, align);
        testkit::realloc_null_is_malloc(&ok, align);
        testkit::realloc_zero_frees(&ok, align);
        testkit::malloc_zero(&ok, align);
        testkit::calloc(&ok, align);
        testkit::huge_requests(&ok, align);
        testkit::reinit(&ok, align);
        // At the kit's own length; longer ones run it dry (below).
        testkit::random_mixed(&ok, align);
        testkit::random_realloc(&ok, align);
    }
}

#[test]
fn a_bump_allocator_fails_the_scenarios_that_need_reuse() {
    let ok = Bump::factory(Bug::None);
    assert_fails(
        || testkit::coalescing(&ok, Align::MIN),
        &["bump allocator", "scenario `coalescing`", "were not coalesced"],
    );
    assert_fails(
        || testkit::exhaustion(&ok, Align::MIN),
        &["scenario `exhaustion`", "freed memory was not reused"],
    );
    // A bump heap of the default size runs dry long before a randomized run ends.
    assert_fails(
        || testkit::random_ops(&ok, Align::MIN, RandomProfile::Mixed, 1, 100_000),
        &["scenario `random`", "seed 0x1", "out of memory"],
    );
}

#[test]
fn overlapping_blocks_are_caught() {
    assert_fails(
        || testkit::short1(Bump::factory(Bug::Overlap), Align::MIN),
        &["short1", "overlaps live block"],
    );
}

#[test]
fn realloc_that_loses_data_is_caught() {
    assert_fails(
        || testkit::realloc_grow(Bump::factory(Bug::LossyRealloc), Align::MIN),
        &["realloc_grow", "realloc did not keep the first min(old, new) bytes"],
    );
}

#[test]
fn misaligned_payloads_are_caught() {
    assert_fails(
        || testkit::short2(Bump::factory(Bug::Misaligned), Align::SIXTEEN),
        &["alignment 16", "is not aligned to 16"],
    );
}

#[test]
fn calloc_over_dirty_memory_is_caught() {
    assert_fails(|| testkit::calloc(Bump::factory(Bug::DirtyCalloc), Align::MIN), &["calloc(", "not zeroed"]);
}

#[test]
fn size_overflow_is_caught() {
    assert_fails(
        || testkit::huge_requests(Bump::factory(Bug::WrappingSizes), Align::MIN),
        &["malloc(18446744073709551615)", "cannot exist"],
    );
}

#[test]
fn a_failing_heap_checker_is_reported_with_its_error() {
    assert_fails(
        || testkit::random_ops(Bump::factory(Bug::CheckFails), Align::MIN, RandomProfile::Mixed, 42, 1000),
        &["check_heap() failed", "block at heap offset 0x40: planted", "seed 0x2a", "random_ops_verifying("],
    );
}

#[test]
fn state_that_survives_init_is_caught() {
    assert_fails(
        || testkit::reinit(Bump::factory(Bug::StaleInit), Align::MIN),
        &["reinit", "did not rebuild all state"],
    );
}

#[test]
fn a_panic_inside_the_strategy_is_reported_with_the_scenario_and_the_op() {
    // short1's ops: #1 init, #2 and #3 malloc(2040), #4 free, #5 malloc(48),
    // #6 malloc(4072), #7 free, #8 malloc(4072) (the fifth malloc), #9 free(block #1),
    // #10 free(block #3) (the 48-byte block).
    assert_fails(
        || testkit::short1(Bump::factory(Bug::PanicsInMalloc), Align::MIN),
        &["conformance failure: `bump allocator (bug: PanicsInMalloc)` at alignment 8: scenario `short1`: \
             op #8 malloc(4072): the strategy panicked: index out of bounds: the len is 4 but the index is 4"],
    );
    assert_fails(
        || testkit::short1(Bump::factory(Bug::PanicsInFree), Align::SIXTEEN),
        &["at alignment 16: scenario `short1`: op #10 free(block #3): \
             the strategy panicked: no free list for 48-byte blocks"],
    );
    // In the heap check the kit runs after the op.
    assert_fails(
        || testkit::short1(Bump::factory(Bug::CheckPanics), Align::MIN),
        &["scenario `short1`: op #5 malloc(48): the strategy panicked: check_heap walked past the break"],
    );
    // In init; a payload that is no string is still reported.
    assert_fails(
        || testkit::reinit(Bump::factory(Bug::ReinitPanics), Align::MIN),
        &["scenario `reinit`: op #", " reset_brk() + init(): the strategy panicked: a non-string payload"],
    );
}

#[test]
fn a_panic_inside_the_strategy_in_a_randomized_run_names_the_call_that_replays_it() {
    assert_fails(
        || {
            testkit::random_ops(
                Bump::factory(Bug::PanicsInMalloc),
                Align::MIN,
                RandomProfile::Mixed,
                42,
                1000,
            )
        },
        &[
            "scenario `random`, seed 0x2a; replay: mm_core::testkit::random_ops_verifying(factory, \
             Align::new(8).unwrap(), RandomProfile::Mixed, 0x2a, 1000, 64): op #",
            "the strategy panicked: index out of bounds: the len is 4 but the index is 4",
        ],
    );
}
