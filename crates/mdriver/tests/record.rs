//! Recording real programs: the log-to-trace conversion rules, a round trip from
//! generated traces through synthetic logs and back, replays of converted traces
//! through the driver's checked replay, and `mdriver record` run as a user would run it
//! (with a stand-in recorder: a command that writes the log itself).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mdriver::race::{self, RaceConfig};
use mdriver::record::{self, Event, RecordStats};
use mdriver::registry;
use mdriver::replay;
use mm_trace::workload::{self, Workload};
use mm_trace::{Header, Op, Trace};

fn a(id: usize, size: usize) -> Op {
    Op::Alloc { id, size }
}

fn f(id: usize) -> Op {
    Op::Free { id }
}

fn r(id: usize, size: usize) -> Op {
    Op::Realloc { id, size }
}

/// Parses a log of one segment and converts it.
fn convert_log(body: &str) -> (Trace, RecordStats) {
    let text = format!("# mmlab-record 1 pid 1 exe /bin/t\n{body}");
    let segments = record::parse_log("t.log", text.as_bytes()).expect("the log parses");
    assert_eq!(segments.len(), 1);
    let (trace, stats) = segments[0].to_trace("t");
    trace.validate().expect("a converted trace is always valid");
    assert_eq!((stats.ops, stats.ids), (trace.ops.len(), trace.num_ids));
    (trace, stats)
}

/// Replays `trace` with every check (and the heap checker) on, against every strategy
/// and libc, and returns the peak live bytes the driver measured.
fn replay_everywhere(trace: &Trace) -> usize {
    let config = RaceConfig::default();
    let mut peaks = Vec::new();
    for name in registry::all_names() {
        let mut contender = race::contender(name, &config).unwrap();
        let run = replay::checked_replay(contender.subject.as_mut(), trace, true)
            .unwrap_or_else(|e| panic!("{name} on {}: {e}", trace.name));
        peaks.push(run.peak_live_bytes);
    }
    assert!(peaks.windows(2).all(|w| w[0] == w[1]), "{peaks:?}");
    peaks[0]
}

#[test]
fn allocations_get_ids_in_order_and_the_end_frees_the_rest_in_id_order() {
    let (trace, stats) = convert_log("m 24 10\nc 4 8 20\na 64 256 40\nm 7 50\nf 20\n");
    assert_eq!(trace.ops, vec![a(0, 24), a(1, 32), a(2, 256), a(3, 7), f(1), f(0), f(2), f(3)]);
    assert_eq!((trace.num_ids, trace.weight(), trace.sugg_heapsize()), (4, 1, Some(24 + 32 + 256 + 7)));
    assert_eq!(stats.trailing_frees, 3);
    assert_eq!(stats.events, 5);
    assert_eq!(stats.peak_live_bytes, 319);
}

#[test]
fn realloc_chains_follow_the_block_to_its_new_address() {
    // The block moves 10 -> 30 -> 30 (in place) -> 50; each step is the same id. A new
    // block at the old address 10 is a different id.
    let (trace, stats) = convert_log("m 8 10\nr 10 16 30\nr 30 24 30\nm 4 10\nr 30 40 50\nf 50\nf 10\n");
    assert_eq!(trace.ops, vec![a(0, 8), r(0, 16), r(0, 24), a(1, 4), r(0, 40), f(0), f(1)]);
    assert_eq!(stats.trailing_frees, 0);
    assert_eq!(stats.peak_live_bytes, 44);
}

#[test]
fn realloc_of_null_is_malloc_and_realloc_to_zero_frees() {
    let (trace, _) = convert_log("r 0 12 10\nr 10 0 0\nm 5 20\n");
    assert_eq!(trace.ops, vec![a(0, 12), f(0), a(1, 5), f(1)]);
    // A realloc to 0 that hands back a minimum block: a free, and a new zero-size block.
    let (trace, _) = convert_log("m 12 10\nr 10 0 30\nf 30\n");
    assert_eq!(trace.ops, vec![a(0, 12), f(0), a(1, 0), f(1)]);
    replay_everywhere(&trace);
}

