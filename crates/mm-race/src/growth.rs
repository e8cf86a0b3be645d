//! Cost growth: how fast a strategy serves `free` + `malloc` pairs as the number of
//! live blocks grows, from a thousand to a million.
//!
//! The race's traces keep at most a few thousand blocks live, where a linear search is
//! still affordable. This measurement asks the scaling question directly: fill the heap
//! with `n` live blocks of random small sizes, then time *pairs*, each freeing a random
//! live block and allocating a new one of a random size in its place, so the live set
//! stays at `n` while the heap fragments. A strategy whose search walks every block
//! (`implicit`) slows down in proportion to `n`; a segregated one should stay flat.
//!
//! ## How a point is measured
//!
//! The workload is itself a trace ([`workload`]): `n` allocations (the *fill*), then
//! `pairs` free/alloc pairs, with sizes and victims drawn from a seeded
//! [`ChaCha8Rng`], so every strategy sees exactly the same operations. Each point
//!
//! 1. replays the whole trace once with every check on ([`replay::checked_replay`]),
//!    as the race does before it times anything, which also gives the heap size;
//! 2. times the fill alone and the fill plus the pairs with the race's own unchecked
//!    replay loop ([`replay::timed_replay`]), `reps` times each, and takes the
//!    difference of the fastest runs as the time of the pairs. The fastest, not the
//!    median, because the difference of two times doubles their noise, and the
//!    fastest run is the one least disturbed by whatever else the machine was doing.
//!
//! Timing whole replays and subtracting, rather than timing the pairs in a loop of our
//! own, keeps this module free of `unsafe` (freeing is unsafe; the replay loop owns
//! that) and measures exactly the loop the race measures, so a strategy's pairs/s here
//! and its Kops/s in the race are comparable. There are at least as many pairs as live
//! blocks, so the pairs take most of each timed replay and the difference is stable.
//!
//! ## The time budget
//!
//! An O(n) strategy at a million live blocks would need hours (the fill alone is
//! quadratic). So a curve stops early: once a point's timed runs took longer than
//! [`GrowthConfig::budget`], no larger point is measured, and the curve says so
//! ([`GrowthCurve::stop`]), which the chart shows in its legend. The budget counts
//! the timed runs only, not the checked replay before them: the checks cost the same
//! for every strategy (a million blocks in a `BTreeMap`), and counting them would stop
//! fast and slow strategies alike. A point over the budget also stops its own runs
//! early, after the first pair of runs that crosses it.

use std::time::{Duration, Instant};

use mm_core::Align;
use mm_trace::{Header, Op, Trace};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::format::{count, decimals};
use crate::race::{self, RaceConfig, RaceError};
use crate::replay;

/// How to measure cost growth.
#[derive(Debug, Clone)]
pub struct GrowthConfig {
    /// The live-set sizes, ascending.
    pub live: Vec<usize>,
    /// A curve stops after the first point that took longer than this.
    pub budget: Duration,
    /// The seed of the sizes and victims (the same for every strategy).
    pub seed: u64,
    /// The simulated heap's maximum size: large enough for a million blocks.
    pub max_heap: usize,
    /// The payload alignment our strategies serve.
    pub align: Align,
    /// Timed runs of the fill and of the whole trace per point (the fastest count).
    pub reps: usize,
    /// Pairs per point: the live-set size, but at least this many.
    pub min_pairs: usize,
    /// The smallest and largest request.
    pub sizes: (usize, usize),
}

/// Live-set sizes from 2^10 to 2^20, doubling.
pub fn default_live() -> Vec<usize> {
    (10..=20).map(|k| 1 << k).collect()
}

impl Default for GrowthConfig {
    fn default() -> Self {
        GrowthConfig {
            live: default_live(),
            budget: Duration::from_secs(2),
            seed: 0x5eed_0c05,
            max_heap: 1 << 30,
            align: Align::MIN,
            reps: 3,
            min_pairs: 1 << 15,
            sizes: (8, 64),
        }
    }
}

/// One measured point of a curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowthPoint {
    /// Live blocks while the pairs ran.
    pub live: usize,
    /// Pairs timed.
    pub pairs: usize,
    /// Free + malloc pairs per second.
    pub pairs_per_sec: f64,
    /// The heap's size at the end of the checked replay (none for libc).
    pub heap_bytes: Option<usize>,
    /// Wall time the point's timed runs took (what the budget limits).
    pub secs: f64,
}

