//! C allocators as strategies (`mdriver -s c:PATH`), run as a user runs them: the C
//! fixtures of `tests/c-allocators/` (two good allocators, and broken ones that each
//! get one thing wrong) raced next to ours, each broken one reporting its exact error
//! while the race goes on; patterns that stand for a class's submissions; shared
//! objects; heap maps; and the CSV a grader imports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small trace: ops 0..=6 are `a 0 40`, `a 1 24`, `r 0 100`, `a 2 8`, `f 1`, `f 2`,
/// `r 0 0`.
const SMALL: &str = "0\n3\n7\n1\na 0 40\na 1 24\nr 0 100\na 2 8\nf 1\nf 2\nr 0 0\n";

/// Runs mdriver with the C locale, so that the compiler's messages are the same
/// everywhere.
fn mdriver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdriver")).args(args).env("LC_ALL", "C").output().expect("mdriver runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch directory unique to one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdriver-c-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A fixture of `tests/c-allocators/`, as `c:PATH`.
fn fixture(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c-allocators").join(relative);
    assert!(path.is_file(), "{} exists", path.display());
    format!("c:{}", path.display())
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", stderr(out)))
}

/// The error of `strategy`'s only run, or `None` if it was correct.
fn error_of(report: &serde_json::Value, strategy: &str) -> Option<String> {
    let runs: Vec<&serde_json::Value> =
        report["runs"].as_array().unwrap().iter().filter(|r| r["strategy"] == strategy).collect();
    assert_eq!(runs.len(), 1, "one run of {strategy}");
    assert_eq!(runs[0]["correct"], runs[0]["error"].is_null(), "{strategy}");
    runs[0]["error"].as_str().map(str::to_owned)
}

