//! Every registered strategy, and libc, replays every bundled trace correctly under all
//! the driver's checks (timing is skipped).

use mdriver::race::{self, RaceConfig};
use mdriver::registry;

#[test]
fn every_strategy_is_correct_on_every_bundled_trace() {
    let traces = mdriver::traces::bundled().unwrap();
    let config = RaceConfig {
        strategies: registry::all_names().into_iter().map(str::to_owned).collect(),
        reps: 0,
        ..RaceConfig::default()
    };
    let report = race::run(&traces, &config).unwrap();
    let errors: Vec<_> = report.runs.iter().filter_map(|r| r.error.as_deref()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report.runs.len(), traces.len() * registry::all_names().len());
    for run in report.runs.iter().filter(|r| r.strategy != registry::LIBC) {
        let util = run.util.unwrap();
        assert!(util > 0.0 && util <= 1.0, "{} on {}: utilization {util}", run.strategy, run.trace);
    }
}

#[test]
fn the_perf_index_follows_the_classic_formula() {
    assert_eq!(race::perf_index(1.0, 1.0), 100.0);
    assert_eq!(race::perf_index(0.5, 2.0), 70.0);
    assert!((race::perf_index(0.8, 0.25) - 58.0).abs() < 1e-9);
}
