//! The binary traps.
//!
//! `binary`: the classic binary trap. Small and large blocks are allocated
//! alternately (small 8..64 and large 64..512 bytes, sizes drawn per round), then
//! every block of one class is freed, leaving holes that can never merge because a
//! live block of the other class separates each pair. Then come requests a little
//! larger than the holes: none of them fits any hole, so the heap grows by their full
//! size, and a first-fit scan walks past every hole to learn that. Utilization is at
//! most the live share of the heap; policies that segregate sizes do much better.
//!
//! `binary-mixed`: the same alternation, but a share of *both* classes is freed
//! (different shares per round), so some holes are single blocks and some are runs
//! of neighbours that merged; the following requests range from the small size to
//! two large blocks and a small one, so some fit one hole, some only a merged hole,
//! some none. Stresses the fit policy (first, next, best) more than coalescing.

use super::LIVE_BYTES_CAP;
use super::builder::Builder;
use super::dice::{Dice, share};

/// Which blocks a round frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Frees {
    /// All of one class (`binary`).
    OneClass,
    /// Shares of both classes (`binary-mixed`).
    BothClasses,
}

/// The two size classes a round alternates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Small,
    Large,
}

/// Generates `binary` or `binary-mixed` into `b`: see the module documentation.
pub(super) fn generate(b: &mut Builder, dice: &mut Dice, frees: Frees) {
    let mixed = frees == Frees::BothClasses;
    // The budget is split between a few rounds; more run if the live-bytes cap cut
    // the planned ones short.
    let planned = dice.between(1, 3);
    let total = b.slack();
    let mut round = 0;
    while b.can_alloc() {
        let last = round + 1 >= planned;
        let round_end = share(total, planned.saturating_sub(round + 1), planned);
        round += 1;
        let small = dice.between(8, 64);
        let large = dice.between(64.max(2 * small), 512);
        // Usually exact sizes, as in the classic traces; sometimes a little noise.
        let jitter = if dice.chance(2, 3) { 0 } else { dice.between(1, 7) };
        // Per mille of each class freed (binary: all of one class).
        let (free_small, free_large) = if mixed {
            (dice.between(200, 800), dice.between(500, 1000))
        } else if dice.chance(3, 4) {
            (0, 1000)
        } else {
            (1000, 0)
        };
        // Each pair costs 4 slack, and each freed block is followed by one request (2).
        let avail = b.slack().saturating_sub(round_end);
        let pairs = share(avail, 1000, 4000 + 2 * (free_small + free_large))
            .min(LIVE_BYTES_CAP / 2 / (small + large + jitter))
            .max(1);
        let order =
            if dice.chance(1, 2) { [Class::Small, Class::Large] } else { [Class::Large, Class::Small] };

        let mut round_ids = Vec::with_capacity(2 * pairs);
        let mut freed = Vec::new();
        for _ in 0..pairs {
            for class in order {
                let (size, free_per_mille) = match class {
                    Class::Small => (small, free_small),
                    Class::Large => (large, free_large),
                };
                let size = size + dice.between(0, jitter);
                let Some(id) = b.alloc(size) else { return };
                round_ids.push(id);
                if dice.per_mille(free_per_mille) {
                    freed.push(id);
                }
            }
        }
        // The classic frees in allocation order; the mixed variant in random order, so
        // merges happen in every direction.
        if mixed {
            dice.shuffle(&mut freed);
        }
        for &id in &freed {
            b.free(id);
        }

        // One request per hole; the last planned round goes on until the budget (or
        // the cap) is spent, so the trace ends on the pattern rather than on filler.
        let hole = if free_large > 0 { large } else { small } + jitter;
        let over = dice.between(8, 128);
        let mut made = 0;
        loop {
            // binary: just too big for any hole. mixed: anything from one small block
            // to two large ones and the small one between them.
            let size = if mixed { dice.between(small, 2 * large + small) } else { hole + over };
            if (made >= freed.len() && !last) || b.live_bytes + size > LIVE_BYTES_CAP {
                break;
            }
            let Some(id) = b.alloc(size) else { break };
            round_ids.push(id);
            made += 1;
        }

        // Tear the round down so the next one starts from an empty (but grown) heap.
        let mut rest: Vec<usize> = round_ids.into_iter().filter(|&id| b.is_live(id)).collect();
        if mixed {
            dice.shuffle(&mut rest);
        }
        for id in rest {
            b.free(id);
        }
    }
}
