//! Heap timelines drawn: the self-contained HTML page of `mdriver timeline`.
//!
//! The engine records each strategy's heap after every op (`mm_race::timeline`,
//! re-exported here: [`record`], [`Timeline`], [`Step`]...); this module packs the
//! timelines and the trace into one HTML file whose script draws the heap at any op.
//!
//! The page (`src/timeline/page.html`, compiled in) has its style, its script and its
//! data inline: it opens from disk with no network. The data is one JSON object in a `<script type="application/json">`
//! element; its bulky parts, the ops, the live bytes and each strategy's steps, are
//! streams of unsigned LEB128 varints in base64 ([`Varints`]), about a third of the
//! size of JSON numbers. [`encode_steps`] says what a step's numbers are.
//!
//! On load the script walks every step once, keeping a copy of the heap (a keyframe)
//! whenever the steps since the last copy have changed as many segments as the heap
//! holds: moving to any op is then one copy and fewer changes than one heap's worth,
//! and moving by one op is one step.

use serde::Serialize;

pub use mm_race::timeline::*;
use mm_trace::{Op, Trace};

use crate::heapmap::MapKind;

/// The page's template: `/*DATA*/` is replaced by the data's JSON.
const TEMPLATE: &str = include_str!("page.html");
/// Where the data goes in [`TEMPLATE`].
const DATA_MARK: &str = "/*DATA*/";

/// The most lines of heap a column draws: the bytes per pixel are the least power of
/// two that fits the largest heap in as many.
pub const MAX_LINES: usize = 32;

/// The width in pixels of one strategy's heap lines, for `columns` strategies side by
/// side: about 1150 to 1350 pixels in all with their margins, at most 1024 each.
pub const fn line_px(columns: usize) -> usize {
    match columns {
        0 | 1 => 1024,
        2 => 512,
        3 => 384,
        _ => 288,
    }
}

/// Bytes per pixel for heaps up to `high_water` drawn `line_px` pixels wide on at most
/// [`MAX_LINES`] lines: a power of two.
pub fn bytes_per_px(high_water: usize, line_px: usize) -> usize {
    high_water.div_ceil(line_px * MAX_LINES).max(1).next_power_of_two()
}

/// Unsigned LEB128 varints, written to bytes and read back as base64.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Varints(pub Vec<u8>);

impl Varints {
    /// Appends `value`: seven bits a byte, low first, the high bit set on all but the last.
    pub fn push(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    /// Appends a `usize`.
    pub fn push_usize(&mut self, value: usize) {
        self.push(value as u64);
    }

    /// The bytes in base64 (RFC 4648, with padding), as the page's `atob` reads them.
    pub fn base64(&self) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(self.0.len().div_ceil(3) * 4);
        for chunk in self.0.chunks(3) {
            let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Reads the varints back (for tests): `None` if the bytes end inside one.
    pub fn decode(&self) -> Option<Vec<u64>> {
        let mut out = Vec::new();
        let (mut value, mut shift, mut open) = (0u64, 0, false);
        for &b in &self.0 {
            value |= u64::from(b & 0x7f) << shift;
            shift += 7;
            open = b & 0x80 != 0;
            if !open {
                out.push(value);
                (value, shift) = (0, 0);
            }
        }
        (!open).then_some(out)
    }
}

/// A segment's kind and owner in one number: `(owner + 1) * 8 + kind` (owner 0: none).
pub fn tag(kind: MapKind, owner: Option<usize>) -> u64 {
    (owner.map_or(0, |o| o as u64 + 1) << 3) | kind.index() as u64
}

/// A signed number as an unsigned one, small either side of zero (zigzag: 0, -1, 1,
/// -2... as 0, 1, 2, 3...).
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The steps as the page reads them, per step: the heap size and the live blocks, each
/// as the [`zigzag`] difference from the step before; the touched block (`0`, or its
/// slot + 1, its first byte, its payload's offset and its end from that first byte, and
/// 1 if it was freed); then the number of changes and each change: its start offset,
/// the segments removed, the number inserted and each inserted segment's length and
/// [`tag`] (their offsets follow from `start` and the lengths, as segments tile the
/// heap).
pub fn encode_steps(steps: &[Step]) -> Varints {
    let mut out = Varints::default();
    let (mut heap_size, mut live_blocks) = (0, 0);
    for step in steps {
        out.push(zigzag(step.heap_size as i64 - heap_size as i64));
        out.push(zigzag(step.live_blocks as i64 - live_blocks as i64));
        (heap_size, live_blocks) = (step.heap_size, step.live_blocks);
        match step.touched {
            None => out.push(0),
            Some(t) => {
                let freed = usize::from(t.freed);
                for v in [t.owner + 1, t.lo, t.payload_offset.saturating_sub(t.lo), t.hi - t.lo, freed] {
                    out.push_usize(v);
                }
            }
        }
        out.push_usize(step.changes.len());
        for change in &step.changes {
            out.push_usize(change.start);
            out.push_usize(change.removed);
            out.push_usize(change.inserted.len());
            for s in &change.inserted {
                out.push_usize(s.len);
                out.push(tag(s.kind, s.owner));
            }
        }
    }
    out
}

/// The ops as the page reads them: per op its code (0 `a`, 1 `f`, 2 `r`, 3 `f -1`,
/// 4 `r -1`), its id and its size (0 where the op has none).
pub fn encode_ops(ops: &[Op]) -> Varints {
    let mut out = Varints::default();
    for &op in ops {
        let (code, id, size) = match op {
            Op::Alloc { id, size } => (0, id, size),
            Op::Free { id } => (1, id, 0),
            Op::Realloc { id, size } => (2, id, size),
            Op::FreeNull => (3, 0, 0),
            Op::ReallocNull { size } => (4, 0, size),
        };
        out.push(code);
        out.push_usize(id);
        out.push_usize(size);
    }
    out
}

/// One kind as the page's key shows it.
#[derive(Serialize)]
struct Kind {
    name: &'static str,
    meaning: &'static str,
    colour: &'static str,
}

/// One strategy's column.
#[derive(Serialize)]
struct Column<'a> {
    name: &'a str,
    description: &'a str,
    align: usize,
    high_water: usize,
    steps: String,
}

/// The page's data.
#[derive(Serialize)]
struct Data<'a> {
    trace: &'a str,
    ops: usize,
    id_bound: usize,
    peak: usize,
    line_px: usize,
    bytes_per_px: usize,
    lines: usize,
    kinds: Vec<Kind>,
    op_codes: String,
    live: String,
    strategies: Vec<Column<'a>>,
}

