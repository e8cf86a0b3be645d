//! Running out of memory at many different points of a trace, for every registered
//! strategy.
//!
//! Each trace is first replayed on a large heap to learn its high-water mark `H`; then it
//! is replayed again on heaps of a fraction of `H`, so that the heap cannot grow at a
//! different operation each time. At every failure the strategy must return null and
//! stay consistent: `check_heap` passes, and every live block still holds exactly the
//! bytes written into it (checked at the first 20 failures of a run and every 16th
//! after). The trace then goes on (a failed allocation's later frees and
//! reallocs are skipped): later frees must succeed, and at the end, with everything
//! freed, small and earlier-successful allocations must succeed again. The driver, for
//! its part, must report the exhaustion as an error naming the operation.

use std::collections::HashMap;
use std::ptr::NonNull;

use mdriver::race::{self, RaceConfig};
use mdriver::registry;
use mm_core::{Align, Allocator, MemLib, PAGE_SIZE};
use mm_shadow::pattern;
use mm_trace::{Op, Trace};

/// Heap sizes to try, as fractions of the trace's high-water mark.
const FRACTIONS: [f64; 6] = [0.05, 0.2, 0.4, 0.6, 0.8, 0.95];

/// Once a heap is full most later allocations fail too: every failure is checked up to
/// this many in a run, then every [`CHECK_EVERY`]th, to keep the test quick.
const CHECK_FIRST: usize = 20;
const CHECK_EVERY: usize = 16;

/// Small traces with different shapes: many small blocks, reallocs, bursts, a real program.
const TRACES: [&str; 5] = ["program-1", "realloc-1", "tiny-1", "coalesce-1", "python-json"];

fn traces() -> Vec<Trace> {
    mdriver::traces::bundled().unwrap().into_iter().filter(|t| TRACES.contains(&t.name.as_str())).collect()
}

/// Fills a live block with the shadow model's pattern keyed `id`.
fn fill(ptr: NonNull<u8>, len: usize, id: usize) {
    // SAFETY: the block is live and holds at least `len` bytes.
    unsafe { pattern::fill_block(ptr.as_ptr(), len, id as u64, 0) };
}

fn intact(ptr: NonNull<u8>, len: usize, id: usize) -> bool {
    // SAFETY: as in `fill`.
    unsafe { pattern::check_block(ptr.as_ptr(), len, id as u64) }.is_ok()
}

/// What one exhausted replay saw.
#[derive(Default)]
struct Outcome {
    failures: usize,
    ops: usize,
}

/// Replays `trace` on `strategy` over a heap of `max_heap` bytes, checking everything
/// at each failure. Panics with the strategy, trace, heap size and op on a violation.
fn replay_exhausted(strategy: &str, trace: &Trace, max_heap: usize) -> Outcome {
    let info = registry::find(strategy).unwrap();
    let mut a = (info.build)(MemLib::new(max_heap).unwrap(), Align::MIN);
    let context = |op: usize| format!("{strategy} on {} with a {max_heap}-byte heap, op {op}", trace.name);
    // Every strategy's initial structures fit in the smallest heap tried (a page).
    a.init().unwrap_or_else(|e| panic!("{}: init: {e}", context(0)));
    let mut live: HashMap<usize, (NonNull<u8>, usize)> = HashMap::new();
    let mut first_success: Option<usize> = None;
    let mut outcome = Outcome::default();
    let check_all =
        |a: &dyn Allocator, live: &HashMap<usize, (NonNull<u8>, usize)>, op: usize, nth: usize| {
            if nth > CHECK_FIRST && !nth.is_multiple_of(CHECK_EVERY) {
                return;
            }
            a.check_heap().unwrap_or_else(|e| panic!("{}: after a failure: {e}", context(op)));
            for (&id, &(p, size)) in live {
                assert!(intact(p, size, id), "{}: block {id} lost its data after a failure", context(op));
            }
        };
    for (op, step) in trace.ops.iter().enumerate() {
        outcome.ops += 1;
        match *step {
            Op::Alloc { id, size } => match a.malloc(size) {
                Some(p) => {
                    fill(p, size, id);
                    live.insert(id, (p, size));
                    first_success.get_or_insert(size);
                }
                None => {
                    outcome.failures += 1;
                    check_all(a.as_ref(), &live, op, outcome.failures);
                }
            },
            Op::Free { id } | Op::Realloc { id, size: 0 } => {
                if let Some((p, size)) = live.remove(&id) {
                    assert!(intact(p, size, id), "{}: block {id} corrupted", context(op));
                    // SAFETY: `p` is live and freed once.
                    unsafe { a.free(p) };
                }
            }
            Op::FreeNull | Op::ReallocNull { .. } => unreachable!("generated traces name no null pointer"),
            Op::Realloc { id, size } => {
                let Some(&(p, old)) = live.get(&id) else { continue };
                // SAFETY: `p` is live; `size > 0`.
                match unsafe { a.realloc(Some(p), size) } {
                    Some(q) => {
                        assert!(
                            intact(q, old.min(size), id),
                            "{}: realloc lost block {id}'s data",
                            context(op)
                        );
                        fill(q, size, id);
                        live.insert(id, (q, size));
                    }
                    None => {
                        outcome.failures += 1;
                        // The old block must be untouched and still live.
                        check_all(a.as_ref(), &live, op, outcome.failures);
                    }
                }
            }
        }
    }
    // Everything freed: the heap is consistent, and memory comes back.
    for (id, (p, size)) in live.drain() {
        assert!(intact(p, size, id), "{}: block {id} corrupted at the end", context(trace.ops.len()));
        // SAFETY: each block is live and freed once.
        unsafe { a.free(p) };
    }
    a.check_heap().unwrap_or_else(|e| panic!("{}: after freeing everything: {e}", context(trace.ops.len())));
    let small = a.malloc(16);
    assert!(small.is_some(), "{}: malloc(16) fails with an empty heap", context(trace.ops.len()));
    if let Some(size) = first_success {
        let again = a.malloc(size);
        assert!(
            again.is_some(),
            "{}: malloc({size}) succeeded before, not after freeing",
            context(trace.ops.len())
        );
    }
    outcome
}

