//! A seeded generator of allocation workloads: the classic malloc-lab trace shapes,
//! reproducible from a name, a seed and an operation count.
//!
//! Hand-written traces test what their author thought of. A generator can make as many
//! traces as you like, each a variation on a pattern known to be hard for some policy,
//! and [`generate`] is a pure function of `(workload, seed, ops)`, so any trace can be
//! rebuilt from one line (which is how `traces/SUITE` records the bundled suite).
//!
//! # The workloads
//!
//! Every workload draws its *parameters* from the seed as well as its sizes: one seed
//! may give a trace of 24-byte structs and short strings, the next 112-byte structs and
//! long arrays. A workload is a family of traces with a common shape, not one trace.
//!
//! * **`program`**: what real programs do. Most requests are small (8 to 128 bytes),
//!   drawn from a handful of "struct sizes" that recur, plus odd-sized strings, some
//!   medium arrays (often with power-of-two capacities, sometimes grown with `realloc`)
//!   and rare large buffers. Lifetimes are mixed the way the generational hypothesis
//!   says they are: most objects die within a few dozen operations, some live for
//!   thousands, a few until the end of a phase or of the program. The run is split
//!   into phases with different size mixes, each ending with a burst of frees (a data
//!   structure torn down). Stresses the common case: fast small allocations, splitting,
//!   and fragmentation from long-lived blocks left among short-lived ones.
//! * **`coalesce`**: runs of adjacent blocks are freed in passes (every other block,
//!   then the rest; or every third, in either direction). Nothing freed in the first
//!   pass can merge, since its neighbours are still allocated; every block of the last
//!   pass merges with both. Then come requests several times larger than any block of
//!   the run, which fit only if the neighbours were merged. An allocator that does not
//!   coalesce (or only merges one side) grows the heap on every round.
//! * **`random`**: the classic random traces. Sizes are uniform over a wide range
//!   (1 byte up to between 512 bytes and 32 KiB, depending on the seed) and each step
//!   allocates or frees a random live block, drifting up to a target live size and
//!   wandering around it. No structure to exploit: it measures the general case of the
//!   placement policy and how much external fragmentation it lets build up.
//! * **`binary`**: the classic binary trap. Small and large blocks are allocated
//!   alternately (small 8..64 and large 64..512 bytes, sizes drawn per round), then
//!   every block of one class is freed, leaving holes that can never merge because a
//!   live block of the other class separates each pair. Then come requests a little
//!   larger than the holes: none of them fits any hole, so the heap grows by their full
//!   size, and a first-fit scan walks past every hole to learn that. Utilization is at
//!   most the live share of the heap; policies that segregate sizes do much better.
//! * **`binary-mixed`**: the same alternation, but a share of *both* classes is freed
//!   (different shares per round), so some holes are single blocks and some are runs
//!   of neighbours that merged; the following requests range from the small size to
//!   two large blocks and a small one, so some fit one hole, some only a merged hole,
//!   some none. Stresses the fit policy (first, next, best) more than coalescing.
//! * **`realloc`**: a few buffers grow by `realloc` in steps, the way a vector or a
//!   string being appended to grows: by a fixed amount or geometrically, up to a limit,
//!   after which the buffer is freed and a new one started. Between steps the program
//!   allocates and frees small blocks, so the block after a buffer is sometimes free
//!   (it can grow in place, or into the free neighbour) and sometimes a small live
//!   block (it must move, and a copying `realloc` leaves a hole behind).
//! * **`realloc-shrink`**: buffers whose size wanders up *and down* (growing up to
//!   twice, shrinking to a quarter), like a work queue or a string trimmed and
//!   rebuilt. Stresses in-place shrinking (splitting off the tail as a free block) and
//!   growing back into it. Buffers die by `f` or, a third of the time, by `r id 0`,
//!   which a driver must turn into a free.
//! * **`tiny`**: many tiny blocks (1 to 32 bytes), thousands live at once, built up
//!   in waves and released in different orders (oldest first, newest first, every
//!   other, random). Per-block overhead dominates here: headers, footers and the
//!   minimum block size decide the utilization, and a list that visits every block
//!   decides the throughput.
//! * **`churn`**: a long steady state. The live set is built up, then held roughly
//!   constant while random (or oldest) blocks are freed and new ones allocated from a
//!   size mix that slowly drifts. A good policy reaches an equilibrium; a poor one
//!   lets fragmentation accumulate and keeps growing the heap.
//!
//! # The traces
//!
//! A generated trace has exactly `ops` operations. Every workload runs its pattern
//! while it can still afford to free everything it has allocated, then frees whatever
//! is still live, so the trace ends with an empty heap. (One exception: a
//! trace of only `a` and `f` lines pairs every `a` with one `f`, so an odd count cannot
//! end empty; then the last allocation is left live, as the format allows. Traces
//! that resize spend the odd op on one more resize instead.) Ids are
//! numbered from 0 in order of allocation, `num_ids` is the number used, the weight
//! is 1, and `sugg_heapsize` is the peak of live requested bytes, a lower bound on the
//! heap any allocator needs. The trace's name is `<workload>-<seed>`.
//!
//! Generation is deterministic and portable: the random stream is ChaCha8 keyed by the
//! seed and the workload's name, only integer arithmetic is used on it, and no hash
//! table order is involved, so the same arguments give byte-identical traces on every
//! platform (as long as the `rand` version in `Cargo.lock` does not change how it
//! samples a range; the bundled-traces test would notice).
//!
//! Live bytes stay modest: no workload lets its live requested bytes pass
//! [`LIVE_BYTES_CAP`], however long the trace, so every generated trace fits the
//! driver's default 20 MiB heap even with generous fragmentation.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::str::FromStr;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::trace::{Header, Op, Trace};