#[test]
fn failed_calls_change_nothing() {
    // A failed realloc leaves the old block live at its old address.
    let (trace, stats) =
        convert_log("m 1000000 0\nc 2 8 0\na 4096 64 0\nr 0 9 0\nm 8 10\nr 10 99999 0\nf 10\n");
    assert_eq!(trace.ops, vec![a(0, 8), f(0)]);
    assert_eq!(stats.failed, 5);
    assert_eq!(stats.peak_live_bytes, 8);
}

#[test]
fn foreign_pointers_are_counted_and_handled() {
    // A free of memory the log never saw allocated is skipped; a realloc of such
    // memory starts a new block; a realloc that frees it does nothing.
    let (trace, stats) = convert_log("f abc0\nm 8 10\nr def0 32 20\nf 20\nr aaa0 0 0\nf abc0\nf 10\nf 10\n");
    assert_eq!(trace.ops, vec![a(0, 8), a(1, 32), f(1), f(0)]);
    assert_eq!((stats.foreign_frees, stats.foreign_reallocs), (3, 2));
}

#[test]
fn free_of_null_is_a_no_op() {
    let (trace, stats) = convert_log("m 8 10\nf 0\n");
    assert_eq!(trace.ops, vec![a(0, 8), f(0)]);
    assert_eq!(stats.foreign_frees, 0);
}

#[test]
fn calloc_sizes_multiply_and_an_overflow_is_a_failure_or_an_error() {
    let (trace, _) = convert_log("c 3 5 10\n");
    assert_eq!(trace.ops, vec![a(0, 15), f(0)]);
    let huge = usize::MAX / 2;
    let (trace, stats) = convert_log(&format!("c 3 {huge} 0\n"));
    assert_eq!((trace.ops.len(), stats.failed), (0, 1));
    // Converting the event directly (bypassing the parser's check) is still no panic.
    let (trace, stats) = record::convert(&[Event::Calloc { count: 3, size: huge, ret: 0x10 }], "t");
    assert_eq!((trace.ops.len(), stats.failed), (0, 1));
    let err = record::parse_log("o.log", format!("# mmlab-record 1 pid 1 exe x\nc 3 {huge} 10\n").as_bytes())
        .unwrap_err();
    assert!(err.to_string().starts_with("o.log:2: calloc(3, "), "{err}");
}

#[test]
fn a_pointer_returned_while_still_live_retires_the_stale_id() {
    // The free of 10 was lost: when 10 comes back, the old block must be gone.
    let (trace, stats) = convert_log("m 8 10\nm 16 20\nm 4 10\nr 20 32 10\n");
    assert_eq!(trace.ops, vec![a(0, 8), a(1, 16), f(0), a(2, 4), f(2), r(1, 32), f(1)]);
    assert_eq!(stats.reused_live, 2);
}

#[test]
fn zero_size_allocations_stay_zero_and_replay_everywhere() {
    let (trace, _) = convert_log("m 0 10\nm 0 20\na 16 0 30\nc 0 8 40\nr 20 5 20\n");
    assert_eq!(trace.ops, vec![a(0, 0), a(1, 0), a(2, 0), a(3, 0), r(1, 5), f(0), f(1), f(2), f(3)]);
    // The format and the parser accept `a id 0`...
    assert_eq!(Trace::parse("z.rep", trace.to_rep_string().as_bytes()).unwrap().ops, trace.ops);
    // ...and so does every strategy, through the driver's checks.
    assert_eq!(replay_everywhere(&trace), 5);
}

#[test]
fn segments_are_converted_separately() {
    let text =
        "# mmlab-record 1 pid 5 exe /bin/sh\nm 8 10\n# mmlab-record 1 pid 5 exe /bin/ls\nf 10\nm 4 10\n";
    let segments = record::parse_log("5.log", text.as_bytes()).unwrap();
    let (first, _) = segments[0].to_trace("sh");
    let (second, stats) = segments[1].to_trace("ls");
    assert_eq!(first.ops, vec![a(0, 8), f(0)]);
    // After exec, address 10 means nothing: the free is foreign.
    assert_eq!(second.ops, vec![a(0, 4), f(0)]);
    assert_eq!(stats.foreign_frees, 1);
}

