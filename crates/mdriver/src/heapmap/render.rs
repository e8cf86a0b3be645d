//! The heap map's SVG document: the title and subtitle, the colour key, then one group
//! per snapshot (its heading, its totals and its lines of heap).

use std::fmt::Write as _;

use super::layout::{
    HEADING_Y, LEFT, LINE_HEIGHT, LINE_PX, Layout, OFFSET_GAP, OFFSET_RAISE, SUBTITLE_STEP, SUBTITLE_Y,
    TITLE_FONT, TITLE_Y, WIDTH,
};
use super::legend::{self, KeyEntry};
use super::pixels::pixels;
use super::{Heapmap, MapKind, Snapshot, escape};
use crate::format::bytes;

/// The SVG of `map`, with `line_bytes` bytes per line (rounded up to a multiple of
/// [`LINE_PX`]; [`auto_line_bytes`](super::auto_line_bytes) when `None`).
pub fn render(map: &Heapmap, line_bytes: Option<usize>) -> String {
    let kinds_used = legend::kinds_used(map);
    let (key, key_rows) = legend::key_layout(&kinds_used);
    let layout = Layout::new(map, line_bytes, key_rows);
    let mut svg = String::new();
    write_prologue(&mut svg, map, &layout, &key);
    for (i, snap) in map.snapshots.iter().enumerate() {
        let top = layout.header + i * layout.snapshot_height;
        write_snapshot(&mut svg, map, snap, &layout, &kinds_used, top);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The document's start: the `<svg>` element, the style sheet (a class per kind), a
/// white background, the title, the subtitle and the colour key.
fn write_prologue(svg: &mut String, map: &Heapmap, layout: &Layout, key: &[KeyEntry]) {
    let height = layout.height;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    svg.push_str("<style>");
    for k in MapKind::ALL {
        let _ = write!(svg, ".{}{{fill:{}}}", k.name(), k.colour());
    }
    svg.push_str(".addr{font-family:monospace;font-size:11px;fill:#555}.sub{font-size:12px;fill:#555}");
    svg.push_str(".key{stroke:#888;stroke-width:0.5}</style>\n");
    let _ = writeln!(svg, r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{TITLE_Y}" font-size="{TITLE_FONT}" text-anchor="middle">Heap map: {} on {}</text>"#,
        WIDTH / 2,
        escape(&map.strategy),
        escape(&map.trace)
    );
    let subtitle = [
        format!("{} · alignment {}", map.description, map.align),
        format!(
            "{} ops · high-water mark {} ({} B) · one line = {} · one pixel = {}, coloured by the kind that covers most of its bytes",
            map.ops,
            bytes(map.high_water as f64),
            map.high_water,
            bytes(layout.line_bytes as f64),
            bytes(layout.bytes_per_px as f64),
        ),
    ];
    for (k, text) in subtitle.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text class="sub" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            WIDTH / 2,
            SUBTITLE_Y + SUBTITLE_STEP * k,
            escape(text)
        );
    }
    legend::write_key(svg, key);
}

/// One snapshot's group, starting at `top`: its `data-` attributes (label, operation,
/// heap size and the bytes of each kind, for scripts and tests), its heading, its
/// totals and its lines.
fn write_snapshot(
    svg: &mut String,
    map: &Heapmap,
    snap: &Snapshot,
    layout: &Layout,
    kinds_used: &[MapKind],
    top: usize,
) {
    let totals = snap.totals();
    let _ = write!(
        svg,
        r#"<g class="snapshot" data-label="{}" data-op="{}" data-heap="{}""#,
        escape(&snap.label),
        snap.ops_done,
        snap.heap_size
    );
    for k in MapKind::ALL {
        let _ = write!(svg, r#" data-{}="{}""#, k.name(), totals[k.index()]);
    }
    svg.push_str(">\n");
    let described = if snap.described { "" } else { " · driver's view (no heap_spans)" };
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        top + HEADING_Y,
        escape(&format!(
            "{}: after {} of {} ops · break at {} · {} live blocks, {} requested{described}",
            snap.label,
            snap.ops_done,
            map.ops,
            bytes(snap.heap_size as f64),
            snap.live_blocks,
            bytes(snap.live_bytes as f64),
        ))
    );
    legend::write_totals(svg, map, snap, kinds_used, top);
    write_lines(svg, map, snap, layout, top);
    svg.push_str("</g>\n");
}

/// The lines of a snapshot: each line's offset on the left, then one `<path>` per kind
/// holding a rectangle per run of pixels of that kind.
fn write_lines(svg: &mut String, map: &Heapmap, snap: &Snapshot, layout: &Layout, top: usize) {
    let kinds = pixels(&snap.spans, map.high_water, layout.bytes_per_px);
    let mut paths: [String; MapKind::ALL.len()] = Default::default();
    for line in 0..layout.lines {
        let y = layout.line_y(top, line);
        let _ = write!(
            svg,
            r#"<text class="addr" x="{}" y="{}" text-anchor="end">{:#08x}</text>"#,
            LEFT - OFFSET_GAP,
            y + LINE_HEIGHT - OFFSET_RAISE,
            line * layout.line_bytes
        );
        let row = &kinds[(line * LINE_PX).min(kinds.len())..((line + 1) * LINE_PX).min(kinds.len())];
        let mut start = 0;
        while start < row.len() {
            let kind = row[start];
            let run = row[start..].iter().take_while(|&&k| k == kind).count();
            let _ = write!(paths[kind.index()], "M{} {}h{run}v{LINE_HEIGHT}h-{run}z", LEFT + start, y);
            start += run;
        }
    }
    svg.push('\n');
    for k in MapKind::ALL {
        if !paths[k.index()].is_empty() {
            let _ = writeln!(svg, r#"<path class="{}" d="{}"/>"#, k.name(), paths[k.index()]);
        }
    }
}
