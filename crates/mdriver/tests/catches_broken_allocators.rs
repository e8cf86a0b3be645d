//! The driver must catch broken allocators: the kit's bump allocator, broken in one way
//! at a time ([`mm_testkit::fault`]), is raced, and the run must be marked incorrect with
//! a message naming the strategy, the trace, the op and the broken rule. A correct allocator built the same way passes, so
//! each failure comes from the flaw and nothing else.

use mdriver::race::{self, Contender, RaceConfig};
use mdriver::subject::{Libc, Ours};
use mm_core::{Align, MemLib};
use mm_testkit::fault::{Bump, Fault};
use mm_trace::Trace;

const TRACE: &str = "0\n3\n6\n1\na 0 40\na 1 24\nr 0 100\na 2 8\nf 1\nf 2\n";

fn race_one(flaw: Fault, check_heap: bool) -> race::RaceReport {
    race_on(flaw, check_heap, TRACE)
}

fn race_on(flaw: Fault, check_heap: bool, text: &str) -> race::RaceReport {
    let trace = Trace::parse("broken.rep", text.as_bytes()).unwrap();
    let config =
        RaceConfig { check_heap, reps: 1, min_run: std::time::Duration::ZERO, ..RaceConfig::default() };
    let mut contenders = vec![
        Contender {
            name: "bump".to_owned(),
            description: format!("{flaw:?}"),
            subject: Box::new(Ours(Box::new(Bump::new(MemLib::new(1 << 20).unwrap(), Align::MIN, flaw)))),
        },
        Contender { name: "libc".to_owned(), description: "libc".to_owned(), subject: Box::new(Libc) },
    ];
    race::run_contenders(&[trace], &mut contenders, &config)
}

/// Races the flawed allocator and returns its error message (asserting it is incorrect).
fn error_of(flaw: Fault, check_heap: bool) -> String {
    error_on(flaw, check_heap, TRACE)
}

/// [`error_of`], on the trace `text`.
fn error_on(flaw: Fault, check_heap: bool, text: &str) -> String {
    let report = race_on(flaw, check_heap, text);
    let run = report.run("bump", "broken").unwrap();
    assert!(!run.correct, "{flaw:?} should be caught");
    assert!(!report.all_correct());
    assert_eq!(run.util, None);
    let summary = report.summary.iter().find(|s| s.strategy == "bump").unwrap();
    assert!(!summary.correct && summary.perf_index.is_none());
    let message = run.error.clone().unwrap();
    assert!(message.starts_with("bump on trace broken: "), "{message}");
    message
}

#[test]
fn a_correct_allocator_passes() {
    let report = race_one(Fault::None, true);
    assert!(report.all_correct(), "{:?}", report.runs);
    let run = report.run("bump", "broken").unwrap();
    // Peak live: 100 + 24 + 8 bytes after the realloc and the third malloc.
    assert_eq!(run.peak_live_bytes, Some(132));
    // Rounded to the alignment of 8 the same blocks take 104 + 24 + 8 bytes.
    assert_eq!(run.util_bound, Some(132.0 / 136.0));
    assert!(run.util.unwrap() > 0.0 && run.util.unwrap() <= 1.0);
    let summary = report.summary.iter().find(|s| s.strategy == "bump").unwrap();
    assert!(summary.perf_index.is_some() && summary.thru_ratio_vs_libc.is_some());
}

#[test]
fn overlapping_blocks_are_caught() {
    let e = error_of(Fault::Overlap { every: 2, into: 8 }, false);
    assert!(e.contains("op 1 (a 1 24): block 1 (24 bytes at heap offset 0x8) overlaps live block 0"), "{e}");
}

#[test]
fn a_block_inside_another_is_caught() {
    let e = error_of(Fault::Overlap { every: 2, into: 0 }, false);
    assert!(e.contains("op 1 (a 1 24): block 1 (24 bytes at heap offset 0x0) overlaps live block 0"), "{e}");
}

