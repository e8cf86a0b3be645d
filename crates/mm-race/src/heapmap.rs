//! Heap maps: a picture of where a strategy's heap goes, byte by byte, at chosen
//! points of a trace.
//!
//! Utilization is one number; a heap map shows what makes it. Each *snapshot* is the
//! whole heap from `heap_lo` to the trace's high-water mark, every byte coloured by
//! what it holds ([`MapKind`]): requested payload, rounding and alignment waste
//! inside blocks (padding), headers and footers (metadata), free blocks, and heap
//! beyond the break at that point (unused, not yet asked of `sbrk`). A legend per
//! snapshot gives the exact byte total of each kind, which the picture rounds.
//!
//! ## Where the kinds come from
//!
//! The strategy knows its blocks and the driver knows the requests, so each says what
//! it knows:
//!
//! * the strategy labels every byte through [`Allocator::heap_spans`]: payload (the
//!   block's *usable* bytes), free, metadata, padding;
//! * the driver, which replayed the trace, knows each live block's address and
//!   requested size, and splits every payload span into the requested bytes and the
//!   rest, the rounding waste, which is shown as padding ([`refine`]).
//!
//! A strategy that does not describe its heap (the trait's default, e.g. a third-party
//! allocator behind an adapter, or a C allocator, mapped in a child process by
//! [`crate::c`]) still gets a map from what the driver alone knows: the requested bytes
//! of the live blocks, and everything else as *free or overhead (unknown)*
//! ([`fallback`]).
//!
//! ## How a snapshot is taken
//!
//! The trace is first replayed with every check on ([`replay::checked_replay`]): a
//! map of an incorrect strategy would be a picture of a bug. Then, for each point, the
//! trace's first `n` operations are replayed afresh with the race's unchecked replay
//! ([`replay::timed_replay`], whose block table tells where every live block is) and
//! the heap is read as it stands. Replaying a prefix from scratch works because `init`
//! rebuilds all state (the conformance kit checks it), so the same operations leave
//! the same heap; it keeps this module free of `unsafe`, since the replay loop owns
//! every `free`.
//!
//! ## Drawing
//!
//! This module takes the snapshots; drawing them (the SVG of `mdriver heapmap`) is the
//! driver's business, in `mdriver::heapmap`, so that the engine compiles no renderer.

use std::fmt;
use std::str::FromStr;

use mm_core::{Allocator, HeapSpan, SpanKind, check_span_tiling};
use mm_trace::{Op, Trace};
use serde::{Deserialize, Serialize};

use crate::replay;
use crate::subject::{Ours, Subject};

/// What a byte of the map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MapKind {
    /// Requested payload of a live block.
    Payload,
    /// Inside a block but neither requested payload nor bookkeeping: the rounding of
    /// the request up to the block size, and alignment padding.
    Padding,
    /// Headers, footers, sentinels and control areas.
    Metadata,
    /// Free blocks and other free heap the allocator can hand out again.
    Free,
    /// Not a requested payload, in a heap the strategy does not describe: free or
    /// overhead, the driver cannot tell.
    Unknown,
    /// Beyond the break at this point (the heap grows later in the trace).
    Unused,
}

impl MapKind {
    /// Every kind, in legend order.
    pub const ALL: [MapKind; 6] = [
        MapKind::Payload,
        MapKind::Padding,
        MapKind::Metadata,
        MapKind::Free,
        MapKind::Unknown,
        MapKind::Unused,
    ];

