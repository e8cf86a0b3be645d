//! A C program of our own, written only against `include/mm.h` and `include/memlib.h`,
//! compiled with the system C compiler against `libmm.a` (and against `libmm.so`), run,
//! and checked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory cargo puts this build's libraries in (`target/<profile>`), with
/// `libmm.a` and `libmm.so` built in it for the same profile and strategy feature as this
/// test (`cargo test` does not build a package's `staticlib`/`cdylib` for its tests).
fn profile_dir() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir =
        exe.parent().and_then(Path::parent).expect("tests run from target/<profile>/deps").to_path_buf();
    BUILT.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args(["build", "-q", "-p", "mm-capi"]);
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        // The strategy this test was built with, hardened if it is.
        let hardened = if facade::HARDENED { ",hardened" } else { "" };
        cargo.args(["--no-default-features", "--features"]).arg(format!("{}{hardened}", facade::STRATEGY));
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "cargo build -p mm-capi");
    });
    dir
}

fn compile_and_run(link: &[&str], name: &str) -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let include = manifest.join("../../include");
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = out_dir.join(name);
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()))
        .arg("-std=c99")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(&include)
        .arg(manifest.join("tests/c/driver.c"))
        .arg("-o")
        .arg(&exe)
        .args(link)
        .status()
        .expect("a C compiler runs");
    assert!(status.success(), "the C driver compiles and links ({link:?})");
    let out = Command::new(&exe).env("LD_LIBRARY_PATH", profile_dir()).output().expect("the driver runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the C driver reports failures:\n{stdout}");
    stdout
}

#[test]
fn a_classic_c_driver_links_and_runs_against_the_static_library() {
    let lib = profile_dir().join("libmm.a");
    assert!(lib.exists(), "{} is built", lib.display());
    let stdout = compile_and_run(&[lib.to_str().unwrap(), "-lpthread", "-ldl", "-lm"], "driver-static");
    assert!(stdout.ends_with("ok\n"), "{stdout}");
    assert!(stdout.starts_with("team mmlab: mmlab libmm (mmlab)\n"), "libmm defines team: {stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("round ")).count(), 3, "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn a_classic_c_driver_links_and_runs_against_the_shared_library() {
    let dir = profile_dir();
    let stdout = compile_and_run(&["-L", dir.to_str().unwrap(), "-lmm"], "driver-shared");
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}

/// The strategies, for the builds below: the `mm` crate's, which this crate forwards.
const STRATEGIES: &[&str] = facade::STRATEGIES;

/// `tests/c/misuse.c` linked against a `libmm.a` built with `features` (a strategy, and
/// maybe `hardened`), in a target directory of their own; built once per test run.
fn misuse_program(features: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi-variants");
    let exe = target.join(format!("misuse-{}", features.replace(',', "-")));
    // One build at a time: they share the target directory, and so `debug/libmm.a`.
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if built.iter().any(|f| f == features) {
        return exe;
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(manifest)
        .args([
            "build",
            "-q",
            "-p",
            "mm-capi",
            "--no-default-features",
            "--features",
            features,
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p mm-capi --features {features}");
    let compiled = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()))
        .args(["-std=c99", "-O0", "-w", "-I"])
        .arg(manifest.join("../../include"))
        .arg(manifest.join("tests/c/misuse.c"))
        .arg("-o")
        .arg(&exe)
        .arg(target.join("debug/libmm.a"))
        .args(["-lpthread", "-ldl", "-lm"])
        .status()
        .expect("a C compiler runs");
    assert!(compiled.success(), "misuse.c compiles against libmm ({features})");
    built.push(features.to_owned());
    exe
}

/// Runs `misuse.c` with `arg` against `features`' library, and asserts that it was
/// stopped by SIGABRT with `message` on stderr, before going on; returns its stderr.
fn misuse_aborts(features: &str, arg: &str, message: &str) -> String {
    let out =
        Command::new(misuse_program(features)).arg(arg).env("RUST_BACKTRACE", "0").output().expect("it runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(6),
        "{features} {arg}: {stderr}"
    );
    assert!(stderr.contains(message), "{features} {arg}: expected {message:?} in:\n{stderr}");
    // A message with a number in it is whole: the number and its closing parenthesis.
    let line = stderr.lines().find(|line| line.contains(message)).unwrap_or_default();
    assert!(!message.ends_with("0x") || line.ends_with(')'), "cut short: {line}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("fine"), "{features} {arg}: the program went on");
    stderr
}

/// Built with `--features hardened`, the library aborts on misuse with a message naming
/// the call, as glibc does; a pointer from outside the heap (the stack, a global, an
/// `mmap`ed page) is an invalid pointer like any other it never returned.
#[test]
fn a_hardened_library_aborts_on_misuse_with_a_message() {
    for &strategy in STRATEGIES {
        let features = format!("{strategy},hardened");
        let fine = Command::new(misuse_program(&features)).output().expect("it runs");
        assert!(
            fine.status.success() && fine.stdout == b"fine\n",
            "{features}: correct use passes: {fine:?}"
        );
        for (arg, message) in [
            ("d", "mmlab libmm: mm_free(): double free detected (heap offset 0x"),
            ("1", "mmlab libmm: mm_free(): invalid pointer (heap offset 0x"),
            ("o", "mmlab libmm: mm_free(): corrupted block header (heap offset 0x"),
            ("s", "mmlab libmm: mm_free(): invalid pointer (heap offset 0x"),
            ("g", "mmlab libmm: mm_free(): invalid pointer (heap offset 0x"),
            ("m", "mmlab libmm: mm_free(): invalid pointer (heap offset 0x"),
        ] {
            // The header-free buddy system keeps nothing below a payload: the 8 bytes
            // there are the block below's data, and overwriting them is no misuse it
            // can see (docs/buddy-bitmap.md says what its hardened mode catches).
            if strategy == "buddy-bitmap" && arg == "o" {
                continue;
            }
            misuse_aborts(&features, arg, message);
        }
    }
}

/// A strategy that trips over metadata the program overwrote panics; a panic cannot
/// unwind into C, and the library reports a corrupted heap with the panic's message.
#[test]
fn a_strategy_that_panics_on_a_corrupted_heap_is_reported_as_heap_corruption() {
    for &strategy in STRATEGIES {
        for features in [strategy.to_owned(), format!("{strategy},hardened")] {
            misuse_aborts(&features, "c", "mmlab libmm: heap corrupted: mm_malloc(): ");
        }
    }
}

/// Every strategy checks, in every build, that a freed pointer is a payload whose
/// header says allocated (issue 11, item 3); the default library passes the verdict on
/// as glibc would.
#[test]
fn the_default_library_aborts_on_a_double_free_and_a_misaligned_free() {
    for &strategy in STRATEGIES {
        misuse_aborts(strategy, "d", "mmlab libmm: mm_free(): double free detected (heap offset 0x");
        misuse_aborts(strategy, "1", "mmlab libmm: mm_free(): invalid pointer (heap offset 0x");
    }
}