#[test]
fn misaligned_payloads_are_caught() {
    let e = error_of(Fault::Misaligned, false);
    assert!(e.contains("op 0 (a 0 40): malloc(40) returned heap offset 0x1, not aligned to 8"), "{e}");
}

#[test]
fn pointers_outside_the_heap_are_caught() {
    let e = error_of(Fault::PastTheBreak { nth: 2 }, false);
    assert!(e.contains("op 1 (a 1 24): malloc(24) returned heap offset 0x70"), "{e}");
    assert!(e.contains("which does not lie wholly inside the heap"), "{e}");
}

#[test]
fn realloc_that_loses_data_is_caught() {
    let e = error_of(Fault::LossyRealloc, false);
    assert!(e.contains("op 2 (r 0 100): realloc did not keep the data: block 0 (100 bytes at"), "{e}");
}

#[test]
fn a_clobbered_neighbour_is_caught() {
    let e = error_of(Fault::ClobbersNeighbour, false);
    assert!(
        e.contains("op 2 (r 0 100): block 0 (40 bytes at heap offset 0x0) lost its data: byte 39"),
        "{e}"
    );
}

#[test]
fn null_results_are_caught() {
    let e = error_of(Fault::NullOnMalloc { nth: 3 }, false);
    assert!(e.contains("op 2 (r 0 100): realloc(100) returned null"), "{e}");
}

#[test]
fn init_failure_is_caught() {
    let e = error_of(Fault::InitFails, false);
    assert!(e.contains("init failed: init: sbrk: negative increment -1"), "{e}");
}

#[test]
fn heap_checker_failures_are_caught_only_with_check_heap() {
    let e = error_of(Fault::CheckFails { after_mallocs: 1, at: 0x10 }, true);
    assert!(e.contains("op 0 (a 0 40): heap check: block at heap offset 0x10"), "{e}");
    assert!(race_one(Fault::CheckFails { after_mallocs: 1, at: 0x10 }, false).all_correct());
}

#[test]
fn panics_are_caught_and_reported() {
    let e = error_of(Fault::PanicsInMalloc { nth: 2 }, false);
    assert!(e.contains("the strategy panicked: index out of bounds: the len is 1 but the index is 1"), "{e}");
}

// The blocks of the null pointer's ops, and of reused ids, are held to the same checks.

#[test]
fn an_unnamed_block_that_overlaps_is_caught() {
    // The second request is realloc(NULL, 24): a block no id names.
    let e = error_on(Fault::Overlap { every: 2, into: 8 }, false, "1\n1\n3\n0\na 0 40\nr -1 24\nf 0\n");
    assert!(
        e.contains("op 1 (r -1 24): block of op 1 (24 bytes at heap offset 0x8) overlaps live block 0"),
        "{e}"
    );
}

#[test]
fn an_unnamed_block_clobbered_is_caught_at_the_end() {
    // Nothing frees the block of `r -1 40`: its bytes are checked at the end.
    let e = error_on(Fault::ClobbersNeighbour, false, "1\n1\n3\n0\nr -1 40\na 0 24\nf 0\n");
    assert!(
        e.contains(
            "at the end of the trace: block of op 0 (40 bytes at heap offset 0x0) lost its data: byte 39"
        ),
        "{e}"
    );
}

/// A block allocated again under a reused id gets a pattern of its own: a realloc that
/// hands back the id's previous block, uncopied, is caught, though those stale bytes
/// were once that id's.
#[test]
fn stale_bytes_of_a_reused_id_are_not_its_data() {
    let text = "0\n1\n5\n1\na 0 64\nf 0\na 0 16\nr 0 32\nf 0\n";
    let e = error_on(Fault::ReallocToLastFreed, false, text);
    assert!(
        e.contains("op 3 (r 0 32): realloc did not keep the data: block 0 (32 bytes at heap offset 0x0) lost its data: byte 0"),
        "{e}"
    );
    // Where the last freed block is not big enough, the flaw is dormant: correct.
    assert!(
        race_on(Fault::ReallocToLastFreed, true, "0\n1\n5\n1\na 0 8\nf 0\na 0 16\nr 0 32\nf 0\n")
            .all_correct()
    );
}
