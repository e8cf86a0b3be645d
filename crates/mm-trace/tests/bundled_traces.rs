//! The bundled suite in `traces/` is generated, not written by hand: every `.rep` file
//! there must be byte for byte what `workload::generate` makes from its line in
//! `traces/SUITE`. These tests hold the files, the manifest and the README to that.
//!
//! To (re)create the files after changing SUITE or the generator, run `just gen-traces`,
//! or `MMLAB_BLESS_TRACES=1 cargo test -p mm-trace --test bundled_traces`, which writes
//! them instead of comparing. Then review the diff: a generator change that alters the
//! bundled traces alters every score measured on them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use mm_trace::workload::{Workload, generate};
use mm_trace::{Op, Trace};

const BLESS_VAR: &str = "MMLAB_BLESS_TRACES";
const REGENERATE: &str = "regenerate with `just gen-traces` or `MMLAB_BLESS_TRACES=1 cargo test -p mm-trace --test bundled_traces`";

/// Replaying the whole suite must take seconds even for an allocator that scans every
/// block on every request, and the repository must stay small.
const MAX_OPS_PER_TRACE: usize = 20_000;
const MAX_LIVE_BLOCKS: usize = 5_000;
const MAX_SUITE_BYTES: u64 = 2 << 20;

/// One line of `traces/SUITE`.
#[derive(Debug)]
struct Entry {
    line: usize,
    file: String,
    workload: Workload,
    seed: u64,
    ops: usize,
}

impl Entry {
    fn generate(&self) -> Trace {
        generate(self.workload, self.seed, self.ops)
    }

    fn command(&self) -> String {
        format!(
            "mdriver gen --workload {} --seed {} --ops {} > traces/{}",
            self.workload, self.seed, self.ops, self.file
        )
    }
}

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces")
}

/// Reads and checks the manifest: `<file> <workload> <seed> <ops>` per line, `#`
/// comment lines and blank lines allowed.
fn suite() -> Vec<Entry> {
    let path = traces_dir().join("SUITE");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut entries: Vec<Entry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        // Whole-line comments only, as `just gen-traces` reads the file.
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let [file, workload, seed, ops] = fields[..] else {
            panic!("traces/SUITE:{line}: expected `<file> <workload> <seed> <ops>`, found {raw:?}");
        };
        let bad = |what: &str, e: &dyn std::fmt::Display| -> ! {
            panic!("traces/SUITE:{line}: bad {what}: {e}");
        };
        assert!(
            file.ends_with(".rep") && !file.contains('/') && !file.starts_with('.'),
            "traces/SUITE:{line}: {file:?} is not a plain `.rep` file name"
        );
        assert!(entries.iter().all(|e| e.file != file), "traces/SUITE:{line}: {file} is listed twice");
        entries.push(Entry {
            line,
            file: file.to_owned(),
            workload: workload.parse().unwrap_or_else(|e| bad("workload", &e)),
            seed: seed.parse().unwrap_or_else(|e| bad("seed", &e)),
            ops: ops.parse().unwrap_or_else(|e| bad("ops", &e)),
        });
    }
    assert!(!entries.is_empty(), "traces/SUITE lists no traces");
    entries
}

fn blessing() -> bool {
    std::env::var(BLESS_VAR).is_ok_and(|v| v == "1")
}

/// In bless mode, writes every SUITE trace (once per test run, before any test reads
/// the files: the tests run in parallel). Unchanged files are not rewritten.
fn bless_if_asked() {
    static BLESS: Once = Once::new();
    BLESS.call_once(|| {
        if !blessing() {
            return;
        }
        let dir = traces_dir();
        for entry in suite() {
            let text = entry.generate().to_rep_string();
            let path = dir.join(&entry.file);
            if fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
                continue;
            }
            // Write aside and rename, so a reader never sees half a file.
            let tmp = dir.join(format!(".{}.tmp", entry.file));
            fs::write(&tmp, &text).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
            fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("blessed traces/{}", entry.file);
        }
    });
}