/// Why a curve has no more points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Stop {
    /// The point at `live` blocks took `secs`, more than the budget.
    Budget {
        /// The live-set size of the last point measured.
        live: usize,
        /// How long it took.
        secs: f64,
        /// The budget.
        budget: f64,
    },
    /// The point at `live` blocks failed: the heap ran out or a check failed.
    Failed {
        /// The live-set size that failed.
        live: usize,
        /// What went wrong.
        message: String,
    },
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Budget { live, secs, budget } => write!(
                f,
                "stopped after {} live blocks: that point took {} s, over the {} s budget",
                count(*live as f64),
                decimals(*secs, 1),
                decimals(*budget, 1)
            ),
            Stop::Failed { live, message } => {
                write!(f, "stopped at {} live blocks: {message}", count(*live as f64))
            }
        }
    }
}

impl Stop {
    /// The stop in a few words, for a chart's legend: "stopped after 8k: 2.3 s > 2.0 s
    /// budget", "stopped at 4k: failed".
    pub fn brief(&self) -> String {
        match self {
            Stop::Budget { live, secs, budget } => {
                format!(
                    "stopped after {}: {} s > {} s budget",
                    count(*live as f64),
                    decimals(*secs, 1),
                    decimals(*budget, 1)
                )
            }
            Stop::Failed { live, .. } => format!("stopped at {}: failed", count(*live as f64)),
        }
    }
}

/// One strategy's curve.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthCurve {
    /// The strategy (or `libc`).
    pub strategy: String,
    /// The points, by ascending live-set size.
    pub points: Vec<GrowthPoint>,
    /// Why the curve ends before the last configured size, if it does.
    pub stop: Option<Stop>,
}

/// The workload of one point: `live` allocations, then `pairs` pairs of a free of a
/// random live block and an allocation with a fresh id. Sizes are uniform in
/// `sizes`. Returns the fill (the first `live` ops) and the whole trace; both have
/// the same `num_ids`, so the replay loop's setup costs the same in both.
pub fn workload(live: usize, pairs: usize, seed: u64, sizes: (usize, usize)) -> (Trace, Trace) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (live as u64).rotate_left(32));
    let mut ops = Vec::with_capacity(live + 2 * pairs);
    let mut ids: Vec<usize> = (0..live).collect();
    for id in 0..live {
        ops.push(Op::Alloc { id, size: rng.random_range(sizes.0..=sizes.1) });
    }
    for k in 0..pairs {
        let slot = rng.random_range(0..live);
        ops.push(Op::Free { id: ids[slot] });
        let id = live + k;
        ops.push(Op::Alloc { id, size: rng.random_range(sizes.0..=sizes.1) });
        ids[slot] = id;
    }
    let header = Header::Classic { sugg_heapsize: 0, weight: 0 };
    let trace = |name: String, ops: Vec<Op>| Trace { name, header, num_ids: live + pairs, ops };
    let fill = trace(format!("growth-{live}-fill"), ops[..live].to_vec());
    (fill, trace(format!("growth-{live}"), ops))
}

/// Measures one strategy's curve (see the module docs). `progress` hears about each
/// point as it is done. Fails only when the strategy is unknown or the heap cannot be
/// reserved; a point that fails ends the curve with [`Stop::Failed`].
pub fn measure(
    strategy: &str,
    config: &GrowthConfig,
    mut progress: impl FnMut(&GrowthPoint),
) -> Result<GrowthCurve, RaceError> {
    let race_config = RaceConfig {
        strategies: vec![strategy.to_owned()],
        max_heap: config.max_heap,
        align: config.align,
        ..RaceConfig::default()
    };
    let mut contender = race::contender(strategy, &race_config)?;
    let subject = contender.subject.as_mut();
    let mut curve = GrowthCurve { strategy: strategy.to_owned(), points: Vec::new(), stop: None };
    let mut blocks = Vec::new();
    for &live in &config.live {
        let pairs = live.max(config.min_pairs);
        let (fill, full) = workload(live, pairs, config.seed, config.sizes);
        let checked = match replay::checked_replay(subject, &full, false) {
            Ok(checked) => checked,
            Err(e) => {
                curve.stop = Some(Stop::Failed { live, message: e.to_string() });
                break;
            }
        };
        let started = Instant::now();
        let (mut fill_time, mut full_time) = (Duration::MAX, Duration::MAX);
        for _ in 0..config.reps.max(1) {
            fill_time = fill_time.min(replay::timed_replay(subject, &fill, &mut blocks));
            full_time = full_time.min(replay::timed_replay(subject, &full, &mut blocks));
            if started.elapsed() > config.budget {
                break;
            }
        }
        let pair_time = full_time.saturating_sub(fill_time).max(Duration::from_nanos(1));
        let secs = started.elapsed().as_secs_f64();
        let point = GrowthPoint {
            live,
            pairs,
            pairs_per_sec: pairs as f64 / pair_time.as_secs_f64(),
            heap_bytes: checked.heap_bytes,
            secs,
        };
        progress(&point);
        curve.points.push(point);
        if secs > config.budget.as_secs_f64() && live != *config.live.last().unwrap_or(&live) {
            curve.stop = Some(Stop::Budget { live, secs, budget: config.budget.as_secs_f64() });
            break;
        }
    }
    // The heap can be large: give it back before the next strategy reserves its own.
    drop(contender);
    Ok(curve)
}

