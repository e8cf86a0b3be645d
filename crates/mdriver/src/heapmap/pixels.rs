//! Bytes to pixels: each pixel of a heap-map line stands for `bytes_per_px` bytes and
//! takes the colour of the kind that covers most of them.

use super::MapKind;
use mm_race::heapmap::MapSpan;

/// The kind of each pixel of a snapshot: the kind that covers most of its
/// `bytes_per_px` bytes (ties go to the kind first in [`MapKind::ALL`]).
pub fn pixels(spans: &[MapSpan], high_water: usize, bytes_per_px: usize) -> Vec<MapKind> {
    let count = high_water.div_ceil(bytes_per_px);
    let mut tally = vec![[0usize; MapKind::ALL.len()]; count];
    for span in spans {
        let (mut at, end) = (span.offset, (span.offset + span.len).min(high_water));
        while at < end {
            let px = at / bytes_per_px;
            let px_end = ((px + 1) * bytes_per_px).min(end);
            if at == px * bytes_per_px && px_end == (px + 1) * bytes_per_px {
                // Whole pixels: jump over them.
                let whole = (end - at) / bytes_per_px;
                for t in &mut tally[px..px + whole] {
                    t[span.kind.index()] += bytes_per_px;
                }
                at += whole * bytes_per_px;
            } else {
                tally[px][span.kind.index()] += px_end - at;
                at = px_end;
            }
        }
    }
    tally
        .iter()
        .map(|t| {
            let best = (0..t.len()).fold(0, |best, k| if t[k] > t[best] { k } else { best });
            MapKind::ALL[best]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_span(offset: usize, len: usize, kind: MapKind) -> MapSpan {
        MapSpan { offset, len, kind }
    }

    #[test]
    fn pixels_take_the_majority_kind() {
        let spans = [
            map_span(0, 3, MapKind::Metadata),
            map_span(3, 13, MapKind::Payload),
            map_span(16, 5, MapKind::Free),
            map_span(21, 3, MapKind::Metadata),
            map_span(24, 8, MapKind::Unused),
        ];
        assert_eq!(
            pixels(&spans, 32, 8),
            [MapKind::Payload, MapKind::Payload, MapKind::Free, MapKind::Unused]
        );
        assert_eq!(pixels(&spans, 32, 1).len(), 32);
    }
}
