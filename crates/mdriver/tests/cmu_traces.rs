//! Traces as the lab's later (CMU) edition writes them, replayed as C means them: ids
//! freed and allocated again, `f -1` (`free(NULL)`), `r -1 n` (`realloc(NULL, n)`, a
//! block no id names), `r` of an id that is not live (`realloc(NULL, n)` under the id),
//! `r id 0` on a live and on a dead id, and the weight-first header. Every registered
//! strategy (ours, their variants and the peers) and libc must replay them correctly
//! under all the driver's checks, the replays must make exactly the C calls the ops
//! stand for, and the CLI must race `tests/fixtures/cmu-style.rep`, a trace in that
//! style written by hand for mmlab (not copied from the lab's trace set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mdriver::heapmap::{self, At, MapKind};
use mdriver::race::{self, RaceConfig};
use mdriver::registry;
use mdriver::replay;
use mdriver::subject::{Libc, Subject};
use mm_core::{Align, HeapCheckError, InitError, MemLib};
use mm_trace::{Header, Op, Trace};

/// Every new feature once or more, with what each line means:
///
/// ```text
/// 1        weight (the weight-first header: weight num_ids num_ops ignore_ranges)
/// 3        num_ids
/// 19       num_ops
/// 0        ignore_ranges
/// a 0 24
/// f -1     free(NULL)
/// r -1 40  realloc(NULL, 40): a block no id names, live to the end
/// f 0
/// a 0 56   id 0 allocated again
/// r 1 16   r of an id never allocated: realloc(NULL, 16), under id 1
/// r 1 0    realloc(p, 0): frees, and id 1 is dead
/// r 1 0    r id 0 of a dead id: realloc(NULL, 0), a block (or null) under no id
/// r 1 32   r of a freed id: realloc(NULL, 32), under id 1
/// r 0 200  grows, keeping the first 56 bytes
/// r -1 0   realloc(NULL, 0)
/// a 2 0    malloc(0)
/// f 2
/// a 2 8    id 2 allocated again
/// r 0 8    shrinks, keeping 8 bytes
/// f 1
/// f 0
/// f 2
/// f -1
/// ```
const EVERY_FEATURE: &str = "1\n3\n19\n0\na 0 24\nf -1\nr -1 40\nf 0\na 0 56\nr 1 16\nr 1 0\nr 1 0\nr 1 32\n\
                             r 0 200\nr -1 0\na 2 0\nf 2\na 2 8\nr 0 8\nf 1\nf 0\nf 2\nf -1\n";

/// The peak of live payload of [`EVERY_FEATURE`]: after `a 2 8`, blocks 0 (200), 1 (32)
/// and 2 (8) and the unnamed 40.
const EVERY_FEATURE_PEAK: usize = 200 + 32 + 8 + 40;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmu-style.rep")
}

fn traces() -> Vec<Trace> {
    let every = Trace::parse("every-feature.rep", EVERY_FEATURE.as_bytes()).unwrap();
    let fixture = Trace::read(&fixture()).unwrap_or_else(|e| panic!("{e}"));
    vec![every, fixture]
}

#[test]
fn the_traces_use_every_feature() {
    for trace in traces() {
        assert!(
            matches!(trace.header, Header::WeightFirst { weight: 1, ignore_ranges: 0 }),
            "{}",
            trace.name
        );
        let has = |f: &dyn Fn(&Op) -> bool| trace.ops.iter().any(f);
        assert!(has(&|op| *op == Op::FreeNull), "{}: f -1", trace.name);
        assert!(has(&|op| matches!(op, Op::ReallocNull { size: 1.. })), "{}: r -1 n", trace.name);
        assert!(has(&|op| *op == Op::ReallocNull { size: 0 }), "{}: r -1 0", trace.name);
        let allocations = trace.ops.iter().filter(|op| matches!(op, Op::Alloc { .. })).count();
        assert!(allocations > trace.num_ids, "{}: ids are reused", trace.name);
    }
    assert_eq!(traces()[0].peak_live_bytes(), EVERY_FEATURE_PEAK);
    let fixture = &traces()[1];
    assert!((40..=100).contains(&fixture.ops.len()), "dozens of ops: {}", fixture.ops.len());
}

