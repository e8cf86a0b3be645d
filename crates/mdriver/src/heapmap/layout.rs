//! The heap map's pixel layout: every distance of the SVG, named, and the sizes that
//! follow from the map (lines per snapshot, the height of the whole picture).
//!
//! The picture, top to bottom: the title and two lines of subtitle, the colour key (in
//! as many rows as it needs), then one block per snapshot: a bold heading, a row of
//! totals, and the heap's lines. Horizontally every line starts at [`LEFT`] (the byte
//! offsets are right-aligned in the margin before it) and is [`LINE_PX`] wide.

use super::Heapmap;

/// Pixels per line of heap.
pub const LINE_PX: usize = 1024;
/// The left margin: room for a line's offset (`0x000000`, eight characters of 11 px
/// monospace) right-aligned before the line, and a little air.
pub const LEFT: usize = 86;
/// The right margin.
pub const RIGHT: usize = 24;
/// The whole picture's width.
pub const WIDTH: usize = LEFT + LINE_PX + RIGHT;
/// The height of one line of heap.
pub const LINE_HEIGHT: usize = 12;
/// The gap between two lines of heap.
pub const LINE_GAP: usize = 3;
/// How far left of a line its offset ends.
pub const OFFSET_GAP: usize = 6;
/// How far above a line's bottom its offset's baseline sits (so the 11 px digits sit
/// centred on the 12 px line).
pub const OFFSET_RAISE: usize = 2;

/// The baseline of the title.
pub const TITLE_Y: usize = 26;
/// The title's font size.
pub const TITLE_FONT: usize = 20;
/// The baseline of the first subtitle line.
pub const SUBTITLE_Y: usize = 46;
/// From one subtitle line to the next (12 px text).
pub const SUBTITLE_STEP: usize = 16;
/// The baseline of the colour key's first row.
pub const KEY_Y: usize = 86;
/// From one row of the colour key to the next.
pub const KEY_ROW_STEP: usize = 20;
/// Where the first snapshot may start, before the key's rows are added: the key's first
/// baseline and two pixels for the descenders.
pub const HEADER_BASE: usize = KEY_Y + 2;
/// The gap between the key's last row and the first snapshot.
pub const HEADER_GAP: usize = 6;
/// The margin under the last snapshot.
pub const BOTTOM: usize = 10;

/// The baseline of a snapshot's heading, below the snapshot's top.
pub const HEADING_Y: usize = 16;
/// The top of a snapshot's swatches of totals, below the snapshot's top.
pub const TOTALS_TOP: usize = 27;
/// The baseline of a snapshot's totals: their 12 px text beside the 11 px swatch.
pub const TOTALS_Y: usize = 37;
/// Where a snapshot's lines start, below its top.
pub const BODY_TOP: usize = 48;
/// The height a snapshot takes above its lines: [`BODY_TOP`] and 4 px of air.
pub const SNAPSHOT_HEAD: usize = BODY_TOP + 4;
/// The air under a snapshot's last line, before the next snapshot.
pub const SNAPSHOT_FOOT: usize = 18;

/// Estimated width of a character of 12 px sans-serif text (the key and the totals):
/// SVG cannot measure text, so the layout estimates, generously.
pub const CHAR_PX: usize = 7;

/// The bytes per line when none are asked for: a power of two, at least 4 KiB, that
/// fits the heap on at most 16 lines.
pub fn auto_line_bytes(high_water: usize) -> usize {
    high_water.div_ceil(16).next_power_of_two().max(4096)
}

/// The sizes of one heap map's picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Heap bytes per line (a multiple of [`LINE_PX`]).
    pub line_bytes: usize,
    /// Heap bytes per pixel.
    pub bytes_per_px: usize,
    /// Lines per snapshot (at least one).
    pub lines: usize,
    /// The height of one snapshot's block.
    pub snapshot_height: usize,
    /// Where the first snapshot starts: below the title, the subtitle and `key_rows`
    /// rows of colour key.
    pub header: usize,
    /// The whole picture's height.
    pub height: usize,
}

impl Layout {
    /// The layout of `map` with `line_bytes` bytes per line (rounded up to a multiple of
    /// [`LINE_PX`]; [`auto_line_bytes`] when `None`) and a colour key of `key_rows` rows.
    pub fn new(map: &Heapmap, line_bytes: Option<usize>, key_rows: usize) -> Layout {
        let line_bytes =
            line_bytes.unwrap_or_else(|| auto_line_bytes(map.high_water)).max(1).next_multiple_of(LINE_PX);
        let lines = map.high_water.div_ceil(line_bytes).max(1);
        let snapshot_height = SNAPSHOT_HEAD + lines * (LINE_HEIGHT + LINE_GAP) + SNAPSHOT_FOOT;
        let header = HEADER_BASE + KEY_ROW_STEP * key_rows + HEADER_GAP;
        Layout {
            line_bytes,
            bytes_per_px: line_bytes / LINE_PX,
            lines,
            snapshot_height,
            header,
            height: header + map.snapshots.len() * snapshot_height + BOTTOM,
        }
    }

    /// The top of line `line` of a snapshot whose block starts at `top`.
    pub fn line_y(&self, top: usize, line: usize) -> usize {
        top + BODY_TOP + line * (LINE_HEIGHT + LINE_GAP)
    }
}
