//! Realloc growth: one buffer grown by `realloc` in steps, the way a growing vector,
//! string or read buffer grows, per strategy and libc. One iteration is the whole
//! growth, from the first `malloc` to the last `realloc`, on a freshly started heap (the
//! restart and the frees afterwards are not timed); the throughput criterion prints is
//! in reallocs per second.
//!
//! Patterns (group `realloc/<pattern>`):
//! * `double`: 16 B, doubled up to 1 MiB (16 reallocs), the growth of `Vec`.
//! * `plus4k`: 4 KiB, then +4 KiB at a time up to 1 MiB (255 reallocs).
//! * `plus16`: 16 B, then +16 B at a time up to 64 KiB (4095 reallocs). It stops at
//!   64 KiB because going on to 1 MiB would be 65 535 reallocs, and a strategy that
//!   moves the buffer at every step would copy 34 GB per iteration.
//!
//! Each pattern runs in two settings (the last part of the id):
//! * `alone`: nothing else is allocated, so a strategy that can grow a block in place
//!   (into the free space after it, or by extending the heap when it is the last block)
//!   never has to copy.
//! * `blocked`: a 16-byte block is allocated (and kept) right after the buffer and again
//!   after every step, so the buffer's right neighbour is always live and in-place growth
//!   is impossible wherever the neighbour lands next to it: the strategy has to move the
//!   buffer (and copy it), or find some other way. This is a buffer growing while the
//!   program allocates other things, the case that fragments a heap.
//!
//! Ids: `realloc/<pattern>/<strategy>/<alone|blocked>`.
//! `cargo bench -p mm-benches --bench realloc_growth [-- <filter>]`; reports under
//! `target/criterion`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mm_benches::Rig;

/// One way to grow a buffer: its first size, how each step grows it, and where it stops.
struct Pattern {
    name: &'static str,
    first: usize,
    last: usize,
    next: fn(usize) -> usize,
}

impl Pattern {
    /// The sizes the buffer is realloc'ed to, in order (the first `malloc` is not one).
    fn steps(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(self.first), |&s| (s < self.last).then(|| (self.next)(s).min(self.last)))
            .skip(1)
    }
}

const PATTERNS: [Pattern; 3] = [
    Pattern { name: "double", first: 16, last: 1 << 20, next: |s| s * 2 },
    Pattern { name: "plus4k", first: 4 << 10, last: 1 << 20, next: |s| s + (4 << 10) },
    Pattern { name: "plus16", first: 16, last: 64 << 10, next: |s| s + 16 },
];

/// The size of the blocks that keep the buffer from growing in place.
const NEIGHBOUR: usize = 16;

/// The simulated heap. The heaps measured here stay under 20 MiB (ours under 4 MiB),
/// and a strategy that ran out would stop the bench with a message naming it. Not much
/// more: the simulated heap is zero-filled when it is created.
const MAX_HEAP: usize = 64 << 20;

/// Grows the buffer (the live block at index 0 of an empty rig) through `pattern`.
fn grow(rig: &mut Rig, pattern: &Pattern, blocked: bool) {
    rig.alloc(pattern.first);
    if blocked {
        rig.alloc(NEIGHBOUR);
    }
    for size in pattern.steps() {
        rig.realloc(0, size);
        if blocked {
            rig.alloc(NEIGHBOUR);
        }
    }
}

fn realloc_growth(c: &mut Criterion) {
    for pattern in &PATTERNS {
        let steps = pattern.steps().count();
        let mut group = c.benchmark_group(format!("realloc/{}", pattern.name));
        group.throughput(Throughput::Elements(steps as u64));
        for name in mm_benches::strategies() {
            let mut rig = Rig::new(&name, MAX_HEAP);
            // Room to track the buffer and every neighbour, so that tracking them does not
            // call the system allocator inside the timed loop.
            rig.reserve(steps + 2);
            for (setting, blocked) in [("alone", false), ("blocked", true)] {
                group.bench_function(BenchmarkId::new(&name, setting), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            rig.clear();
                            let started = Instant::now();
                            grow(&mut rig, pattern, blocked);
                            total += started.elapsed();
                        }
                        total
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = mm_benches::criterion();
    targets = realloc_growth
}
criterion_main!(benches);
