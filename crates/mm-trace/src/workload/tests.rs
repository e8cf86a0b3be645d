//! The generator's tests: every workload makes valid traces of exactly the length asked
//! for, deterministically, with the shape its documentation promises.

use super::dice::Dice;
use super::*;
use crate::trace::Op;

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
                let back = Trace::parse("x.rep", text.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
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
                        assert!(s > largest_hole, "seed {seed}: a {id} {s} fits a hole of {largest_hole}");
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
    let mut dice = Dice::new(Workload::Random.name(), 0);
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
