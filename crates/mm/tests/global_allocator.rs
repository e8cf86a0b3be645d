//! Every strategy as the `#[global_allocator]` of a real Rust program: the `workload`
//! example is built and run once per strategy feature, and its report must equal the
//! same workload's report computed here on the system allocator; and the failure cases
//! of `global_faults.rs` (a panicking strategy, a signal handler that allocates, the heap
//! checker on the global allocator) are run for every strategy.

use std::process::Command;

// The example's workload, run here on the system allocator for the expected report.
#[path = "../examples/workload/workload.rs"]
mod workload;

#[test]
fn the_workload_example_runs_on_every_strategy() {
    let expected = workload::run();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for strategy in ["implicit", "explicit", "segregated", "buddy"] {
        let out = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args([
                "run",
                "-q",
                "-p",
                "mm",
                "--example",
                "workload",
                "--no-default-features",
                "--features",
                strategy,
            ])
            .output()
            .expect("cargo runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{strategy}: the example failed: {stderr}");
        assert!(stderr.contains(&format!("global allocator: mmlab {strategy}")), "{strategy}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{strategy}: different results");
    }
}

#[test]
fn the_failure_cases_hold_for_every_strategy() {
    // This build's strategy runs them as `cargo test -p mm` itself; the others here.
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for strategy in ["implicit", "explicit", "segregated", "buddy"].into_iter().filter(|&s| s != mm::STRATEGY)
    {
        let out = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args([
                "test",
                "-q",
                "-p",
                "mm",
                "--test",
                "global_faults",
                "--no-default-features",
                "--features",
            ])
            .arg(strategy)
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "{strategy}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn choosing_no_strategy_or_two_is_a_compile_error() {
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for (features, message) in [
        (vec!["--no-default-features"], "mm: choose a strategy"),
        (vec!["--features", "buddy,implicit"], "mm: more than one strategy feature is enabled"),
    ] {
        let out = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args(["check", "-q", "-p", "mm", "--lib"])
            .args(&features)
            .output()
            .expect("cargo runs");
        assert!(!out.status.success(), "{features:?} must not compile");
        assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{features:?}");
    }
}
