//! `coalesce`: runs of adjacent blocks are freed in passes (every other block,
//! then the rest; or every third, in either direction). Nothing freed in the first
//! pass can merge, since its neighbours are still allocated; every block of the last
//! pass merges with both. Then come requests several times larger than any block of
//! the run, which fit only if the neighbours were merged. An allocator that does not
//! coalesce (or only merges one side) grows the heap on every round.

use super::builder::Builder;
use super::dice::Dice;

/// Generates `coalesce` into `b`: see the module documentation.
pub(super) fn generate(b: &mut Builder, dice: &mut Dice) {
    let max_run = (b.slack() / 16).clamp(4, 256);
    // Small long-lived blocks and the odd large survivor, so that runs are carved from
    // the middle of a heap with structure, not always from its end.
    let mut pins: Vec<usize> = Vec::new();
    let mut survivor: Option<usize> = None;

    'rounds: while b.can_alloc() {
        let n = dice.between((max_run / 2).max(2), max_run);
        let base = dice.log_uniform(16, 512);
        let jitter = if dice.chance(1, 2) { 0 } else { dice.between(1, base / 4) };
        let mut run = Vec::with_capacity(n);
        for _ in 0..n {
            let Some(id) = b.alloc(base + dice.between(0, jitter)) else { break 'rounds };
            run.push(id);
        }

        // Free the run in `stride` passes, each taking every stride-th block from some
        // offset, forwards or backwards. With stride 2 this is "every other one, then
        // the rest". Backwards passes make each block merge with its *next* neighbour
        // first, forwards ones with its previous, so both code paths are exercised.
        let stride = dice.pick(&[2, 2, 2, 3, 4]);
        let mut offsets: Vec<usize> = (0..stride).collect();
        dice.shuffle(&mut offsets);
        for offset in offsets {
            let mut pass: Vec<usize> = run.iter().copied().skip(offset).step_by(stride).collect();
            if dice.chance(1, 2) {
                pass.reverse();
            }
            for id in pass {
                b.free(id);
            }
        }

        // Requests that need the merged run: a `k`-th of its bytes each, which is at
        // least one and a half blocks of the run, more than any single hole holds.
        let total: usize = run.iter().map(|&id| b.size_of(id)).sum();
        let k = dice.between(1, 4).min(n / 2).max(1);
        let big = total / k - dice.between(0, base / 2);
        let mut bigs = Vec::with_capacity(k);
        for _ in 0..k {
            let Some(id) = b.alloc(big) else { break 'rounds };
            bigs.push(id);
        }
        if let Some(id) = survivor.take() {
            b.free(id);
        }
        if dice.chance(1, 3) {
            survivor = bigs.pop();
        }
        for id in bigs {
            b.free(id);
        }

        if pins.len() < 32 && dice.chance(1, 2) {
            let Some(id) = b.alloc(dice.between(8, 64)) else { break };
            pins.push(id);
        }
        if !pins.is_empty() && dice.chance(1, 3) {
            let id = pins.swap_remove(dice.below(pins.len()));
            b.free(id);
        }
    }
}
