//! The conformance kit must be able to fail. A correct bump allocator (never reuses
//! memory) passes every scenario that does not need reuse and fails the ones that do;
//! bump allocators with one planted bug each ([`mm_testkit::fault`]) fail the scenario
//! aimed at that bug, with a message that names the strategy, the scenario and the
//! problem. A bug that makes the
//! strategy panic is reported the same way, with the panic's own message.

use mm_core::Align;
use mm_testkit::fault::{Bump, Fault};
use mm_testkit::{self as testkit, RandomProfile};

/// Asserts `scenario` panics with a message containing every one of `needles`.
#[track_caller]
fn assert_fails(scenario: impl FnOnce(), needles: &[&str]) {
    let message = testkit::failure_of(scenario).expect("the kit should have failed this allocator");
    for needle in needles {
        assert!(message.contains(needle), "message lacks {needle:?}: {message}");
    }
}

#[test]
fn a_correct_bump_allocator_passes_every_scenario_that_needs_no_reuse() {
    let ok = Bump::factory(Fault::None);
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
        testkit::before_init(&ok, align);
        testkit::reinit(&ok, align);
        // At the kit's own length; longer ones run it dry (below).
        testkit::random_mixed(&ok, align);
        testkit::random_realloc(&ok, align);
    }
}

#[test]
fn a_bump_allocator_fails_the_scenarios_that_need_reuse() {
    let ok = Bump::factory(Fault::None);
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
        || testkit::short1(Bump::factory(Fault::Overlap { every: 4, into: 0 }), Align::MIN),
        &["short1", "overlaps live block"],
    );
}

#[test]
fn realloc_that_loses_data_is_caught() {
    assert_fails(
        || testkit::realloc_grow(Bump::factory(Fault::LossyRealloc), Align::MIN),
        &["realloc_grow", "realloc did not keep the first min(old, new) bytes"],
    );
}

#[test]
fn misaligned_payloads_are_caught() {
    assert_fails(
        || testkit::short2(Bump::factory(Fault::Misaligned), Align::SIXTEEN),
        &["alignment 16", "is not aligned to 16"],
    );
}

#[test]
fn calloc_over_dirty_memory_is_caught() {
    assert_fails(
        || testkit::calloc(Bump::factory(Fault::DirtyCalloc), Align::MIN),
        &["calloc(", "not zeroed"],
    );
}

#[test]
fn size_overflow_is_caught() {
    assert_fails(
        || testkit::huge_requests(Bump::factory(Fault::WrappingSizes), Align::MIN),
        &["malloc(18446744073709551615)", "cannot exist"],
    );
}

#[test]
fn a_heap_grown_for_a_request_it_can_never_hold_is_caught() {
    assert_fails(
        || testkit::huge_requests(Bump::factory(Fault::GrowsForHugeRequests), Align::MIN),
        &["huge_requests", "more than the", "grew the heap from"],
    );
}

#[test]
fn serving_blocks_before_init_is_caught() {
    assert_fails(
        || testkit::before_init(Bump::factory(Fault::ServesBeforeInit), Align::MIN),
        &["scenario `before_init`", "malloc(8) before init returned", "(the rule: None)"],
    );
}

#[test]
fn a_failing_heap_checker_is_reported_with_its_error() {
    assert_fails(
        || {
            testkit::random_ops(
                Bump::factory(Fault::CheckFails { after_mallocs: 20, at: 0x40 }),
                Align::MIN,
                RandomProfile::Mixed,
                42,
                1000,
            )
        },
        &["check_heap() failed", "block at heap offset 0x40: planted", "seed 0x2a", "random_ops_verifying("],
    );
}

#[test]
fn state_that_survives_init_is_caught() {
    assert_fails(
        || testkit::reinit(Bump::factory(Fault::StaleInit), Align::MIN),
        &["reinit", "did not rebuild all state"],
    );
}

#[test]
fn a_panic_inside_the_strategy_is_reported_with_the_scenario_and_the_op() {
    // short1's ops: #1 init, #2 and #3 malloc(2040), #4 free, #5 malloc(48),
    // #6 malloc(4072), #7 free, #8 malloc(4072) (the fifth malloc), #9 free(block #1),
    // #10 free(block #3) (the 48-byte block).
    assert_fails(
        || testkit::short1(Bump::factory(Fault::PanicsInMalloc { nth: 5 }), Align::MIN),
        &[
            "conformance failure: `bump allocator (bug: PanicsInMalloc { nth: 5 })` at alignment 8: scenario `short1`: \
             op #8 malloc(4072): the strategy panicked: index out of bounds: the len is 4 but the index is 4",
        ],
    );
    assert_fails(
        || testkit::short1(Bump::factory(Fault::PanicsInFree { size: 48 }), Align::SIXTEEN),
        &["at alignment 16: scenario `short1`: op #10 free(block #3): \
             the strategy panicked: no free list for 48-byte blocks"],
    );
    // In the heap check the kit runs after the op.
    assert_fails(
        || testkit::short1(Bump::factory(Fault::CheckPanics { after_mallocs: 3 }), Align::MIN),
        &["scenario `short1`: op #5 malloc(48): the strategy panicked: check_heap walked past the break"],
    );
    // In init; a payload that is no string is still reported.
    assert_fails(
        || testkit::reinit(Bump::factory(Fault::ReinitPanics), Align::MIN),
        &["scenario `reinit`: op #", " reset_brk() + init(): the strategy panicked: a non-string payload"],
    );
}

#[test]
fn a_panic_inside_the_strategy_in_a_randomized_run_names_the_call_that_replays_it() {
    assert_fails(
        || {
            testkit::random_ops(
                Bump::factory(Fault::PanicsInMalloc { nth: 5 }),
                Align::MIN,
                RandomProfile::Mixed,
                42,
                1000,
            )
        },
        &[
            "scenario `random`, seed 0x2a; replay: mm_testkit::random_ops_verifying(factory, \
             Align::new(8).unwrap(), RandomProfile::Mixed, 0x2a, 1000, 64): op #",
            "the strategy panicked: index out of bounds: the len is 4 but the index is 4",
        ],
    );
}