/// The page for `timelines` (one per strategy, in column order) of `trace`.
pub fn page(trace: &Trace, timelines: &[Timeline]) -> String {
    let live_after = crate::heapmap::live_after(trace);
    // The first op at which the live payload peaks, as the heap map's "peak".
    let peak =
        live_after.iter().enumerate().max_by_key(|&(i, &v)| (v, std::cmp::Reverse(i))).map_or(0, |(i, _)| i);
    let mut live = Varints::default();
    live_after.iter().for_each(|&v| live.push_usize(v));
    let high_water = timelines.iter().map(|t| t.high_water).max().unwrap_or(0);
    let line_px = line_px(timelines.len());
    let bytes_per_px = bytes_per_px(high_water, line_px);
    let data = Data {
        trace: &trace.name,
        ops: trace.ops.len(),
        id_bound: trace.id_bound(),
        peak,
        line_px,
        bytes_per_px,
        lines: high_water.div_ceil(line_px * bytes_per_px).max(1),
        kinds: MapKind::ALL
            .into_iter()
            .map(|k| Kind { name: k.name(), meaning: k.meaning(), colour: k.colour() })
            .collect(),
        op_codes: encode_ops(&trace.ops).base64(),
        live: live.base64(),
        strategies: timelines
            .iter()
            .map(|t| Column {
                name: &t.strategy,
                description: &t.description,
                align: t.align,
                high_water: t.high_water,
                steps: encode_steps(&t.steps).base64(),
            })
            .collect(),
    };
    let json = serde_json::to_string(&data).expect("the data serializes");
    // Inside <script>, "</script>" or "<!--" in a name would end or confuse the
    // element: '<' only ever occurs inside JSON strings, where \u003c means the same.
    let json = json.replace('<', "\\u003c");
    TEMPLATE.replacen(DATA_MARK, &json, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_base64_is_standard() {
        let mut v = Varints::default();
        for n in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            v.push(n);
        }
        assert_eq!(v.decode().unwrap(), [0, 1, 127, 128, 300, 1 << 35, u64::MAX]);
        assert_eq!(Varints(vec![0x80]).decode(), None);
        assert_eq!(Varints(b"M".to_vec()).base64(), "TQ==");
        assert_eq!(Varints(b"Ma".to_vec()).base64(), "TWE=");
        assert_eq!(Varints(b"Man".to_vec()).base64(), "TWFu");
        assert_eq!(Varints(b"any carnal pleas".to_vec()).base64(), "YW55IGNhcm5hbCBwbGVhcw==");
    }

    #[test]
    fn lines_fit_the_largest_heap() {
        assert_eq!(bytes_per_px(0, 384), 1);
        assert_eq!(bytes_per_px(384 * 32, 384), 1);
        assert_eq!(bytes_per_px(384 * 32 + 1, 384), 2);
        let bpp = bytes_per_px(5_300_000, 384);
        assert!(bpp.is_power_of_two() && 5_300_000usize.div_ceil(384 * bpp) <= MAX_LINES);
    }

    #[test]
    fn zigzag_keeps_small_numbers_small() {
        assert_eq!([0, -1, 1, -2, 2].map(zigzag), [0, 1, 2, 3, 4]);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn tags_pack_kind_and_owner() {
        assert_eq!(tag(MapKind::Metadata, None), 2);
        assert_eq!(tag(MapKind::Payload, Some(0)), 8);
        assert_eq!(tag(MapKind::Padding, Some(4)), 5 * 8 + 1);
    }
}