    /// The kind's name, as the legend shows it and the SVG's `data-` attributes spell it.
    pub const fn name(self) -> &'static str {
        match self {
            MapKind::Payload => "payload",
            MapKind::Padding => "padding",
            MapKind::Metadata => "metadata",
            MapKind::Free => "free",
            MapKind::Unknown => "unknown",
            MapKind::Unused => "unused",
        }
    }

    /// What the kind means, for the legend.
    pub const fn meaning(self) -> &'static str {
        match self {
            MapKind::Payload => "requested payload",
            MapKind::Padding => "rounding and alignment waste",
            MapKind::Metadata => "headers, footers, control data",
            MapKind::Free => "free blocks",
            MapKind::Unknown => "free or overhead (strategy does not say)",
            MapKind::Unused => "beyond the break",
        }
    }

    /// The kind's colour.
    pub const fn colour(self) -> &'static str {
        match self {
            MapKind::Payload => "#3a923a",
            MapKind::Padding => "#f0b429",
            MapKind::Metadata => "#c2185b",
            MapKind::Free => "#9ecae1",
            MapKind::Unknown => "#9e9e9e",
            MapKind::Unused => "#efefef",
        }
    }

    /// The kind's position in [`MapKind::ALL`]: its slot in [`Snapshot::totals`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl From<SpanKind> for MapKind {
    fn from(kind: SpanKind) -> MapKind {
        match kind {
            SpanKind::Payload => MapKind::Payload,
            SpanKind::Free => MapKind::Free,
            SpanKind::Metadata => MapKind::Metadata,
            SpanKind::Padding => MapKind::Padding,
        }
    }
}

/// `len` bytes from heap offset `offset`, all of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSpan {
    /// Offset from `heap_lo`.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// What they hold.
    pub kind: MapKind,
}

/// Appends `[offset, offset + len)` of `kind`, merging with the span before when it
/// is of the same kind and adjacent; empty spans are dropped.
fn push(spans: &mut Vec<MapSpan>, offset: usize, len: usize, kind: MapKind) {
    if len == 0 {
        return;
    }
    if let Some(last) = spans.last_mut()
        && last.kind == kind
        && last.offset + last.len == offset
    {
        last.len += len;
        return;
    }
    spans.push(MapSpan { offset, len, kind });
}

/// A live block as the driver knows it: where its payload is, what was asked for, and
/// its slot in the replay's table of blocks (see [`replay`]: the trace id, for ids
/// `0..id_bound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveBlock {
    /// Heap offset of the payload.
    pub offset: usize,
    /// Requested bytes.
    pub requested: usize,
    /// Its slot in the replay's table of blocks.
    pub owner: usize,
}

/// `len` bytes from heap offset `offset`, all of one kind, with the live block they
/// belong to: a [`MapSpan`] that also says whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Offset from `heap_lo`.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// What they hold.
    pub kind: MapKind,
    /// The slot of the live block whose payload or padding they are (`None` for
    /// metadata, free heap, and padding of no live block).
    pub owner: Option<usize>,
}

impl Segment {
    /// One past its last byte.
    pub const fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// Appends a segment, merging with the one before when it is of the same kind and
/// owner and adjacent; empty segments are dropped.
fn push_segment(out: &mut Vec<Segment>, offset: usize, len: usize, kind: MapKind, owner: Option<usize>) {
    if len == 0 {
        return;
    }
    if let Some(last) = out.last_mut()
        && last.kind == kind
        && last.owner == owner
        && last.end() == offset
    {
        last.len += len;
        return;
    }
    out.push(Segment { offset, len, kind, owner });
}

/// The strategy's spans with each payload span split into the live blocks' requested
/// bytes ([`MapKind::Payload`]) and the rest ([`MapKind::Padding`]), every payload and
/// padding byte labelled with its block: padding after a block's request is that
/// block's (its rounding), padding before the first block of a span is the first
/// block's (its alignment). `live` is sorted by offset. Bytes a block requested beyond
/// its payload span (a strategy bug the conformance kit would catch) are not drawn as
/// payload.
pub fn label(spans: &[HeapSpan], live: &[LiveBlock]) -> Vec<Segment> {
    let mut out = Vec::with_capacity(spans.len() + live.len());
    let mut j = 0;
    for span in spans {
        let end = span.offset + span.len;
        if span.kind != SpanKind::Payload {
            push_segment(&mut out, span.offset, span.len, span.kind.into(), None);
            continue;
        }
        // Blocks that start before this span lie in no payload span: skip them.
        while j < live.len() && live[j].offset < span.offset {
            j += 1;
        }
        let mut at = span.offset;
        let mut owner = live.get(j).filter(|b| b.offset < end).map(|b| b.owner);
        while j < live.len() && live[j].offset < end {
            let block = live[j];
            push_segment(&mut out, at, block.offset - at, MapKind::Padding, owner);
            let stop = (block.offset + block.requested).min(end);
            push_segment(&mut out, block.offset, stop - block.offset, MapKind::Payload, Some(block.owner));
            at = stop.max(at);
            owner = Some(block.owner);
            j += 1;
        }
        push_segment(&mut out, at, end - at, MapKind::Padding, owner);
    }
    out
}

/// The segments as a map's spans: owners dropped, neighbours of one kind merged.
pub fn merged(segments: &[Segment]) -> Vec<MapSpan> {
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        push(&mut out, s.offset, s.len, s.kind);
    }
    out
}

