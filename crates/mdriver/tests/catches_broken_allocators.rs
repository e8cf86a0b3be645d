//! The driver must catch broken allocators: each deliberately wrong allocator below is
//! raced, and the run must be marked incorrect with a message naming the strategy, the
//! trace, the op and the broken rule. A correct allocator built the same way passes, so
//! each failure comes from the flaw and nothing else.

use std::collections::HashMap;
use std::ptr::NonNull;

use mdriver::race::{self, Contender, RaceConfig};
use mdriver::subject::{Libc, Ours};
use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib, SbrkError};
use mm_trace::Trace;

/// The one thing each test allocator gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    /// The second block starts inside the first.
    Overlap,
    /// The second block lies wholly inside the first.
    Containment,
    /// Payloads are one byte off the alignment.
    Misaligned,
    /// The second block is placed past the break.
    OutOfHeap,
    /// realloc moves the block without copying it.
    ReallocLosesData,
    /// Each malloc scribbles over the last byte of the block before it.
    ClobbersNeighbour,
    /// malloc fails on the third request.
    NullOnThirdMalloc,
    /// init cannot grow the heap.
    InitFails,
    /// The heap checker always reports a broken invariant.
    CheckHeapFails,
    /// malloc panics on the second request.
    Panics,
    /// realloc hands back the block freed last (when it is big enough) without copying:
    /// stale bytes where the data should be.
    ReallocToLastFreed,
}

/// A bump allocator: never reuses memory, keeps sizes in a side table. Correct with
/// `Flaw::None`, and broken in exactly one way otherwise.
struct Bump {
    heap: MemLib,
    flaw: Flaw,
    sizes: HashMap<usize, usize>,
    mallocs: usize,
    last: Option<(NonNull<u8>, usize)>,
    last_freed: Option<(NonNull<u8>, usize)>,
}

impl Bump {
    fn new(flaw: Flaw) -> Self {
        Bump {
            heap: MemLib::new(1 << 20).unwrap(),
            flaw,
            sizes: HashMap::new(),
            mallocs: 0,
            last: None,
            last_freed: None,
        }
    }

    fn bump(&mut self, size: usize) -> Option<NonNull<u8>> {
        let bytes = Align::MIN.round_up(size.max(1))? + 8;
        let p = self.heap.extend(bytes).ok()?;
        Some(p)
    }
}

impl Allocator for Bump {
    fn describe(&self) -> String {
        format!("bump allocator with flaw {:?}", self.flaw)
    }
    fn heap(&self) -> &MemLib {
        &self.heap
    }
    fn heap_mut(&mut self) -> &mut MemLib {
        &mut self.heap
    }
    fn alignment(&self) -> Align {
        Align::MIN
    }
    fn init(&mut self) -> Result<(), InitError> {
        self.sizes.clear();
        self.mallocs = 0;
        self.last = None;
        self.last_freed = None;
        if self.flaw == Flaw::InitFails {
            return Err(InitError::Heap(SbrkError::Negative(-1)));
        }
        Ok(())
    }
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        self.mallocs += 1;
        let second = self.mallocs == 2;
        let p = match self.flaw {
            Flaw::Overlap if second => self.last.map(|(p, _)| p.as_ptr().wrapping_add(8))?,
            Flaw::Containment if second => self.last.map(|(p, _)| p.as_ptr())?,
            Flaw::OutOfHeap if second => self.heap.brk().as_ptr().wrapping_add(64),
            Flaw::Misaligned => self.bump(size)?.as_ptr().wrapping_add(1),
            Flaw::NullOnThirdMalloc if self.mallocs == 3 => return None,
            Flaw::Panics if second => panic!("deliberate panic in malloc"),
            _ => self.bump(size)?.as_ptr(),
        };
        if self.flaw == Flaw::ClobbersNeighbour
            && let Some((prev, prev_size)) = self.last
            && prev_size > 0
        {
            // SAFETY: `prev` is a live block of `prev_size` bytes inside the heap; the
            // write is the deliberate flaw under test.
            unsafe { prev.as_ptr().add(prev_size - 1).write(0xFF ^ prev.as_ptr().add(prev_size - 1).read()) };
        }
        let p = NonNull::new(p)?;
        self.sizes.insert(p.as_ptr() as usize, size);
        self.last = Some((p, size));
        Some(p)
    }
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        let size = self.sizes.remove(&(ptr.as_ptr() as usize));
        self.last_freed = size.map(|size| (ptr, size));
    }
    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.sizes[&(ptr.as_ptr() as usize)]
    }
    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        if self.flaw == Flaw::ReallocLosesData {
            let new = self.malloc(size)?;
            // SAFETY: `ptr` is live (the caller's guarantee).
            unsafe { self.free(ptr) };
            return Some(new);
        }
        if self.flaw == Flaw::ReallocToLastFreed
            && let Some((stale, stale_size)) = self.last_freed
            && stale_size >= size
        {
            // SAFETY: `ptr` is live (the caller's guarantee).
            unsafe { self.free(ptr) };
            self.sizes.insert(stale.as_ptr() as usize, size);
            return Some(stale);
        }
        // SAFETY: `ptr` is live (the caller's guarantee).
        unsafe { mm_core::resize_by_moving(self, ptr, size) }
    }
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        if self.flaw == Flaw::CheckHeapFails {
            return Err(HeapCheckError::new(0x10, Invariant::Uncoalesced));
        }
        Ok(())
    }
}