/// The 1-based line where two texts first differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut lines = a.lines().zip(b.lines());
    lines.position(|(x, y)| x != y).unwrap_or_else(|| a.lines().count().min(b.lines().count())) + 1
}

#[test]
fn bundled_traces_are_what_the_generator_makes() {
    bless_if_asked();
    let dir = traces_dir();
    let mut problems = Vec::new();
    for entry in suite() {
        let expected = entry.generate().to_rep_string();
        let path = dir.join(&entry.file);
        match fs::read(&path) {
            Ok(bytes) if bytes == expected.as_bytes() => {}
            Ok(bytes) => {
                let found = String::from_utf8_lossy(&bytes);
                problems.push(format!(
                    "traces/{} (SUITE line {}) differs from `{}`, first at line {}",
                    entry.file,
                    entry.line,
                    entry.command(),
                    first_difference(&found, &expected)
                ));
            }
            Err(e) => problems.push(format!("traces/{}: {e}", entry.file)),
        }
    }
    assert!(problems.is_empty(), "stale bundled traces:\n  {}\n{REGENERATE}", problems.join("\n  "));
}

#[test]
fn every_suite_trace_parses_and_matches_its_line() {
    bless_if_asked();
    for entry in suite() {
        let path = traces_dir().join(&entry.file);
        let Ok(bytes) = fs::read(&path) else { continue }; // reported by the test above
        let trace = Trace::parse(&format!("traces/{}", entry.file), &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trace.ops.len(), entry.ops, "traces/{}: op count vs SUITE", entry.file);
        assert_eq!(trace.weight(), 1, "traces/{}: weight", entry.file);
    }
}

#[test]
fn every_rep_file_is_listed_in_suite() {
    bless_if_asked();
    let listed: BTreeSet<String> = suite().into_iter().map(|e| e.file).collect();
    let mut strays = Vec::new();
    let mut total_bytes = 0;
    for item in fs::read_dir(traces_dir()).expect("traces/ is readable") {
        let item = item.expect("traces/ is readable");
        let name = item.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rep") {
            total_bytes += item.metadata().expect("metadata").len();
            if !listed.contains(&name) {
                strays.push(name);
            }
        }
    }
    assert!(
        strays.is_empty(),
        "traces/ holds .rep files that SUITE does not list (add them to SUITE or delete them): {strays:?}"
    );
    assert!(total_bytes <= MAX_SUITE_BYTES, "traces/*.rep total {total_bytes} bytes, over {MAX_SUITE_BYTES}");
}

/// Most blocks live at once, in one of mmlab's own traces (which free only live ids,
/// resize only live ones, and never name the null pointer).
fn max_live_blocks(trace: &Trace) -> usize {
    let (mut live, mut max) = (0usize, 0);
    for op in &trace.ops {
        match op {
            Op::Alloc { .. } => live += 1,
            Op::Free { .. } | Op::Realloc { size: 0, .. } => live -= 1,
            Op::Realloc { .. } => {}
            Op::FreeNull | Op::ReallocNull { .. } => {
                panic!("{}: mmlab's traces have no null ops", trace.name)
            }
        }
        max = max.max(live);
    }
    max
}

#[test]
fn the_suite_covers_every_workload_and_stays_small() {
    let entries = suite();
    for &w in Workload::ALL {
        assert!(entries.iter().any(|e| e.workload == w), "traces/SUITE has no {w} trace");
    }
    for entry in &entries {
        assert!(
            (1..=MAX_OPS_PER_TRACE).contains(&entry.ops),
            "traces/SUITE:{}: {} ops (keep 1..={MAX_OPS_PER_TRACE})",
            entry.line,
            entry.ops
        );
        let live = max_live_blocks(&entry.generate());
        assert!(
            live <= MAX_LIVE_BLOCKS,
            "traces/SUITE:{}: {} has {live} blocks live at once (keep <= {MAX_LIVE_BLOCKS})",
            entry.line,
            entry.file
        );
    }
}

