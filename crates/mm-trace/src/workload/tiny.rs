//! `tiny`: many tiny blocks (1 to 32 bytes), thousands live at once, built up
//! in waves and released in different orders (oldest first, newest first, every
//! other, random). Per-block overhead dominates here: headers, footers and the
//! minimum block size decide the utilization, and a list that visits every block
//! decides the throughput.

use super::builder::Builder;
use super::dice::{Dice, share};

/// The classic orders in which a wave of blocks is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// Oldest first: a queue drained.
    OldestFirst,
    /// Newest first: a stack unwound.
    NewestFirst,
    /// Every other block, then the rest.
    EveryOther,
    /// No order at all.
    Shuffled,
}

impl Release {
    const ALL: [Release; 4] =
        [Release::OldestFirst, Release::NewestFirst, Release::EveryOther, Release::Shuffled];
}

/// Generates `tiny` into `b`: see the module documentation.
pub(super) fn generate(b: &mut Builder, dice: &mut Dice) {
    // Either any size 1..=32 (short strings, small records), or a few node sizes
    // dominating (the list and tree nodes of a pointer-heavy program).
    let nodes: Vec<usize> = if dice.chance(1, 2) {
        Vec::new()
    } else {
        (0..dice.between(2, 5)).map(|_| dice.between(1, 32)).collect()
    };
    let node_weights: Vec<usize> = nodes.iter().map(|_| dice.between(1, 10)).collect();
    let size = |dice: &mut Dice| {
        if nodes.is_empty() || dice.chance(1, 5) {
            dice.between(1, 32)
        } else {
            nodes[dice.weighted(&node_weights)]
        }
    };
    let wave_max = (b.slack() / dice.between(4, 8)).clamp(8, 50_000);
    // The workload's live blocks, oldest first.
    let mut order: Vec<usize> = Vec::new();

    'waves: while b.can_alloc() {
        let target = dice.between(wave_max / 2, wave_max);
        while order.len() < target {
            let Some(id) = b.alloc(size(dice)) else { break 'waves };
            order.push(id);
        }
        // Release all but up to half, in one of the classic orders.
        let keep = share(order.len(), dice.between(0, 50), 100);
        let mut victims: Vec<usize> = (0..order.len()).collect();
        match dice.pick(&Release::ALL) {
            Release::OldestFirst => {}
            Release::NewestFirst => victims.reverse(),
            Release::EveryOther => victims.sort_by_key(|&i| (i % 2, i)),
            Release::Shuffled => dice.shuffle(&mut victims),
        }
        let mut freed = vec![false; order.len()];
        for &pos in &victims[..order.len() - keep] {
            b.free(order[pos]);
            freed[pos] = true;
        }
        let mut pos = 0;
        order.retain(|_| {
            pos += 1;
            !freed[pos - 1]
        });
    }
}