/// One row of `cost-growth.csv`: a point, or (with no numbers) a curve's stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowthRow {
    /// The strategy.
    pub strategy: String,
    /// Live blocks.
    pub live_blocks: usize,
    /// Pairs timed (empty on a stop row).
    pub pairs: Option<usize>,
    /// Pairs per second (empty on a stop row).
    pub pairs_per_sec: Option<f64>,
    /// Heap bytes (empty for libc and on a stop row).
    pub heap_bytes: Option<usize>,
    /// Seconds the point took.
    pub secs: Option<f64>,
    /// On the last row of a curve that stopped early: why.
    pub note: Option<String>,
}

/// The curves as CSV rows: one per point; a curve that stopped because a point
/// failed gets a row without numbers naming the size that failed. The note of a
/// stop is on its curve's last row.
pub fn to_rows(curves: &[GrowthCurve]) -> Vec<GrowthRow> {
    let mut rows = Vec::new();
    for curve in curves {
        let first = rows.len();
        for p in &curve.points {
            rows.push(GrowthRow {
                strategy: curve.strategy.clone(),
                live_blocks: p.live,
                pairs: Some(p.pairs),
                pairs_per_sec: Some(p.pairs_per_sec),
                heap_bytes: p.heap_bytes,
                secs: Some(p.secs),
                note: None,
            });
        }
        match &curve.stop {
            Some(Stop::Failed { live, .. }) => rows.push(GrowthRow {
                strategy: curve.strategy.clone(),
                live_blocks: *live,
                pairs: None,
                pairs_per_sec: None,
                heap_bytes: None,
                secs: None,
                note: curve.stop.as_ref().map(Stop::to_string),
            }),
            Some(Stop::Budget { .. }) if rows.len() > first => {
                let last = rows.len() - 1;
                rows[last].note = curve.stop.as_ref().map(Stop::to_string);
            }
            _ => {}
        }
    }
    rows
}

/// The curves back from CSV rows written by [`to_rows`] (strategies in order of first
/// appearance). A stop note is kept as text: a failed point as [`Stop::Failed`], a
/// budget stop as [`Stop::Budget`] with the point's own time.
pub fn from_rows(rows: &[GrowthRow]) -> Vec<GrowthCurve> {
    let mut curves: Vec<GrowthCurve> = Vec::new();
    for row in rows {
        let index = match curves.iter().position(|c| c.strategy == row.strategy) {
            Some(i) => i,
            None => {
                curves.push(GrowthCurve { strategy: row.strategy.clone(), points: Vec::new(), stop: None });
                curves.len() - 1
            }
        };
        let curve = &mut curves[index];
        match (row.pairs, row.pairs_per_sec) {
            (Some(pairs), Some(pairs_per_sec)) => {
                curve.points.push(GrowthPoint {
                    live: row.live_blocks,
                    pairs,
                    pairs_per_sec,
                    heap_bytes: row.heap_bytes,
                    secs: row.secs.unwrap_or(0.0),
                });
                if let Some(note) = &row.note {
                    curve.stop = Some(Stop::Budget {
                        live: row.live_blocks,
                        secs: row.secs.unwrap_or(0.0),
                        budget: budget_in(note).unwrap_or(0.0),
                    });
                }
            }
            _ => {
                let note = row.note.as_deref().unwrap_or("failed");
                // The note is the stop's `Display`: "stopped at 4k live blocks: <message>".
                let message = note.split_once(" live blocks: ").map_or(note, |(_, message)| message);
                curve.stop = Some(Stop::Failed { live: row.live_blocks, message: message.to_owned() });
            }
        }
    }
    curves
}

