//! What every chart shares: the page (an SVG string), its width and font, and the
//! block at the top: title, subtitle and a legend laid out in rows by hand.
//!
//! The block, top to bottom: the title centred on `TITLE_Y`, the subtitle on
//! `SUBTITLE_Y`, then the legend from `TITLE_BLOCK` + `LEGEND_GAP` down, one row
//! per `LEGEND_ROW` pixels; the chart itself starts `LEGEND_GAP` under the legend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::PlotError;

/// A chart's drawing area: an SVG written into a string.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The font of every text: the viewer's sans-serif (no font library is linked).
pub const FONT: &str = "sans-serif";
/// Every chart's width in pixels.
pub const WIDTH: u32 = 1200;
/// Estimated width of a character of label text (plotters' size 15, 12 pixels in the
/// SVG), for the layout only.
pub const CHAR_PX: f64 = 7.2;
/// The greys of the mesh: faint lines, and the lines at labelled values.
pub const LIGHT_GRID: RGBColor = RGBColor(246, 246, 246);
/// See [`LIGHT_GRID`].
pub const BOLD_GRID: RGBColor = RGBColor(205, 205, 205);

/// The centre of the title's line, from the top.
const TITLE_Y: i32 = 22;
/// The title's font size.
const TITLE_FONT: u32 = 26;
/// The centre of the subtitle's line, from the top.
const SUBTITLE_Y: i32 = 46;
/// The subtitle's and the legend's font size.
const LABEL_FONT: u32 = 15;
/// The subtitle's grey.
const SUBTITLE_GREY: RGBColor = RGBColor(90, 90, 90);
/// The height of the title and subtitle, above the legend.
const TITLE_BLOCK: i32 = 64;
/// The air between the subtitle and the legend, and between the legend and the chart.
const LEGEND_GAP: i32 = 8;
/// The legend's left edge: in line with the chart's axis, roughly.
const LEGEND_LEFT: i32 = 70;
/// The legend's right margin: no entry reaches closer to the edge.
const LEGEND_RIGHT: i32 = 20;
/// From one row of the legend to the next.
const LEGEND_ROW: i32 = 22;
/// A swatch's length; its label starts [`SWATCH_TEXT_DX`] from the swatch's left.
const SWATCH_PX: i32 = 20;
/// From a swatch's left to its label's.
const SWATCH_TEXT_DX: i32 = SWATCH_PX + 6;
/// The air after a label, before the next entry.
const ENTRY_GAP: i32 = 28;

/// Turns a drawing error into the chart's [`PlotError`].
pub fn draw_err(chart: &'static str) -> impl Fn(String) -> PlotError {
    move |message| PlotError::Draw { chart, message }
}

/// What a legend entry looks like.
#[derive(Debug, Clone, Copy)]
pub enum Swatch {
    /// A filled box: a bar's series.
    Bar,
    /// A short thick line with a dot: a line chart's curve.
    Line,
    /// A vertical tick: a mark per category, or a reference line.
    Tick,
}

/// One entry of a chart's legend.
pub struct LegendEntry {
    /// Its colour.
    pub colour: RGBColor,
    /// Its text.
    pub label: String,
    /// How its swatch looks.
    pub swatch: Swatch,
}

/// Lays the legend out in rows within `width`; returns each entry's position and the
/// legend's height.
fn legend_layout(entries: &[LegendEntry], width: i32) -> (Vec<(i32, i32)>, i32) {
    let (mut x, mut y) = (LEGEND_LEFT, 0);
    let mut places = Vec::new();
    for e in entries {
        let w = SWATCH_TEXT_DX + (e.label.len() as f64 * CHAR_PX) as i32 + ENTRY_GAP;
        if x > LEGEND_LEFT && x + w > width - LEGEND_RIGHT {
            x = LEGEND_LEFT;
            y += LEGEND_ROW;
        }
        places.push((x, y));
        x += w;
    }
    (places, if entries.is_empty() { 0 } else { y + LEGEND_ROW })
}

/// Height of the title, subtitle and legend block for `entries`.
pub fn header_height(entries: &[LegendEntry]) -> i32 {
    TITLE_BLOCK + legend_layout(entries, WIDTH as i32).1 + LEGEND_GAP
}

/// Draws the title, the subtitle and the legend at the top of `root`.
pub fn draw_header(root: &Area, title: &str, subtitle: &str, entries: &[LegendEntry]) -> Result<(), String> {
    let centre = Pos::new(HPos::Center, VPos::Center);
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.draw(&Text::new(
        title.to_owned(),
        (WIDTH as i32 / 2, TITLE_Y),
        (FONT, TITLE_FONT).into_font().color(&BLACK).pos(centre),
    ))
    .map_err(e)?;
    root.draw(&Text::new(
        subtitle.to_owned(),
        (WIDTH as i32 / 2, SUBTITLE_Y),
        (FONT, LABEL_FONT).into_font().color(&SUBTITLE_GREY).pos(centre),
    ))
    .map_err(e)?;
    let (places, _) = legend_layout(entries, WIDTH as i32);
    for (entry, &(x, y)) in entries.iter().zip(&places) {
        let y = y + TITLE_BLOCK + LEGEND_GAP;
        draw_swatch(root, entry, x, y).map_err(e)?;
        root.draw(&Text::new(
            entry.label.clone(),
            (x + SWATCH_TEXT_DX, y),
            (FONT, LABEL_FONT).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(e)?;
    }
    Ok(())
}

/// Draws `entry`'s swatch with its left end at `x`, centred on `y`.
fn draw_swatch<'a>(
    root: &Area<'a>,
    entry: &LegendEntry,
    x: i32,
    y: i32,
) -> Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>> {
    // Half the height of a bar swatch and of a tick; the radius of a line's dot.
    const BAR_HALF: i32 = 6;
    const TICK_HALF: i32 = 7;
    const DOT: i32 = 3;
    let colour = entry.colour;
    let middle = x + SWATCH_PX / 2;
    match entry.swatch {
        Swatch::Bar => {
            root.draw(&Rectangle::new([(x, y - BAR_HALF), (x + SWATCH_PX, y + BAR_HALF)], colour.filled()))
        }
        Swatch::Line => {
            root.draw(&PathElement::new(vec![(x, y), (x + SWATCH_PX, y)], colour.stroke_width(3)))?;
            root.draw(&Circle::new((middle, y), DOT, colour.filled()))
        }
        Swatch::Tick => root.draw(&PathElement::new(
            vec![(middle, y - TICK_HALF), (middle, y + TICK_HALF)],
            colour.stroke_width(2),
        )),
    }
}