/// The strategy's spans, with each payload span split into the live blocks' requested
/// bytes ([`MapKind::Payload`]) and the rest ([`MapKind::Padding`]): [`label`]'s
/// segments, [`merged`]. `live` is sorted by offset.
pub fn refine(spans: &[HeapSpan], live: &[LiveBlock]) -> Vec<MapSpan> {
    merged(&label(spans, live))
}

/// A map from what the driver alone knows, for a strategy that does not describe its
/// heap: the live blocks' requested bytes, and the rest of `[0, heap_size)` unknown.
/// `live` is sorted by offset.
pub fn fallback(heap_size: usize, live: &[LiveBlock]) -> Vec<MapSpan> {
    let mut out = Vec::with_capacity(2 * live.len() + 1);
    let mut at = 0;
    for block in live {
        let start = block.offset.max(at).min(heap_size);
        push(&mut out, at, start - at, MapKind::Unknown);
        let stop = (block.offset + block.requested).min(heap_size).max(start);
        push(&mut out, start, stop - start, MapKind::Payload);
        at = stop;
    }
    push(&mut out, at, heap_size - at, MapKind::Unknown);
    out
}

/// A point of the trace to take a snapshot at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Where the live requested payload peaks (the first such point).
    Peak,
    /// After the last operation.
    End,
    /// After the first `n` operations (`op:0` is the heap right after `init`).
    Op(usize),
}

impl FromStr for At {
    type Err = String;

    fn from_str(s: &str) -> Result<At, String> {
        match s.trim() {
            "peak" => Ok(At::Peak),
            "end" => Ok(At::End),
            other => other.strip_prefix("op:").and_then(|n| n.parse().ok()).map(At::Op).ok_or_else(|| {
                format!("{other:?} is not a point of the trace: use peak, end or op:N (N operations done)")
            }),
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Peak => write!(f, "peak"),
            At::End => write!(f, "end"),
            At::Op(n) => write!(f, "op:{n}"),
        }
    }
}

/// Why a map could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HeapmapError {
    /// A point past the end of the trace (a usage error).
    #[error("--at {at}: the trace has only {ops} operations (op:0 to op:{ops})")]
    PastEnd {
        /// The point asked for.
        at: At,
        /// The trace's length.
        ops: usize,
    },
    /// The strategy failed the checked replay.
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

/// One snapshot: the heap after `ops_done` operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which point this is ("peak", "end", "op 500"...).
    pub label: String,
    /// Operations done.
    pub ops_done: usize,
    /// The heap's size (its break) at this point.
    pub heap_size: usize,
    /// Live blocks.
    pub live_blocks: usize,
    /// Live requested bytes.
    pub live_bytes: usize,
    /// The map: spans tiling `[0, high_water)` of the whole [`Heapmap`].
    pub spans: Vec<MapSpan>,
    /// Whether the strategy described its heap (false: [`fallback`]).
    pub described: bool,
}

impl Snapshot {
    /// Bytes of each kind, indexed as [`MapKind::ALL`].
    pub fn totals(&self) -> [usize; 6] {
        let mut totals = [0; 6];
        for span in &self.spans {
            totals[span.kind.index()] += span.len;
        }
        totals
    }

    /// Bytes of `kind`.
    pub fn total(&self, kind: MapKind) -> usize {
        self.totals()[kind.index()]
    }
}

/// A heap map: one strategy, one trace, several snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heapmap {
    /// The strategy's name.
    pub strategy: String,
    /// Its description.
    pub description: String,
    /// The trace's name.
    pub trace: String,
    /// Operations in the trace.
    pub ops: usize,
    /// The payload alignment.
    pub align: usize,
    /// The heap's high-water mark over the whole trace: the width of every snapshot.
    pub high_water: usize,
    /// The snapshots, by operation count.
    pub snapshots: Vec<Snapshot>,
}

