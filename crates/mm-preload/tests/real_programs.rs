//! Real, unmodified programs from the machine, run with `libmm_preload.so` as their
//! `malloc` for every strategy, must print exactly what they print without it.
//!
//! The libraries are built once per test run by a nested `cargo build --release` (one
//! per strategy, plus the recorder) into `target/tmp`; `cargo test` itself does not
//! build a package's `cdylib`. Every program runs under a timeout, so a deadlock (a
//! lock left held across `fork`, say) fails the test instead of hanging it.
//!
//! The programs: Python building and sorting a large dict (with Python's own small-
//! object allocator, and with `PYTHONMALLOC=malloc`, where every object is a `malloc`);
//! `sort` on a generated 8 MB file, in memory and with threads and temporary files;
//! `gcc` compiling and linking a generated C file (the executables must be identical
//! byte for byte); `git` creating, changing, packing and checking a repository, and
//! reading this project's own history when the checkout has one; and a C program of
//! ours that checks the C contract (`errno`, overflow, the aligned functions, threads
//! and `fork`). The programs also run under the hardened build of the default strategy,
//! which refuses `free` of a pointer that is not in its heap: none of them trips it.
//!
//! Then misuse, under every strategy's library, default and hardened (`tests/c/misuse.c`):
//! what is caught, with which message, and that a strategy that panics on a corrupted
//! heap is reported as such.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The strategy features: the `mm` crate's, which this crate forwards.
const STRATEGIES: &[&str] = facade::STRATEGIES;

/// The hardened builds: each strategy with `hardened`.
fn hardened() -> Vec<String> {
    STRATEGIES.iter().map(|strategy| format!("{strategy},hardened")).collect()
}

/// Every strategy's build, default then hardened.
fn every_build() -> Vec<String> {
    STRATEGIES.iter().map(|&strategy| strategy.to_owned()).chain(hardened()).collect()
}

/// The hardened build the real programs run under too (the checks that could trip on a
/// legitimate program, foreign pointers refused by `free`, are the same for every
/// strategy).
const HARDENED_DEFAULT: &str = "segregated,hardened";

/// Generous: the slowest run here (gcc under the implicit free list) takes seconds.
const TIMEOUT: Duration = Duration::from_secs(300);

fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The preload library built with `feature` (a strategy, or `record`).
fn library(feature: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = scratch().join("preload-build");
        for feature in every_build().into_iter().chain(["record".to_owned()]) {
            let status = Command::new(env!("CARGO"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["build", "-q", "--release", "-p", "mm-preload", "--no-default-features", "--features"])
                .arg(&feature)
                .arg("--target-dir")
                .arg(&target)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p mm-preload --features {feature}");
            let dir = scratch().join("preload-libs").join(&feature);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(target.join("release/libmm_preload.so"), dir.join("libmm_preload.so")).unwrap();
        }
    });
    scratch().join("preload-libs").join(feature).join("libmm_preload.so")
}

/// Runs `command` to completion (killing it after [`TIMEOUT`]), with `preload` as its
/// `LD_PRELOAD` if given, and with no inherited `LD_PRELOAD` otherwise.
fn run(mut command: Command, preload: Option<&Path>) -> Output {
    command.env_remove("LD_PRELOAD").env("LC_ALL", "C").stdin(Stdio::null());
    if let Some(lib) = preload {
        command.env("LD_PRELOAD", lib);
    }
    let shown = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e} (these tests run real programs from the machine)"));
    // Drain the pipes on threads so a chatty program cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).unwrap();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().ok();
            panic!("{shown} under {preload:?} did not finish in {TIMEOUT:?}: deadlock?");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// Runs the program built by `make` without the library, then under every strategy's
/// (and the hardened default's), and asserts each run succeeds with the same standard
/// output.
fn same_output_under_every_strategy(what: &str, make: impl Fn() -> Command) {
    let reference = run(make(), None);
    assert!(reference.status.success(), "{what} fails even without the library: {reference:?}");
    for strategy in STRATEGIES.iter().copied().chain([HARDENED_DEFAULT]) {
        let lib = library(strategy);
        let got = run(make(), Some(&lib));
        assert!(
            got.status.success(),
            "{what} under {strategy}: {}\n{}",
            got.status,
            String::from_utf8_lossy(&got.stderr)
        );
        assert!(got.stdout == reference.stdout, "{what} under {strategy}: output differs");
        eprintln!("{what}: same output under {strategy} ({} bytes)", got.stdout.len());
    }
}

