//! Shared setup for the mmlab criterion benchmarks.
//!
//! The benchmarks themselves live in `benches/benches/` and run with `cargo bench -p
//! mm-benches` (or `just bench`); what each measures, and medians, are in
//! `docs/benchmarks.md`. This library holds what they share:
//!
//! * [`strategies`]: the strategies every bench covers, taken from mdriver's registry (the
//!   default race, then `libc`), so a strategy registered there is benched with no edit
//!   here.
//! * [`criterion()`]: the common criterion settings, short enough that the whole suite runs
//!   in minutes.
//! * [`quick_mode`]: whether criterion only runs each benchmark once (`cargo test
//!   --benches`), so the benches can keep their set-up small too.
//! * [`Rig`]: one strategy (or libc) and the blocks a bench keeps live on it, with safe
//!   `malloc` / `free` / `realloc` operations. All the `unsafe` of the benches is in here.
//! * [`log_uniform`]: the size distribution of background blocks.

use std::hint::black_box;
use std::ptr;
use std::time::Duration;

use criterion::Criterion;
use mm_race::race::{self, RaceConfig};
use mm_race::subject::Subject;
use rand::{Rng, RngExt};

/// The names every bench covers, in report order: mdriver's default race (our
/// strategies and any third-party ones registered there), then `libc`.
pub fn strategies() -> Vec<String> {
    mm_race::registry::default_names().into_iter().map(|name| name.to_string()).collect()
}

/// Builds the named strategy (or libc) as mdriver races it, over a simulated heap of
/// `max_heap` bytes, with the driver's default alignment. The simulated heap is
/// reserved as address space (`mm_race::race::heap`) and costs memory only as the bench
/// touches it.
///
/// # Panics
/// If the name is not registered or the heap cannot be reserved.
pub fn subject(name: &str, max_heap: usize) -> Box<dyn Subject> {
    let config = RaceConfig { max_heap, ..RaceConfig::default() };
    race::contender(name, &config).unwrap_or_else(|e| panic!("cannot build {name}: {e}")).subject
}

/// The criterion settings every bench starts from: 10 samples, 0.3 s of warm-up and 1 s
/// of measurement per benchmark, and 10 000 bootstrap resamples (criterion's defaults are
/// 100 samples, 3 s, 5 s and 100 000 resamples, which would make the suite take over an
/// hour: drawing the HTML report's density plots over 100 000 resamples alone takes about
/// 4 s per benchmark). Command-line options such as `--measurement-time 5` still override
/// them.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .nresamples(10_000)
}

/// True when criterion will not time anything: `cargo test --benches` (no `--bench`
/// argument), `--test`, or `--list`. Mirrors criterion's own rule, so that a bench can
/// scale its set-up down when each benchmark runs only once.
pub fn quick_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--test") || has("--list") || !has("--bench")
}

/// A size drawn so that every power-of-two octave in `lo..=hi` is equally likely (real
/// programs allocate many more small blocks than large ones), uniform within the octave.
pub fn log_uniform(rng: &mut impl Rng, lo: usize, hi: usize) -> usize {
    assert!(0 < lo && lo <= hi, "log_uniform needs 0 < lo <= hi");
    let octave = rng.random_range(lo.ilog2()..=hi.ilog2());
    let (start, end) = (1usize << octave, (2usize << octave) - 1);
    rng.random_range(start.max(lo)..=end.min(hi))
}

/// One strategy (or libc) and the blocks a bench keeps live on it.
///
/// Invariant: every pointer in `live` is a non-null block this rig's subject returned
/// and that has not been freed since, and the subject is only restarted (which resets our
/// strategies' heaps) when `live` is empty. Every `unsafe` call below relies on it.
/// Dropping the rig releases the live blocks (libc's through `free`; our strategies'
/// heaps are dropped whole).
pub struct Rig {
    name: String,
    subject: Box<dyn Subject>,
    live: Vec<*mut u8>,
}

impl Rig {
    /// The named strategy (or libc) over a heap of `max_heap` bytes, initialised, with
    /// no block live.
    ///
    /// # Panics
    /// If the name is not registered, the heap cannot be reserved, or `init` fails.
    pub fn new(name: &str, max_heap: usize) -> Rig {
        let mut rig = Rig { name: name.to_owned(), subject: subject(name, max_heap), live: Vec::new() };
        rig.start();
        rig
    }

    fn start(&mut self) {
        debug_assert!(self.live.is_empty());
        if let Err(e) = self.subject.start() {
            panic!("{}: init failed: {e}", self.name);
        }
    }

    /// The strategy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The simulated heap's size (its break), for our strategies; `None` for libc.
    pub fn heap_bytes(&self) -> Option<usize> {
        self.subject.heap().map(|heap| heap.heap_size())
    }

    /// How many blocks are live.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Makes room to track `additional` more live blocks, so that tracking them does not
    /// call the (system) allocator inside a timed loop.
    pub fn reserve(&mut self, additional: usize) {
        self.live.reserve(additional);
    }

    /// Releases every live block and starts the strategy afresh (our strategies reset
    /// their heap and run `init` again; libc frees each block).
    pub fn clear(&mut self) {
        // SAFETY: by the invariant, `live` holds exactly this subject's live blocks.
        unsafe { self.subject.finish(&self.live) };
        self.live.clear();
        self.start();
    }

