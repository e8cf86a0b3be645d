//! The cost-growth chart: free + malloc pairs per second against the live set, one
//! line per strategy, log-log.

use std::ops::Range;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::PlotError;
use super::canvas::{
    Area, BOLD_GRID, FONT, LIGHT_GRID, LegendEntry, Swatch, WIDTH, draw_err, draw_header, header_height,
};
use super::colour::colour_of;
use crate::format::{self, short};
use crate::growth::{GrowthConfig, GrowthCurve};

/// The plot's height under the title block.
const PLOT_PX: u32 = 620;
/// The axes' ranges when there are no points at all: 1k to 1M blocks, 10^3 to 10^8
/// pairs per second (what the curves span on a laptop).
const EMPTY_RANGES: (Range<f64>, Range<f64>) = (1024.0..1048576.0, 1e3..1e8);
/// The air around the points: the x range is widened by this factor at each end (a
/// log axis), the y range by [`Y_AIR`].
const X_AIR: f64 = 1.3;
/// See [`X_AIR`].
const Y_AIR: f64 = 2.0;

/// The cost-growth chart (SVG text): pairs per second against live blocks, log-log,
/// one line per curve; a curve that stopped early ends in a cross and says why in the
/// legend (in brief: `cost-growth.csv` has the whole note). `config`, when known, is
/// described under the title.
pub fn growth_chart(curves: &[GrowthCurve], config: Option<&GrowthConfig>) -> Result<String, PlotError> {
    let chart_name = "cost-growth.svg";
    let entries: Vec<LegendEntry> = curves
        .iter()
        .map(|c| LegendEntry {
            colour: colour_of(&c.strategy),
            label: match &c.stop {
                Some(stop) => format!("{} ({})", c.strategy, stop.brief()),
                None => c.strategy.clone(),
            },
            swatch: Swatch::Line,
        })
        .collect();
    let header = header_height(&entries) as u32;
    let height = header + PLOT_PX;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let draw = || -> Result<(), String> {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            draw_header(
                &root,
                "Cost growth: free + malloc pairs per second as the live set grows",
                &subtitle(config),
                &entries,
            )?;
            draw_curves(&root, header, curves)?;
            root.present().map_err(|e| e.to_string())
        };
        draw().map_err(draw_err(chart_name))?;
    }
    Ok(svg)
}

/// The line under the title: the measurement's settings when known.
fn subtitle(config: Option<&GrowthConfig>) -> String {
    match config {
        Some(g) => format!(
            "n live blocks of {}-{} bytes (seeded), then max(n, {}) pairs of free(random live block) + malloc; \
             fastest of {} runs; a curve stops after a point whose runs took over {} s",
            g.sizes.0,
            g.sizes.1,
            format::count(g.min_pairs as f64),
            g.reps,
            format::decimals(g.budget.as_secs_f64(), 1)
        ),
        None => "n live blocks, then pairs of free(random live block) + malloc".to_owned(),
    }
}

/// The ranges the points span (live blocks, pairs per second), or [`EMPTY_RANGES`].
fn ranges(curves: &[GrowthCurve]) -> (Range<f64>, Range<f64>) {
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::INFINITY, 0f64, f64::INFINITY, 0f64);
    for p in curves.iter().flat_map(|c| c.points.iter()) {
        x_lo = x_lo.min(p.live as f64);
        x_hi = x_hi.max(p.live as f64);
        y_lo = y_lo.min(p.pairs_per_sec);
        y_hi = y_hi.max(p.pairs_per_sec);
    }
    if x_lo.is_finite() { (x_lo..x_hi, y_lo..y_hi) } else { EMPTY_RANGES }
}

/// The axes and the curves, below the title block of height `header`.
fn draw_curves(root: &Area, header: u32, curves: &[GrowthCurve]) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (x, y) = ranges(curves);
    // Ticks at the measured sizes (powers of two), not at decimal round numbers.
    let mut sizes: Vec<f64> = curves.iter().flat_map(|c| c.points.iter()).map(|p| p.live as f64).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let (_, body) = root.split_vertically(header);
    // Margins: air right of the largest size and above the highest point; the axes'
    // labels and descriptions below and on the left.
    let mut chart = ChartBuilder::on(&body)
        .margin_right(40)
        .margin_top(10)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x.start / X_AIR..x.end * X_AIR).log_scale().with_key_points(sizes),
            (y.start / Y_AIR..y.end * Y_AIR).log_scale(),
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("live blocks (log scale)")
        .y_desc("pairs per second (log scale)")
        .x_label_formatter(&|v| format::count(*v))
        .y_label_formatter(&|v| short(*v))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .light_line_style(LIGHT_GRID)
        .bold_line_style(BOLD_GRID)
        .draw()
        .map_err(e)?;
    for curve in curves {
        let colour = colour_of(&curve.strategy);
        let line: Vec<(f64, f64)> = curve.points.iter().map(|p| (p.live as f64, p.pairs_per_sec)).collect();
        chart.draw_series(LineSeries::new(line.clone(), colour.stroke_width(3))).map_err(e)?;
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled()))).map_err(e)?;
        if curve.stop.is_some()
            && let Some(&last) = line.last()
        {
            // A cross on the last point, and "NAME: stopped" above right of it.
            chart.draw_series(std::iter::once(Cross::new(last, 9, colour.stroke_width(3)))).map_err(e)?;
            let (px, py) = chart.backend_coord(&last);
            let style = (FONT, 14).into_font().color(&colour).pos(Pos::new(HPos::Left, VPos::Bottom));
            root.draw(&Text::new(format!("{}: stopped", curve.strategy), (px + 10, py - 8), style))
                .map_err(e)?;
        }
    }
    Ok(())
}