/// Writes `trace` as the log a program making its calls would leave, with addresses
/// from a toy allocator that reuses freed addresses (last freed, first reused) and
/// moves every other resized block, plus a foreign free and a failed malloc every 50
/// ops. Returns the log and the number of foreign frees and failed calls inserted.
fn log_of(trace: &Trace) -> (String, usize, usize) {
    let mut log = String::from("# mmlab-record 1 pid 77 exe /usr/bin/generated\n");
    let mut addr = vec![0usize; trace.num_ids];
    let mut freed: Vec<usize> = Vec::new();
    let mut next = 0x1000;
    let mut fresh = |freed: &mut Vec<usize>| {
        freed.pop().unwrap_or_else(|| {
            next += 0x10;
            next
        })
    };
    let (mut foreign, mut failed) = (0, 0);
    for (index, op) in trace.ops.iter().enumerate() {
        if index % 50 == 0 {
            log.push_str("f ffff0000\nm 12345678 0\n");
            foreign += 1;
            failed += 1;
        }
        match *op {
            Op::Alloc { id, size } => {
                addr[id] = fresh(&mut freed);
                let p = addr[id];
                log += &match id % 3 {
                    0 => format!("m {size} {p:x}\n"),
                    1 => format!("c 1 {size} {p:x}\n"),
                    _ => format!("a 16 {size} {p:x}\n"),
                };
            }
            Op::Free { id } => {
                log += &format!("f {:x}\n", addr[id]);
                freed.push(addr[id]);
            }
            Op::Realloc { id, size: 0 } => {
                log += &format!("r {:x} 0 0\n", addr[id]);
                freed.push(addr[id]);
            }
            Op::Realloc { id, size } => {
                let old = addr[id];
                if index % 2 == 1 {
                    addr[id] = fresh(&mut freed);
                    freed.push(old);
                }
                log += &format!("r {old:x} {size} {:x}\n", addr[id]);
            }
            Op::FreeNull | Op::ReallocNull { .. } => panic!("the generator names no null pointer"),
        }
    }
    (log, foreign, failed)
}

/// What converting [`log_of`]'s log must give: the trace itself, with `r id 0` written
/// as `f id`, and the blocks still live at the end freed in id order.
fn expected_conversion(trace: &Trace) -> Trace {
    let mut live = vec![false; trace.num_ids];
    let mut ops = Vec::new();
    for &op in &trace.ops {
        match op {
            Op::Alloc { id, .. } => live[id] = true,
            Op::Free { id } | Op::Realloc { id, size: 0 } => live[id] = false,
            Op::Realloc { .. } | Op::FreeNull | Op::ReallocNull { .. } => {}
        }
        ops.push(if let Op::Realloc { id, size: 0 } = op { Op::Free { id } } else { op });
    }
    ops.extend(live.iter().enumerate().filter(|(_, live)| **live).map(|(id, _)| Op::Free { id }));
    let sugg_heapsize = trace.sugg_heapsize().expect("generated traces have the classic header");
    Trace { ops, header: Header::Classic { sugg_heapsize, weight: 1 }, ..trace.clone() }
}

#[test]
fn generated_traces_survive_a_round_trip_through_a_log() {
    for &w in Workload::ALL {
        let original = workload::generate(w, 3, 1500);
        let (log, foreign, failed) = log_of(&original);
        let segments = record::parse_log("77.log", log.as_bytes()).unwrap();
        let (trace, stats) = segments[0].to_trace(&original.name);
        assert_eq!(trace, expected_conversion(&original), "{w}");
        assert_eq!((stats.foreign_frees, stats.failed, stats.foreign_reallocs), (foreign, failed, 0), "{w}");
        assert_eq!(Some(stats.peak_live_bytes), original.sugg_heapsize(), "{w}");
        assert_eq!(stats.events, log.lines().count() - 1, "{w}");
        trace.validate().unwrap();
    }
}