const PYTHON_DICT: &str = r#"
import random, sys
n = int(sys.argv[1])
r = random.Random(1)
d = {}
for i in range(n):
    d["k%07d" % r.randrange(10**7)] = [i, str(i) * (i % 5)]
items = sorted(d.items())
words = sorted((v[1] for v in d.values()), key=lambda s: (len(s), s))
print(len(d), items[0][0], items[-1][0], sum(v[0] for v in d.values()) % 1000003, words[-1][:12])
"#;

#[test]
fn the_library_is_the_malloc_programs_call() {
    for &strategy in STRATEGIES {
        let lib = library(strategy);
        let mut python = Command::new("python3");
        python.args(["-c", "pass"]).env("LD_DEBUG", "bindings");
        let got = run(python, Some(&lib));
        let bindings = String::from_utf8_lossy(&got.stderr);
        for symbol in ["malloc", "free", "realloc", "calloc"] {
            let bound = format!("to {} [0]: normal symbol `{symbol}'", lib.display());
            assert!(bindings.contains(&bound), "{strategy}: python's {symbol} is not ours");
        }
    }
}

#[test]
fn python_builds_and_sorts_a_large_dict() {
    same_output_under_every_strategy("python3 (pymalloc), 200000 keys", || {
        let mut python = Command::new("python3");
        python.args(["-c", PYTHON_DICT, "200000"]);
        python
    });
}

#[test]
fn python_with_every_object_a_malloc() {
    // The implicit free list visits every block per request: with tens of thousands of
    // live objects this takes minutes, so it sits this one out (see docs/implicit.md).
    let reference = run(python_malloc(), None);
    for strategy in ["explicit", "segregated", "buddy", "buddy-bitmap"] {
        let got = run(python_malloc(), Some(&library(strategy)));
        assert!(got.status.success(), "{strategy}: {}", String::from_utf8_lossy(&got.stderr));
        assert!(got.stdout == reference.stdout, "PYTHONMALLOC=malloc under {strategy}: output differs");
    }
}

fn python_malloc() -> Command {
    let mut python = Command::new("python3");
    python.args(["-c", PYTHON_DICT, "60000"]).env("PYTHONMALLOC", "malloc");
    python
}

/// An 8 MB file of random keys and text, the same on every run.
fn sort_input() -> PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = scratch().join("preload-sort-input.txt");
        let mut text = String::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..250_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pad = "abcdefghijklmnopqrstuvwxyz".repeat(2);
            text.push_str(&format!("{:016x} {} {}\n", x, i % 977, &pad[..(x % 40) as usize]));
        }
        std::fs::write(&path, text).unwrap();
        path
    })
    .clone()
}

#[test]
fn sort_sorts_a_large_file() {
    let input = sort_input();
    same_output_under_every_strategy("sort", || {
        let mut sort = Command::new("sort");
        sort.arg(&input);
        sort
    });
    // Threads, a small buffer, temporary files and a merge.
    let tmp = scratch().join("preload-sort-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    same_output_under_every_strategy("sort --parallel=4 -S 1M -k2,2n", || {
        let mut sort = Command::new("sort");
        sort.args(["--parallel=4", "-S", "1M", "-k2,2n", "-k1,1"]).arg("-T").arg(&tmp).arg(&input);
        sort
    });
}

/// A C program of `functions` generated functions.
fn c_source(functions: usize) -> String {
    let mut c = String::from("#include <stdio.h>\n#include <string.h>\n");
    for i in 0..functions {
        let (n, m) = (i % 7 + 1, i % 13 + 3);
        c += &format!(
            "struct s{i} {{ int a[{n}]; double d; char name[{m}]; }};\n\
             static int f{i}(struct s{i} *p, int n) {{ int t = 0; for (int k = 0; k < n; k++) \
             {{ t += p->a[k % {n}] * {i} + (int)strlen(p->name); if (t > {}) t -= {}; }} return t; }}\n",
            1000 + i,
            i + 1
        );
    }
    c += "int main(void) {\n    long total = 0;\n";
    for i in 0..functions {
        c += &format!(
            "    {{ struct s{i} v = {{0}}; v.a[0] = {i}; strcpy(v.name, \"x\"); total += f{i}(&v, {}); }}\n",
            i % 50
        );
    }
    c + "    printf(\"%ld\\n\", total);\n    return 0;\n}\n"
}