/// The live requested bytes after each prefix of `trace` (index `n`: after `n` ops):
/// [`Trace::live_after`].
pub fn live_after(trace: &Trace) -> Vec<usize> {
    trace.live_after()
}

/// The requested size of every live block, op by op, laid out as the replays lay out
/// their blocks (see [`replay`]): by id, for ids `0..id_bound`, then the blocks no id
/// names, in the order they were made (`None`: not live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSizes(pub Vec<Option<usize>>);

impl RequestedSizes {
    /// No block live, with a slot per id in `0..id_bound`.
    pub fn new(id_bound: usize) -> RequestedSizes {
        RequestedSizes(vec![None; id_bound])
    }

    /// The sizes after `op` too. Returns the slot the op made, resized or freed: the
    /// id's, or for `r -1 n` and `r` of a dead id to 0 bytes the new unnamed slot (the
    /// last); `None` for `f -1`, which touches no block.
    pub fn apply(&mut self, op: Op) -> Option<usize> {
        let sizes = &mut self.0;
        match op {
            Op::Alloc { id, size } => sizes[id] = Some(size),
            // realloc(NULL, 0) of a dead id: a block (or null) under no id.
            Op::Realloc { id, size: 0 } if sizes[id].is_none() => {
                sizes.push(Some(0));
                return Some(sizes.len() - 1);
            }
            Op::Realloc { id, size } => sizes[id] = (size > 0).then_some(size),
            Op::Free { id } => sizes[id] = None,
            Op::FreeNull => return None,
            Op::ReallocNull { size } => {
                sizes.push(Some(size));
                return Some(sizes.len() - 1);
            }
        }
        match op {
            Op::Alloc { id, .. } | Op::Realloc { id, .. } | Op::Free { id } => Some(id),
            Op::FreeNull | Op::ReallocNull { .. } => None,
        }
    }
}

/// The requested size of every live block after `ops` ([`RequestedSizes`]).
fn requested_sizes(id_bound: usize, ops: &[Op]) -> Vec<Option<usize>> {
    let mut sizes = RequestedSizes::new(id_bound);
    for &op in ops {
        sizes.apply(op);
    }
    sizes.0
}

/// Resolves the points to operation counts with their labels, sorted and without
/// repeats (the first label of a count wins, so "peak" beats "op:N" at the same point).
/// No points means the default ones: the peak, the end, and a quarter, half and three
/// quarters of the way through.
pub fn resolve_points(trace: &Trace, at: &[At]) -> Result<Vec<(usize, String)>, HeapmapError> {
    let ops = trace.ops.len();
    let live = live_after(trace);
    let peak = live.iter().enumerate().max_by_key(|&(i, &v)| (v, std::cmp::Reverse(i))).map_or(0, |(i, _)| i);
    let mut points: Vec<(usize, String)> = Vec::new();
    let asked: Vec<At> = if at.is_empty() {
        vec![At::Peak, At::End, At::Op(ops / 4), At::Op(ops / 2), At::Op(3 * ops / 4)]
    } else {
        at.to_vec()
    };
    for a in asked {
        let (n, label) = match a {
            At::Peak => (peak, "peak of live payload".to_owned()),
            At::End => (ops, "end".to_owned()),
            At::Op(n) if n <= ops => (n, format!("op {n}")),
            At::Op(_) => return Err(HeapmapError::PastEnd { at: a, ops }),
        };
        if !points.iter().any(|&(m, _)| m == n) {
            points.push((n, label));
        }
    }
    points.sort_by_key(|&(n, _)| n);
    Ok(points)
}

/// Maps the heap of `allocator` (named `strategy`, built but not initialised) over
/// `trace` at the points `at` (the default points when empty).
pub fn map(
    strategy: &str,
    allocator: Box<dyn Allocator>,
    trace: &Trace,
    at: &[At],
) -> Result<Heapmap, HeapmapError> {
    let description = allocator.describe();
    map_subject(strategy, &description, &mut Ours(allocator), |ours| ours.0.heap_spans(), trace, at)
}

