//! The conformance kit's check of `heap_spans` must be able to fail. A bump allocator
//! that describes its heap correctly passes the scenarios that need no reuse; one with
//! a planted mistake in its span list fails with a message that says what is wrong.

use mm_core::Align;
use mm_testkit as testkit;
use mm_testkit::fault::{Bump, Spans};

#[track_caller]
fn assert_fails(mistake: Spans, needles: &[&str]) {
    let message = testkit::failure_of(|| testkit::short1(Bump::factory_with_spans(mistake), Align::MIN))
        .unwrap_or_else(|| panic!("the kit should have caught {mistake:?}"));
    for needle in needles {
        assert!(message.contains(needle), "message lacks {needle:?}: {message}");
    }
}

#[test]
fn a_bump_allocator_that_describes_its_heap_right_passes() {
    for mistake in [Spans::Correct, Spans::Silent] {
        let factory = Bump::factory_with_spans(mistake);
        for align in testkit::ALIGNMENTS {
            testkit::short1(&factory, align);
            testkit::short2(&factory, align);
            testkit::realloc_grow(&factory, align);
            testkit::malloc_zero(&factory, align);
            testkit::calloc(&factory, align);
            testkit::reinit(&factory, align);
        }
    }
}

#[test]
fn a_gap_in_the_spans_is_caught() {
    assert_fails(Spans::Gap, &["bump allocator", "do not tile the heap", "leaves a gap"]);
}

#[test]
fn freed_blocks_labelled_payload_are_caught() {
    assert_fails(Spans::FreedAsPayload, &["heap_spans() label", "bytes as payload", "usable"]);
}

#[test]
fn a_live_payload_labelled_otherwise_is_caught() {
    assert_fails(Spans::PayloadAsMetadata, &["not inside one payload span", "is metadata"]);
    assert_fails(Spans::ShortPayload, &["not inside one payload span", "is payload"]);
}