#[test]
fn gcc_compiles_and_links_a_c_file() {
    let dir = scratch().join("preload-gcc");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("program.c");
    std::fs::write(&source, c_source(60)).unwrap();
    let compile = |exe: &Path| {
        let mut gcc = Command::new("gcc");
        gcc.args(["-O2", "-Wall", "-o"]).arg(exe).arg(&source);
        gcc
    };
    let reference_exe = dir.join("reference");
    assert!(run(compile(&reference_exe), None).status.success(), "gcc works without the library");
    let expected = run(Command::new(&reference_exe), None).stdout;
    for strategy in STRATEGIES.iter().copied().chain([HARDENED_DEFAULT]) {
        let exe = dir.join(strategy);
        let got = run(compile(&exe), Some(&library(strategy)));
        assert!(got.status.success(), "gcc under {strategy}: {}", String::from_utf8_lossy(&got.stderr));
        assert!(
            std::fs::read(&exe).unwrap() == std::fs::read(&reference_exe).unwrap(),
            "gcc under {strategy} wrote a different executable"
        );
        assert_eq!(run(Command::new(&exe), None).stdout, expected);
    }
}

/// A shell script that builds a repository with git and queries it; everything it
/// prints is deterministic (fixed names and dates).
const GIT_SESSION: &str = r#"
set -e
rm -rf repo && mkdir repo && cd repo
git init -q -b main .
for i in $(seq 1 60); do
  mkdir -p "dir$((i % 7))"
  seq 1 $((i * 40)) | sed "s/^/file $i line /" > "dir$((i % 7))/file$i.txt"
done
git add -A && git commit -q -m "first: sixty files"
for i in $(seq 1 60 | awk 'NR % 3 == 0'); do
  sed -i "s/line 1\$/line one/; s/line 7/line SEVEN/" "dir$((i % 7))/file$i.txt"
done
git mv dir1 moved && git rm -q dir2/file2.txt
git commit -q -am "second: edits, a move, a removal"
git checkout -q -b side HEAD~1 && echo extra >> dir3/file3.txt && git commit -q -am "third: on a branch"
git checkout -q main && git merge -q --no-edit side
git log --stat --format='%H %s'
git diff --stat HEAD~2 HEAD
git grep -c SEVEN | head -5
git gc -q && git fsck --strict && git count-objects -v | grep -v size
git status --porcelain
"#;

#[test]
fn git_builds_and_queries_a_repository() {
    let dir = scratch().join("preload-git");
    std::fs::create_dir_all(&dir).unwrap();
    let session = || {
        let mut sh = Command::new("sh");
        sh.args(["-c", GIT_SESSION]).current_dir(&dir);
        for (key, value) in [
            ("GIT_AUTHOR_NAME", "mmlab"),
            ("GIT_AUTHOR_EMAIL", "mmlab@example.org"),
            ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_COMMITTER_NAME", "mmlab"),
            ("GIT_COMMITTER_EMAIL", "mmlab@example.org"),
            ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ] {
            sh.env(key, value);
        }
        sh
    };
    same_output_under_every_strategy("a git session", session);

    // And this project's own history, when the checkout is a git repository.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if workspace.join(".git").exists() {
        same_output_under_every_strategy("git log on this repository", || {
            let mut git = Command::new("git");
            git.arg("-C").arg(&workspace).args(["log", "--stat", "-n", "40"]);
            git
        });
    }
}

#[test]
fn the_c_contract_holds_under_every_strategy() {
    let exe = compile_strict("contract", &[]);
    for &strategy in STRATEGIES {
        let got = run(Command::new(&exe), Some(&library(strategy)));
        let stdout = String::from_utf8_lossy(&got.stdout);
        assert!(got.status.success() && stdout.starts_with("ok "), "{strategy}:\n{stdout}");
    }
}

#[test]
fn eight_threads_pass_blocks_and_fork_under_every_strategy() {
    let exe = compile_strict("stress", &[]);
    for &strategy in STRATEGIES {
        let got = run(Command::new(&exe), Some(&library(strategy)));
        let stdout = String::from_utf8_lossy(&got.stdout);
        assert!(got.status.success() && stdout.starts_with("ok 160000 160000 "), "{strategy}: {stdout}");
    }
}

/// `tests/c/tcache.c`: the thread caches under every build, hardened included:
/// threads that exit holding cached blocks, blocks crossing threads both ways,
/// `malloc_trim`, `fork` while threads churn, and a process alone before its threads.
#[test]
fn thread_caches_give_back_what_exited_threads_held_and_survive_fork() {
    let exe = compile_strict("tcache", &["-ldl"]);
    prints_ok_under_glibc_and_every_build(&exe);
}

