//! Heap timelines: a strategy's heap after *every* operation of a trace, for the
//! scrubbable page of `mdriver timeline`.
//!
//! A heap map ([`heapmap`]) is a few snapshots, each from a replay of its own. A
//! timeline needs thousands, so it takes them all in one replay
//! ([`replay::observed_replay`]): after `init` and after each op it asks the strategy
//! for its spans ([`Allocator::heap_spans`]), labels every payload and padding byte with
//! its block ([`heapmap::label`], the heap map's own refinement) and keeps only what
//! changed since the step before: each [`Change`] of a [`Step`] replaces the segments
//! from one offset on, `removed` of them, with `inserted` new ones. An op touches one
//! block and its
//! neighbours, so a step is a few segments however large the heap; a reader rebuilds the
//! heap at any op by applying the steps in order ([`Timeline::segments_at`]), or from a
//! copy it kept on the way.
//!
//! Only strategies that describe their heap have a timeline: the driver alone knows
//! where the requests are, not where the free blocks and headers are, and that is the
//! picture. The trace is first replayed with every check on, as for a heap map.

use std::collections::BTreeMap;

use mm_core::{Allocator, HeapSpan, check_span_tiling};
use mm_trace::{Op, Trace};

use crate::heapmap::{self, LiveBlock, RequestedSizes, Segment};
use crate::replay;
use crate::subject::{Ours, Subject};

/// The block an op touched, and where: the block it made or resized (in the heap after
/// the op), or the block it freed (in the heap before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// The block's slot in the replay's table (the trace id, below the trace's
    /// `id_bound`).
    pub owner: usize,
    /// Its payload's offset.
    pub payload_offset: usize,
    /// Where its bytes start: its first payload or padding byte.
    pub lo: usize,
    /// One past its last payload or padding byte.
    pub hi: usize,
    /// Whether the op freed it (`f`, or `realloc` to 0 bytes).
    pub freed: bool,
}

/// The heap after one more op, as what changed since the step before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The heap's size (its break).
    pub heap_size: usize,
    /// Live blocks.
    pub live_blocks: usize,
    /// The block the op touched (none for `init`, `f -1`, a `realloc(NULL, 0)` that
    /// returned null).
    pub touched: Option<Touch>,
    /// What changed, by address (none for an op that changed nothing, as `f -1`).
    pub changes: Vec<Change>,
}

/// One run of segments that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The offset of the first segment that changed (the old heap's and the new one's:
    /// both tile the heap from 0, and agree before it).
    pub start: usize,
    /// How many segments of the heap before, from `start` on, are gone.
    pub removed: usize,
    /// The segments in their place, from `start` on.
    pub inserted: Vec<Segment>,
}

/// A strategy's heap over a whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The strategy's name.
    pub strategy: String,
    /// Its description.
    pub description: String,
    /// The payload alignment.
    pub align: usize,
    /// The trace's `id_bound`: owners below it are trace ids, the others blocks no id
    /// names (`r -1 n`).
    pub id_bound: usize,
    /// The heap's high-water mark over the trace.
    pub high_water: usize,
    /// One step per op, after `init` first: `steps[n]` leads to the heap after `n` ops
    /// (from an empty heap for `n == 0`).
    pub steps: Vec<Step>,
}

impl Timeline {
    /// The heap after `n` ops, rebuilt from the steps (`None` past the end).
    pub fn segments_at(&self, n: usize) -> Option<Vec<Segment>> {
        let steps = self.steps.get(..=n)?;
        let mut segments: Vec<Segment> = Vec::new();
        for change in steps.iter().flat_map(|step| &step.changes) {
            let at = segments.partition_point(|s| s.offset < change.start);
            segments.splice(at..at + change.removed, change.inserted.iter().copied());
        }
        Some(segments)
    }
}

