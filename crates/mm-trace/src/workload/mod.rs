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
//! * [`program`]: what real programs do: small structs, strings, arrays and rare large
//!   buffers, with mixed lifetimes, in phases.
//! * [`coalesce`]: runs of neighbours freed in passes, then requests that fit only if
//!   the neighbours were merged.
//! * [`random`]: the classic random traces: uniform sizes over a wide range, random
//!   interleaving.
//! * [`binary`] (`binary` and `binary-mixed`): small and large blocks alternated, one
//!   class (or shares of both) freed, then requests just too big for the holes (or of
//!   mixed sizes).
//! * [`realloc`] (`realloc` and `realloc-shrink`): buffers grown (or resized up and
//!   down) by `realloc` while small blocks come and go around them.
//! * [`tiny`]: thousands of tiny blocks live at once, freed in waves.
//! * [`churn`]: a long steady state of frees and allocations.
//!
//! Each module's documentation says what its workload does and which allocator
//! behaviour it stresses (the modules export nothing: [`generate`] runs them). They
//! share the dice (every random draw goes through integer helpers) and a builder (the op
//! budget that makes the count exact).
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

pub mod binary;
mod builder;
pub mod churn;
pub mod coalesce;
mod dice;
pub mod program;
pub mod random;
pub mod realloc;
#[cfg(test)]
mod tests;
pub mod tiny;

use std::fmt;
use std::str::FromStr;

use crate::trace::Trace;
use builder::Builder;
use dice::Dice;

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
    let mut dice = Dice::new(workload.name(), seed);
    let mut b = Builder::new(ops);
    match workload {
        Workload::Program => program::generate(&mut b, &mut dice),
        Workload::Coalesce => coalesce::generate(&mut b, &mut dice),
        Workload::Random => random::generate(&mut b, &mut dice),
        Workload::Binary => binary::generate(&mut b, &mut dice, binary::Frees::OneClass),
        Workload::BinaryMixed => binary::generate(&mut b, &mut dice, binary::Frees::BothClasses),
        Workload::Realloc => realloc::grow(&mut b, &mut dice),
        Workload::ReallocShrink => realloc::shrink(&mut b, &mut dice),
        Workload::Tiny => tiny::generate(&mut b, &mut dice),
        Workload::Churn => churn::generate(&mut b, &mut dice),
    }
    b.finish(format!("{workload}-{seed}"), &mut dice)
}