/// A soft ceiling on live requested bytes for the workloads whose live set is open
/// ended: well under the classic 20 MiB heap, so even a wasteful policy fits.
pub const LIVE_BYTES_CAP: usize = 4 << 20;

/// A named allocation pattern; see the [module documentation](self) for what each one
/// does and which allocator behaviour it stresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// Program-like size mix and lifetimes, in phases.
    Program,
    /// Runs of neighbours freed in passes, then requests that need them merged.
    Coalesce,
    /// Uniformly random sizes over a wide range, random interleaving.
    Random,
    /// Alternating small and large blocks, one class freed, slightly larger requests.
    Binary,
    /// The binary pattern with shares of both classes freed.
    BinaryMixed,
    /// Buffers grown by `realloc` between small allocations.
    Realloc,
    /// Buffers resized up and down by `realloc`.
    ReallocShrink,
    /// Many tiny blocks live at once.
    Tiny,
    /// A long steady state of frees and allocations.
    Churn,
}

impl Workload {
    /// Every workload, in the order tables list them.
    pub const ALL: &[Workload] = &[
        Workload::Program,
        Workload::Coalesce,
        Workload::Random,
        Workload::Binary,
        Workload::BinaryMixed,
        Workload::Realloc,
        Workload::ReallocShrink,
        Workload::Tiny,
        Workload::Churn,
    ];

