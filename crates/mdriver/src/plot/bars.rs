//! The grouped horizontal bar chart: one group (a row of bars) per category (a trace),
//! one bar per series (a strategy), with optional ticks per category, a reference line
//! and a rule above the summary groups.
//!
//! In chart coordinates group `i` of `n` is the band `[n - 1 - i, n - i)` of the y
//! axis (the first group on top); its bars run down from the band's top, each
//! `BAR_PX` pixels high with `GROUP_GAP_PX` pixels between groups.

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::PlotError;
use super::canvas::{
    Area, BOLD_GRID, CHAR_PX, FONT, LIGHT_GRID, LegendEntry, Swatch, WIDTH, draw_err, draw_header,
    header_height,
};
use super::colour::colour_of;

/// A value in a grouped bar chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// The value the bar shows.
    Value(f64),
    /// The run was incorrect.
    Error,
    /// No value (not measured).
    Missing,
}

/// A grouped horizontal bar chart: one group (a row of bars) per category.
pub struct Bars {
    /// The chart's file name, for errors.
    pub chart: &'static str,
    /// The title.
    pub title: String,
    /// The line under the title.
    pub subtitle: String,
    /// The x axis' description.
    pub x_desc: String,
    /// The categories (groups), top to bottom.
    pub categories: Vec<String>,
    /// Series names; `cells[category][series]`.
    pub series: Vec<String>,
    /// The values, by category then series.
    pub cells: Vec<Vec<Cell>>,
    /// A tick per category (the utilization bound), with its legend label.
    pub ticks: Option<(Vec<Option<f64>>, String)>,
    /// A vertical reference line and its label.
    pub reference: Option<(f64, String)>,
    /// Categories from this index on are summaries, set off by a rule.
    pub summary_from: Option<usize>,
    /// The text of a value at the end of its bar, and of the x axis' labels.
    pub value_label: fn(f64) -> String,
}

/// The height of one bar.
const BAR_PX: u32 = 10;
/// The gap between two groups of bars.
const GROUP_GAP_PX: u32 = 14;
/// The height under the plot: the x axis' labels and description.
const X_AXIS_PX: u32 = 70;
/// The room for the category names left of the axis, beyond the longest name's width.
const LABEL_PAD_PX: u32 = 30;
/// How far a bar's value label (or an ERR) starts right of the bar's end.
const VALUE_DX: i32 = 4;
/// How far a category name ends left of the axis.
const CATEGORY_DX: i32 = 8;
/// A bar's thickness within its slot of the band: the rest separates it from the next.
const BAR_FILL: f64 = 0.85;
/// The grey of the reference line and its legend entry.
const REFERENCE_GREY: RGBColor = RGBColor(70, 70, 70);
/// The grey of the rule above the summary groups.
const RULE_GREY: RGBColor = RGBColor(150, 150, 150);

/// The chart in chart coordinates: x the value axis, y the bands of the groups.
type Chart<'a, 'b, X> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, RangedCoordf64>>;