#[test]
fn fork_works_when_another_library_registered_allocating_fork_handlers_first() {
    // The library's constructor runs before ours, so its handlers are registered first:
    // its prepare handler runs while we hold our lock across fork, and allocates.
    let dir = scratch().join("preload-atfork");
    std::fs::create_dir_all(&dir).unwrap();
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let cc = || Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()));
    let mut lib = cc();
    lib.args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-pthread", "-o"])
        .arg(dir.join("libatfork_dep.so"))
        .arg(c.join("atfork_dep.c"));
    assert!(run(lib, None).status.success(), "atfork_dep.c compiles");
    let exe = dir.join("fork_handlers");
    let mut main = cc();
    main.args(["-O1", "-Wall", "-Werror", "-pthread", "-o"])
        .arg(&exe)
        .arg(c.join("fork_handlers.c"))
        .arg("-L")
        .arg(&dir)
        .arg("-latfork_dep")
        .arg(format!("-Wl,-rpath,{}", dir.display()));
    assert!(run(main, None).status.success(), "fork_handlers.c compiles");
    for feature in STRATEGIES.iter().chain(&["record"]) {
        let got = run(Command::new(&exe), Some(&library(feature)));
        let stdout = String::from_utf8_lossy(&got.stdout);
        assert!(
            got.status.success() && stdout.starts_with("ok "),
            "{feature}: {stdout}{}",
            String::from_utf8_lossy(&got.stderr)
        );
    }
}

#[test]
fn the_recorder_logs_a_program_and_leaves_its_output_alone() {
    let dir = scratch().join("preload-record");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let python = || {
        let mut python = Command::new("python3");
        python.args(["-c", PYTHON_DICT, "20000"]).env("MMLAB_RECORD_DIR", &dir);
        python
    };
    let reference = run(python(), None);
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing is logged without the recorder");
    let got = run(python(), Some(&library("record")));
    assert!(got.status.success() && got.stdout == reference.stdout, "{got:?}");

    // One log per process; python's holds a header and many balanced events.
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    let log = logs.iter().max_by_key(|log| log.len()).expect("a log was written");
    assert!(log.starts_with("# mmlab-record 1 pid "), "{}", &log[..log.len().min(200)]);
    let count = |tag: &str| log.lines().filter(|l| l.starts_with(tag)).count();
    assert!(count("m ") > 1000, "mallocs logged: {}", count("m "));
    assert!(count("f ") > 1000, "frees logged: {}", count("f "));
    assert!(count("r ") > 10, "reallocs logged: {}", count("r "));
    for line in log.lines().skip(1) {
        let fields: Vec<&str> = line.split(' ').collect();
        let arity = match fields[0] {
            "m" | "f" => fields.len() == if fields[0] == "m" { 3 } else { 2 },
            "c" | "r" | "a" => fields.len() == 4,
            "#" => true,
            _ => false,
        };
        assert!(arity, "malformed log line {line:?}");
    }
}

/// The log's header is written when the recorder is loaded, so a process that never
/// allocates (`true`, on glibc) still leaves a log: `mdriver record` tells "made no
/// allocation" apart from "the recorder was not loaded".
#[test]
fn the_recorder_logs_a_process_before_its_first_allocation() {
    let dir = scratch().join("preload-record-true");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut program = Command::new("true");
    program.env("MMLAB_RECORD_DIR", &dir);
    assert!(run(program, Some(&library("record"))).status.success());
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert_eq!(logs.len(), 1, "one process, one log: {logs:?}");
    assert!(logs[0].starts_with("# mmlab-record 1 pid ") && logs[0].contains(" exe /"), "{}", logs[0]);
}

/// Issue 11's first reproduction: gigabyte blocks freed side by side (`tests/c/gigabytes.c`).
#[test]
fn gigabyte_blocks_freed_side_by_side_leave_a_working_heap() {
    let exe = compile_c("gigabytes");
    prints_ok_under_glibc_and_every_build(&exe);
}

/// `tests/c/misuse.c`, compiled once.
fn misuse_program() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile_c("misuse")).clone()
}