/// Maps the heap of any subject with a heap (named `strategy`, described by
/// `description`) over `trace` at the points `at`; `spans` is how the subject describes
/// its heap at a point, if it does.
pub fn map_subject<S: Subject>(
    strategy: &str,
    description: &str,
    subject: &mut S,
    spans: impl Fn(&S) -> Option<Vec<HeapSpan>>,
    trace: &Trace,
    at: &[At],
) -> Result<Heapmap, HeapmapError> {
    let points = resolve_points(trace, at)?;
    let align = subject.alignment();
    let ours = subject;
    let incorrect = |message: String| HeapmapError::Incorrect {
        strategy: strategy.to_owned(),
        trace: trace.name.clone(),
        message,
    };
    let checked = replay::checked_replay(ours, trace, false).map_err(|e| incorrect(e.to_string()))?;
    let high_water = checked.heap_bytes.unwrap_or(0);
    let mut blocks = Vec::new();
    let mut snapshots = Vec::new();
    for (n, label) in points {
        let prefix = Trace {
            name: trace.name.clone(),
            header: trace.header,
            num_ids: trace.num_ids,
            ops: trace.ops[..n].to_vec(),
        };
        replay::timed_replay(ours, &prefix, &mut blocks);
        let Some(heap) = ours.heap() else {
            return Err(incorrect("the driver cannot see its heap".to_owned()));
        };
        let heap_size = heap.heap_size();
        // `blocks` has a slot per id the prefix uses, then one per unnamed block: so
        // must `sizes`, to pair them up.
        let sizes = requested_sizes(prefix.id_bound(), &prefix.ops);
        let mut live: Vec<LiveBlock> = blocks
            .iter()
            .zip(&sizes)
            .enumerate()
            .filter_map(|(owner, (&ptr, &size))| {
                let requested = size.unwrap_or(0);
                (!ptr.is_null()).then(|| LiveBlock { offset: heap.offset_of(ptr), requested, owner })
            })
            .collect();
        live.sort_unstable();
        let spans = spans(ours).filter(|spans| check_span_tiling(spans, heap_size).is_ok());
        let described = spans.is_some();
        let mut map = match spans {
            Some(spans) => refine(&spans, &live),
            None => fallback(heap_size, &live),
        };
        push(&mut map, heap_size, high_water.saturating_sub(heap_size), MapKind::Unused);
        snapshots.push(Snapshot {
            label,
            ops_done: n,
            heap_size,
            live_blocks: live.len(),
            live_bytes: live.iter().map(|b| b.requested).sum(),
            spans: map,
            described,
        });
    }
    Ok(Heapmap {
        strategy: strategy.to_owned(),
        description: description.to_owned(),
        trace: trace.name.clone(),
        ops: trace.ops.len(),
        align,
        high_water,
        snapshots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(offset: usize, len: usize, kind: SpanKind) -> HeapSpan {
        HeapSpan::new(offset, len, kind)
    }

    fn map_span(offset: usize, len: usize, kind: MapKind) -> MapSpan {
        MapSpan { offset, len, kind }
    }

    fn block(offset: usize, requested: usize, owner: usize) -> LiveBlock {
        LiveBlock { offset, requested, owner }
    }

    #[test]
    fn payload_spans_split_into_requests_and_padding() {
        let spans = [
            span(0, 8, SpanKind::Metadata),
            span(8, 24, SpanKind::Payload),
            span(32, 16, SpanKind::Metadata),
            span(48, 40, SpanKind::Free),
            span(88, 8, SpanKind::Metadata),
            span(96, 32, SpanKind::Payload),
        ];
        let live = [block(8, 20, 0), block(96, 0, 1)];
        assert_eq!(
            refine(&spans, &live),
            [
                map_span(0, 8, MapKind::Metadata),
                map_span(8, 20, MapKind::Payload),
                map_span(28, 4, MapKind::Padding),
                map_span(32, 16, MapKind::Metadata),
                map_span(48, 40, MapKind::Free),
                map_span(88, 8, MapKind::Metadata),
                map_span(96, 32, MapKind::Padding),
            ]
        );
        // Two blocks in one (merged) payload span, one starting past its start.
        let merged = [span(0, 64, SpanKind::Payload)];
        let live = [block(8, 8, 0), block(32, 40, 1)];
        assert_eq!(
            refine(&merged, &live),
            [
                map_span(0, 8, MapKind::Padding),
                map_span(8, 8, MapKind::Payload),
                map_span(16, 16, MapKind::Padding),
                map_span(32, 32, MapKind::Payload),
            ]
        );
    }

    #[test]
    fn segments_say_whose_bytes_they_are() {
        // Padding between two blocks in one payload span is the first one's rounding;
        // padding before the first is its alignment.
        let spans =
            [span(0, 8, SpanKind::Metadata), span(8, 64, SpanKind::Payload), span(72, 8, SpanKind::Free)];
        let live = [block(16, 8, 3), block(40, 20, 7)];
        let seg = |offset, len, kind, owner| Segment { offset, len, kind, owner };
        let segments = label(&spans, &live);
        assert_eq!(
            segments,
            [
                seg(0, 8, MapKind::Metadata, None),
                seg(8, 8, MapKind::Padding, Some(3)),
                seg(16, 8, MapKind::Payload, Some(3)),
                seg(24, 16, MapKind::Padding, Some(3)),
                seg(40, 20, MapKind::Payload, Some(7)),
                seg(60, 12, MapKind::Padding, Some(7)),
                seg(72, 8, MapKind::Free, None),
            ]
        );
        assert_eq!(merged(&segments).len(), 7, "no two neighbours share a kind");
        // Two blocks' padding side by side stays two segments, one span once merged.
        let spans = [span(0, 16, SpanKind::Payload), span(16, 16, SpanKind::Payload)];
        let live = [block(0, 0, 1), block(16, 0, 2)];
        assert_eq!(label(&spans, &live).len(), 2);
        assert_eq!(merged(&label(&spans, &live)), [map_span(0, 32, MapKind::Padding)]);
    }

    #[test]
    fn requested_sizes_follow_the_replay_table() {
        let trace =
            Trace::parse("t.rep", b"0\n2\n6\n1\na 0 10\nr -1 24\nr 1 0\nr 0 30\nf -1\nf 0\n").unwrap();
        let mut sizes = RequestedSizes::new(trace.id_bound());
        let touched: Vec<Option<usize>> = trace.ops.iter().map(|&op| sizes.apply(op)).collect();
        assert_eq!(touched, [Some(0), Some(2), Some(3), Some(0), None, Some(0)]);
        assert_eq!(sizes.0, [None, None, Some(24), Some(0)]);
    }

    #[test]
    fn without_spans_the_driver_maps_what_it_knows() {
        let live = [block(16, 10, 0), block(40, 8, 1)];
        assert_eq!(
            fallback(64, &live),
            [
                map_span(0, 16, MapKind::Unknown),
                map_span(16, 10, MapKind::Payload),
                map_span(26, 14, MapKind::Unknown),
                map_span(40, 8, MapKind::Payload),
                map_span(48, 16, MapKind::Unknown),
            ]
        );
        assert_eq!(fallback(0, &[]), []);
    }

    #[test]
    fn points_parse_and_resolve() {
        assert_eq!("peak".parse::<At>(), Ok(At::Peak));
        assert_eq!(" end".parse::<At>(), Ok(At::End));
        assert_eq!("op:12".parse::<At>(), Ok(At::Op(12)));
        for bad in ["op:", "op:x", "middle", "op:-1", "12"] {
            assert!(bad.parse::<At>().unwrap_err().contains("use peak, end or op:N"), "{bad}");
        }
        let trace = Trace::parse("t.rep", b"0\n3\n6\n1\na 0 10\na 1 30\nf 0\na 2 5\nf 1\nf 2\n").unwrap();
        // Live bytes after each op: 0 10 40 30 35 5 0: the peak is after op 2.
        let points = resolve_points(&trace, &[At::End, At::Op(2), At::Peak, At::Op(0)]).unwrap();
        assert_eq!(points, [(0, "op 0".to_owned()), (2, "op 2".to_owned()), (6, "end".to_owned())]);
        let points = resolve_points(&trace, &[]).unwrap();
        assert_eq!(points.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2, 3, 4, 6]);
        assert_eq!(points[1].1, "peak of live payload");
        let err = resolve_points(&trace, &[At::Op(7)]).unwrap_err();
        assert_eq!(err.to_string(), "--at op:7: the trace has only 6 operations (op:0 to op:6)");
    }
}