#[test]
fn each_broken_allocator_reports_its_exact_error_and_the_race_goes_on() {
    let dir = scratch("broken");
    let trace = write(&dir, "small.rep", SMALL);
    // One more, written here: mm_init fails the way the classic lab says it may.
    let initfails = write(
        &dir,
        "initfails.c",
        "#include \"mm.h\"\n#include \"memlib.h\"\nteam_t team = {\"t\", \"n\", \"i\", \"\", \"\"};\n\
         int mm_init(void) { return -1; }\nvoid *mm_malloc(size_t s) { (void)s; return 0; }\n\
         void mm_free(void *p) { (void)p; }\nvoid *mm_realloc(void *p, size_t s) { (void)p; (void)s; return 0; }\n",
    );
    let broken = [
        "overlap",
        "misaligned",
        "outside",
        "segfault",
        "loop",
        "abort",
        "exits",
        "checkheap",
        "syntax",
        "missing",
    ];
    let mut args =
        vec!["-f", &trace, "--reps", "1", "--check-heap", "--timeout", "3", "--format", "json", "-s"];
    let specs: Vec<String> = broken.iter().map(|b| fixture(&format!("broken/{b}.c"))).collect();
    let initfails = format!("c:{initfails}");
    let good = fixture("c-implicit/mm.c");
    args.extend(specs.iter().map(String::as_str));
    args.extend([initfails.as_str(), good.as_str(), "implicit", "libc"]);
    let out = mdriver(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let exact = |strategy: &str, expected: &str| {
        assert_eq!(error_of(&report, strategy).as_deref(), Some(expected), "{strategy}");
    };
    exact(
        "overlap",
        "overlap on trace small: op 1 (a 1 24): block 1 (24 bytes at heap offset 0x10) overlaps live block 0 \
         (40 bytes at heap offset 0x8)",
    );
    exact(
        "misaligned",
        "misaligned on trace small: op 0 (a 0 40): malloc(40) returned heap offset 0xc, not aligned to 8",
    );
    let outside = error_of(&report, "outside").unwrap();
    assert!(
        outside.starts_with("outside on trace small: op 0 (a 0 40): malloc(40) returned heap offset 0x8 (0x"),
        "{outside}"
    );
    assert!(outside.contains("which does not lie wholly inside the heap ["), "{outside}");
    assert!(outside.ends_with("] (8 bytes)"), "{outside}");
    exact(
        "segfault",
        "segfault on trace small: op 4 (f 1): killed by SIGSEGV (segmentation fault) in mm_free during the checked replay",
    );
    exact(
        "loop",
        "loop on trace small: op 3 (a 2 8): stopped at --timeout 3 s in mm_malloc during the checked replay: \
         an endless loop? (raise --timeout if it is only slow)",
    );
    let abort = error_of(&report, "abort").unwrap();
    assert!(
        abort.starts_with(
            "abort on trace small: op 2 (r 0 100): killed by SIGABRT (abort) in mm_realloc during the checked \
             replay; it printed: "
        ),
        "{abort}"
    );
    assert!(
        abort.contains("mm_realloc: Assertion `size <= 64 && \"blocks never grow past 64 bytes\"' failed."),
        "the assertion's own message: {abort}"
    );
    exact(
        "exits",
        "exits on trace small: exited with status 3 in mm_init during the checked replay; it printed: \
         exits.c: mm_init: giving up",
    );
    exact(
        "checkheap",
        "checkheap on trace small: op 3 (a 2 8): mm_checkheap(0) returned 2 after this op: the allocator's own \
         heap checker says its heap is broken",
    );
    exact(
        "missing",
        "missing on trace small: does not define mm_realloc (a C allocator defines mm_init, mm_malloc, mm_free, \
         mm_realloc)",
    );
    let syntax = error_of(&report, "syntax").unwrap();
    assert!(syntax.starts_with("syntax on trace small: did not compile: "), "{syntax}");
    assert!(
        syntax.contains("syntax.c:11:") && syntax.contains("error"),
        "the compiler's first error: {syntax}"
    );
    exact("initfails", "initfails on trace small: mm_init returned -1: the allocator could not start");
    // The compiler's whole message is shown once, with the command.
    let err = stderr(&out);
    assert!(
        err.contains("mdriver: syntax: ") && err.contains("did not compile; the compiler said:"),
        "{err}"
    );
    assert!(err.contains(" -O2 -fPIC -shared -I "), "the command is shown: {err}");
    assert!(err.contains("11 |     return 0 /* the flaw */") || err.contains("syntax.c:11:"), "{err}");
    assert!(
        err.contains("mdriver: note: --check-heap checks nothing more for overlap, misaligned, outside, segfault, loop, abort, exits, initfails: no mm_checkheap defined"),
        "{err}"
    );
    // The race went on: the good C allocator, ours and libc were measured.
    for good in ["c-implicit", "implicit", "libc"] {
        assert_eq!(error_of(&report, good), None, "{good} is correct");
    }
    let summary = report["summary"].as_array().unwrap();
    let row = |name: &str| summary.iter().find(|s| s["strategy"] == name).unwrap_or_else(|| panic!("{name}"));
    assert!(row("c-implicit")["perf_index"].as_f64().is_some());
    assert!(row("c-implicit")["avg_util"].as_f64().unwrap() > 0.0);
    assert_eq!(
        row("c-implicit")["description"],
        format!("C allocator {}, team \"mmlab\" (Implicit Free List <implicit@mmlab>)", &good[2..])
    );
    assert_eq!(row("segfault")["traces_correct"], 0);
    assert!(row("segfault")["perf_index"].is_null());
    // Nothing a C allocator printed reached the report: stdout is the JSON alone.
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_c_fixtures_are_correct_on_the_whole_bundled_suite_next_to_ours() {
    let implicit = fixture("c-implicit/mm.c");
    let explicit = fixture("c-explicit/mm.c");
    let out = mdriver(&[
        "-s",
        &implicit,
        &explicit,
        "segregated",
        "--reps",
        "1",
        "--check-heap",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let traces = report["traces"].as_array().unwrap().len();
    assert!(traces >= 15, "the bundled suite: {traces} traces");
    let summary = report["summary"].as_array().unwrap();
    let names: Vec<&str> = summary.iter().map(|s| s["strategy"].as_str().unwrap()).collect();
    assert_eq!(names, ["c-implicit", "c-explicit", "segregated"], "libc is measured but not reported");
    for row in summary {
        assert_eq!(row["traces_correct"], traces, "{row}");
        let (util, ratio) = (row["avg_util"].as_f64().unwrap(), row["thru_ratio_vs_libc"].as_f64().unwrap());
        assert!(util > 0.5 && util <= 1.0 && ratio > 0.0, "{row}");
    }
}

/// A class's submissions, one directory each, named by the directory; a file named
/// like one of our strategies keeps its extension; the CSV's summary has one row each.
#[test]
fn a_pattern_races_every_submission_and_the_csv_has_a_row_each() {
    let dir = scratch("class");
    let implicit = std::fs::read_to_string(&fixture("c-implicit/mm.c")[2..]).unwrap();
    let explicit = std::fs::read_to_string(&fixture("c-explicit/mm.c")[2..]).unwrap();
    let segfault = std::fs::read_to_string(&fixture("broken/segfault.c")[2..]).unwrap();
    write(&dir, "submissions/alice/mm.c", &implicit);
    write(&dir, "submissions/bob/mm.c", &explicit);
    write(&dir, "submissions/carol/mm.c", &segfault);
    write(&dir, "submissions/notes.txt", "not a submission");
    let ours = write(&dir, "implicit.c", &implicit);
    let trace = write(&dir, "small.rep", SMALL);
    // As a shell passes it on: the pattern names no file as a whole word, so it is
    // left for mdriver to expand.
    let pattern = format!("c:{}/submissions/*/mm.c", dir.display());
    let named_twice = format!("c:{}/submissions/alice/../alice/mm.c", dir.display());
    let ours = format!("c:{ours}");
    let out = mdriver(&[
        "-f",
        &trace,
        "--reps",
        "1",
        "--format",
        "csv",
        "-s",
        &pattern,
        &named_twice,
        &ours,
        "implicit",
    ]);
    assert_eq!(out.status.code(), Some(1), "carol's crashes: {}", stderr(&out));
    assert!(stderr(&out).contains("is named more than once; it is raced once"), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let (runs, summary) = text.split_once("\n\n").expect("runs, a blank line, the summary");
    let mut reader = csv::Reader::from_reader(summary.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let names: Vec<&str> = rows.iter().map(|r| &r[column("strategy")]).collect();
    assert_eq!(names, ["alice", "bob", "carol", "implicit.c", "implicit"]);
    for row in &rows {
        let correct = &row[column("correct")] == "true";
        assert_eq!(correct, &row[0] != "carol", "{row:?}");
        assert_eq!(row[column("perf_index")].is_empty(), !correct, "{row:?}");
    }
    assert!(
        runs.lines().any(|l| l.starts_with("carol,small,7,false,") && l.contains("killed by SIGSEGV")),
        "{runs}"
    );
    // A pattern that matches nothing is a usage error.
    let out = mdriver(&["-f", &trace, "-s", &format!("c:{}/submissions/*/nope.c", dir.display())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/submissions/*/nope.c: no file matches"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shared_object_is_raced_and_a_c_allocator_has_a_heap_map() {
    let dir = scratch("shared");
    let trace = write(&dir, "small.rep", SMALL);
    let object = dir.join("libexplicit.so");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()))
        .args(["-O2", "-fPIC", "-shared", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&object)
        .arg(&fixture("c-explicit/mm.c")[2..])
        .status()
        .expect("a C compiler runs");
    assert!(status.success());
    let spec = format!("c:{}", object.display());
    let out =
        mdriver(&["-f", &trace, "--reps", "1", "--format", "json", "--check-heap", "-s", &spec, "explicit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    // `libexplicit.so` is `explicit` less its `lib`, which is ours: it keeps its file name.
    assert_eq!(error_of(&report, "libexplicit.so"), None);
    assert_eq!(error_of(&report, "explicit"), None);

    let svg = dir.join("map.svg");
    let out =
        mdriver(&["heapmap", "-s", &spec, "-t", &trace, "--at", "op:3,end", "-o", svg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("op 3 (after 3 of 7 ops): payload 124, unknown "), "{err}");
    assert!(
        err.contains("libexplicit.so does not describe its heap: only the requested payloads are known"),
        "{err}"
    );
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.contains("Heap map: libexplicit.so on small") && drawn.contains("unknown: free or overhead")
    );

    // A crash while mapping is the allocator's error, not the driver's.
    let segfault = fixture("broken/segfault.c");
    let out = mdriver(&["heapmap", "-s", &segfault, "-t", &trace, "-o", svg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "mdriver: incorrect: segfault is incorrect on small: op 4 (f 1): killed by SIGSEGV (segmentation fault) \
             in mm_free during the checked replay"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_c_path_that_names_no_allocator_is_a_usage_error() {
    let dir = scratch("usage");
    let trace = write(&dir, "small.rep", SMALL);
    let notes = write(&dir, "notes.txt", "");
    for (spec, message) in [
        ("c:no-such-dir/mm.c".to_owned(), "c:no-such-dir/mm.c: no such file".to_owned()),
        (format!("c:{notes}"), "a C allocator is a C source file (.c) or a shared object (.so)".to_owned()),
        ("c:".to_owned(), "the path of a C allocator is missing".to_owned()),
    ] {
        let out = mdriver(&["-f", &trace, "-s", &spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}");
        assert!(stderr(&out).contains(&message), "{spec}: {}", stderr(&out));
    }
    let out = mdriver(&["-f", &trace, "-s", "no-such"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("c:PATH"), "the help names c:PATH: {}", stderr(&out));
    let out = mdriver(&["-f", &trace, "-s", "implicit", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("0 is not a positive number of seconds"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without a C compiler, a source cannot be raced, and the race says why and goes on.
#[test]
fn a_missing_compiler_is_named_and_the_race_goes_on() {
    let dir = scratch("no-cc");
    let trace = write(&dir, "small.rep", SMALL);
    let implicit = fixture("c-implicit/mm.c");
    let out = Command::new(env!("CARGO_BIN_EXE_mdriver"))
        .args(["-f", &trace, "--reps", "1", "--format", "json", "-s", &implicit, "implicit"])
        .env("CC", "no-such-cc --some-flag")
        .output()
        .expect("mdriver runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let error = error_of(&report, "c-implicit").unwrap();
    assert!(
        error.starts_with(
            "c-implicit on trace small: did not compile: cannot run the C compiler `no-such-cc`: "
        ),
        "{error}"
    );
    assert!(error.ends_with("(install one, or name it in $CC)"), "{error}");
    assert!(stderr(&out).contains("$ no-such-cc --some-flag -O2 -fPIC -shared -I "), "{}", stderr(&out));
    assert_eq!(error_of(&report, "implicit"), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The memlib the C code calls is the driver's own, exported from its binary.
#[test]
fn the_driver_binary_exports_memlib() {
    let out = Command::new("nm").args(["-D", "--defined-only", env!("CARGO_BIN_EXE_mdriver")]).output();
    let Ok(out) = out else {
        eprintln!("nm is not installed: the C fixtures' tests show the exports work");
        return;
    };
    let symbols = String::from_utf8_lossy(&out.stdout);
    for name in mdriver::c::MEMLIB_EXPORTS {
        assert!(symbols.lines().any(|l| l.ends_with(&format!(" {name}"))), "{name} is exported:\n{symbols}");
    }
    assert!(
        !symbols.lines().any(|l| l.contains(" mm_")),
        "no mm_ symbol of the driver can capture the C code's"
    );
}