/// Why a timeline could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The strategy does not describe its heap.
    #[error(
        "{strategy} does not describe its heap (Allocator::heap_spans), so it has no timeline: \
         choose strategies that do ({})",
        describing().join(", ")
    )]
    NotDescribed {
        /// The strategy.
        strategy: String,
    },
    /// The strategy failed the checked replay, or described a heap that is not one.
    #[error("{strategy} is incorrect on {trace}: {message}")]
    Incorrect {
        /// The strategy.
        strategy: String,
        /// The trace.
        trace: String,
        /// What went wrong.
        message: String,
    },
}

/// The registered strategies that describe their heap: those a timeline can show.
pub fn describing() -> Vec<&'static str> {
    crate::registry::STRATEGIES
        .iter()
        .filter(|info| {
            let Ok(heap) = mm_core::MemLib::new(1 << 16) else { return false };
            let mut allocator = (info.build)(heap, mm_core::Align::MIN);
            allocator.init().is_ok() && allocator.heap_spans().is_some()
        })
        .map(|info| info.name)
        .collect()
}

/// The timeline of `allocator` (named `strategy`, built but not initialised) over
/// `trace`.
pub fn record(
    strategy: &str,
    allocator: Box<dyn Allocator>,
    trace: &Trace,
) -> Result<Timeline, TimelineError> {
    let description = allocator.describe();
    record_subject(strategy, &description, &mut Ours(allocator), |ours| ours.0.heap_spans(), trace)
}