/// The budget in a note written by [`Stop`]'s `Display` ("... over the 2.0 s budget").
fn budget_in(note: &str) -> Option<f64> {
    let before = note.strip_suffix(" s budget")?;
    before.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_keeps_the_live_set_and_is_a_valid_trace() {
        let (fill, full) = workload(100, 300, 7, (8, 64));
        fill.validate().unwrap();
        full.validate().unwrap();
        assert_eq!(fill.ops.len(), 100);
        assert_eq!(full.ops.len(), 700);
        assert_eq!(&full.ops[..100], &fill.ops[..]);
        assert_eq!((fill.num_ids, full.num_ids), (400, 400));
        let mut live = std::collections::HashSet::new();
        for op in &full.ops {
            match *op {
                Op::Alloc { id, size } => {
                    assert!((8..=64).contains(&size));
                    assert!(live.insert(id));
                }
                Op::Free { id } => assert!(live.remove(&id)),
                Op::Realloc { .. } | Op::FreeNull | Op::ReallocNull { .. } => unreachable!(),
            }
            assert!(live.len() <= 100);
        }
        assert_eq!(live.len(), 100);
        // Seeded: the same operations every time, different ones for another seed.
        assert_eq!(workload(100, 300, 7, (8, 64)).1.ops, full.ops);
        assert_ne!(workload(100, 300, 8, (8, 64)).1.ops, full.ops);
    }

    fn small(live: Vec<usize>, budget: Duration) -> GrowthConfig {
        GrowthConfig { live, budget, max_heap: 1 << 24, reps: 1, min_pairs: 64, ..GrowthConfig::default() }
    }

    #[test]
    fn a_curve_has_a_point_per_size_within_the_budget() {
        for strategy in ["segregated", "libc"] {
            let mut heard = 0;
            let curve =
                measure(strategy, &small(vec![64, 256], Duration::from_secs(3600)), |_| heard += 1).unwrap();
            assert_eq!(curve.strategy, strategy);
            assert_eq!(curve.points.iter().map(|p| p.live).collect::<Vec<_>>(), [64, 256]);
            assert_eq!(heard, 2);
            assert!(curve.stop.is_none());
            for p in &curve.points {
                assert!(p.pairs_per_sec > 0.0 && p.pairs_per_sec.is_finite());
                assert_eq!(p.pairs, p.live.max(64));
                assert_eq!(p.heap_bytes.is_some(), strategy != "libc");
            }
        }
    }

    #[test]
    fn a_curve_stops_after_a_point_over_the_budget_and_says_so() {
        let curve = measure("implicit", &small(vec![64, 128, 256], Duration::ZERO), |_| {}).unwrap();
        assert_eq!(curve.points.len(), 1, "every point takes longer than no time at all");
        let stop = curve.stop.clone().unwrap();
        assert!(matches!(stop, Stop::Budget { live: 64, .. }), "{stop:?}");
        let note = stop.to_string();
        assert!(note.starts_with("stopped after 64 live blocks") && note.ends_with("over the 0.0 s budget"));
        // Round trip through the CSV rows keeps the points and the stop.
        let back = from_rows(&to_rows(std::slice::from_ref(&curve)));
        assert_eq!(back[0].points, curve.points);
        assert!(matches!(back[0].stop, Some(Stop::Budget { live: 64, budget: 0.0, .. })));
    }

    #[test]
    fn a_heap_too_small_ends_the_curve_with_the_failure() {
        let config = GrowthConfig { max_heap: 1 << 16, ..small(vec![64, 4096], Duration::from_secs(3600)) };
        let curve = measure("segregated", &config, |_| {}).unwrap();
        assert_eq!(curve.points.len(), 1);
        match &curve.stop {
            Some(Stop::Failed { live: 4096, message }) => assert!(message.contains("null"), "{message}"),
            other => panic!("expected a failure at 4096, got {other:?}"),
        }
        let rows = to_rows(std::slice::from_ref(&curve));
        assert_eq!(rows.len(), 2);
        assert!(
            rows[1].pairs_per_sec.is_none() && rows[1].note.as_deref().unwrap().contains("4k live blocks")
        );
        assert_eq!(from_rows(&rows), [curve]);
    }

    #[test]
    fn unknown_strategies_are_refused() {
        assert!(matches!(
            measure("nope", &GrowthConfig::default(), |_| {}),
            Err(RaceError::UnknownStrategy(_))
        ));
    }
}
