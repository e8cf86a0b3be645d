//! Every strategy's one colour: the same in every chart, from run to run.

use plotters::style::RGBColor;

use crate::registry::LIBC;

/// Colours for names no fixed entry covers, chosen by a hash of the name.
const EXTRA_COLOURS: [RGBColor; 8] = [
    RGBColor(99, 121, 57),
    RGBColor(189, 158, 57),
    RGBColor(132, 60, 57),
    RGBColor(123, 65, 115),
    RGBColor(82, 84, 163),
    RGBColor(140, 162, 82),
    RGBColor(206, 109, 189),
    RGBColor(107, 110, 207),
];

/// The colour of `strategy` in every chart: fixed for the registered names, and for
/// any other name one of eight more colours, picked by an FNV-1a hash of the name.
pub fn colour_of(strategy: &str) -> RGBColor {
    match strategy {
        "implicit" => RGBColor(31, 119, 180),
        "implicit-nextfit" => RGBColor(120, 170, 215),
        "implicit-bestfit" => RGBColor(23, 190, 207),
        "explicit" => RGBColor(255, 127, 14),
        "explicit-addr" => RGBColor(240, 180, 100),
        "segregated" => RGBColor(44, 160, 44),
        "buddy" => RGBColor(214, 39, 40),
        "buddy-bitmap" => RGBColor(255, 152, 150),
        // The published allocators of `mm-peers` (the `peers` feature).
        "talc" => RGBColor(148, 103, 189),
        "rlsf" => RGBColor(140, 86, 75),
        "dlmalloc" => RGBColor(227, 119, 194),
        "linked-list" => RGBColor(188, 189, 34),
        "buddy-system" => RGBColor(57, 59, 121),
        LIBC => RGBColor(70, 70, 70),
        other => {
            let hash = other.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            EXTRA_COLOURS[(hash % EXTRA_COLOURS.len() as u64) as usize]
        }
    }
}

/// A CSS colour for `colour`.
pub fn css(colour: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_fixed_per_name() {
        assert_eq!(css(colour_of("segregated")), "#2ca02c");
        assert_eq!(colour_of("talc"), colour_of("talc"));
        let known = ["implicit", "explicit", "segregated", "buddy", "buddy-bitmap", LIBC];
        let mut seen: Vec<RGBColor> = known.iter().map(|n| colour_of(n)).collect();
        seen.dedup();
        assert_eq!(seen.len(), known.len(), "the default race's colours differ");
    }
}