#[test]
fn converted_traces_replay_correctly_and_the_driver_agrees_on_the_peak() {
    for w in [Workload::ALL[0], Workload::ALL[Workload::ALL.len() - 1]] {
        let (log, ..) = log_of(&workload::generate(w, 5, 1200));
        let segments = record::parse_log("77.log", log.as_bytes()).unwrap();
        let (trace, stats) = segments[0].to_trace("replayed");
        assert_eq!(replay_everywhere(&trace), stats.peak_live_bytes, "{w}");
    }
}

/// A scratch directory unique to one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdriver-record-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_log_directory_is_read_in_file_name_order_and_only_its_logs() {
    let dir = scratch("dir");
    std::fs::write(dir.join("20.log"), "# mmlab-record 1 pid 20 exe b\nm 1 10\n").unwrap();
    std::fs::write(dir.join("10.log"), "# mmlab-record 1 pid 10 exe a\nm 1 10\nm 1 20\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a log").unwrap();
    let segments = record::read_log_dir(&dir).unwrap();
    let pids: Vec<u32> = segments.iter().map(|s| s.pid).collect();
    assert_eq!(pids, vec![10, 20]);
    std::fs::write(dir.join("30.log"), "# mmlab-record 1 pid 30 exe c\nq\n").unwrap();
    let err = record::read_log_dir(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: unknown record \"q\" (expected m, c, r, a or f, or a `#` header)",
            dir.join("30.log").display()
        )
    );
}

// --- The command line ---

fn mdriver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdriver")).args(args).output().expect("mdriver runs")
}

/// A stand-in for the recorder: an existing file that is not a library. The loader
/// warns that it cannot preload it and runs the program anyway, so no test builds or
/// needs the real recorder.
fn dummy_recorder(dir: &Path) -> String {
    let path = dir.join("dummy-recorder.so");
    std::fs::write(&path, "not a shared library\n").unwrap();
    path.display().to_string()
}

/// A shell command that writes `log` (printf format) as `<pid>.log` in the record
/// directory, as the recorder would.
fn writes_log(pid: u32, log: &str) -> String {
    format!("printf '{log}' > \"$MMLAB_RECORD_DIR/{pid}.log\"")
}

