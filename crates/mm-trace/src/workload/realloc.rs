//! The `realloc` workloads.
//!
//! `realloc`: a few buffers grow by `realloc` in steps, the way a vector or a
//! string being appended to grows: by a fixed amount or geometrically, up to a limit,
//! after which the buffer is freed and a new one started. Between steps the program
//! allocates and frees small blocks, so the block after a buffer is sometimes free
//! (it can grow in place, or into the free neighbour) and sometimes a small live
//! block (it must move, and a copying `realloc` leaves a hole behind).
//!
//! `realloc-shrink`: buffers whose size wanders up *and down* (growing up to
//! twice, shrinking to a quarter), like a work queue or a string trimmed and
//! rebuilt. Stresses in-place shrinking (splitting off the tail as a free block) and
//! growing back into it. Buffers die by `f` or, a third of the time, by `r id 0`,
//! which a driver must turn into a free.

use super::builder::Builder;
use super::dice::Dice;
/// Small blocks allocated and freed between the steps of the realloc workloads, so the
/// neighbourhood of each buffer keeps changing.
struct Chatter {
    live: Vec<usize>,
    max_live: usize,
    max_size: usize,
}

impl Chatter {
    fn new(dice: &mut Dice) -> Chatter {
        Chatter { live: Vec::new(), max_live: dice.between(2, 48), max_size: dice.between(16, 256) }
    }

    /// A few small operations; false when the budget is spent.
    fn step(&mut self, b: &mut Builder, dice: &mut Dice) -> bool {
        for _ in 0..dice.between(0, 3) {
            if self.live.len() < self.max_live && (self.live.is_empty() || dice.chance(3, 5)) {
                let Some(id) = b.alloc(dice.between(8, self.max_size)) else { return false };
                self.live.push(id);
            } else if !self.live.is_empty() {
                // Mostly the oldest, as in the classic realloc traces (each step frees
                // the small block of the step before), sometimes any.
                let pos = if dice.chance(2, 3) { 0 } else { dice.below(self.live.len()) };
                let id = self.live.remove(pos);
                b.free(id);
            }
        }
        true
    }
}

/// How a `realloc` buffer grows at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Growth {
    /// By a fixed number of bytes: appending a chunk at a time.
    Append(usize),
    /// By a factor `numerator / denominator`: a vector's capacity growth.
    Scale(usize, usize),
}

impl Growth {
    /// The size after `size`.
    fn next(self, size: usize) -> usize {
        match self {
            Growth::Append(step) => size + step,
            Growth::Scale(numerator, denominator) => size * numerator / denominator,
        }
    }
}

/// Generates `realloc` into `b`: see the module documentation.
pub(super) fn grow(b: &mut Builder, dice: &mut Dice) {
    #[derive(Clone, Copy)]
    struct Buffer {
        id: usize,
        limit: usize,
        growth: Growth,
    }
    let max_limit = dice.between(16 << 10, 128 << 10);
    let mut buffers: Vec<Option<Buffer>> = vec![None; dice.between(1, 4)];
    let mut chatter = Chatter::new(dice);

    while b.can_alloc() {
        let slot = dice.below(buffers.len());
        match buffers[slot] {
            None => {
                let Some(id) = b.alloc(dice.between(8, 512)) else { break };
                let growth = if dice.chance(1, 2) {
                    Growth::Append(dice.between(16, 512))
                } else {
                    dice.pick(&[Growth::Scale(5, 4), Growth::Scale(3, 2), Growth::Scale(2, 1)])
                };
                buffers[slot] = Some(Buffer { id, limit: dice.between(max_limit / 4, max_limit), growth });
            }
            Some(buf) if b.size_of(buf.id) >= buf.limit => {
                b.free(buf.id);
                buffers[slot] = None;
            }
            Some(buf) => {
                let size = b.size_of(buf.id);
                let next = buf.growth.next(size).clamp(size + 1, buf.limit);
                if !b.resize(buf.id, next) {
                    break;
                }
            }
        }
        if !chatter.step(b, dice) {
            break;
        }
    }
}

/// Generates `realloc-shrink` into `b`: see the module documentation.
pub(super) fn shrink(b: &mut Builder, dice: &mut Dice) {
    #[derive(Clone, Copy)]
    struct Buffer {
        id: usize,
        steps_left: usize,
    }
    let cap = dice.between(8 << 10, 64 << 10);
    // A slight upward drift, so buffers get big before they die.
    let grow_per_mille = dice.between(500, 650);
    let mut buffers: Vec<Option<Buffer>> = vec![None; dice.between(1, 6)];
    let mut chatter = Chatter::new(dice);

    while b.can_alloc() {
        let slot = dice.below(buffers.len());
        match buffers[slot] {
            None => {
                let Some(id) = b.alloc(dice.log_uniform(8, 1024)) else { break };
                buffers[slot] = Some(Buffer { id, steps_left: dice.between(8, 128) });
            }
            Some(buf) if buf.steps_left == 0 => {
                if dice.chance(1, 3) {
                    b.free_by_realloc(buf.id);
                } else {
                    b.free(buf.id);
                }
                buffers[slot] = None;
            }
            Some(buf) => {
                let size = b.size_of(buf.id);
                let grown = (size + (size * dice.between(1, 4) / 4).max(1)).min(cap);
                let shrunk = (size * dice.between(1, 3) / 4).max(1);
                let next = if dice.per_mille(grow_per_mille) && grown > size { grown } else { shrunk };
                if !b.resize(buf.id, next) {
                    break;
                }
                buffers[slot] = Some(Buffer { steps_left: buf.steps_left - 1, ..buf });
            }
        }
        if !chatter.step(b, dice) {
            break;
        }
    }
}