/// The race's checked replay of every registered strategy, the hardened ones and libc:
/// all correct (bounds, alignment, overlap, and every payload byte on free, realloc and
/// at the end, unnamed blocks included), each measuring the trace's own peak.
#[test]
fn every_strategy_peer_and_libc_replays_them_correctly() {
    let traces = traces();
    for (hardened, check_heap) in [(false, true), (true, false)] {
        let config = RaceConfig {
            strategies: registry::all_names().into_iter().map(str::to_owned).collect(),
            reps: 0,
            hardened,
            check_heap,
            ..RaceConfig::default()
        };
        let report = race::run(&traces, &config).unwrap();
        let errors: Vec<_> = report.runs.iter().filter_map(|r| r.error.as_deref()).collect();
        assert!(errors.is_empty(), "hardened {hardened}: {errors:#?}");
        assert_eq!(report.runs.len(), traces.len() * registry::all_names().len());
        for run in &report.runs {
            let trace = traces.iter().find(|t| t.name == run.trace).unwrap();
            assert_eq!(
                run.peak_live_bytes,
                Some(trace.peak_live_bytes()),
                "{} on {}",
                run.strategy,
                run.trace
            );
            if run.strategy != registry::LIBC {
                let util = run.util.unwrap();
                assert!(util > 0.0 && util <= 1.0, "{} on {}: utilization {util}", run.strategy, run.trace);
            }
        }
    }
}

/// A call a subject received, with pointers told apart only as null or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Malloc(usize),
    Free {
        null: bool,
    },
    Realloc {
        null: bool,
        size: usize,
    },
    /// `finish`, with the number of non-null blocks still live.
    Finish(usize),
}

/// libc, with every call it receives written down; with `null_for_zero`, it answers
/// `realloc(NULL, 0)` with null (which C allows) instead of glibc's block.
#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
    null_for_zero: bool,
}

impl Subject for Recorder {
    fn alignment(&self) -> usize {
        Libc.alignment()
    }
    fn start(&mut self) -> Result<(), InitError> {
        self.calls.clear();
        Libc.start()
    }
    fn malloc(&mut self, size: usize) -> *mut u8 {
        self.calls.push(Call::Malloc(size));
        Libc.malloc(size)
    }
    unsafe fn free(&mut self, ptr: *mut u8) {
        self.calls.push(Call::Free { null: ptr.is_null() });
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { Libc.free(ptr) }
    }
    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> *mut u8 {
        self.calls.push(Call::Realloc { null: ptr.is_null(), size });
        if self.null_for_zero && ptr.is_null() && size == 0 {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { Libc.realloc(ptr, size) }
    }
    unsafe fn finish(&mut self, live: &[*mut u8]) {
        self.calls.push(Call::Finish(live.iter().filter(|p| !p.is_null()).count()));
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { Libc.finish(live) }
    }
    fn heap(&self) -> Option<&MemLib> {
        None
    }
    fn check_heap(&self) -> Result<(), HeapCheckError> {
        Ok(())
    }
}

/// Each op is the C call it stands for, in both replays: `f -1` reaches the subject as
/// `free(NULL)`, and every block no id names reaches `finish`.
#[test]
fn the_replays_make_the_calls_c_would() {
    let trace = Trace::parse("every-feature.rep", EVERY_FEATURE.as_bytes()).unwrap();
    let (malloc, free, free_null) = (Call::Malloc, Call::Free { null: false }, Call::Free { null: true });
    let realloc = |size| Call::Realloc { null: false, size };
    let realloc_null = |size| Call::Realloc { null: true, size };
    // glibc answers realloc(NULL, 0) with a block, as malloc(0): with the 40 bytes of
    // `r -1 40`, three unnamed blocks are live at the end.
    let expected = vec![
        malloc(24),
        free_null,
        realloc_null(40),
        free,
        malloc(56),
        realloc_null(16),
        realloc(0),
        realloc_null(0),
        realloc_null(32),
        realloc(200),
        realloc_null(0),
        malloc(0),
        free,
        malloc(8),
        realloc(8),
        free,
        free,
        free,
        free_null,
        Call::Finish(3),
    ];
    let mut recorder = Recorder::default();
    let checked = replay::checked_replay(&mut recorder, &trace, false).unwrap();
    assert_eq!(recorder.calls, expected);
    assert_eq!(checked.peak_live_bytes, EVERY_FEATURE_PEAK);
    let mut blocks = Vec::new();
    replay::timed_replay(&mut recorder, &trace, &mut blocks);
    assert_eq!(recorder.calls, expected);
    // Three slots for the ids, dead at the end, then the three unnamed blocks.
    assert_eq!(blocks.len(), 3 + 3);
    assert!(blocks[..3].iter().all(|p| p.is_null()) && blocks[3..].iter().all(|p| !p.is_null()));
    assert_eq!(replay::first_refused(&mut recorder, &trace), None);
    assert_eq!(recorder.calls, expected);

    // realloc(NULL, 0) may return null too: the same calls, the same peak, and only the
    // 40 bytes of `r -1 40` left to release.
    let mut recorder = Recorder { null_for_zero: true, ..Recorder::default() };
    let checked = replay::checked_replay(&mut recorder, &trace, false).unwrap();
    let (last, calls) = recorder.calls.split_last().unwrap();
    assert_eq!((calls, *last), (&expected[..expected.len() - 1], Call::Finish(1)));
    assert_eq!(checked.peak_live_bytes, EVERY_FEATURE_PEAK);
    replay::timed_replay(&mut recorder, &trace, &mut blocks);
    assert_eq!(recorder.calls.last(), Some(&Call::Finish(1)));
    assert_eq!(blocks.len(), 3 + 3, "a slot for each unnamed result, null or not");
}

/// The heap map of a trace with unnamed blocks pairs every live block with its request:
/// at the end, only the unnamed blocks are live.
#[test]
fn heap_maps_show_the_unnamed_blocks() {
    let trace = Trace::read(&fixture()).unwrap();
    // The fixture leaves live the blocks of `r -1 48` and `r -1 100`, and the
    // zero-byte ones of `r -1 0`, `r 6 0` on a dead 6 and `r 7 0` on a dead 7.
    for strategy in ["implicit", "explicit", "segregated", "buddy", "buddy-bitmap", "kr"] {
        let info = registry::find(strategy).unwrap();
        let allocator = (info.build)(MemLib::new(mm_core::DEFAULT_MAX_HEAP).unwrap(), Align::MIN);
        let map = heapmap::map(strategy, allocator, &trace, &[At::Peak, At::End]).unwrap();
        let end = map.snapshots.last().unwrap();
        assert_eq!(end.ops_done, trace.ops.len());
        // Our strategies answer malloc(0), and so realloc(NULL, 0), with a block.
        assert_eq!((end.live_blocks, end.live_bytes), (5, 48 + 100), "{strategy}");
        for snap in &map.snapshots {
            assert_eq!(snap.total(MapKind::Payload), snap.live_bytes, "{strategy} at op {}", snap.ops_done);
        }
        assert_eq!(map.snapshots[0].live_bytes, trace.peak_live_bytes(), "{strategy}");
    }
}

fn mdriver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdriver")).args(args).output().expect("mdriver runs")
}

