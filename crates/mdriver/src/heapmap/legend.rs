//! The heap map's two legends: the colour key under the title (each kind used, with
//! what it means) and, per snapshot, the byte total of each kind it can hold.

use std::fmt::Write as _;

use super::layout::{CHAR_PX, KEY_ROW_STEP, KEY_Y, LEFT, RIGHT, TOTALS_TOP, TOTALS_Y, WIDTH};
use super::{Heapmap, MapKind, Snapshot, escape};
use crate::format;

/// The side of a swatch of the colour key.
const KEY_SWATCH: usize = 14;
/// From a key swatch's left to its text: the swatch and 5 px.
const KEY_TEXT_DX: usize = KEY_SWATCH + 5;
/// How far above the key's baseline its swatch starts (the 14 px swatch then sits on
/// the 12 px text, 3 px below the baseline).
const KEY_SWATCH_RAISE: usize = 11;
/// The width a key entry takes besides its text: 20 px of swatch and gap before it, 22
/// px of air after.
const KEY_ENTRY_EXTRA: usize = 20 + 22;
/// The side of a swatch of the totals.
const TOTAL_SWATCH: usize = 11;
/// From a total's swatch to its text: the swatch and 4 px.
const TOTAL_TEXT_DX: usize = TOTAL_SWATCH + 4;
/// The air after a total's text, before the next swatch.
const TOTAL_GAP: usize = 18;

/// One entry of the colour key: where it goes (`x`, and `row` from 0) and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// Its left edge.
    pub x: usize,
    /// Its row, from 0.
    pub row: usize,
    /// The kind it shows.
    pub kind: MapKind,
    /// "name: meaning".
    pub text: String,
}

/// The kinds the key shows: all but [`MapKind::Unknown`], unless some snapshot has
/// unknown bytes (a strategy that does not describe its heap).
pub fn kinds_used(map: &Heapmap) -> Vec<MapKind> {
    MapKind::ALL
        .into_iter()
        .filter(|&k| k != MapKind::Unknown || map.snapshots.iter().any(|s| s.total(k) > 0))
        .collect()
}

/// The colour key, laid out in rows that fit the width; also the number of rows.
pub fn key_layout(kinds: &[MapKind]) -> (Vec<KeyEntry>, usize) {
    let mut key = Vec::new();
    let (mut x, mut row) = (LEFT, 0);
    for &kind in kinds {
        let text = format!("{}: {}", kind.name(), kind.meaning());
        let w = text.len() * CHAR_PX + KEY_ENTRY_EXTRA;
        if x > LEFT && x + w > WIDTH - RIGHT {
            (x, row) = (LEFT, row + 1);
        }
        key.push(KeyEntry { x, row, kind, text });
        x += w;
    }
    (key, row + 1)
}

/// Writes the colour key.
pub fn write_key(svg: &mut String, key: &[KeyEntry]) {
    for KeyEntry { x, row, kind, text } in key {
        let y = KEY_Y + KEY_ROW_STEP * row;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="{KEY_SWATCH}" height="{KEY_SWATCH}" class="{} key"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            y - KEY_SWATCH_RAISE,
            kind.name(),
            x + KEY_TEXT_DX,
            y,
            escape(text)
        );
    }
    svg.push('\n');
}

/// Writes the totals of `snap` (whose block starts at `top`): each kind of `kinds` the
/// snapshot can hold, its bytes and its share of the high-water mark.
pub fn write_totals(svg: &mut String, map: &Heapmap, snap: &Snapshot, kinds: &[MapKind], top: usize) {
    let totals = snap.totals();
    // Only the kinds this snapshot can hold: a strategy that does not describe its
    // heap has no padding, metadata or free bytes the driver could know of.
    let possible = |k: MapKind| match k {
        MapKind::Unknown => !snap.described,
        MapKind::Padding | MapKind::Metadata | MapKind::Free => snap.described,
        MapKind::Payload | MapKind::Unused => true,
    };
    let mut x = LEFT;
    for k in kinds.iter().filter(|&&k| possible(k)) {
        let total = totals[k.index()];
        let share = if map.high_water == 0 { 0.0 } else { 100.0 * total as f64 / map.high_water as f64 };
        let text = format!("{} {} ({})", k.name(), format::bytes(total as f64), format::percent(share));
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="{TOTAL_SWATCH}" height="{TOTAL_SWATCH}" class="{} key"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            top + TOTALS_TOP,
            k.name(),
            x + TOTAL_TEXT_DX,
            top + TOTALS_Y,
            escape(&text)
        );
        x += TOTAL_TEXT_DX + text.len() * CHAR_PX + TOTAL_GAP;
    }
    svg.push('\n');
}