/// The timeline of any subject with a heap (named `strategy`, described by
/// `description`) over `trace`; `spans` is how the subject describes its heap.
pub fn record_subject<S: Subject>(
    strategy: &str,
    description: &str,
    subject: &mut S,
    spans: impl Fn(&S) -> Option<Vec<HeapSpan>>,
    trace: &Trace,
) -> Result<Timeline, TimelineError> {
    let incorrect = |message: String| TimelineError::Incorrect {
        strategy: strategy.to_owned(),
        trace: trace.name.clone(),
        message,
    };
    let not_described = || TimelineError::NotDescribed { strategy: strategy.to_owned() };
    subject.start().map_err(|e| incorrect(format!("init failed: {e}")))?;
    if spans(subject).is_none() {
        return Err(not_described());
    }
    let checked = replay::checked_replay(subject, trace, false).map_err(|e| incorrect(e.to_string()))?;
    let mut recorder = Recorder::new(trace);
    let mut failure = None;
    let mut blocks = Vec::new();
    let started = replay::observed_replay(subject, trace, &mut blocks, |n, subject, blocks| {
        if failure.is_some() {
            return;
        }
        let Some(heap) = subject.heap() else {
            failure = Some(incorrect("the driver cannot see its heap".to_owned()));
            return;
        };
        let Some(spans) = spans(subject) else {
            failure = Some(not_described());
            return;
        };
        if let Err(e) = check_span_tiling(&spans, heap.heap_size()) {
            failure = Some(incorrect(format!("after {n} ops its heap spans do not tile its heap: {e}")));
            return;
        }
        let op = n.checked_sub(1).map(|i| trace.ops[i]);
        recorder.step(op, heap.heap_size(), &spans, |slot| {
            blocks.get(slot).filter(|p| !p.is_null()).map(|&p| heap.offset_of(p))
        });
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    if !started {
        return Err(incorrect("init failed on the second replay".to_owned()));
    }
    Ok(Timeline {
        strategy: strategy.to_owned(),
        description: description.to_owned(),
        align: subject.alignment(),
        id_bound: trace.id_bound(),
        high_water: checked.heap_bytes.unwrap_or(0),
        steps: recorder.steps,
    })
}

/// What the observer keeps from one step to the next.
struct Recorder {
    /// Requested sizes by slot.
    sizes: RequestedSizes,
    /// Payload offsets of the live blocks, by slot.
    offsets: Vec<Option<usize>>,
    /// The live blocks by payload offset.
    live: BTreeMap<usize, LiveBlock>,
    /// The heap after the last step.
    segments: Vec<Segment>,
    steps: Vec<Step>,
}

impl Recorder {
    fn new(trace: &Trace) -> Recorder {
        Recorder {
            sizes: RequestedSizes::new(trace.id_bound()),
            offsets: vec![None; trace.id_bound()],
            live: BTreeMap::new(),
            segments: Vec::new(),
            steps: Vec::with_capacity(trace.ops.len() + 1),
        }
    }

    /// The heap after `op` (`None`: after `init`): its size, its spans, and where the
    /// replay's table has each slot's block now.
    fn step(
        &mut self,
        op: Option<Op>,
        heap_size: usize,
        spans: &[HeapSpan],
        offset_of: impl Fn(usize) -> Option<usize>,
    ) {
        let slot = op.and_then(|op| self.sizes.apply(op));
        let mut freed_at = None;
        if let Some(slot) = slot {
            if slot >= self.offsets.len() {
                self.offsets.resize(slot + 1, None);
            }
            if let Some(old) = self.offsets[slot].take() {
                self.live.remove(&old);
                freed_at = Some(old);
            }
            if let Some(offset) = offset_of(slot) {
                let requested = self.sizes.0[slot].unwrap_or(0);
                self.live.insert(offset, LiveBlock { offset, requested, owner: slot });
                self.offsets[slot] = Some(offset);
            }
        }
        let live: Vec<LiveBlock> = self.live.values().copied().collect();
        let segments = heapmap::label(spans, &live);
        let touched = slot.and_then(|slot| match self.offsets[slot] {
            Some(offset) => Some(touch(&segments, slot, offset, false)),
            None => freed_at.map(|offset| touch(&self.segments, slot, offset, true)),
        });
        let changes = diff(&self.segments, &segments);
        self.steps.push(Step { heap_size, live_blocks: live.len(), touched, changes });
        self.segments = segments;
    }
}

/// Where block `owner`, whose payload is at `offset`, lies in `segments`.
fn touch(segments: &[Segment], owner: usize, offset: usize, freed: bool) -> Touch {
    let at = segments.partition_point(|s| s.end() <= offset);
    let mine = |s: &&Segment| s.owner == Some(owner);
    let before = segments[..at].iter().rev().take_while(mine).count();
    let after = segments[at.min(segments.len())..].iter().take_while(mine).count();
    let (lo, hi) = if after == 0 {
        (offset, offset)
    } else {
        (segments[at - before].offset, segments[at + after - 1].end())
    };
    Touch { owner, payload_offset: offset, lo, hi, freed }
}

/// What changed from `old` to `new`, two tilings of a heap from offset 0: the runs
/// where they differ, each as long as it takes for both to end at one offset and go on
/// with equal segments (or both to end).
fn diff(old: &[Segment], new: &[Segment]) -> Vec<Change> {
    let (mut i, mut j) = (0, 0);
    let mut changes = Vec::new();
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            (i, j) = (i + 1, j + 1);
            continue;
        }
        // Both tilings agree up to here, so the next segment of each starts here.
        let start = old.get(i).or(new.get(j)).map_or(0, |s| s.offset);
        let (first_old, first_new) = (i, j);
        let (mut old_end, mut new_end) = (start, start);
        loop {
            if i < old.len() && (old_end <= new_end || j == new.len()) {
                old_end = old[i].end();
                i += 1;
            } else {
                new_end = new[j].end();
                j += 1;
            }
            let old_left = i < old.len();
            let new_left = j < new.len();
            let resynced = old_end == new_end && old_left && new_left && old[i] == new[j];
            if resynced || (!old_left && !new_left) {
                break;
            }
        }
        changes.push(Change { start, removed: i - first_old, inserted: new[first_new..j].to_vec() });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heapmap::{At, MapKind};
    use crate::registry;

    fn build(name: &str) -> Box<dyn Allocator> {
        (registry::find(name).unwrap().build)(mm_core::MemLib::new(1 << 24).unwrap(), mm_core::Align::MIN)
    }

    /// The steps, applied in order, give at every op the heap that a heap map of that
    /// op (a replay of its own) shows.
    #[test]
    fn every_step_rebuilds_the_heap_a_heap_map_shows() {
        let trace = crate::traces::bundled().unwrap().into_iter().find(|t| t.name == "realloc-1").unwrap();
        let trace = Trace { ops: trace.ops[..600].to_vec(), ..trace };
        for name in ["implicit", "explicit-addr", "segregated", "buddy"] {
            let timeline = record(name, build(name), &trace).unwrap();
            assert_eq!(timeline.steps.len(), trace.ops.len() + 1);
            let points: Vec<At> = (0..=trace.ops.len()).step_by(37).map(At::Op).collect();
            let map = heapmap::map(name, build(name), &trace, &points).unwrap();
            assert_eq!(map.high_water, timeline.high_water);
            for snap in &map.snapshots {
                let segments = timeline.segments_at(snap.ops_done).unwrap();
                let mut spans = heapmap::merged(&segments);
                if snap.heap_size < map.high_water {
                    spans.push(heapmap::MapSpan {
                        offset: snap.heap_size,
                        len: map.high_water - snap.heap_size,
                        kind: MapKind::Unused,
                    });
                }
                assert_eq!(spans, snap.spans, "{name} after {} ops", snap.ops_done);
                let step = &timeline.steps[snap.ops_done];
                assert_eq!(step.heap_size, snap.heap_size);
                assert_eq!(step.live_blocks, snap.live_blocks);
            }
        }
    }

    #[test]
    fn each_op_touches_its_block() {
        let trace =
            Trace::parse("t.rep", b"0\n3\n6\n1\na 0 40\na 1 24\nf 0\nr 1 100\nf -1\nr -1 8\n").unwrap();
        let timeline = record("implicit", build("implicit"), &trace).unwrap();
        let touched: Vec<Option<(usize, bool)>> =
            timeline.steps.iter().map(|s| s.touched.map(|t| (t.owner, t.freed))).collect();
        assert_eq!(
            touched,
            [
                None,
                Some((0, false)),
                Some((1, false)),
                Some((0, true)),
                Some((1, false)),
                None,
                Some((2, false))
            ]
        );
        // Block 0's 40 bytes (and its rounding) are where it was when freed.
        let freed = timeline.steps[3].touched.unwrap();
        let made = timeline.steps[1].touched.unwrap();
        assert_eq!((freed.lo, freed.hi, freed.payload_offset), (made.lo, made.hi, made.payload_offset));
        assert!(made.hi - made.lo >= 40);
        // f -1 changes nothing.
        assert!(timeline.steps[5].changes.is_empty());
    }

    #[test]
    fn changes_are_the_runs_that_differ() {
        let seg = |offset, len, kind, owner| Segment { offset, len, kind, owner };
        let old = [
            seg(0, 8, MapKind::Metadata, None),
            seg(8, 32, MapKind::Payload, Some(1)),
            seg(40, 8, MapKind::Metadata, None),
            seg(48, 64, MapKind::Free, None),
        ];
        // Block 1 moves to the free block's place (two runs); the heap grows by a free tail.
        let new = [
            seg(0, 8, MapKind::Metadata, None),
            seg(8, 32, MapKind::Free, None),
            seg(40, 8, MapKind::Metadata, None),
            seg(48, 32, MapKind::Payload, Some(1)),
            seg(80, 64, MapKind::Free, None),
        ];
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            [
                Change { start: 8, removed: 1, inserted: vec![new[1]] },
                Change { start: 48, removed: 1, inserted: new[3..].to_vec() },
            ]
        );
        assert!(diff(&new, &new).is_empty());
        assert_eq!(diff(&[], &new), [Change { start: 0, removed: 0, inserted: new.to_vec() }]);
        assert_eq!(diff(&new, &[]), [Change { start: 0, removed: 5, inserted: vec![] }]);
    }

    #[test]
    fn a_strategy_that_does_not_describe_its_heap_is_named() {
        let trace = Trace::parse("t.rep", b"0\n1\n2\n1\na 0 40\nf 0\n").unwrap();
        let err = record("kr", build("kr"), &trace).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("kr does not describe its heap"), "{message}");
        assert!(message.contains("implicit, implicit-nextfit"), "{message}");
        assert!(!describing().contains(&"kr"));
    }
}
