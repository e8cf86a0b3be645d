//! Trace replay: each default strategy and libc replaying each bundled trace, timed by
//! criterion with exactly the replay loop `mdriver` times (reset + `init` + every op).
//!
//! `cargo bench -p mm-benches --bench replay`; reports under `target/criterion`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mdriver::race::{self, RaceConfig};
use mdriver::registry;
use mdriver::replay;

fn replay_bundled_traces(c: &mut Criterion) {
    let traces = mdriver::traces::bundled().expect("the bundled traces parse");
    let config = RaceConfig::default();
    for trace in &traces {
        let mut group = c.benchmark_group(format!("replay/{}", trace.name));
        group.throughput(Throughput::Elements(trace.ops.len() as u64));
        for name in registry::default_names() {
            let mut contender = race::contender(name, &config).expect("registered strategies build");
            // Only a trace the strategy replays correctly is worth timing.
            replay::checked_replay(contender.subject.as_mut(), trace, false)
                .unwrap_or_else(|e| panic!("{name} on {}: {e}", trace.name));
            let mut blocks = Vec::new();
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| black_box(replay::timed_replay(contender.subject.as_mut(), trace, &mut blocks)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, replay_bundled_traces);
criterion_main!(benches);