/// `tests/c/NAME.c`, compiled without optimization (so that every call it makes is
/// made) into the test's scratch directory.
/// Compiles `tests/c/NAME.c` with every warning an error, as the contract, stress and
/// thread-cache programs are, linking `libs` too.
fn compile_strict(name: &str, libs: &[&str]) -> PathBuf {
    let dir = scratch().join(format!("preload-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(name);
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()));
    cc.args(["-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&exe)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c")))
        .args(libs);
    let built = run(cc, None);
    assert!(built.status.success(), "{name}.c compiles: {}", String::from_utf8_lossy(&built.stderr));
    exe
}

/// Runs `exe` under glibc and under every build of the library: each prints `ok`.
fn prints_ok_under_glibc_and_every_build(exe: &Path) {
    let reference = run(Command::new(exe), None);
    assert_eq!(reference.stdout, b"ok\n", "glibc: {reference:?}");
    for feature in every_build() {
        let got = run(Command::new(exe), Some(&library(&feature)));
        assert!(
            got.status.success() && got.stdout == b"ok\n",
            "{feature}: {}{}",
            String::from_utf8_lossy(&got.stdout),
            String::from_utf8_lossy(&got.stderr)
        );
    }
}

fn compile_c(name: &str) -> PathBuf {
    let dir = scratch().join(format!("preload-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(name);
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()));
    cc.args(["-O0", "-w", "-o"])
        .arg(&exe)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c")));
    assert!(run(cc, None).status.success(), "{name}.c compiles");
    exe
}

/// Runs `misuse.c` with `arg` under `feature`'s library, and asserts that it was
/// stopped by SIGABRT with `message` on stderr, before going on; returns its stderr.
fn misuse_aborts(feature: &str, arg: &str, message: &str) -> String {
    let mut misuse = Command::new(misuse_program());
    misuse.arg(arg).env("RUST_BACKTRACE", "0");
    let got = run(misuse, Some(&library(feature)));
    let stderr = String::from_utf8_lossy(&got.stderr).into_owned();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&got.status),
        Some(libc_sigabrt()),
        "{feature} {arg}: {stderr}"
    );
    assert!(stderr.contains(message), "{feature} {arg}: expected {message:?} in:\n{stderr}");
    // A message with a number in it is whole: the number and its closing parenthesis.
    let line = stderr.lines().find(|line| line.contains(message)).unwrap_or_default();
    assert!(!message.ends_with("0x") || line.ends_with(')'), "cut short: {line}");
    assert!(!String::from_utf8_lossy(&got.stdout).contains("fine"), "{feature} {arg}: the program went on");
    stderr
}

#[test]
fn a_hardened_build_aborts_on_misuse_with_a_message() {
    for feature in hardened() {
        let fine = run(Command::new(misuse_program()), Some(&library(&feature)));
        assert!(fine.status.success() && fine.stdout == b"fine\n", "{feature}: correct use passes: {fine:?}");
        for (arg, message) in [
            ("d", "mmlab preload: free(): double free detected (heap offset 0x"),
            ("1", "mmlab preload: free(): invalid pointer (heap offset 0x"),
            ("i", "mmlab preload: free(): invalid pointer (heap offset 0x"),
            ("o", "mmlab preload: free(): corrupted block header (heap offset 0x"),
        ] {
            // Below a header-free block's payload lies the block below's data: no
            // header to find corrupted (docs/buddy-bitmap.md).
            if feature.starts_with("buddy-bitmap") && arg == "o" {
                continue;
            }
            misuse_aborts(&feature, arg, message);
        }
    }
}

#[test]
fn a_hardened_build_refuses_to_free_a_pointer_from_outside_its_heap() {
    for feature in hardened() {
        for arg in ["s", "g", "m"] {
            let stderr = misuse_aborts(&feature, arg, "mmlab preload: free(): invalid pointer (0x");
            assert!(stderr.contains(" is outside the heap)"), "{feature} {arg}: {stderr}");
        }
    }
}

/// A strategy that trips over metadata the program overwrote panics; the library reports
/// a corrupted heap with the panic's message, not a re-entry (which the panic's own
/// allocations used to look like).
#[test]
fn a_strategy_that_panics_on_a_corrupted_heap_is_reported_as_heap_corruption() {
    for feature in every_build() {
        let stderr = misuse_aborts(&feature, "c", "mmlab preload: heap corrupted: malloc(): ");
        assert!(!stderr.contains("re-entered"), "{feature}: {stderr}");
    }
}

