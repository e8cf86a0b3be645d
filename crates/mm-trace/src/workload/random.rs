//! `random`: the classic random traces. Sizes are uniform over a wide range
//! (1 byte up to between 512 bytes and 32 KiB, depending on the seed) and each step
//! allocates or frees a random live block, drifting up to a target live size and
//! wandering around it. No structure to exploit: it measures the general case of the
//! placement policy and how much external fragmentation it lets build up.

use super::LIVE_BYTES_CAP;
use super::builder::Builder;
use super::dice::Dice;

/// Generates `random` into `b`: see the module documentation.
pub(super) fn generate(b: &mut Builder, dice: &mut Dice) {
    let max_size = dice.log_uniform(512, 32 << 10);
    let target_bytes = dice.between(256 << 10, 2 << 20);
    // Per mille chance that a step allocates, below and above the target.
    let up = dice.between(550, 750);
    let down = dice.between(250, 450);
    while b.can_alloc() {
        let size = dice.between(1, max_size);
        let p = if b.live_bytes < target_bytes { up } else { down };
        let room = b.live_bytes + size <= LIVE_BYTES_CAP;
        if b.live_count() == 0 || (room && dice.per_mille(p)) {
            b.alloc(size);
        } else {
            let id = b.random_live(dice);
            b.free(id);
        }
    }
}
