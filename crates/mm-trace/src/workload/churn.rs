//! `churn`: a long steady state. The live set is built up, then held roughly
//! constant while random (or oldest) blocks are freed and new ones allocated from a
//! size mix that slowly drifts. A good policy reaches an equilibrium; a poor one
//! lets fragmentation accumulate and keeps growing the heap.

use std::collections::VecDeque;

use super::LIVE_BYTES_CAP;
use super::builder::Builder;
use super::dice::Dice;

/// Generates `churn` into `b`: see the module documentation.
pub(super) fn generate(b: &mut Builder, dice: &mut Dice) {
    let max_size = 1 << dice.between(8, 13);
    let mut palette: Vec<usize> = (0..dice.between(3, 6)).map(|_| dice.log_uniform(8, max_size)).collect();
    let palette_per_mille = dice.between(300, 700);
    let oldest_per_mille = dice.between(0, 500);
    let target = (b.slack() / dice.between(8, 20)).clamp(8, 20_000);
    // Allocation order, for "free the oldest"; entries freed meanwhile are skipped.
    let mut fifo: VecDeque<usize> = VecDeque::new();

    let mut warm = true;
    while b.can_alloc() {
        let live = b.live_count();
        warm &= live < target;
        // Steer back towards the target with a bias, rather than holding it exactly,
        // so the live set breathes a little as real ones do.
        let alloc_per_mille = if warm || live == 0 {
            1000
        } else if live < target * 9 / 10 {
            750
        } else if live > target * 11 / 10 {
            250
        } else {
            500
        };
        let size = if dice.per_mille(palette_per_mille) {
            dice.pick(&palette)
        } else {
            dice.log_uniform(8, max_size)
        };
        if (live == 0 || b.live_bytes + size <= LIVE_BYTES_CAP) && dice.per_mille(alloc_per_mille) {
            let Some(id) = b.alloc(size) else { break };
            fifo.push_back(id);
            // The size mix drifts: now and then a common size goes out of use and
            // another comes in, so old holes stop matching new requests.
            if dice.per_mille(2) {
                let pos = dice.below(palette.len());
                palette[pos] = dice.log_uniform(8, max_size);
            }
        } else if dice.per_mille(oldest_per_mille) {
            while let Some(id) = fifo.pop_front() {
                if b.is_live(id) {
                    b.free(id);
                    break;
                }
            }
        } else {
            let id = b.random_live(dice);
            b.free(id);
        }
    }
}