/// Every strategy checks, in every build, that a freed pointer is a payload whose
/// header says allocated (issue 11, item 3); the default build passes the verdict on as
/// glibc would.
#[test]
fn the_default_build_aborts_on_a_double_free_and_a_misaligned_free() {
    for feature in STRATEGIES {
        misuse_aborts(feature, "d", "mmlab preload: free(): double free detected (heap offset 0x");
        misuse_aborts(feature, "1", "mmlab preload: free(): invalid pointer (heap offset 0x");
    }
}

/// SIGABRT (6 on Linux).
fn libc_sigabrt() -> i32 {
    6
}

/// The rows of the misuse table: `tests/c/misuse_table.c`'s arguments.
fn misuse_cases() -> Vec<Vec<String>> {
    let mut cases: Vec<Vec<String>> = [
        "double-free",
        "free-interior-1",
        "free-interior-16",
        "free-stack",
        "free-global",
        "free-mmap",
        "realloc-freed",
        "write-after-free",
        "header-below",
    ]
    .into_iter()
    .map(|case| vec![case.to_owned()])
    .collect();
    for kind in ["overflow-into-free", "overflow-into-used"] {
        for bytes in [1, 4, 8, 12, 16] {
            cases.push(vec![kind.to_owned(), bytes.to_string()]);
        }
    }
    cases
}

/// How a run of the misuse program ended, in a few words for the table.
fn outcome(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.contains("same block twice") {
        return "**same block twice**".to_owned();
    }
    if out.status.success() && stdout.contains("survived") {
        return "runs on".to_owned();
    }
    match std::os::unix::process::ExitStatusExt::signal(&out.status) {
        Some(6) => {
            let line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
            let line = line.trim_start_matches("mmlab preload: ");
            // The offsets differ from run to run and build to build: keep the words.
            let line = [" (heap", " (0x", " at offset 0x"]
                .iter()
                .fold(line, |l, cut| l.split(cut).next().unwrap_or(l));
            format!("abort: {line}")
        }
        Some(11) => "**SIGSEGV**".to_owned(),
        Some(signal) => format!("**signal {signal}**"),
        None => format!("**exit {}**", out.status.code().unwrap_or(-1)),
    }
}

/// Every misuse of `tests/c/misuse_table.c` under glibc and under every build of the
/// library: none may crash the program outside an abort of ours (which would mean the
/// allocator followed the program's bytes out of its heap), the default builds must stop
/// a double free, a misaligned free and a realloc of a freed block, and the hardened
/// builds every misuse but a write into a freed block that nothing reads back. Prints the
/// table of docs/reliability.md (`-- --nocapture`).
#[test]
fn the_misuse_table() {
    let exe = compile_c("misuse_table");
    let every_build = every_build();
    let builds: Vec<Option<&str>> =
        std::iter::once(None).chain(every_build.iter().map(|build| Some(build.as_str()))).collect();
    let mut table = String::from("| misuse |");
    for build in &builds {
        table += &format!(" {} |", build.unwrap_or("glibc"));
    }
    table += &format!("\n|---|{}\n", "---|".repeat(builds.len()));
    let mut failures = Vec::new();
    for case in misuse_cases() {
        table += &format!("| `{}` |", case.join(" "));
        for build in &builds {
            let mut program = Command::new(&exe);
            program.args(&case).env("RUST_BACKTRACE", "0");
            let out = run(program, build.map(library).as_deref());
            let cell = outcome(&out);
            table += &format!(" {cell} |");
            let Some(build) = build else { continue };
            let what = format!("{build}, {}: {cell}", case.join(" "));
            let stopped = cell.starts_with("abort: ");
            if cell.starts_with("**") && !cell.contains("same block") {
                failures.push(format!("{what} (a crash: the allocator left its heap)"));
            }
            if cell.contains("re-entered") {
                failures.push(format!("{what} (a panic reported as a re-entry)"));
            }
            // The header-free buddy system keeps nothing next to a payload: a write below
            // it or past its end changes another block's data (or, when that block is
            // free, links a thread cache may never hand to the strategy), which its
            // hardened mode cannot see (docs/buddy-bitmap.md).
            let header_free = build.starts_with("buddy-bitmap")
                && (case[0] == "header-below" || case[0].starts_with("overflow-into-"));
            let must_stop = if build.contains("hardened") {
                case[0] != "write-after-free" && !header_free
            } else {
                ["double-free", "free-interior-1", "realloc-freed"].contains(&case[0].as_str())
            };
            if must_stop && !stopped {
                failures.push(format!("{what} (not caught)"));
            }
        }
        table.push('\n');
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}\n\n{table}", failures.join("\n"));
}
