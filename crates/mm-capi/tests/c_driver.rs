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
        // The strategy feature this test was built with, if one was named.
        let chosen = [
            ("implicit", cfg!(feature = "implicit")),
            ("explicit", cfg!(feature = "explicit")),
            ("segregated", cfg!(feature = "segregated")),
            ("buddy", cfg!(feature = "buddy")),
        ];
        if let Some((strategy, _)) = chosen.into_iter().find(|&(_, on)| on) {
            cargo.args(["--no-default-features", "--features", strategy]);
        }
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
    assert_eq!(stdout.lines().filter(|l| l.starts_with("round ")).count(), 3, "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn a_classic_c_driver_links_and_runs_against_the_shared_library() {
    let dir = profile_dir();
    let stdout = compile_and_run(&["-L", dir.to_str().unwrap(), "-lmm"], "driver-shared");
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}

/// Built with `--features hardened`, the library aborts on a double free with a message
/// naming the call, as glibc does. (Its own target directory: the other tests use the
/// normal build.)
#[test]
fn a_hardened_library_aborts_on_a_double_free() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capi-hardened");
    let status = Command::new(env!("CARGO"))
        .current_dir(manifest)
        .args(["build", "-q", "-p", "mm-capi", "--features", "hardened", "--target-dir"])
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p mm-capi --features hardened");
    let exe = target.join("double_free");
    let compiled = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()))
        .args(["-std=c99", "-Wall", "-Werror", "-I"])
        .arg(manifest.join("../../include"))
        .arg(manifest.join("tests/c/double_free.c"))
        .arg("-o")
        .arg(&exe)
        .arg(target.join("debug/libmm.a"))
        .args(["-lpthread", "-ldl", "-lm"])
        .status()
        .expect("a C compiler runs");
    assert!(compiled.success(), "double_free.c compiles");
    let out = Command::new(&exe).output().expect("it runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(6), "SIGABRT: {stderr}");
    assert!(stderr.contains("mm_free(): double free detected (heap offset 0x"), "{stderr}");
    assert!(out.stdout.is_empty(), "the program went on after the double free");
}
