//! Pair latency by size class: the time of one `malloc(size)` immediately followed by
//! `free` of the block, for sizes from 16 bytes to 64 KiB, per strategy and libc.
//!
//! The pairs run against a background, not an empty heap: 8192 blocks of 16 B - 4 KiB
//! (every power-of-two octave equally likely) are allocated and a random half freed,
//! leaving 4096 live blocks with holes between them, so the free lists hold blocks of many
//! sizes and a request has to be placed among them (split off a hole, taken from a
//! list, or carved from the top) and its block merged back on `free`. A pair repeated in a
//! loop is the hot path of a program that allocates and frees one size over and over:
//! caches (like glibc's tcache) and LIFO lists hand the same block back every time.
//!
//! Ids: `pairs/<strategy>/<size>`; the group's report plots every strategy against size.
//! `cargo bench -p mm-benches --bench pairs [-- <filter>]`; reports under `target/criterion`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mm_benches::Rig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The request sizes measured, in bytes.
const SIZES: [usize; 7] = [16, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10];

/// Live blocks in the background (twice as many are allocated, and half freed).
const BACKGROUND: usize = 4096;

/// Background block sizes: 16 B to 4 KiB.
const BACKGROUND_SIZES: (usize, usize) = (16, 4096);

/// The simulated heap: the background takes 8-14 MiB of it. Not much more: the simulated
/// heap is zero-filled when it is created.
const MAX_HEAP: usize = 64 << 20;

fn pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("pairs");
    for name in mm_benches::strategies() {
        let mut rig = Rig::new(&name, MAX_HEAP);
        // The same background for every strategy.
        let mut rng = ChaCha8Rng::seed_from_u64(0x9a1e5);
        rig.fill_background(BACKGROUND, BACKGROUND_SIZES.0, BACKGROUND_SIZES.1, &mut rng);
        for size in SIZES {
            group.bench_function(BenchmarkId::new(&name, size), |b| b.iter(|| rig.pair(black_box(size))));
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = mm_benches::criterion();
    targets = pairs
}
criterion_main!(benches);