    /// `malloc(size)`, keeping the block live; `false` (and nothing kept) if the
    /// strategy returned null.
    pub fn try_alloc(&mut self, size: usize) -> bool {
        let ptr = self.subject.malloc(size);
        if ptr.is_null() {
            return false;
        }
        self.live.push(ptr);
        true
    }

    /// `malloc(size)`, keeping the block live.
    ///
    /// # Panics
    /// If the strategy returns null.
    pub fn alloc(&mut self, size: usize) {
        if !self.try_alloc(size) {
            self.out_of_memory("malloc", size);
        }
    }

    /// Frees the live block at `index`; the last live block takes its index.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn free(&mut self, index: usize) {
        let ptr = self.live.swap_remove(index);
        // SAFETY: by the invariant, `ptr` is a live block of this subject; it has just
        // left `live`, so it is freed exactly once.
        unsafe { self.subject.free(ptr) };
    }

    /// Frees the live block at `index` and allocates `size` bytes in its place (the new
    /// block keeps the index).
    ///
    /// # Panics
    /// If `index` is out of range or the strategy returns null.
    pub fn replace(&mut self, index: usize, size: usize) {
        let slot = &mut self.live[index];
        let old = std::mem::replace(slot, ptr::null_mut());
        // SAFETY: by the invariant, `old` is a live block of this subject; its slot is
        // nulled until the new block fills it, so it is freed exactly once.
        unsafe { self.subject.free(old) };
        let new = self.subject.malloc(size);
        if new.is_null() {
            self.live.swap_remove(index);
            self.out_of_memory("malloc", size);
        }
        self.live[index] = black_box(new);
    }

    /// `realloc(block, size)` of the live block at `index`, which keeps its index.
    ///
    /// # Panics
    /// If `index` is out of range or the strategy returns null (the old block then stays
    /// live); `size` must not be 0 (that would free the block).
    pub fn realloc(&mut self, index: usize, size: usize) {
        assert!(size > 0, "realloc to 0 bytes frees the block; use free");
        let old = self.live[index];
        // SAFETY: by the invariant, `old` is a live block of this subject. On success it
        // is replaced in `live` by the block realloc returns; on failure (null) C's rules
        // leave it live, and it stays in `live`.
        let new = unsafe { self.subject.realloc(old, size) };
        if new.is_null() {
            self.out_of_memory("realloc", size);
        }
        self.live[index] = black_box(new);
    }

    /// One `malloc(size)` immediately followed by `free` of the block: the pair whose
    /// latency `benches/pairs.rs` measures. Nothing is kept live.
    ///
    /// # Panics
    /// If the strategy returns null.
    pub fn pair(&mut self, size: usize) {
        let ptr = black_box(self.subject.malloc(size));
        if ptr.is_null() {
            self.out_of_memory("malloc", size);
        }
        // SAFETY: `ptr` is non-null and was just returned by this subject's `malloc`.
        unsafe { self.subject.free(ptr) };
    }

    /// Allocates `2 * count` blocks of [`log_uniform`] sizes in `lo..=hi` and frees a
    /// random half of them, leaving `count` live blocks with holes between them: a heap
    /// whose free lists are not trivially empty.
    ///
    /// # Panics
    /// If the strategy runs out of memory.
    pub fn fill_background(&mut self, count: usize, lo: usize, hi: usize, rng: &mut impl Rng) {
        let first = self.live.len();
        for _ in 0..2 * count {
            let size = log_uniform(rng, lo, hi);
            self.alloc(size);
        }
        for _ in 0..count {
            let index = rng.random_range(first..self.live.len());
            self.free(index);
        }
    }

    #[cold]
    #[track_caller]
    fn out_of_memory(&self, what: &str, size: usize) -> ! {
        panic!("{}: {what}({size}) returned null with {} blocks live", self.name, self.live.len())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // SAFETY: by the invariant, `live` holds exactly this subject's live blocks.
        unsafe { self.subject.finish(&self.live) };
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn log_uniform_stays_in_range_and_reaches_both_ends() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let sizes: Vec<usize> = (0..10_000).map(|_| log_uniform(&mut rng, 16, 4096)).collect();
        assert!(sizes.iter().all(|&s| (16..=4096).contains(&s)));
        assert!(sizes.iter().any(|&s| s < 32) && sizes.iter().any(|&s| s >= 2048));
        assert_eq!(log_uniform(&mut rng, 24, 24), 24);
    }

    #[test]
    fn every_strategy_runs_every_rig_operation() {
        let names = strategies();
        assert!(names.iter().any(|n| n == "libc") && names.len() > 1);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for name in &names {
            let mut rig = Rig::new(name, 64 << 20);
            rig.fill_background(500, 16, 4096, &mut rng);
            assert_eq!(rig.live(), 500, "{name}");
            rig.pair(1000);
            rig.replace(3, 40);
            rig.realloc(0, 100_000);
            rig.free(1);
            assert_eq!(rig.live(), 499, "{name}");
            rig.clear();
            assert_eq!(rig.live(), 0, "{name}");
            assert!(rig.try_alloc(64), "{name}");
        }
    }
}