#[test]
fn a_command_that_cannot_start_exits_2() {
    let dir = scratch("nostart");
    let recorder = dummy_recorder(&dir);
    let out = mdriver(&["record", "--recorder", &recorder, "--", "/nonexistent/program", "-x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mdriver: error: cannot run /nonexistent/program:"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_recorder_exits_2() {
    let out = mdriver(&["record", "--recorder", "/nonexistent/libmm_preload.so", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--recorder /nonexistent/libmm_preload.so:"), "{stderr}");
}

#[test]
fn a_recorded_log_becomes_the_trace_on_stdout() {
    let dir = scratch("stdout");
    let recorder = dummy_recorder(&dir);
    let log = "# mmlab-record 1 pid 123 exe /usr/bin/my prog\\nm 24 10\\nc 2 8 20\\nr 10 100 30\\nf 20\\nf 999\\nm 5 40\\n";
    let out = mdriver(&["record", "--recorder", &recorder, "--", "sh", "-c", &writes_log(123, log)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "116\n3\n7\n1\na 0 24\na 1 16\nr 0 100\nf 1\na 2 5\nf 0\nf 2\n"
    );
    for needle in
        ["* pid 123  6 events  /usr/bin/my prog", "7 ops, 3 ids, peak 116 live bytes, 1 foreign frees"]
    {
        assert!(stderr.contains(needle), "missing {needle:?} in\n{stderr}");
    }
    assert!(!stderr.contains("--max-heap"), "a small trace needs no --max-heap: {stderr}");
}

/// A run that failed recorded the failure (a compile stopped at a missing header), not
/// the program: an error with no trace written, unless --allow-failure asks for it.
#[test]
fn a_failed_command_writes_no_trace_unless_allowed() {
    let dir = scratch("failed");
    let recorder = dummy_recorder(&dir);
    let output = dir.join("failed.rep");
    let script = format!("{}; exit 3", writes_log(7, "# mmlab-record 1 pid 7 exe /bin/cc1\\nm 24 10\\n"));
    let run = |extra: &[&str]| {
        let mut args = vec!["record", "--recorder", &recorder, "-o", output.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        mdriver(&args)
    };
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sh failed (exit status: 3), so no trace was written"), "{stderr}");
    assert!(stderr.contains("--allow-failure"), "{stderr}");
    assert!(!output.exists(), "a trace was written for a failed run");

    let out = run(&["--allow-failure"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: sh failed (exit status: 3); converting what it recorded"), "{stderr}");
    assert_eq!(Trace::read(&output).unwrap().ops, vec![a(0, 24), f(0)]);
}

/// The recorder writes its header when it is loaded, so a program that allocates
/// nothing is told apart from a recorder that was never loaded.
#[test]
fn a_program_that_makes_no_allocation_is_named_as_such() {
    let dir = scratch("noalloc");
    let recorder = dummy_recorder(&dir);
    let script = writes_log(8, "# mmlab-record 1 pid 8 exe /usr/bin/true\\n");
    let out = mdriver(&["record", "--recorder", &recorder, "--", "sh", "-c", &script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "sh made no allocation: the recorder was loaded (1 process image: true) but saw no malloc"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("was the recorder"), "{stderr}");
}

/// Many process images (a shell script's) are summarized, the chosen one always shown.
#[test]
fn many_process_images_are_summarized() {
    let dir = scratch("many");
    let recorder = dummy_recorder(&dir);
    let mut logs: Vec<String> = (100..130)
        .map(|pid| writes_log(pid, &format!("# mmlab-record 1 pid {pid} exe /bin/sh\\nm 1 10\\n")))
        .collect();
    logs.push(writes_log(200, "# mmlab-record 1 pid 200 exe /usr/bin/env\\n"));
    logs.push(writes_log(300, "# mmlab-record 1 pid 300 exe /usr/bin/sort\\nm 1 10\\nm 2 20\\n"));
    let out = mdriver(&["record", "--recorder", &recorder, "--", "sh", "-c", &logs.join("; ")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let listed = stderr.lines().filter(|l| l.contains(" events  ")).count();
    assert_eq!(listed, 8, "{stderr}");
    assert!(stderr.contains("process images recorded: 32"), "{stderr}");
    assert!(stderr.contains("* pid 300  2 events  /usr/bin/sort"), "{stderr}");
    assert!(stderr.contains("... and 24 more with 23 events in all: 23 x sh, 1 x env"), "{stderr}");
}

/// A recording bigger than half the default heap comes with the --max-heap to race it.
#[test]
fn a_large_recording_suggests_a_max_heap() {
    let dir = scratch("large");
    let recorder = dummy_recorder(&dir);
    // 12 MiB live in one block: twice the peak is over the default 20 MiB heap, and a
    // buddy wants four times the largest request (48 MiB, so 64 MiB).
    let script = writes_log(9, "# mmlab-record 1 pid 9 exe /bin/big\\nm 12582912 10\\n");
    let out = mdriver(&["record", "--recorder", &recorder, "--", "sh", "-c", &script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the trace holds 12582912 bytes live at its peak")
            && stderr.contains("--max-heap 67108864"),
        "{stderr}"
    );
}

#[test]
fn the_largest_image_is_chosen_unless_exe_says_otherwise_and_logs_can_be_kept() {
    let dir = scratch("choose");
    let recorder = dummy_recorder(&dir);
    let output = dir.join("out.rep");
    let kept = dir.join("kept");
    // pid 5 runs sh, then execs ls (two segments in one file); pid 6 runs a big sort.
    let script = [
        writes_log(5, "# mmlab-record 1 pid 5 exe /bin/sh\\nm 8 10\\nm 9 20\\n# mmlab-record 1 pid 5 exe /bin/ls\\nm 1 10\\n"),
        writes_log(6, "# mmlab-record 1 pid 6 exe /usr/bin/sort\\nm 1 10\\nm 2 20\\nm 3 30\\nf 20\\n"),
    ]
    .join("; ");
    let run = |extra: &[&str]| {
        let mut args = vec!["record", "--recorder", &recorder, "-o", output.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        mdriver(&args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "the trace went to -o");
    let trace = Trace::read(&output).unwrap();
    assert_eq!(trace.name, "out");
    assert_eq!(trace.ops, vec![a(0, 1), a(1, 2), a(2, 3), f(1), f(0), f(2)]);

    let out = run(&["--exe", "sh", "--keep-logs", kept.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(Trace::read(&output).unwrap().ops, vec![a(0, 8), a(1, 9), f(0), f(1)]);
    assert!(stderr.contains("process images recorded: 3"), "{stderr}");
    assert!(stderr.contains("* pid 5  2 events  /bin/sh"), "{stderr}");
    assert!(kept.join("5.log").is_file() && kept.join("6.log").is_file());

    let out = run(&["--exe", "bash"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--exe bash: no recorded process ran an executable of that name (recorded: ls, sh, sort)"
        ),
        "{stderr}"
    );
}

#[test]
fn the_program_gets_the_recorder_preloaded_first_and_the_log_directory_is_removed() {
    let dir = scratch("env");
    let recorder = dummy_recorder(&dir);
    // The "program" reports its environment in the exe field of its header.
    let script = "printf '# mmlab-record 1 pid 9 exe %s|%s\\nm 1 10\\n' \"$LD_PRELOAD\" \"$MMLAB_RECORD_DIR\" \
                  > \"$MMLAB_RECORD_DIR/9.log\"";
    let out = Command::new(env!("CARGO_BIN_EXE_mdriver"))
        .args(["record", "--recorder", &recorder, "--", "sh", "-c", script])
        .env("LD_PRELOAD", "/nonexistent/other.so")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("* pid 9")).expect("the segment is listed");
    let reported = line.split("events  ").nth(1).unwrap();
    let (preload, record_dir) = reported.split_once('|').unwrap();
    let recorder = std::fs::canonicalize(&recorder).unwrap();
    assert_eq!(preload, format!("{}:/nonexistent/other.so", recorder.display()));
    assert!(!Path::new(record_dir).exists(), "the log directory {record_dir} was not removed");
}

#[test]
fn nothing_recorded_and_malformed_logs_exit_2() {
    let dir = scratch("bad");
    let recorder = dummy_recorder(&dir);
    let out = mdriver(&["record", "--recorder", &recorder, "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing was recorded"), "{stderr}");

    let kept = dir.join("kept");
    let script = writes_log(4, "# mmlab-record 1 pid 4 exe x\\nm 1 10\\nm one 20\\n");
    let out = mdriver(&[
        "record",
        "--recorder",
        &recorder,
        "--keep-logs",
        kept.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The error names the kept copy, which is there to look at.
    let kept_log = kept.join("4.log");
    assert!(
        stderr.contains(&format!("{}:3: size: expected a decimal number", kept_log.display())),
        "{stderr}"
    );
    assert!(kept_log.is_file());
}

#[test]
fn a_failed_build_of_the_recorder_exits_2_and_names_the_command() {
    // Without --recorder or $MMLAB_RECORDER, mdriver builds the workspace's recorder if
    // it is missing. A stand-in cargo that fails shows the error without a real build.
    let default =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/recorder/release/libmm_preload.so"));
    if default.exists() {
        eprintln!("skipped: {} exists, so nothing would be built", default.display());
        return;
    }
    let dir = scratch("build");
    let cargo = dir.join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\necho on-stdout\necho \"fake cargo: $*\" >&2\nexit 101\n").unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mdriver"))
        .args(["record", "--", "true"])
        .env_remove("MMLAB_RECORDER")
        .env("CARGO", &cargo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let command = "build --release -p mm-preload --no-default-features --features record --target-dir";
    assert!(stderr.contains(&format!("fake cargo: {command}")), "{stderr}");
    assert!(
        stderr.contains("building the recorder failed (exit status: 101); the command was `"),
        "{stderr}"
    );
    // Cargo's stdout must not end up where the trace goes.
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("on-stdout"));
}
