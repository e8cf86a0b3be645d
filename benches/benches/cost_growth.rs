//! Cost growth: malloc+free pairs per second as the number of live blocks grows from
//! 1k to 1M. Each pair frees a random live block and allocates a new one of a random
//! small size in its place, so the live set stays at `n` and the heap stays fragmented.
//!
//! A strategy whose search is linear in the heap (implicit) slows down in proportion
//! to `n`; a segregated one should stay flat. Implicit stops at 16k live blocks: setting
//! up a million blocks costs it a quadratic 10^12 steps, and its curve is already plain.
//!
//! `cargo bench -p mm-benches --bench cost_growth`; reports under `target/criterion`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mdriver::race::{self, RaceConfig};
use mdriver::subject::Subject;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Live-set sizes, from 1k to 1M by factors of 4.
const LIVE: [usize; 6] = [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20];

/// The strategies and the largest live set each is measured at.
const STRATEGIES: [(&str, usize); 4] =
    [("implicit", 1 << 14), ("explicit", 1 << 20), ("segregated", 1 << 20), ("libc", 1 << 20)];

/// Pairs per batch: enough that the random choice of victims evens out.
const PAIRS: usize = 1024;

fn setup(subject: &mut dyn Subject, live: usize, rng: &mut ChaCha8Rng) -> Vec<*mut u8> {
    subject.start().expect("init");
    (0..live).map(|_| subject.malloc(rng.random_range(8..=64))).collect()
}

fn cost_growth(c: &mut Criterion) {
    let config = RaceConfig { max_heap: 1 << 30, ..RaceConfig::default() };
    let mut group = c.benchmark_group("cost_growth");
    group.sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(PAIRS as u64));
    for (name, max_live) in STRATEGIES {
        let mut contender = race::contender(name, &config).expect("registered strategy");
        for live in LIVE.into_iter().filter(|&n| n <= max_live) {
            let mut rng = ChaCha8Rng::seed_from_u64(live as u64);
            let subject = contender.subject.as_mut();
            let mut blocks = setup(subject, live, &mut rng);
            assert!(blocks.iter().all(|p| !p.is_null()), "{name}: the heap is too small for {live} blocks");
            group.bench_function(BenchmarkId::new(name, live), |b| {
                b.iter(|| {
                    for _ in 0..PAIRS {
                        let victim = rng.random_range(0..blocks.len());
                        // SAFETY: every pointer in `blocks` is live and from this subject.
                        unsafe { subject.free(blocks[victim]) };
                        blocks[victim] = black_box(subject.malloc(rng.random_range(8..=64)));
                    }
                })
            });
            // SAFETY: `blocks` holds exactly the live blocks.
            unsafe { subject.finish(&blocks) };
        }
    }
    group.finish();
}

criterion_group!(benches, cost_growth);
criterion_main!(benches);