/// The README's table row for an entry, up to its free-text last column.
fn readme_row(entry: &Entry) -> String {
    let trace = entry.generate();
    format!(
        "| `{}` | {} | {} | {} | {} | {} |",
        entry.file,
        entry.workload,
        entry.seed,
        entry.ops,
        trace.sugg_heapsize().expect("generated traces have the classic header"),
        max_live_blocks(&trace)
    )
}

#[test]
fn the_readme_table_matches_the_suite() {
    let path = traces_dir().join("README.md");
    let readme = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entries = suite();
    let rows: Vec<String> = entries.iter().map(readme_row).collect();
    let missing: Vec<&str> = rows
        .iter()
        .filter(|row| !readme.lines().any(|l| l.starts_with(row.as_str())))
        .map(String::as_str)
        .collect();
    assert!(
        missing.is_empty(),
        "traces/README.md's table is out of date; these rows (then a description column) are missing:\n{}",
        missing.join("\n")
    );
    // Rows for traces that are no longer in the suite.
    let stale: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains(".rep`") && !l.starts_with("| `recorded/"))
        .filter(|l| !entries.iter().any(|e| l.starts_with(&format!("| `{}` |", e.file))))
        .collect();
    assert!(stale.is_empty(), "traces/README.md lists traces that SUITE does not:\n{}", stale.join("\n"));
}

/// The commands that record `traces/recorded/` succeed when run without the recorder
/// (`record.sh --check`; programs not installed here are skipped): a command that fails
/// (a compile missing an `-I`) would record its failure instead of the program.
#[test]
fn the_recording_commands_succeed() {
    let script = traces_dir().join("recorded/record.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("running bash {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} --check failed:\n{stdout}{stderr}", script.display());
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("ok: ") || l.starts_with("skipped (not installed): "))
            .count(),
        4,
        "one line per recorded trace:\n{stdout}"
    );
}

/// The traces recorded from real programs (`traces/recorded/*.rep`): not generated, so
/// not in SUITE, but they must parse, validate, end with every block freed, and match
/// their rows in the README (ops, ids, peak live bytes, max live blocks).
#[test]
fn recorded_traces_are_valid_and_described() {
    let dir = traces_dir().join("recorded");
    let readme = fs::read_to_string(traces_dir().join("README.md")).unwrap();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "rep"))
        .collect();
    files.sort();
    assert!((3..=5).contains(&files.len()), "traces/recorded holds {} traces", files.len());
    for path in files {
        let trace = Trace::read(&path).unwrap_or_else(|e| panic!("{e}"));
        trace.validate().unwrap();
        // The format lets ids be reused and name the null pointer; our converter does
        // neither: each id is one block, allocated by `a` and resized only while live.
        let (mut live, mut ever) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for op in &trace.ops {
            match op {
                Op::Alloc { id, .. } => {
                    assert!(ever.insert(*id), "{}: id {id} allocated twice", path.display());
                    live.insert(*id);
                }
                Op::Free { id } | Op::Realloc { id, size: 0 } => {
                    assert!(live.remove(id), "{}: id {id} freed while not live", path.display())
                }
                Op::Realloc { id, .. } => {
                    assert!(live.contains(id), "{}: id {id} resized while not live", path.display())
                }
                Op::FreeNull | Op::ReallocNull { .. } => panic!("{}: a null op ({op})", path.display()),
            }
        }
        assert!(live.is_empty(), "{}: {} blocks are never freed", path.display(), live.len());
        let name = path.file_name().unwrap().to_string_lossy();
        let row = format!("| `recorded/{name}` |");
        let line = readme
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("traces/README.md has no row for recorded/{name}"));
        let numbers: Vec<&str> = line.trim_end_matches('|').rsplit('|').take(4).map(str::trim).collect();
        let expected = [
            max_live_blocks(&trace).to_string(),
            trace.sugg_heapsize().expect("recorded traces have the classic header").to_string(),
            trace.num_ids.to_string(),
            trace.ops.len().to_string(),
        ];
        assert_eq!(
            numbers, expected,
            "traces/README.md's row for recorded/{name} (ops, ids, peak, max live, reversed)"
        );
    }
}