    /// The workload's name, as `FromStr` accepts it and SUITE files record it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Program => "program",
            Workload::Coalesce => "coalesce",
            Workload::Random => "random",
            Workload::Binary => "binary",
            Workload::BinaryMixed => "binary-mixed",
            Workload::Realloc => "realloc",
            Workload::ReallocShrink => "realloc-shrink",
            Workload::Tiny => "tiny",
            Workload::Churn => "churn",
        }
    }

    /// One line saying what the workload does and what it stresses.
    pub fn description(self) -> &'static str {
        match self {
            Workload::Program => {
                "program-like mix: small structs, strings, arrays, rare large buffers; mixed lifetimes, phases"
            }
            Workload::Coalesce => {
                "runs of neighbours freed every-other then the rest, then requests that fit only if merged"
            }
            Workload::Random => "uniformly random sizes over a wide range, random alloc/free interleaving",
            Workload::Binary => {
                "alternating small/large blocks, one class freed, then requests just too big for the holes"
            }
            Workload::BinaryMixed => {
                "alternating small/large blocks, shares of both freed, then requests of mixed sizes"
            }
            Workload::Realloc => {
                "buffers grown by realloc in steps while small blocks come and go around them"
            }
            Workload::ReallocShrink => {
                "buffers resized up and down by realloc (in-place shrink and regrowth)"
            }
            Workload::Tiny => "thousands of tiny (1-32 byte) blocks live at once, freed in waves",
            Workload::Churn => "steady state: a roughly constant live set with random frees and allocations",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWorkloadError {
    input: String,
}

impl ParseWorkloadError {
    /// The string that was not recognised.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseWorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown workload {:?} (expected one of: ", self.input)?;
        for (i, w) in Workload::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(w.name())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ParseWorkloadError {}

impl FromStr for Workload {
    type Err = ParseWorkloadError;

    /// Accepts a workload's [name](Workload::name), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .iter()
            .copied()
            .find(|w| w.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseWorkloadError { input: s.to_owned() })
    }
}

/// Generates the trace of `workload` for `seed`, with exactly `ops` operations.
///
/// The result always passes [`Trace::validate`], and the same arguments always give
/// the same trace. See the [module documentation](self) for the shapes and the header.
pub fn generate(workload: Workload, seed: u64, ops: usize) -> Trace {
    let mut dice = Dice::new(workload, seed);
    let mut b = Builder::new(ops);
    match workload {
        Workload::Program => program(&mut b, &mut dice),
        Workload::Coalesce => coalesce(&mut b, &mut dice),
        Workload::Random => random(&mut b, &mut dice),
        Workload::Binary => binary(&mut b, &mut dice, false),
        Workload::BinaryMixed => binary(&mut b, &mut dice, true),
        Workload::Realloc => realloc_growth(&mut b, &mut dice),
        Workload::ReallocShrink => realloc_shrink(&mut b, &mut dice),
        Workload::Tiny => tiny(&mut b, &mut dice),
        Workload::Churn => churn(&mut b, &mut dice),
    }
    b.finish(format!("{workload}-{seed}"), &mut dice)
}

/// The random source. Every draw goes through these integer helpers rather than
/// floating-point distributions, which keeps traces identical across platforms.
struct Dice(ChaCha8Rng);

impl Dice {
    fn new(workload: Workload, seed: u64) -> Dice {
        // Key the stream by the workload's name too, so `random-7` and `churn-7` do not
        // share their underlying random numbers.
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let name = workload.name().as_bytes();
        key[8..8 + name.len()].copy_from_slice(name);
        Dice(ChaCha8Rng::from_seed(key))
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(lo <= hi, "empty range {lo}..={hi}");
        // Sample as u64 so 32- and 64-bit hosts consume the stream identically.
        self.0.random_range(lo as u64..=hi as u64) as usize
    }

    /// Uniform in `0..n`, for `n > 0`.
    fn below(&mut self, n: usize) -> usize {
        self.between(0, n - 1)
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    /// True with probability `per_mille / 1000`.
    fn per_mille(&mut self, per_mille: usize) -> bool {
        self.chance(per_mille, 1000)
    }

    /// Log-uniform in `lo..=hi` (`lo >= 1`): each power-of-two band is equally likely,
    /// then uniform within the band. Small sizes are common, large ones still occur,
    /// which is how request sizes are distributed in most programs.
    fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(1 <= lo && lo <= hi);
        let bits = |n: usize| (usize::BITS - n.leading_zeros()) as usize;
        let band = self.between(bits(lo), bits(hi));
        let band_lo = 1usize << (band - 1);
        let band_hi = band_lo + (band_lo - 1);
        self.between(lo.max(band_lo), hi.min(band_hi))
    }

    /// An index into `weights`, chosen in proportion to the weights.
    fn weighted(&mut self, weights: &[usize]) -> usize {
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

    /// A uniformly chosen element of a non-empty slice.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Fisher-Yates, on our own helpers so the order is ours to keep stable.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.between(0, i);
            items.swap(i, j);
        }
    }
}

/// `total * num / den` without overflow, for splitting a budget into shares.
fn share(total: usize, num: usize, den: usize) -> usize {
    (total as u128 * num as u128 / den as u128) as usize
}

/// The set of live ids, with O(1) insert, remove and uniform choice. Its order depends
/// only on the sequence of operations, never on addresses or hashing.
#[derive(Default)]
struct LiveSet {
    ids: Vec<usize>,
    /// `slot[id]` is the position of `id` in `ids`, or `ABSENT`.
    slot: Vec<usize>,
}

const ABSENT: usize = usize::MAX;

impl LiveSet {
    fn insert(&mut self, id: usize) {
        if id >= self.slot.len() {
            self.slot.resize(id + 1, ABSENT);
        }
        debug_assert_eq!(self.slot[id], ABSENT);
        self.slot[id] = self.ids.len();
        self.ids.push(id);
    }

    fn remove(&mut self, id: usize) {
        let pos = self.slot[id];
        assert_ne!(pos, ABSENT, "generator bug: id {id} is not live");
        self.ids.swap_remove(pos);
        if let Some(&moved) = self.ids.get(pos) {
            self.slot[moved] = pos;
        }
        self.slot[id] = ABSENT;
    }