/// The hand-made fixture, raced through the CLI by every strategy and libc: all correct.
#[test]
fn the_cli_races_the_cmu_style_fixture() {
    let file = fixture().display().to_string();
    let names = registry::all_names();
    let mut args = vec!["-f", file.as_str(), "--reps", "1", "--check-heap", "--format", "json"];
    for name in &names {
        args.extend(["-s", name]);
    }
    let out = mdriver(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), names.len());
    let trace = Trace::read(&fixture()).unwrap();
    for run in runs {
        assert_eq!(run["trace"], "cmu-style");
        assert_eq!(run["ops"], trace.ops.len());
        assert_eq!(run["correct"], true, "{run}");
        assert!(run["secs"].as_f64().is_some(), "{run}");
    }
}

/// The same trace with a double free written into it: the race does not start, and the
/// error names the file and the line.
#[test]
fn a_double_free_in_a_cmu_style_trace_names_its_line() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    // Free id 2 once more right after its first free (line 13: `f 2`).
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[12], "f 2");
    lines.insert(13, "f 2");
    lines[2] = "60";
    let dir = std::env::temp_dir().join(format!("mdriver-cmu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("double-free.rep");
    std::fs::write(&path, lines.join("\r\n")).unwrap();
    let file = path.display().to_string();
    let out = mdriver(&["-f", &file, "-s", "implicit", "--reps", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{file}:14: 'f' on id 2, which is not live (already freed)")),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Four of the lab's published traces hold one op line more than their header's
/// `num_ops`; the lab's driver reads `num_ops` ops and stops. So does mdriver, with a
/// note naming the first line it ignores, and the race runs on the announced ops.
#[test]
fn lines_after_the_announced_ops_are_ignored_with_a_note() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let announced: usize = text.lines().nth(2).unwrap().trim().parse().unwrap();
    let dir = std::env::temp_dir().join(format!("mdriver-cmu-extra-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one-more.rep");
    // An extra allocation after the last announced op, as in those traces.
    std::fs::write(&path, format!("{text}a 0 512\n")).unwrap();
    let file = path.display().to_string();
    let out = mdriver(&["-f", &file, "-s", "segregated", "-s", "libc", "--reps", "1", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let extra_line = text.lines().count() + 1;
    assert!(
        stderr.contains(&format!(
            "{file}:{extra_line}: 1 line after the header's num_ops ({announced}) is ignored, as the lab's driver ignores them"
        )),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["runs"].as_array().unwrap().iter().all(|r| r["ops"] == announced && r["correct"] == true));
    let _ = std::fs::remove_dir_all(&dir);
}
