//! Every strategy as the `#[global_allocator]` of a real Rust program: the `workload`
//! example is built and run once per strategy feature, and its report must equal the
//! same workload's report computed here on the system allocator; and the failure cases
//! of `global_faults.rs` (a panicking strategy, a signal handler that allocates, the heap
//! checker on the global allocator) are run for every strategy. Then the choice itself:
//! what the build script makes of no strategy, two, and all of them.

use std::process::Command;

// The example's workload, run here on the system allocator for the expected report.
#[path = "../examples/workload/workload.rs"]
mod workload;

#[test]
fn the_workload_example_runs_on_every_strategy() {
    let expected = workload::run();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for &strategy in mm::STRATEGIES {
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
    for &strategy in mm::STRATEGIES.iter().filter(|&&s| s != mm::STRATEGY) {
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
fn choosing_no_strategy_or_two_is_a_build_error_and_all_of_them_the_default() {
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let check = |features: &[&str]| {
        let out = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args(["check", "-p", "mm", "--lib"])
            .args(features)
            .output()
            .expect("cargo runs");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Cargo prefixes a build script's errors and warnings with the package.
    let mm = concat!("mm@", env!("CARGO_PKG_VERSION"));
    for (features, message) in [
        (&["--no-default-features"][..], "choose a strategy: enable exactly one of"),
        (
            &["--features", "buddy,implicit"][..],
            "more than one strategy feature is enabled (`implicit`, `buddy`)",
        ),
    ] {
        let (built, stderr) = check(features);
        assert!(!built, "{features:?} must not build");
        assert!(stderr.contains(&format!("error: {mm}: {message}")), "{features:?}: {stderr}");
    }
    let (built, stderr) = check(&["--all-features"]);
    assert!(built, "--all-features builds: {stderr}");
    let warning =
        "every strategy feature is on (as with --all-features): mm uses the default strategy, `segregated`";
    assert!(stderr.contains(&format!("warning: {mm}: {warning}")), "{stderr}");
}
