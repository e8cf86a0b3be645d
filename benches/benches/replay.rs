//! Trace replay: every strategy of mdriver's default race, and libc, replaying every
//! bundled trace, timed by criterion with exactly the loop `mdriver` times (heap reset +
//! `init` + every op + releasing what is left). Criterion's figure is the time of one
//! whole replay; the throughput it prints is in trace ops per second.
//!
//! Ids: `replay/<trace>/<strategy>`.
//! `cargo bench -p mm-benches --bench replay [-- <filter>]`; reports under `target/criterion`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mm_race::race::RaceConfig;
use mm_race::replay;

fn replay_bundled_traces(c: &mut Criterion) {
    let traces = mm_race::traces::bundled().expect("the bundled traces parse");
    let strategies = mm_benches::strategies();
    // The race's heap (the classic 20 MiB), so the runs are the race's runs.
    let max_heap = RaceConfig::default().max_heap;
    let mut subjects: Vec<_> =
        strategies.iter().map(|name| (name, mm_benches::subject(name, max_heap))).collect();
    for trace in &traces {
        let mut group = c.benchmark_group(format!("replay/{}", trace.name));
        group.throughput(Throughput::Elements(trace.ops.len() as u64));
        for (name, subject) in &mut subjects {
            // Only a trace the strategy replays correctly is worth timing (and the timed
            // replay relies on it); an incorrect run is reported and left out, as the race
            // reports it as ERR.
            if let Err(e) = replay::checked_replay(subject.as_mut(), trace, false) {
                eprintln!("replay: skipping {name} on {}: incorrect: {e}", trace.name);
                continue;
            }
            let mut blocks = Vec::new();
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| black_box(replay::timed_replay(subject.as_mut(), trace, &mut blocks)))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = mm_benches::criterion();
    targets = replay_bundled_traces
}
criterion_main!(benches);
