//! The `mdriver` binary's interface: exit statuses, error messages, output formats and
//! the `gen` subcommand, run as a user would run them.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn mdriver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdriver")).args(args).output().expect("mdriver runs")
}

/// A scratch directory unique to one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdriver-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const SMALL: &str = "0\n3\n7\n1\na 0 40\na 1 24\nr 0 100\na 2 8\nf 1\nf 2\nr 0 0\n";

#[test]
fn a_correct_race_exits_zero_and_prints_every_table() {
    let dir = scratch("ok");
    let file = write(&dir, "small.rep", SMALL);
    let out = mdriver(&["-f", &file, "--reps", "1", "--check-heap", "-v"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["Utilization", "Throughput", "Summary", "Per-run detail", "implicit", "libc", "small"] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}

#[test]
fn json_has_the_documented_fields() {
    let dir = scratch("json");
    let file = write(&dir, "small.rep", SMALL);
    let out = mdriver(&["-f", &file, "--reps", "1", "--format", "json", "-s", "implicit", "-s", "libc"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for field in ["strategy", "trace", "ops", "correct", "error", "util", "secs", "kops"] {
        assert!(runs[0].get(field).is_some(), "runs[] lacks {field}");
    }
    assert_eq!(runs[0]["strategy"], "implicit");
    assert_eq!(runs[0]["trace"], "small");
    assert_eq!(runs[0]["ops"], 7);
    assert_eq!(runs[0]["correct"], true);
    assert!(runs[0]["error"].is_null());
    assert!(runs[1]["util"].is_null(), "libc has no utilization");
    let (util, bound) = (runs[0]["util"].as_f64().unwrap(), runs[0]["util_bound"].as_f64().unwrap());
    assert!(util <= bound && bound <= 1.0, "util {util} cannot beat the alignment bound {bound}");
    let summary = json["summary"].as_array().unwrap();
    for field in ["strategy", "avg_util", "avg_util_bound", "kops", "thru_ratio_vs_libc", "perf_index"] {
        assert!(summary[0].get(field).is_some(), "summary[] lacks {field}");
    }
    let index = summary[0]["perf_index"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&index));
    assert!(summary[1]["avg_util"].is_null() && summary[1]["perf_index"].is_null());
}

#[test]
fn libc_is_measured_but_not_listed_when_not_selected() {
    let dir = scratch("nolibc");
    let file = write(&dir, "small.rep", SMALL);
    let out = mdriver(&["-f", &file, "--reps", "1", "--format", "json", "-s", "implicit"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 1);
    assert!(json["summary"][0]["thru_ratio_vs_libc"].as_f64().is_some());
}

#[test]
fn csv_and_markdown_render() {
    let dir = scratch("csv");
    let file = write(&dir, "small.rep", SMALL);
    let out = mdriver(&["-f", &file, "--reps", "1", "--format", "csv"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut sections = text.split("\n\n");
    let runs = sections.next().unwrap();
    assert!(runs.starts_with("strategy,trace,ops,correct,error,util,util_bound,secs,kops"), "{text}");
    assert!(sections.next().unwrap().starts_with("strategy,description,correct"), "{text}");
    let out = mdriver(&["-f", &file, "--reps", "1", "--format", "markdown"]);
    let text = String::from_utf8(out.stdout).unwrap();
    // The default race's columns: implicit first, libc last, the other strategies between.
    assert!(text.contains("| trace | ops | implicit |") && text.contains(" | libc |\n"), "{text}");
}

#[test]
fn malformed_traces_exit_two_naming_file_and_line() {
    let dir = scratch("bad");
    let file = write(&dir, "bad.rep", "0\n2\n2\n1\na 0 8\nf 1\n");
    for format in ["table", "json"] {
        let out = mdriver(&["-f", &file, "--format", format]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{file}:6: 'f' on id 1, which is not live (never allocated)")),
            "{stderr}"
        );
        if format == "json" {
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON even on error");
            assert!(json["error"].as_str().unwrap().contains("bad.rep:6"));
        }
    }
}

#[test]
fn usage_errors_exit_two() {
    let missing = mdriver(&["-f", "/nonexistent/trace.rep"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/trace.rep"));
    let unknown = mdriver(&["-s", "no-such-strategy"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("implicit"), "the valid names are listed");
    let align = mdriver(&["--align", "12"]);
    assert_eq!(align.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&align.stderr).contains("alignment 12 is not a power of two"));
    let empty = scratch("empty");
    let out = mdriver(&["-t", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .rep trace files"));
}

#[test]
fn exhausting_a_small_heap_is_reported_not_a_crash() {
    let dir = scratch("oom");
    let file = write(&dir, "big.rep", "0\n1\n1\n1\na 0 100000\n");
    let out = mdriver(&["-f", &file, "--max-heap", "65536", "-s", "implicit", "--reps", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("implicit on trace big: op 0 (a 0 100000): malloc(100000) returned null"),
        "{stdout}"
    );
}

#[test]
fn gen_writes_a_valid_deterministic_trace() {
    let dir = scratch("gen");
    let path = dir.join("g.rep");
    let out = mdriver(&[
        "gen",
        "--workload",
        "random",
        "--seed",
        "7",
        "--ops",
        "500",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = mdriver(&["gen", "--workload", "random", "--seed", "7", "--ops", "500"]).stdout;
    assert_eq!(std::fs::read(&path).unwrap(), stdout, "the file and stdout agree");
    let trace = mm_trace::Trace::parse("g.rep", &stdout).unwrap();
    assert_eq!(trace.ops.len(), 500);
    let bad = mdriver(&["gen", "--workload", "nope", "--seed", "1", "--ops", "10"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("random"), "valid workloads are named");
}

#[test]
fn the_bundled_suite_is_embedded() {
    assert!(mdriver::traces::BUNDLED_TRACES.len() >= 10);
    let traces = mdriver::traces::bundled().expect("the bundled traces parse");
    assert_eq!(traces.len(), mdriver::traces::BUNDLED_TRACES.len());
}

#[test]
fn errors_quote_a_huge_line_cut_short() {
    // One 8 MB size field: the error must not write it back.
    let dir = scratch("longline");
    let long = "7".repeat(8 << 20);
    let file = write(&dir, "long.rep", &format!("0\n1\n1\n1\na 0 {long}\n"));
    let out = mdriver(&["-f", &file, "-s", "implicit", "--reps", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.len() < 1024, "{} bytes of error message", stderr.len());
    assert!(stderr.contains(&format!("{file}:5: size: expected a non-negative integer")), "{stderr}");
    assert!(stderr.contains(&format!("found \"{}…\" (8388608 bytes)", &long[..40])), "{stderr}");
    // Eight megabytes is too much to leave behind in the temp dir.
    let _ = std::fs::remove_dir_all(&dir);
}

/// The header's `num_ids` is a claim. Believed, 10^12 ids made the driver abort out of
/// memory (exit 134), a 37-byte trace naming id 10^12 - 1 aborted the parser, and
/// 10^8 ids for two ops took six minutes and 2.4 GB, timing a walk of empty slots.
/// Each is now a malformed trace: exit 2, naming the file and the num_ids line.
#[test]
fn an_implausible_num_ids_is_a_malformed_trace() {
    let dir = scratch("numids");
    let cases = [
        ("huge-num-ids.rep", "20000\n1000000000000\n2\n1\na 0 8\nf 0\n", "num_ids 1000000000000", 2),
        ("huge-id.rep", "0\n1000000000000\n1\n1\na 999999999999 8\n", "num_ids 1000000000000", 1),
        ("many-ids.rep", "0\n100000000\n2\n1\na 0 8\nf 0\n", "num_ids 100000000", 2),
    ];
    for (name, text, claim, ops) in cases {
        let file = write(&dir, name, text);
        let out = mdriver(&["-f", &file, "-s", "segregated", "-s", "libc", "--reps", "1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{file}:2: {claim} is implausible for {ops} operations")),
            "{name}: {stderr}"
        );
    }
    // The 37-byte trace itself, as the issue gave it.
    assert_eq!(cases[1].1.len(), 37);
}

/// Runs `mdriver` and returns its exit code and its peak resident memory in bytes, from
/// the kernel's accounting of that one child (`wait4`; Linux counts in KiB).
#[cfg(target_os = "linux")]
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4, which also reports its usage")]
fn exit_and_peak_rss(args: &[&str]) -> (Option<i32>, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_mdriver"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mdriver runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; both out-pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, usage.ru_maxrss as u64 * 1024)
}

/// `--max-heap` is address space, not memory: the heaps are reserved lazily, so four
/// strategies at 8 GiB each cost what the trace uses. (Allocated up front, they asked
/// for 32 GiB of RAM before the first op and were killed by the OOM killer.)
#[cfg(target_os = "linux")]
#[test]
fn a_large_max_heap_costs_only_what_is_used() {
    let dir = scratch("maxheap");
    let file = write(&dir, "small.rep", SMALL);
    let mut args = vec!["-f", &file, "--reps", "1", "--max-heap", "8589934592"];
    for strategy in ["implicit", "explicit", "segregated", "buddy"] {
        args.extend(["-s", strategy]);
    }
    let (code, peak) = exit_and_peak_rss(&args);
    assert_eq!(code, Some(0), "the race over an 8 GiB heap per strategy failed");
    assert!(peak < 256 << 20, "peak resident memory {peak} bytes for a 7-op trace");
}

/// The ends of `--max-heap`: 64 GiB per strategy is only address space and races; a
/// size no reservation can meet, or no heap can have, is a usage error naming the flag.
#[test]
fn max_heap_extremes_race_or_exit_two() {
    let dir = scratch("maxheap-ends");
    let file = write(&dir, "small.rep", SMALL);
    let mut base = vec!["-f", &file, "--reps", "1", "-s", "segregated", "-s", "buddy"];
    // The peers take their heaps from the driver too.
    if cfg!(feature = "peers") {
        base.extend(["-s", "talc", "-s", "dlmalloc"]);
    }
    let race = |max_heap: &str| mdriver(&[&base[..], &["--max-heap", max_heap]].concat());
    let out = race("68719476736");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for (max_heap, message) in [
        (
            "4611686018427387904",
            "--max-heap: could not reserve 4611686018427387904 bytes for the simulated heap",
        ),
        ("18446744073709551615", "--max-heap: invalid maximum heap size 18446744073709551615 bytes"),
        ("0", "--max-heap: invalid maximum heap size 0 bytes"),
    ] {
        let out = race(max_heap);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--max-heap {max_heap}: {stderr}");
        assert!(stderr.contains(message), "--max-heap {max_heap}: {stderr}");
    }
}

/// A size no allocator can serve is the trace's fault, not every strategy's: the
/// system malloc refuses it too, so the trace is rejected (exit 2) naming the op's
/// line. (Before, every strategy and libc were reported incorrect, exit 1.)
#[test]
fn a_request_libc_refuses_too_is_the_traces_fault() {
    let dir = scratch("nearmax");
    // 2^63 bytes, after a blank line, so the op's line is not its index + 5.
    let file = write(&dir, "size-near-max.rep", "0\n2\n3\n1\na 0 8\n\na 1 9223372036854775808\nf 0\n");
    for (format, strategies) in [("table", &["-s", "segregated", "-s", "libc"][..]), ("json", &[][..])] {
        let out = mdriver(&[&["-f", &file, "--reps", "1", "--format", format][..], strategies].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{file}:7: op 1 (a 1 9223372036854775808) asks for more memory than any allocator \
                 can give: the system malloc refuses it too"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("incorrect"), "no strategy is blamed: {stderr}");
    }
    // heapmap reads its trace the same way.
    let out = mdriver(&["heapmap", "-s", "segregated", "-t", &file, "-o", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // A request libc serves but a small heap cannot is still the strategy's failure.
    let big = write(&dir, "big.rep", "0\n1\n1\n1\na 0 1048576\n");
    let out = mdriver(&["-f", &big, "--max-heap", "65536", "-s", "segregated", "--reps", "1"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Counts that were accepted and then aborted out of memory are bounded, with a
/// message naming the flag and its range.
#[test]
fn runaway_counts_are_usage_errors() {
    let dir = scratch("counts");
    let file = write(&dir, "small.rep", SMALL);
    let reps = mdriver(&["-f", &file, "-s", "implicit", "--reps", "4294967295"]);
    let stderr = String::from_utf8_lossy(&reps.stderr);
    assert_eq!(reps.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--reps") && stderr.contains("4294967295 is not in 1..=1000"), "{stderr}");
    let ops = mdriver(&["gen", "--workload", "random", "--seed", "1", "--ops", "18446744073709551615"]);
    let stderr = String::from_utf8_lossy(&ops.stderr);
    assert_eq!(ops.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--ops") && stderr.contains("18446744073709551615 is not in 0..=100000000"),
        "{stderr}"
    );
    assert!(ops.stdout.is_empty(), "nothing is generated");
}

#[test]
fn a_strategy_named_twice_is_raced_once() {
    let dir = scratch("twice");
    let file = write(&dir, "small.rep", SMALL);
    let args = [
        "-f",
        &file,
        "--reps",
        "1",
        "--format",
        "json",
        "-s",
        "segregated",
        "-s",
        "libc",
        "-s",
        "segregated",
    ];
    let out = mdriver(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: strategy segregated is named more than once; it is raced once"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let strategies = |key: &str| -> Vec<String> {
        json[key].as_array().unwrap().iter().map(|r| r["strategy"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(strategies("runs"), ["segregated", "libc"]);
    assert_eq!(strategies("summary"), ["segregated", "libc"]);
    assert_eq!(json["summary"][0]["traces"], 1, "one run counted once");
}

#[test]
fn an_alignment_out_of_range_says_the_range() {
    for (align, message) in [
        ("8192", "--align: alignment 8192 is out of range: it must be a power of two from 8 to 4096"),
        ("4", "--align: alignment 4 is out of range: it must be a power of two from 8 to 4096"),
        ("12", "--align: alignment 12 is not a power of two (it must be a power of two from 8 to 4096)"),
    ] {
        let out = mdriver(&["--align", align, "-s", "implicit"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
}

/// A trace with no operations measures nothing: it used to score a utilization of 0, a
/// `NaNx` throughput ratio and a perf index of 40.0. It is left out with a note; with
/// nothing else to race, that is an error.
#[test]
fn a_trace_with_no_operations_is_left_out_with_a_note() {
    let dir = scratch("zero-ops");
    let empty = write(&dir, "empty.rep", "0\n0\n0\n1\n");
    let real = write(&dir, "real.rep", "0\n1\n2\n1\na 0 16\nf 0\n");
    let out = mdriver(&[
        "-f",
        &empty,
        "-f",
        &real,
        "-s",
        "segregated",
        "-s",
        "libc",
        "--reps",
        "1",
        "--format",
        "json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("trace empty has no operations"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["traces"].as_array().map(Vec::len), Some(1), "{json}");
    for row in json["summary"].as_array().unwrap() {
        let ratio = &row["thru_ratio_vs_libc"];
        assert!(ratio.as_f64().is_some_and(f64::is_finite), "{row}");
    }
    let alone = mdriver(&["-f", &empty, "--reps", "1"]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&alone.stderr).contains("no trace to race"));
}

/// Two trace files with the same stem used to share their rows (both showed the first
/// one's values) and to count its runs twice in the summary. Each is now named by its
/// path, every row is its own, and the summary's throughput is its runs' total ops over
/// their total time.
#[test]
fn traces_with_the_same_stem_keep_their_own_rows() {
    let dir = scratch("same-stem");
    std::fs::create_dir_all(dir.join("d1")).unwrap();
    std::fs::create_dir_all(dir.join("d2")).unwrap();
    let small = write(&dir.join("d1"), "x.rep", "0\n1\n2\n1\na 0 16\nf 0\n");
    let mut ops = String::from("0\n3\n9\n1\n");
    for id in 0..3 {
        ops += &format!("a {id} {}\n", 1000 * (id + 1));
    }
    for id in 0..3 {
        ops += &format!("r {id} 40\nf {id}\n");
    }
    let large = write(&dir.join("d2"), "x.rep", &ops);
    let out = mdriver(&["-f", &small, "-f", &large, "-s", "segregated", "--reps", "1", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs: Vec<&serde_json::Value> =
        json["runs"].as_array().unwrap().iter().filter(|r| r["strategy"] == "segregated").collect();
    let names: Vec<&str> = runs.iter().map(|r| r["trace"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1], "{names:?}");
    assert!(names[0].ends_with("d1/x") && names[1].ends_with("d2/x"), "{names:?}");
    assert_eq!((runs[0]["ops"].as_u64(), runs[1]["ops"].as_u64()), (Some(2), Some(9)));
    let total_ops: f64 = runs.iter().map(|r| r["ops"].as_f64().unwrap()).sum();
    let total_secs: f64 = runs.iter().map(|r| r["secs"].as_f64().unwrap()).sum();
    let summary = json["summary"].as_array().unwrap().iter().find(|s| s["strategy"] == "segregated").unwrap();
    let kops = summary["kops"].as_f64().unwrap();
    let expected = total_ops / total_secs / 1000.0;
    assert!((kops - expected).abs() <= 1e-9 * expected, "summary {kops} vs runs {expected}");

    let twice = mdriver(&["-f", &small, "-f", &small, "--reps", "1"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("is named twice"));
}

/// `mdriver list | head`: a reader that goes away ends mdriver quietly (SIGPIPE, as
/// Unix tools do), not with a panic and exit 101.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdriver"))
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before mdriver writes
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && out.status.code() != Some(101), "{:?}: {stderr}", out.status);
}

/// A trace whose live payload outgrows `--max-heap` fails every strategy with "out of
/// memory?"; the driver says why before racing, and what to try.
#[test]
fn a_trace_bigger_than_the_heap_is_named_before_the_race() {
    let dir = scratch("too-big");
    let big = write(&dir, "big.rep", "0\n2\n4\n1\na 0 6000\na 1 6000\nf 0\nf 1\n");
    let out = mdriver(&["-f", &big, "-s", "segregated", "--max-heap", "8192", "--reps", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("trace big holds 12000 bytes live at its peak, more than the heap's 8192"),
        "{stderr}"
    );
    assert!(stderr.contains("try --max-heap 32768"), "{stderr}");
    let fits = mdriver(&["-f", &big, "-s", "segregated", "--reps", "1"]);
    assert!(!String::from_utf8_lossy(&fits.stderr).contains("at its peak"));
}

/// The lines of `text` longer than the 120 columns the text output is laid out for.
fn overlong(text: &str) -> Vec<&str> {
    text.lines().filter(|line| line.chars().count() > 120).collect()
}

/// The cells of each per-trace table (`Utilization`, `Throughput`) of a text race, as
/// (strategy, trace, value), read from every block of columns.
fn matrix_cells(stdout: &str, title: &str) -> Vec<(String, String, String)> {
    let rest =
        stdout.split(&format!("\n{title} ")).nth(1).unwrap_or_else(|| panic!("no {title} in\n{stdout}"));
    // The table's blocks: the first under the title, then each a blank line on.
    let blocks = rest.split("\n\n").enumerate().take_while(|(i, b)| *i == 0 || b.starts_with("  trace "));
    let mut cells = Vec::new();
    for (_, block) in blocks {
        let mut lines = block.lines().skip_while(|l| !l.starts_with("  trace "));
        let Some(headings) = lines.next() else { continue };
        let headings: Vec<&str> = headings.split_whitespace().skip(2).collect();
        for line in lines {
            let row: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(row.len(), headings.len() + 2, "a cell per heading: {line:?} in\n{block}");
            for (strategy, value) in headings.iter().zip(&row[2..]) {
                cells.push(((*strategy).to_owned(), row[0].to_owned(), (*value).to_owned()));
            }
        }
    }
    cells
}

/// The default race, on a trace named as long as the longest bundled trace's name, fits
/// 120 columns: the per-trace tables are split into blocks of columns and the summary
/// leaves the policies out. (Its tables were 121 and 125 columns wide, the summary 188.)
#[test]
fn the_default_race_fits_120_columns() {
    let dir = scratch("width-default");
    let bundled = mdriver::traces::bundled().unwrap();
    let longest = bundled.iter().map(|t| t.name.as_str()).max_by_key(|n| n.len()).unwrap();
    let file = write(&dir, &format!("{longest}.rep"), SMALL);
    let out = mdriver(&["-f", &file, "--reps", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(overlong(&stdout), Vec::<&str>::new(), "in\n{stdout}");
    for title in ["Utilization", "Throughput"] {
        let strategies: Vec<String> = matrix_cells(&stdout, title).into_iter().map(|(s, _, _)| s).collect();
        assert_eq!(strategies, mdriver::registry::default_names(), "{title} in\n{stdout}");
    }
}

/// Every strategy at once (fourteen with the peers) still fits 120 columns, and every
/// strategy's value for every trace is shown, once, under its heading.
#[test]
fn every_strategy_at_once_fits_120_columns_and_shows_every_value() {
    let dir = scratch("width-all");
    let small = write(&dir, "small.rep", SMALL);
    let other = write(&dir, "realloc-shrink-small.rep", "0\n2\n4\n1\na 0 16\na 1 24\nf 0\nf 1\n");
    let names = mdriver::registry::all_names();
    let mut args = vec!["-f", &small, "-f", &other, "--reps", "1"];
    for name in &names {
        args.extend(["-s", name]);
    }
    let out = mdriver(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(overlong(&stdout), Vec::<&str>::new(), "in\n{stdout}");
    for title in ["Utilization", "Throughput"] {
        let cells = matrix_cells(&stdout, title);
        let mut expected = Vec::new();
        for name in &names {
            for trace in ["small", "realloc-shrink-small"] {
                expected.push((name.to_string(), trace.to_owned()));
            }
        }
        let mut shown: Vec<(String, String)> = cells.iter().map(|(s, t, _)| (s.clone(), t.clone())).collect();
        shown.sort();
        expected.sort();
        assert_eq!(shown, expected, "{title}: every strategy on every trace, once, in\n{stdout}");
        for (strategy, trace, value) in &cells {
            let libc_util = title == "Utilization" && strategy == "libc" && value == "-";
            assert!(libc_util || value.parse::<f64>().is_ok(), "{title}: {strategy} on {trace}: {value:?}");
        }
    }
}

/// `mdriver list` wraps its descriptions at 120 columns under the description column
/// (they ran to 133).
#[test]
fn list_fits_120_columns() {
    let out = mdriver(&["list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(overlong(&stdout), Vec::<&str>::new(), "in\n{stdout}");
    for name in mdriver::registry::all_names() {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("  {name:<18} "))), "{name} in\n{stdout}");
    }
    let strategies = stdout.split("\n\n").next().unwrap();
    for line in strategies.lines().skip(1).filter(|l| l.starts_with("   ")) {
        assert!(line.starts_with(&" ".repeat(21)) && !line[21..].starts_with(' '), "{line:?} in\n{stdout}");
    }
}

/// The summary has no policy column; `-v` lists each strategy's policy under it, whole.
#[test]
fn verbose_lists_the_policies_and_the_default_does_not() {
    let dir = scratch("policies");
    let file = write(&dir, "small.rep", SMALL);
    let race = |extra: &[&str]| {
        let out = mdriver(
            &[&["-f", &file, "--reps", "1", "-s", "segregated", "-s", "talc", "-s", "libc"], extra].concat(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&race(&["--format", "json"])).unwrap();
    let policies: Vec<(String, String)> = json["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["strategy"].as_str().unwrap().to_owned(), s["description"].as_str().unwrap().to_owned()))
        .collect();
    let quiet = race(&[]);
    assert!(!quiet.contains("policy") && !quiet.contains("Policies"), "{quiet}");
    let verbose = race(&["-v"]);
    assert_eq!(overlong(&verbose), Vec::<&str>::new(), "in\n{verbose}");
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let listed = words(verbose.split("\nPolicies\n").nth(1).unwrap_or_else(|| panic!("{verbose}")));
    for (name, description) in &policies {
        assert!(!quiet.contains(description.as_str()), "{name}'s policy without -v:\n{quiet}");
        assert!(listed.contains(&format!("{name} {}", words(description))), "{name}'s policy in\n{verbose}");
    }
}

#[test]
fn a_bundled_trace_is_raced_by_its_name_and_a_wrong_name_lists_them() {
    let out = mdriver(&["-f", "realloc-1", "-s", "buddy", "--reps", "1", "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("buddy,realloc-1,6000,true"));
    let out = mdriver(&["-f", "realloc-2", "-s", "buddy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("realloc-2: no such file, and no bundled trace has that name (bundled: binary-1,"),
        "{err}"
    );
    // A path with a directory is a file, never a bundled name.
    let out = mdriver(&["-f", "traces/realloc-2", "-s", "buddy"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("bundled"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn heapmap_of_libc_says_why_it_cannot_be_drawn() {
    let out = mdriver(&["heapmap", "-s", "libc", "-t", "churn-3", "-o", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("libc cannot be mapped: the driver cannot see inside the system malloc's heap"),
        "{err}"
    );
    assert!(!err.contains("similar value"), "{err}");
}
