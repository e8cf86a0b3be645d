//! Reference-model soak: seeded random `malloc`/`free`/`realloc`/`calloc` sequences on
//! every registered strategy (ours and the peers), each checked against the conformance
//! kit's model of the live set after every operation: `check_heap`, alignment, bounds,
//! no overlap with any live block, and the full contents of every live block.
//!
//! The quick profile runs in `cargo test`. The long one is `just soak`, or:
//!
//! ```sh
//! MMLAB_SOAK_OPS=250000 MMLAB_SOAK_SEEDS=4 MMLAB_SOAK_VERIFY_EVERY=64 \
//!     cargo test --release -p mdriver --test soak -- --nocapture
//! ```
//!
//! A failure names the strategy, the seed and the op, and prints the call that replays
//! it (`mm_testkit::random_ops_verifying(...)`).

use mdriver::registry;
use mm_core::{Align, Allocator, MemLib};
use mm_testkit::{RandomProfile, random_ops_verifying};

/// A number from the environment, decimal or `0x` hex; `default` when unset. A value
/// that does not parse is an error, not a silent default.
fn env_or(name: &str, default: usize) -> usize {
    let Ok(value) = std::env::var(name) else { return default };
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("{name}={value}: {e}"))
}

#[test]
fn every_strategy_agrees_with_the_reference_model() {
    let ops = env_or("MMLAB_SOAK_OPS", 4000);
    let seeds = env_or("MMLAB_SOAK_SEEDS", 1) as u64;
    let verify_every = env_or("MMLAB_SOAK_VERIFY_EVERY", 1);
    let base_seed = env_or("MMLAB_SOAK_SEED", 0x50a1_0000) as u64;
    for strategy in registry::all_names().into_iter().filter(|&s| s != registry::LIBC) {
        let info = registry::find(strategy).unwrap();
        let factory = |heap: MemLib, align: Align| -> Box<dyn Allocator> { (info.build)(heap, align) };
        let started = std::time::Instant::now();
        for seed in base_seed..base_seed + seeds {
            for profile in [RandomProfile::Mixed, RandomProfile::ReallocHeavy] {
                for align in [Align::MIN, Align::SIXTEEN] {
                    random_ops_verifying(factory, align, profile, seed, ops, verify_every);
                }
            }
        }
        eprintln!(
            "{strategy}: {} ops ({seeds} seeds from {base_seed:#x} x 2 profiles x 2 alignments), all live \
             blocks verified every {verify_every} op(s), in {:.1?}",
            4 * seeds as usize * ops,
            started.elapsed()
        );
    }
}