/// The heap a trace needs on `strategy` when nothing limits it.
fn high_water(strategy: &str, trace: &Trace) -> usize {
    let config = RaceConfig { strategies: vec![strategy.to_owned()], reps: 0, ..RaceConfig::default() };
    let report = race::run(std::slice::from_ref(trace), &config).unwrap();
    report.runs[0]
        .heap_bytes
        .unwrap_or_else(|| panic!("{strategy} on {}: {:?}", trace.name, report.runs[0].error))
}

#[test]
fn every_strategy_fails_cleanly_at_many_points_and_recovers() {
    let traces = traces();
    assert_eq!(traces.len(), TRACES.len(), "the traces are bundled");
    let mut summary = Vec::new();
    for strategy in registry::all_names().into_iter().filter(|&s| s != registry::LIBC) {
        let (mut runs, mut failures, mut ops) = (0, 0, 0);
        for trace in &traces {
            let full = high_water(strategy, trace);
            for fraction in FRACTIONS {
                let max_heap = ((full as f64 * fraction) as usize).next_multiple_of(PAGE_SIZE).max(PAGE_SIZE);
                let outcome = replay_exhausted(strategy, trace, max_heap);
                runs += 1;
                failures += outcome.failures;
                ops += outcome.ops;
            }
        }
        assert!(failures >= runs / 2, "{strategy}: only {failures} failures in {runs} starved runs");
        summary.push(format!(
            "{strategy}: {runs} starved replays, {ops} ops, {failures} failed allocations, all clean"
        ));
    }
    eprintln!("{}", summary.join("\n"));
}

#[test]
fn the_driver_reports_exhaustion_with_the_op() {
    let trace = traces().into_iter().find(|t| t.name == "program-1").unwrap();
    for strategy in registry::default_names().into_iter().filter(|&s| s != registry::LIBC) {
        let config = RaceConfig {
            strategies: vec![strategy.to_owned()],
            reps: 0,
            max_heap: 64 * 1024,
            ..RaceConfig::default()
        };
        let report = race::run(std::slice::from_ref(&trace), &config).unwrap();
        let error = report.runs[0].error.as_deref().unwrap_or_else(|| panic!("{strategy}: fits in 64 KiB?"));
        assert!(error.contains("op ") && error.contains("out of memory"), "{strategy}: {error}");
    }
}

#[test]
fn requests_near_usize_max_fail_without_overflow() {
    let sizes = [usize::MAX, usize::MAX - 7, usize::MAX / 2 + 1, isize::MAX as usize, usize::MAX - PAGE_SIZE];
    for strategy in registry::all_names().into_iter().filter(|&s| s != registry::LIBC) {
        let info = registry::find(strategy).unwrap();
        for align in [Align::MIN, Align::SIXTEEN] {
            let mut a = (info.build)(MemLib::new(1 << 20).unwrap(), align);
            a.init().unwrap();
            let keep = a.malloc(100).unwrap();
            fill(keep, 100, 7);
            for size in sizes {
                assert!(a.malloc(size).is_none(), "{strategy}: malloc({size})");
                assert!(a.calloc(size, 3).is_none(), "{strategy}: calloc({size}, 3)");
                // SAFETY: `keep` is live; a failed realloc leaves it so.
                assert!(unsafe { a.realloc(Some(keep), size) }.is_none(), "{strategy}: realloc to {size}");
                assert!(intact(keep, 100, 7), "{strategy}: a failed realloc to {size} touched the block");
            }
            a.check_heap().unwrap();
        }
    }
}