    fn contains(&self, id: usize) -> bool {
        self.slot.get(id).is_some_and(|&pos| pos != ABSENT)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Accumulates a trace's operations within a fixed budget.
///
/// The budget rule that makes the op count exact: the generator may only allocate
/// while, afterwards, the operations left still cover one free for every live block.
/// `slack()` is that margin. An allocation costs two units of slack (one op now, one
/// free owed later), a resize one, and a free none (it spends an op it already owed).
/// Workloads run until an allocation is refused, and [`Builder::finish`] spends the
/// last unit or two and the owed frees.
struct Builder {
    budget: usize,
    ops: Vec<Op>,
    /// The current requested size of every id ever allocated.
    size: Vec<usize>,
    live: LiveSet,
    live_bytes: usize,
    peak_bytes: usize,
    /// Whether any `r` with a non-zero size was written.
    resized: bool,
}

impl Builder {
    fn new(budget: usize) -> Builder {
        Builder {
            budget,
            // A silly budget must not reserve silly memory up front.
            ops: Vec::with_capacity(budget.min(1 << 20)),
            size: Vec::new(),
            live: LiveSet::default(),
            live_bytes: 0,
            peak_bytes: 0,
            resized: false,
        }
    }

    fn slack(&self) -> usize {
        self.budget - self.ops.len() - self.live.len()
    }

    fn can_alloc(&self) -> bool {
        self.slack() >= 2
    }

    fn clock(&self) -> usize {
        self.ops.len()
    }

    fn live_count(&self) -> usize {
        self.live.len()
    }

    fn is_live(&self, id: usize) -> bool {
        self.live.contains(id)
    }

    fn size_of(&self, id: usize) -> usize {
        self.size[id]
    }

    fn random_live(&self, dice: &mut Dice) -> usize {
        dice.pick(&self.live.ids)
    }

    fn account(&mut self, old: usize, new: usize) {
        self.live_bytes = self.live_bytes - old + new;
        self.peak_bytes = self.peak_bytes.max(self.live_bytes);
    }

    /// Allocates a new id of `size` bytes, or returns `None` when the budget cannot
    /// also cover its free.
    fn alloc(&mut self, size: usize) -> Option<usize> {
        if !self.can_alloc() {
            return None;
        }
        let id = self.push_alloc(size);
        self.live.insert(id);
        Some(id)
    }

    fn push_alloc(&mut self, size: usize) -> usize {
        let id = self.size.len();
        self.size.push(size);
        self.account(0, size);
        self.ops.push(Op::Alloc { id, size });
        id
    }

    fn free(&mut self, id: usize) {
        self.live.remove(id);
        self.account(self.size[id], 0);
        self.ops.push(Op::Free { id });
    }

    /// Resizes a live block to `size > 0`; false when the budget is spent.
    fn resize(&mut self, id: usize, size: usize) -> bool {
        debug_assert!(size > 0 && self.is_live(id));
        if self.slack() == 0 {
            return false;
        }
        self.account(self.size[id], size);
        self.size[id] = size;
        self.ops.push(Op::Realloc { id, size });
        self.resized = true;
        true
    }

    /// Frees a live block with `r id 0`.
    fn free_by_realloc(&mut self, id: usize) {
        self.live.remove(id);
        self.account(self.size[id], 0);
        self.ops.push(Op::Realloc { id, size: 0 });
    }

    /// Spends what is left of the budget and builds the trace.
    fn finish(mut self, name: String, dice: &mut Dice) -> Trace {
        // Workloads stop when an allocation is refused, which leaves at most a unit of
        // slack, but some stop a little earlier at a round boundary: top up with small
        // blocks, freed below with the rest.
        while self.can_alloc() {
            self.alloc(dice.between(1, 64));
        }
        if self.slack() == 1 {
            // One op more than the owed frees. A trace that already resizes spends it
            // growing a block; an `a`/`f`-only trace leaves one block live rather than
            // gain an op kind it never had.
            if self.resized && self.live.len() > 0 {
                let id = self.random_live(dice);
                self.resize(id, self.size[id] + dice.between(1, 64));
            } else {
                self.push_alloc(dice.between(1, 64));
            }
        }
        let mut owed = self.live.ids.clone();
        dice.shuffle(&mut owed);
        for id in owed {
            self.free(id);
        }
        assert_eq!(self.ops.len(), self.budget, "generator bug: the budget rule was broken");
        let header = Header::Classic { sugg_heapsize: self.peak_bytes, weight: 1 };
        Trace { name, header, num_ids: self.size.len(), ops: self.ops }
    }
}

/// `program`: see the module documentation.
fn program(b: &mut Builder, dice: &mut Dice) {
    // The program's "types": struct sizes that recur throughout the run. Mostly
    // multiples of 8 (the compiler pads them), some powers of two, a few odd ones.
    let palette: Vec<usize> = (0..dice.between(4, 10))
        .map(|_| match dice.below(6) {
            0 | 1 => 1 << dice.between(3, 7),
            2 => dice.between(9, 127),
            _ => 8 * dice.between(1, 16),
        })
        .collect();
    let phases = dice.between(2, 5);
    let total = b.slack();
    // Short- and medium-lived objects, keyed by the clock tick they die at (then by id,
    // so the order of simultaneous deaths is fixed).
    let mut deaths: BTreeSet<(usize, usize)> = BTreeSet::new();
    // Arrays that may be grown with realloc (possibly dead already: checked on use).
    let mut arrays: Vec<usize> = Vec::new();

    for phase in 0..phases {
        // Phases split the budget evenly; each has its own mix of sizes and lifetimes.
        let phase_end = share(total, phases - phase - 1, phases);
        let palette_weights: Vec<usize> = palette.iter().map(|_| dice.between(1, 10)).collect();
        // Per mille: structs, strings, arrays, large buffers.
        let class_weights =
            [dice.between(400, 700), dice.between(150, 350), dice.between(40, 150), dice.between(2, 10)];
        // Per mille: short (dies within 40 ticks), medium (40..4000), until the end of
        // the phase, until the end of the program.
        let life_weights =
            [dice.between(500, 750), dice.between(150, 300), dice.between(30, 100), dice.between(3, 15)];
        let grow_per_mille = dice.between(5, 30);
        let mut phase_objects = Vec::new();

        loop {
            let now = b.clock();
            if let Some(&(due, id)) = deaths.first()
                && due <= now
            {
                deaths.pop_first();
                b.free(id);
                continue;
            }
            if b.slack() <= phase_end || !b.can_alloc() {
                break;
            }
            // Near the cap, the program makes only temporaries (and grows nothing).
            let crowded = b.live_bytes > LIVE_BYTES_CAP - (128 << 10);
            if !crowded && !arrays.is_empty() && dice.per_mille(grow_per_mille) {
                // An array outgrew its capacity: double it, as a growable vector does.
                let pos = dice.below(arrays.len());
                let id = arrays[pos];
                if b.is_live(id) && b.size_of(id) < 64 << 10 {
                    b.resize(id, b.size_of(id) * 2);
                } else {
                    arrays.swap_remove(pos);
                }
                continue;
            }
            let class = if crowded { 0 } else { dice.weighted(&class_weights) };
            let size = match class {
                0 => palette[dice.weighted(&palette_weights)],
                // Strings: strlen + 1, any length, mostly short.
                1 => dice.log_uniform(2, 256),
                // Arrays: element size times a count, often a power-of-two capacity.
                2 => {
                    let elem = dice.pick(&[4, 8, 12, 16, 24, 32]);
                    let count = dice.log_uniform(4, 256);
                    elem * if dice.chance(1, 2) { count.next_power_of_two() } else { count }
                }
                // Large I/O buffers and tables: pages, sometimes with a little extra.
                _ => 4096 * dice.between(2, 16) + if dice.chance(1, 2) { 0 } else { dice.between(1, 4095) },
            };
            // Large buffers are temporaries or per-phase tables, never global.
            let life = if crowded {
                0
            } else if class == 3 {
                dice.pick(&[0, 2])
            } else {
                dice.weighted(&life_weights)
            };
            let Some(id) = b.alloc(size) else { break };
            if class == 2 {
                arrays.push(id);
            }
            match life {
                0 => {
                    deaths.insert((now + dice.between(1, 40), id));
                }
                1 => {
                    deaths.insert((now + dice.log_uniform(41, 4000), id));
                }
                2 => phase_objects.push(id),
                _ => {} // lives until the end
            }
        }
        // The phase's data structures are torn down: newest first (a stack of scopes
        // unwinding) or in no particular order (a hash table cleared).
        if dice.chance(1, 2) {
            phase_objects.reverse();
        } else {
            dice.shuffle(&mut phase_objects);
        }
        for id in phase_objects {
            b.free(id);
        }
    }
    // The objects still waiting to die go in the order they would have died.
    while let Some((_, id)) = deaths.pop_first() {
        b.free(id);
    }
}

/// `coalesce`: see the module documentation.
fn coalesce(b: &mut Builder, dice: &mut Dice) {
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

/// `random`: see the module documentation.
fn random(b: &mut Builder, dice: &mut Dice) {
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

/// `binary` and `binary-mixed`: see the module documentation.
fn binary(b: &mut Builder, dice: &mut Dice, mixed: bool) {
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
        let small_first = dice.chance(1, 2);

        let mut round_ids = Vec::with_capacity(2 * pairs);
        let mut freed = Vec::new();
        for _ in 0..pairs {
            for is_small in [small_first, !small_first] {
                let size = if is_small { small } else { large } + dice.between(0, jitter);
                let Some(id) = b.alloc(size) else { return };
                round_ids.push(id);
                if dice.per_mille(if is_small { free_small } else { free_large }) {
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

/// `realloc`: see the module documentation.
fn realloc_growth(b: &mut Builder, dice: &mut Dice) {
    #[derive(Clone, Copy)]
    struct Buffer {
        id: usize,
        limit: usize,
        /// Additive step, or a multiplier as `(numerator, denominator)`.
        step: usize,
        factor: (usize, usize),
    }
    let max_limit = dice.between(16 << 10, 128 << 10);
    let mut buffers: Vec<Option<Buffer>> = vec![None; dice.between(1, 4)];
    let mut chatter = Chatter::new(dice);

    while b.can_alloc() {
        let slot = dice.below(buffers.len());
        match buffers[slot] {
            None => {
                let Some(id) = b.alloc(dice.between(8, 512)) else { break };
                let (step, factor) = if dice.chance(1, 2) {
                    (dice.between(16, 512), (1, 1)) // appending a chunk at a time
                } else {
                    (0, dice.pick(&[(5, 4), (3, 2), (2, 1)])) // a vector's capacity growth
                };
                buffers[slot] =
                    Some(Buffer { id, limit: dice.between(max_limit / 4, max_limit), step, factor });
            }
            Some(buf) if b.size_of(buf.id) >= buf.limit => {
                b.free(buf.id);
                buffers[slot] = None;
            }
            Some(buf) => {
                let size = b.size_of(buf.id);
                let next = (size * buf.factor.0 / buf.factor.1 + buf.step).clamp(size + 1, buf.limit);
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

/// `realloc-shrink`: see the module documentation.
fn realloc_shrink(b: &mut Builder, dice: &mut Dice) {
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

/// `tiny`: see the module documentation.
fn tiny(b: &mut Builder, dice: &mut Dice) {
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
        match dice.below(4) {
            0 => {}                                    // oldest first (a queue drained)
            1 => victims.reverse(),                    // newest first (a stack unwound)
            2 => victims.sort_by_key(|&i| (i % 2, i)), // every other, then the rest
            _ => dice.shuffle(&mut victims),           // no order at all
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

/// `churn`: see the module documentation.
fn churn(b: &mut Builder, dice: &mut Dice) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: [u64; 5] = [0, 1, 2, 42, u64::MAX];
    const OP_COUNTS: [usize; 10] = [0, 1, 2, 3, 4, 5, 17, 100, 1001, 6000];

    /// Replays a trace's sizes: (peak live bytes, most blocks live at once, live at end).
    fn replay(t: &Trace) -> (usize, usize, usize) {
        let mut size = vec![None; t.num_ids];
        let (mut bytes, mut peak, mut blocks, mut max_blocks) = (0usize, 0, 0usize, 0);
        for op in &t.ops {
            match *op {
                Op::Alloc { id, size: s } => {
                    size[id] = Some(s);
                    bytes += s;
                    blocks += 1;
                }
                Op::Free { id } | Op::Realloc { id, size: 0 } => {
                    bytes -= size[id].take().unwrap();
                    blocks -= 1;
                }
                Op::Realloc { id, size: s } => {
                    bytes = bytes - size[id].replace(s).unwrap() + s;
                }
                Op::FreeNull | Op::ReallocNull { .. } => panic!("the generator names no null pointer"),
            }
            peak = peak.max(bytes);
            max_blocks = max_blocks.max(blocks);
        }
        (peak, max_blocks, blocks)
    }

    #[test]
    fn every_workload_makes_valid_traces_of_exactly_the_requested_length() {
        for &w in Workload::ALL {
            for seed in SEEDS {
                for ops in OP_COUNTS {
                    let t = generate(w, seed, ops);
                    let what = format!("{w} seed {seed} ops {ops}");
                    t.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(t.ops.len(), ops, "{what}");
                    assert_eq!(t.name, format!("{w}-{seed}"));
                    assert_eq!(t.weight(), 1, "{what}");
                    let max_id = t.ops.iter().filter_map(Op::id).max();
                    assert_eq!(t.num_ids, max_id.map_or(0, |m| m + 1), "{what}: num_ids");
                    let (peak, _, live_at_end) = replay(&t);
                    assert_eq!(t.sugg_heapsize(), Some(peak), "{what}: sugg_heapsize is the peak");
                    // Empty at the end, except the one block an odd budget leaves in a
                    // trace without resizes.
                    let resizes = t.ops.iter().any(|op| matches!(op, Op::Realloc { size: 1.., .. }));
                    let allowed = usize::from(ops % 2 == 1 && !resizes);
                    assert_eq!(live_at_end, allowed, "{what}: blocks left live");
                    assert!(peak <= LIVE_BYTES_CAP, "{what}: peak {peak}");
                    // The parser agrees with the validator and the writer.
                    let text = t.to_rep_string();
                    let back =
                        Trace::parse("x.rep", text.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(back.ops, t.ops, "{what}");
                }
            }
        }
    }

    #[test]
    fn ids_are_numbered_in_allocation_order() {
        for &w in Workload::ALL {
            let t = generate(w, 3, 2000);
            let allocs = t.ops.iter().filter_map(|op| match op {
                Op::Alloc { id, .. } => Some(*id),
                _ => None,
            });
            assert!(allocs.eq(0..t.num_ids), "{w}");
        }
    }

    #[test]
    fn generation_is_deterministic() {
        for &w in Workload::ALL {
            for seed in [5, 99] {
                let a = generate(w, seed, 3000).to_rep_string();
                let b = generate(w, seed, 3000).to_rep_string();
                assert!(a == b, "{w} seed {seed} differs between two runs");
            }
        }
    }

    #[test]
    fn seeds_and_workloads_give_different_traces() {
        let mut seen = std::collections::BTreeSet::new();
        for &w in Workload::ALL {
            for seed in 0..6 {
                let text = generate(w, seed, 500).to_rep_string();
                assert!(seen.insert(text), "{w} seed {seed} repeats an earlier trace");
            }
        }
    }

    /// The trace's op pattern summary: (allocs, frees, resizes, frees by `r id 0`).
    fn counts(t: &Trace) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for op in &t.ops {
            match op {
                Op::Alloc { .. } => c.0 += 1,
                Op::Free { .. } => c.1 += 1,
                Op::Realloc { size: 0, .. } => c.3 += 1,
                Op::Realloc { .. } => c.2 += 1,
                Op::FreeNull | Op::ReallocNull { .. } => panic!("the generator names no null pointer"),
            }
        }
        c
    }

    fn alloc_sizes(t: &Trace) -> Vec<usize> {
        t.ops
            .iter()
            .filter_map(|op| match *op {
                Op::Alloc { size, .. } => Some(size),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn only_the_realloc_workloads_and_program_resize() {
        for &w in Workload::ALL {
            for seed in 0..4 {
                let (_, _, resizes, zero) = counts(&generate(w, seed, 8000));
                match w {
                    Workload::Realloc | Workload::ReallocShrink | Workload::Program => {
                        assert!(resizes > 0, "{w} seed {seed}: no resizes")
                    }
                    _ => assert_eq!((resizes, zero), (0, 0), "{w} seed {seed}"),
                }
                if w != Workload::ReallocShrink {
                    assert_eq!(zero, 0, "{w} seed {seed}: only realloc-shrink frees with r id 0");
                }
            }
        }
    }

    #[test]
    fn realloc_grows_its_buffers_and_shrink_goes_both_ways() {
        for seed in 0..4 {
            let t = generate(Workload::Realloc, seed, 8000);
            let mut size = vec![0; t.num_ids];
            let mut steps = 0;
            for op in &t.ops {
                match *op {
                    Op::Alloc { id, size: s } => size[id] = s,
                    Op::Realloc { id, size: s } => {
                        assert!(s > size[id], "seed {seed}: realloc {id} {s} does not grow");
                        size[id] = s;
                        steps += 1;
                    }
                    Op::Free { .. } => {}
                    Op::FreeNull | Op::ReallocNull { .. } => panic!("the generator names no null pointer"),
                }
            }
            assert!(steps * 5 > t.ops.len(), "seed {seed}: only {steps} growth steps");

            let t = generate(Workload::ReallocShrink, seed, 8000);
            let mut size = vec![0; t.num_ids];
            let (mut up, mut down) = (0, 0);
            for op in &t.ops {
                match *op {
                    Op::Alloc { id, size: s } => size[id] = s,
                    Op::Realloc { id, size: s } if s > 0 => {
                        if s > size[id] {
                            up += 1;
                        } else {
                            down += 1;
                        }
                        size[id] = s;
                    }
                    _ => {}
                }
            }
            assert!(up > 100 && down > 100, "seed {seed}: {up} grows, {down} shrinks");
            assert!(counts(&t).3 > 0, "seed {seed}: no r id 0");
        }
    }

    #[test]
    fn tiny_blocks_are_tiny_and_many() {
        for seed in 0..4 {
            let t = generate(Workload::Tiny, seed, 10_000);
            assert!(alloc_sizes(&t).iter().all(|s| (1..=32).contains(s)), "seed {seed}");
            let (_, max_live, _) = replay(&t);
            assert!(max_live >= 500, "seed {seed}: at most {max_live} live");
        }
    }

    #[test]
    fn random_sizes_span_a_wide_range() {
        for seed in 0..4 {
            let sizes = alloc_sizes(&generate(Workload::Random, seed, 5000));
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi / lo >= 50, "seed {seed}: sizes {lo}..={hi}");
        }
    }

    #[test]
    fn binary_requests_do_not_fit_the_holes() {
        for seed in 0..6 {
            let t = generate(Workload::Binary, seed, 6000);
            // Within a round (which ends when everything is freed), every request
            // after the first free is larger than every block freed before it.
            let last_alloc = t.ops.iter().rposition(|op| matches!(op, Op::Alloc { .. })).unwrap();
            let mut size = vec![0; t.num_ids];
            let (mut live, mut largest_hole, mut checked) = (0, 0, 0);
            for (i, op) in t.ops.iter().enumerate() {
                match *op {
                    Op::Alloc { id, size: s } => {
                        size[id] = s;
                        live += 1;
                        // An odd budget's leftover block is the one exception.
                        if largest_hole > 0 && i != last_alloc {
                            checked += 1;
                            assert!(
                                s > largest_hole,
                                "seed {seed}: a {id} {s} fits a hole of {largest_hole}"
                            );
                        }
                    }
                    Op::Free { id } => {
                        largest_hole = largest_hole.max(size[id]);
                        live -= 1;
                        if live == 0 {
                            largest_hole = 0;
                        }
                    }
                    Op::Realloc { .. } | Op::FreeNull | Op::ReallocNull { .. } => {
                        panic!("seed {seed}: binary resizes or names the null pointer")
                    }
                }
            }
            assert!(checked > 100, "seed {seed}: only {checked} requests checked");
        }
    }

    #[test]
    fn live_bytes_stay_under_the_cap_on_long_traces() {
        for &w in Workload::ALL {
            let t = generate(w, 11, 300_000);
            let peak = t.sugg_heapsize().expect("generated traces have the classic header");
            assert!(peak <= LIVE_BYTES_CAP, "{w}: peak {peak}");
        }
    }

    #[test]
    fn coalesce_requests_need_merged_neighbours() {
        for seed in 0..4 {
            let t = generate(Workload::Coalesce, seed, 6000);
            // Some requests are at least twice the largest block freed since the
            // previous request: they only fit a merged hole (or new heap).
            let mut size = vec![0; t.num_ids];
            let mut freed_max = 0;
            let mut needs_merge = 0;
            for op in &t.ops {
                match *op {
                    Op::Alloc { id, size: s } => {
                        if freed_max > 0 && s >= 3 * freed_max / 2 {
                            needs_merge += 1;
                        }
                        size[id] = s;
                        freed_max = 0;
                    }
                    Op::Free { id } => freed_max = freed_max.max(size[id]),
                    Op::Realloc { .. } | Op::FreeNull | Op::ReallocNull { .. } => unreachable!(),
                }
            }
            assert!(needs_merge >= 10, "seed {seed}: {needs_merge} merge-needing requests");
        }
    }

    #[test]
    fn churn_holds_a_steady_live_set() {
        for seed in 0..4 {
            let t = generate(Workload::Churn, seed, 20_000);
            let mut live = 0usize;
            // The live count when the first free comes: the end of the warm-up.
            let mut warm = None;
            let mut samples = Vec::new();
            for (i, op) in t.ops.iter().enumerate() {
                match op {
                    Op::Alloc { .. } => live += 1,
                    _ => {
                        warm.get_or_insert(live);
                        live -= 1;
                    }
                }
                if i % 2000 == 1999 {
                    samples.push(live);
                }
            }
            // From a quarter in until the final frees, within 30% of the warm-up's
            // live count.
            let warm = warm.unwrap();
            for &n in &samples[2..samples.len() - 2] {
                assert!(
                    n * 10 >= warm * 7 && n * 10 <= warm * 13,
                    "seed {seed}: warm-up reached {warm} live, then {samples:?}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip_and_errors_list_the_valid_names() {
        for &w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
            assert_eq!(w.to_string(), w.name());
            assert_eq!(w.name().to_uppercase().parse::<Workload>(), Ok(w));
            assert!(!w.description().is_empty());
            // The name keys the random stream next to the 8 seed bytes.
            assert!(w.name().len() <= 24, "{w}");
        }
        let err = "binary3".parse::<Workload>().unwrap_err();
        assert_eq!(err.input(), "binary3");
        let msg = err.to_string();
        assert!(msg.starts_with("unknown workload \"binary3\""), "{msg}");
        for &w in Workload::ALL {
            assert!(msg.contains(w.name()), "{msg} does not list {w}");
        }
        assert!("".parse::<Workload>().is_err());
        assert!(" tiny".parse::<Workload>().is_err());
    }

    #[test]
    fn log_uniform_stays_in_range_and_reaches_both_ends() {
        let mut dice = Dice::new(Workload::Random, 0);
        let (mut lo, mut hi) = (usize::MAX, 0);
        for _ in 0..20_000 {
            let x = dice.log_uniform(3, 1000);
            assert!((3..=1000).contains(&x));
            lo = lo.min(x);
            hi = hi.max(x);
        }
        assert_eq!(lo, 3);
        assert!(hi > 900);
        assert_eq!(dice.log_uniform(1, 1), 1);
        assert!(dice.log_uniform(1, usize::MAX) >= 1);
    }
}