impl Bars {
    fn legend(&self) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = self
            .series
            .iter()
            .map(|s| LegendEntry { colour: colour_of(s), label: s.clone(), swatch: Swatch::Bar })
            .collect();
        if let Some((_, label)) = &self.ticks {
            entries.push(LegendEntry { colour: BLACK, label: label.clone(), swatch: Swatch::Tick });
        }
        if let Some((_, label)) = &self.reference {
            entries.push(LegendEntry { colour: REFERENCE_GREY, label: label.clone(), swatch: Swatch::Tick });
        }
        entries
    }

    fn label_width(&self) -> u32 {
        let longest = self.categories.iter().map(String::len).max().unwrap_or(0);
        (longest as f64 * CHAR_PX) as u32 + LABEL_PAD_PX
    }

    /// The margin at each end of a band, as a fraction of it: half the gap between groups.
    fn pad(&self) -> f64 {
        let series = self.series.len().max(1);
        GROUP_GAP_PX as f64 / 2.0 / (series as f64 * BAR_PX as f64 + GROUP_GAP_PX as f64)
    }

    /// The bottom of the band of group `i` (its top is one higher).
    fn band(&self, i: usize) -> f64 {
        (self.categories.len() - 1 - i) as f64
    }

    /// The SVG, with the x axis `x_spec` (linear or logarithmic).
    pub fn render<X>(&self, x_spec: X) -> Result<String, PlotError>
    where
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let entries = self.legend();
        let header = header_height(&entries) as u32;
        let series = self.series.len().max(1) as u32;
        let group_px = series * BAR_PX + GROUP_GAP_PX;
        let plot_px = group_px * self.categories.len().max(1) as u32;
        let height = header + plot_px + X_AXIS_PX;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            self.draw(&root, x_spec, &entries, header).map_err(draw_err(self.chart))?;
            root.present().map_err(|e| draw_err(self.chart)(e.to_string()))?;
        }
        Ok(svg)
    }

    fn draw<X>(&self, root: &Area, x_spec: X, entries: &[LegendEntry], header: u32) -> Result<(), String>
    where
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        draw_header(root, &self.title, &self.subtitle, entries)?;
        let (_, body) = root.split_vertically(header);
        let n = self.categories.len();
        // Margins: air right of the longest bar's label and above the first group; the
        // x axis' labels and description below; the category names on the left.
        let mut chart = ChartBuilder::on(&body)
            .margin_right(30)
            .margin_top(6)
            .x_label_area_size(50)
            .y_label_area_size(self.label_width())
            .build_cartesian_2d(x_spec, 0f64..n.max(1) as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(12)
            .x_desc(self.x_desc.clone())
            .x_label_formatter(&|v| (self.value_label)(*v))
            .x_label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .draw()
            .map_err(e)?;
        self.draw_bars(root, &mut chart)?;
        self.draw_marks(&mut chart)?;
        self.draw_categories(root, &chart)
    }

    /// The bars, each with its value at its end, or an ERR where the run was incorrect.
    fn draw_bars<X>(&self, root: &Area, chart: &mut Chart<'_, '_, X>) -> Result<(), String>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let x_range = chart.x_range();
        let x0 = x_range.start;
        let pad = self.pad();
        let bar = (1.0 - 2.0 * pad) / self.series.len().max(1) as f64;
        let label_style =
            (FONT, 12).into_font().color(&RGBColor(60, 60, 60)).pos(Pos::new(HPos::Left, VPos::Center));
        for (s, name) in self.series.iter().enumerate() {
            let colour = colour_of(name);
            for (i, row) in self.cells.iter().enumerate() {
                let top = self.band(i) + 1.0 - pad - s as f64 * bar;
                let bottom = top - bar * BAR_FILL;
                let middle = (top + bottom) / 2.0;
                match row[s] {
                    Cell::Value(v) => {
                        let v = v.clamp(x0, x_range.end);
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x0, bottom), (v, top)],
                                colour.filled(),
                            )))
                            .map_err(e)?;
                        let (px, py) = chart.backend_coord(&(v, middle));
                        root.draw(&Text::new(
                            (self.value_label)(v),
                            (px + VALUE_DX, py),
                            label_style.clone(),
                        ))
                        .map_err(e)?;
                    }
                    Cell::Error => {
                        let (px, py) = chart.backend_coord(&(x0, middle));
                        let style =
                            (FONT, 12).into_font().color(&RED).pos(Pos::new(HPos::Left, VPos::Center));
                        root.draw(&Text::new(format!("{name}: ERR"), (px + VALUE_DX, py), style))
                            .map_err(e)?;
                    }
                    Cell::Missing => {}
                }
            }
        }
        Ok(())
    }

    /// The ticks per category, the reference line and the rule above the summaries.
    fn draw_marks<X>(&self, chart: &mut Chart<'_, '_, X>) -> Result<(), String>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let n = self.categories.len();
        let pad = self.pad();
        let x_range = chart.x_range();
        let mut line = |path: Vec<(f64, f64)>, style: ShapeStyle| {
            chart.draw_series(std::iter::once(PathElement::new(path, style))).map(|_| ()).map_err(e)
        };
        if let Some((ticks, _)) = &self.ticks {
            for (i, tick) in ticks.iter().enumerate() {
                if let Some(t) = *tick {
                    // A tick spans its group's band but for half the margin at each end.
                    line(
                        vec![(t, self.band(i) + pad * 0.5), (t, self.band(i) + 1.0 - pad * 0.5)],
                        BLACK.stroke_width(2),
                    )?;
                }
            }
        }
        if let Some((at, _)) = &self.reference {
            line(vec![(*at, 0.0), (*at, n as f64)], REFERENCE_GREY.stroke_width(2))?;
        }
        if let Some(from) = self.summary_from.filter(|&f| f > 0 && f < n) {
            let y = self.band(from) + 1.0;
            line(vec![(x_range.start, y), (x_range.end, y)], RULE_GREY.stroke_width(1))?;
        }
        Ok(())
    }

    /// The category names, right-aligned left of the axis, each centred on its band.
    fn draw_categories<X>(&self, root: &Area, chart: &Chart<'_, '_, X>) -> Result<(), String>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let x0 = chart.x_range().start;
        let category_style = (FONT, 15).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in self.categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x0, self.band(i) + 0.5));
            root.draw(&Text::new(name.clone(), (px - CATEGORY_DX, py), category_style.clone()))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
