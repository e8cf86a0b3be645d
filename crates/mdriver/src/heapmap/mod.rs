//! Heap maps drawn: the SVG of `mdriver heapmap`.
//!
//! The engine takes the snapshots (`mm_race::heapmap`, re-exported here: [`map`],
//! [`Heapmap`], [`Snapshot`], [`MapKind`], [`At`]...); this module draws them.
//!
//! The SVG is written by hand: it is a few thousand rectangles, which a chart library
//! would only get in the way of. Each snapshot wraps over lines of a fixed number of
//! bytes (a power of two chosen so that the heap takes 8 to 16 lines, or
//! `--line-bytes`), [`LINE_PX`] pixels wide, with the offset of each line's first byte
//! on its left. A pixel covers `line bytes / LINE_PX` bytes and takes the colour of the
//! kind that covers most of them ([`pixels`]); runs of pixels of one kind become one
//! rectangle, drawn as a subpath of one `<path>` per kind, so even a fragmented 20 MiB
//! heap stays well under a megabyte of SVG.
//!
//! * [`layout`]: where everything goes: the pixel layout, every distance named.
//! * [`pixels`]: bytes to pixels, the majority kind of each.
//! * [`legend`]: the colour key under the title and each snapshot's totals.
//! * [`render`](mod@render): the document: title, key, then per snapshot its heading, totals and lines.

pub use mm_race::heapmap::*;

pub mod layout;
pub mod legend;
pub mod pixels;
pub mod render;

pub use layout::{LINE_PX, auto_line_bytes};
pub use render::render;

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A one-line summary of a snapshot's totals, for the terminal.
pub fn summary_line(map: &Heapmap, snap: &Snapshot) -> String {
    let totals = snap.totals();
    let parts: Vec<String> = MapKind::ALL
        .into_iter()
        .filter(|&k| totals[k.index()] > 0)
        .map(|k| format!("{} {}", k.name(), totals[k.index()]))
        .collect();
    format!("{} (after {} of {} ops): {}", snap.label, snap.ops_done, map.ops, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"a<b & "c">'"#), "a&lt;b &amp; &quot;c&quot;&gt;&apos;");
    }
}