const TRACE: &str = "0\n3\n6\n1\na 0 40\na 1 24\nr 0 100\na 2 8\nf 1\nf 2\n";

fn race_one(flaw: Flaw, check_heap: bool) -> race::RaceReport {
    race_on(flaw, check_heap, TRACE)
}

fn race_on(flaw: Flaw, check_heap: bool, text: &str) -> race::RaceReport {
    let trace = Trace::parse("broken.rep", text.as_bytes()).unwrap();
    let config =
        RaceConfig { check_heap, reps: 1, min_run: std::time::Duration::ZERO, ..RaceConfig::default() };
    let mut contenders = vec![
        Contender {
            name: "bump".to_owned(),
            description: format!("{flaw:?}"),
            subject: Box::new(Ours(Box::new(Bump::new(flaw)))),
        },
        Contender { name: "libc".to_owned(), description: "libc".to_owned(), subject: Box::new(Libc) },
    ];
    race::run_contenders(&[trace], &mut contenders, &config)
}

/// Races the flawed allocator and returns its error message (asserting it is incorrect).
fn error_of(flaw: Flaw, check_heap: bool) -> String {
    error_on(flaw, check_heap, TRACE)
}

/// [`error_of`], on the trace `text`.
fn error_on(flaw: Flaw, check_heap: bool, text: &str) -> String {
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
    let report = race_one(Flaw::None, true);
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
    let e = error_of(Flaw::Overlap, false);
    assert!(e.contains("op 1 (a 1 24): block 1 (24 bytes at heap offset 0x8) overlaps live block 0"), "{e}");
}

#[test]
fn a_block_inside_another_is_caught() {
    let e = error_of(Flaw::Containment, false);
    assert!(e.contains("op 1 (a 1 24): block 1 (24 bytes at heap offset 0x0) overlaps live block 0"), "{e}");
}

#[test]
fn misaligned_payloads_are_caught() {
    let e = error_of(Flaw::Misaligned, false);
    assert!(e.contains("op 0 (a 0 40): malloc(40) returned heap offset 0x1, not aligned to 8"), "{e}");
}

#[test]
fn pointers_outside_the_heap_are_caught() {
    let e = error_of(Flaw::OutOfHeap, false);
    assert!(e.contains("op 1 (a 1 24): malloc(24) returned heap offset 0x70"), "{e}");
    assert!(e.contains("which does not lie wholly inside the heap"), "{e}");
}

#[test]
fn realloc_that_loses_data_is_caught() {
    let e = error_of(Flaw::ReallocLosesData, false);
    assert!(e.contains("op 2 (r 0 100): realloc did not keep the data: block 0 (100 bytes at"), "{e}");
}

#[test]
fn a_clobbered_neighbour_is_caught() {
    let e = error_of(Flaw::ClobbersNeighbour, false);
    assert!(
        e.contains("op 2 (r 0 100): block 0 (40 bytes at heap offset 0x0) lost its data: byte 39"),
        "{e}"
    );
}

#[test]
fn null_results_are_caught() {
    let e = error_of(Flaw::NullOnThirdMalloc, false);
    assert!(e.contains("op 2 (r 0 100): realloc(100) returned null"), "{e}");
}

#[test]
fn init_failure_is_caught() {
    let e = error_of(Flaw::InitFails, false);
    assert!(e.contains("init failed: init: sbrk: negative increment -1"), "{e}");
}

#[test]
fn heap_checker_failures_are_caught_only_with_check_heap() {
    let e = error_of(Flaw::CheckHeapFails, true);
    assert!(e.contains("op 0 (a 0 40): heap check: block at heap offset 0x10"), "{e}");
    assert!(race_one(Flaw::CheckHeapFails, false).all_correct());
}

#[test]
fn panics_are_caught_and_reported() {
    let e = error_of(Flaw::Panics, false);
    assert!(e.contains("the strategy panicked: deliberate panic in malloc"), "{e}");
}

// The blocks of the null pointer's ops, and of reused ids, are held to the same checks.

#[test]
fn an_unnamed_block_that_overlaps_is_caught() {
    // The second request is realloc(NULL, 24): a block no id names.
    let e = error_on(Flaw::Overlap, false, "1\n1\n3\n0\na 0 40\nr -1 24\nf 0\n");
    assert!(
        e.contains("op 1 (r -1 24): block of op 1 (24 bytes at heap offset 0x8) overlaps live block 0"),
        "{e}"
    );
}

#[test]
fn an_unnamed_block_clobbered_is_caught_at_the_end() {
    // Nothing frees the block of `r -1 40`: its bytes are checked at the end.
    let e = error_on(Flaw::ClobbersNeighbour, false, "1\n1\n3\n0\nr -1 40\na 0 24\nf 0\n");
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
    let e = error_on(Flaw::ReallocToLastFreed, false, text);
    assert!(
        e.contains("op 3 (r 0 32): realloc did not keep the data: block 0 (32 bytes at heap offset 0x0) lost its data: byte 0"),
        "{e}"
    );
    // Where the last freed block is not big enough, the flaw is dormant: correct.
    assert!(
        race_on(Flaw::ReallocToLastFreed, true, "0\n1\n5\n1\na 0 8\nf 0\na 0 16\nr 0 32\nf 0\n")
            .all_correct()
    );
}
