//! `program`: what real programs do. Most requests are small (8 to 128 bytes), drawn
//! from a handful of "struct sizes" that recur, plus odd-sized strings, some medium
//! arrays (often with power-of-two capacities, sometimes grown with `realloc`) and rare
//! large buffers. Lifetimes are mixed the way the generational hypothesis says they
//! are: most objects die within a few dozen operations, some live for thousands, a few
//! until the end of a phase or of the program. The run is split into phases with
//! different size mixes, each ending with a burst of frees (a data structure torn
//! down). Stresses the common case: fast small allocations, splitting, and
//! fragmentation from long-lived blocks left among short-lived ones.

use std::collections::BTreeSet;

use super::LIVE_BYTES_CAP;
use super::builder::Builder;
use super::dice::{Dice, share};

/// What the program allocates: the size classes of its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One of the program's struct sizes (its palette).
    Struct,
    /// A string: `strlen + 1`, any length, mostly short.
    String,
    /// An array: an element size times a count, often a power-of-two capacity.
    Array,
    /// An I/O buffer or a table: pages, sometimes with a little extra.
    Buffer,
}

/// How long an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifetime {
    /// Dies within 40 ticks.
    Short,
    /// Dies within 41 to 4000 ticks.
    Medium,
    /// Lives until the end of its phase.
    Phase,
    /// Lives until the end of the program.
    Program,
}

/// A phase's mix: how often each struct size, kind and lifetime is drawn, and how often
/// an array is grown.
struct Mix {
    /// One weight per palette entry.
    palette_weights: Vec<usize>,
    /// Per mille of each kind.
    kinds: [(Kind, usize); 4],
    /// Per mille of each lifetime.
    lifetimes: [(Lifetime, usize); 4],
    /// Per mille chance, at each step, that an array outgrows its capacity.
    grow_per_mille: usize,
}

impl Mix {
    fn draw(dice: &mut Dice, palette: &[usize]) -> Mix {
        let palette_weights = palette.iter().map(|_| dice.between(1, 10)).collect();
        let kinds = [
            (Kind::Struct, dice.between(400, 700)),
            (Kind::String, dice.between(150, 350)),
            (Kind::Array, dice.between(40, 150)),
            (Kind::Buffer, dice.between(2, 10)),
        ];
        let lifetimes = [
            (Lifetime::Short, dice.between(500, 750)),
            (Lifetime::Medium, dice.between(150, 300)),
            (Lifetime::Phase, dice.between(30, 100)),
            (Lifetime::Program, dice.between(3, 15)),
        ];
        Mix { palette_weights, kinds, lifetimes, grow_per_mille: dice.between(5, 30) }
    }
}

/// The program: its struct sizes, the objects waiting to die, and its growable arrays.
struct Program {
    /// The program's "types": struct sizes that recur throughout the run.
    palette: Vec<usize>,
    /// Short- and medium-lived objects, keyed by the clock tick they die at (then by id,
    /// so the order of simultaneous deaths is fixed).
    deaths: BTreeSet<(usize, usize)>,
    /// Arrays that may be grown with realloc (possibly dead already: checked on use).
    arrays: Vec<usize>,
}

/// Generates `program` into `b`: see the module documentation.
pub(super) fn generate(b: &mut Builder, dice: &mut Dice) {
    // Mostly multiples of 8 (the compiler pads structs), some powers of two, a few odd.
    let palette = (0..dice.between(4, 10))
        .map(|_| match dice.below(6) {
            0 | 1 => 1 << dice.between(3, 7),
            2 => dice.between(9, 127),
            _ => 8 * dice.between(1, 16),
        })
        .collect();
    let mut program = Program { palette, deaths: BTreeSet::new(), arrays: Vec::new() };
    let phases = dice.between(2, 5);
    let total = b.slack();
    for phase in 0..phases {
        // Phases split the budget evenly; each has its own mix of sizes and lifetimes.
        let phase_end = share(total, phases - phase - 1, phases);
        let mix = Mix::draw(dice, &program.palette);
        let phase_objects = program.run_phase(b, dice, &mix, phase_end);
        tear_down(b, dice, phase_objects);
    }
    // The objects still waiting to die go in the order they would have died.
    while let Some((_, id)) = program.deaths.pop_first() {
        b.free(id);
    }
}

impl Program {
    /// Runs a phase until the budget reaches `phase_end`; returns the objects that live
    /// until the end of the phase.
    fn run_phase(&mut self, b: &mut Builder, dice: &mut Dice, mix: &Mix, phase_end: usize) -> Vec<usize> {
        let mut phase_objects = Vec::new();
        loop {
            let now = b.clock();
            if let Some(&(due, id)) = self.deaths.first()
                && due <= now
            {
                self.deaths.pop_first();
                b.free(id);
                continue;
            }
            if b.slack() <= phase_end || !b.can_alloc() {
                break;
            }
            // Near the cap, the program makes only temporaries (and grows nothing).
            let crowded = b.live_bytes > LIVE_BYTES_CAP - (128 << 10);
            if !crowded && !self.arrays.is_empty() && dice.per_mille(mix.grow_per_mille) {
                self.grow_an_array(b, dice);
                continue;
            }
            let kind = if crowded { Kind::Struct } else { dice.choose(&mix.kinds) };
            let size = self.size(dice, mix, kind);
            // Large buffers are temporaries or per-phase tables, never global.
            let life = match kind {
                _ if crowded => Lifetime::Short,
                Kind::Buffer => dice.pick(&[Lifetime::Short, Lifetime::Phase]),
                _ => dice.choose(&mix.lifetimes),
            };
            let Some(id) = b.alloc(size) else { break };
            if kind == Kind::Array {
                self.arrays.push(id);
            }
            match life {
                Lifetime::Short => {
                    self.deaths.insert((now + dice.between(1, 40), id));
                }
                Lifetime::Medium => {
                    self.deaths.insert((now + dice.log_uniform(41, 4000), id));
                }
                Lifetime::Phase => phase_objects.push(id),
                Lifetime::Program => {}
            }
        }
        phase_objects
    }

    /// An array outgrew its capacity: double it, as a growable vector does (or forget
    /// it, when it died or is big already).
    fn grow_an_array(&mut self, b: &mut Builder, dice: &mut Dice) {
        let pos = dice.below(self.arrays.len());
        let id = self.arrays[pos];
        if b.is_live(id) && b.size_of(id) < 64 << 10 {
            b.resize(id, b.size_of(id) * 2);
        } else {
            self.arrays.swap_remove(pos);
        }
    }

    /// The size of a request of `kind`.
    fn size(&self, dice: &mut Dice, mix: &Mix, kind: Kind) -> usize {
        match kind {
            Kind::Struct => self.palette[dice.weighted(&mix.palette_weights)],
            Kind::String => dice.log_uniform(2, 256),
            Kind::Array => {
                let elem = dice.pick(&[4, 8, 12, 16, 24, 32]);
                let count = dice.log_uniform(4, 256);
                elem * if dice.chance(1, 2) { count.next_power_of_two() } else { count }
            }
            Kind::Buffer => {
                4096 * dice.between(2, 16) + if dice.chance(1, 2) { 0 } else { dice.between(1, 4095) }
            }
        }
    }
}

/// The phase's data structures are torn down: newest first (a stack of scopes
/// unwinding) or in no particular order (a hash table cleared).
fn tear_down(b: &mut Builder, dice: &mut Dice, mut phase_objects: Vec<usize>) {
    if dice.chance(1, 2) {
        phase_objects.reverse();
    } else {
        dice.shuffle(&mut phase_objects);
    }
    for id in phase_objects {
        b.free(id);
    }
}
