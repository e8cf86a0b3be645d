//! The random source of the generator: every draw goes through integer helpers, so a
//! trace is the same on every platform.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random source. Every draw goes through these integer helpers rather than
/// floating-point distributions, which keeps traces identical across platforms.
pub(super) struct Dice(ChaCha8Rng);

impl Dice {
    /// The stream of the workload called `name` for `seed`.
    pub(super) fn new(name: &str, seed: u64) -> Dice {
        // Key the stream by the workload's name too, so `random-7` and `churn-7` do not
        // share their underlying random numbers.
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let name = name.as_bytes();
        key[8..8 + name.len()].copy_from_slice(name);
        Dice(ChaCha8Rng::from_seed(key))
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn between(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(lo <= hi, "empty range {lo}..={hi}");
        // Sample as u64 so 32- and 64-bit hosts consume the stream identically.
        self.0.random_range(lo as u64..=hi as u64) as usize
    }

    /// Uniform in `0..n`, for `n > 0`.
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.between(0, n - 1)
    }

    /// True with probability `num / den`.
    pub(super) fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    /// True with probability `per_mille / 1000`.
    pub(super) fn per_mille(&mut self, per_mille: usize) -> bool {
        self.chance(per_mille, 1000)
    }

    /// Log-uniform in `lo..=hi` (`lo >= 1`): each power-of-two band is equally likely,
    /// then uniform within the band. Small sizes are common, large ones still occur,
    /// which is how request sizes are distributed in most programs.
    pub(super) fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(1 <= lo && lo <= hi);
        let bits = |n: usize| (usize::BITS - n.leading_zeros()) as usize;
        let band = self.between(bits(lo), bits(hi));
        let band_lo = 1usize << (band - 1);
        let band_hi = band_lo + (band_lo - 1);
        self.between(lo.max(band_lo), hi.min(band_hi))
    }

    /// An index into `weights`, chosen in proportion to the weights.
    pub(super) fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        unreachable!("x < total")
    }

    /// One of `choices`, each `(value, weight)` chosen in proportion to its weight (one
    /// draw, as [`Dice::weighted`] makes).
    pub(super) fn choose<T: Copy>(&mut self, choices: &[(T, usize)]) -> T {
        let weights: Vec<usize> = choices.iter().map(|&(_, w)| w).collect();
        choices[self.weighted(&weights)].0
    }

    /// A uniformly chosen element of a non-empty slice.
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Fisher-Yates, on our own helpers so the order is ours to keep stable.
    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.between(0, i);
            items.swap(i, j);
        }
    }
}

/// `total * num / den` without overflow, for splitting a budget into shares.
pub(super) fn share(total: usize, num: usize, den: usize) -> usize {
    (total as u128 * num as u128 / den as u128) as usize
}
