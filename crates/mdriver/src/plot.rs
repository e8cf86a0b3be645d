//! Charts of a race: SVG pictures of what the tables say, for the docs and for eyes.
//!
//! `mdriver plot` writes three charts, each with the CSV of the numbers it shows next
//! to it (so a chart can be checked, or redrawn with another tool):
//!
//! | file | what |
//! |------|------|
//! | `utilization.svg` | utilization per trace and strategy, grouped horizontal bars, with each trace's alignment bound marked and the averages in the last group |
//! | `throughput.svg` | throughput per trace relative to libc's on the same trace (log scale: the strategies span three orders of magnitude), the overall ratio in the last group |
//! | `cost-growth.svg` | free + malloc pairs per second as the live set grows from 1k to 1M blocks, one line per strategy, log-log (see [`crate::growth`]) |
//!
//! The first two are drawn from a race report: one run in this process
//! ([`PlotInput::from_report`]), or one read back from `mdriver --format json`
//! ([`PlotInput::from_json`], which reads only the fields it draws, so a report from an
//! older or newer driver still plots).
//!
//! ## Design
//!
//! * The charts are drawn with `plotters`' SVG backend alone: no bitmap backend and no
//!   font library, so nothing to install beyond the crate. Text is SVG `<text>` in the
//!   viewer's sans-serif font; label widths are estimated, which is why the layout
//!   leaves generous margins.
//! * Every strategy has one colour in every chart ([`colour_of`]): ours, the peers and
//!   libc have fixed colours (the teaching variants lighter shades of their family's),
//!   and any other name a colour picked by a hash of the name, so it too keeps its
//!   colour from chart to chart and run to run.
//! * Category labels (trace names) and legends are drawn by hand on the canvas, not by
//!   the chart's mesh: horizontal bars put every trace name on a line of its own, fully
//!   legible however many traces there are, and the legend sits above the plot where it
//!   hides no bar.

use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::growth::{self, GrowthConfig, GrowthCurve};
use crate::race::RaceReport;
use crate::registry::LIBC;

/// Why the charts could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: io::Error,
    },
    /// The race report is not the JSON `mdriver --format json` prints.
    #[error("{path}: not a race report (mdriver --format json): {message}")]
    Report {
        /// Where it came from.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A CSV file could not be written or read.
    #[error("{path}: {message}")]
    Csv {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The drawing library failed.
    #[error("drawing {chart}: {message}")]
    Draw {
        /// The chart.
        chart: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// The settings line of a race report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotSettings {
    /// Payload alignment.
    pub align: usize,
    /// Maximum heap bytes.
    pub max_heap: usize,
    /// Timed runs per strategy and trace.
    pub reps: usize,
}

/// One strategy on one trace, as far as the charts need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotRun {
    /// Strategy name.
    pub strategy: String,
    /// Trace name.
    pub trace: String,
    /// Whether every check passed.
    pub correct: bool,
    /// Utilization (none for libc and incorrect runs).
    pub util: Option<f64>,
    /// The trace's utilization bound at this alignment.
    #[serde(default)]
    pub util_bound: Option<f64>,
    /// Thousands of ops per second.
    pub kops: Option<f64>,
}

/// One strategy over all traces, as far as the charts need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotSummary {
    /// Strategy name.
    pub strategy: String,
    /// Correct on every trace.
    pub correct: bool,
    /// Mean utilization.
    pub avg_util: Option<f64>,
    /// Mean utilization bound.
    #[serde(default)]
    pub avg_util_bound: Option<f64>,
    /// Overall thousands of ops per second.
    pub kops: Option<f64>,
    /// Overall throughput over libc's.
    pub thru_ratio_vs_libc: Option<f64>,
}

/// What the utilization and throughput charts are drawn from: the part of a
/// [`RaceReport`] they show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotInput {
    /// How the race was run (absent in hand-made reports).
    #[serde(default)]
    pub settings: Option<PlotSettings>,
    /// Trace names in order.
    pub traces: Vec<String>,
    /// One entry per strategy and trace.
    pub runs: Vec<PlotRun>,
    /// One entry per strategy, in report order.
    pub summary: Vec<PlotSummary>,
}

impl PlotInput {
    /// The input of a race run in this process. It goes through the report's JSON
    /// text, as `--format json` prints it, so a chart drawn here and one drawn later
    /// from the printed report are the same to the last digit.
    pub fn from_report(report: &RaceReport) -> PlotInput {
        let json = serde_json::to_string(report).expect("a race report serializes");
        serde_json::from_str(&json).expect("a race report has every field the charts read")
    }

    /// Reads a report printed by `mdriver --format json`; `source` names it in errors.
    pub fn from_json(source: &str, json: &str) -> Result<PlotInput, PlotError> {
        let input: PlotInput = serde_json::from_str(json)
            .map_err(|e| PlotError::Report { path: source.to_owned(), message: e.to_string() })?;
        if input.summary.is_empty() {
            return Err(PlotError::Report {
                path: source.to_owned(),
                message: "it has no strategies (an error report?)".to_owned(),
            });
        }
        Ok(input)
    }

    /// The strategies, in report order.
    pub fn strategies(&self) -> Vec<&str> {
        self.summary.iter().map(|s| s.strategy.as_str()).collect()
    }

    fn run(&self, strategy: &str, trace: &str) -> Option<&PlotRun> {
        self.runs.iter().find(|r| r.strategy == strategy && r.trace == trace)
    }

    fn subtitle(&self) -> String {
        let mut parts = vec![format!("{} traces", self.traces.len())];
        if let Some(s) = &self.settings {
            parts.push(format!("alignment {}", s.align));
            parts.push(format!("max heap {}", bytes(s.max_heap as f64)));
            parts.push(format!("median of {} timed runs", s.reps));
        }
        parts.join(" · ")
    }
}

// ---------------------------------------------------------------------------------------
// Colours and number formats
// ---------------------------------------------------------------------------------------

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

/// A byte count in binary units: "20 MiB", "1.5 KiB", "96 B".
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024.0 {
        return format!("{n:.0} B");
    }
    let mut value = n;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if (value - value.round()).abs() < 0.05 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// A positive number in two significant digits and SI units: "0.02", "1.5", "120",
/// "3.4M".
pub fn short(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return "0".to_owned();
    }
    let (value, unit) = match v {
        v if v >= 1e9 => (v / 1e9, "G"),
        v if v >= 1e6 => (v / 1e6, "M"),
        v if v >= 1e4 => (v / 1e3, "k"),
        v => (v, ""),
    };
    let digits = (1 - value.log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.digits$}");
    let text =
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{unit}")
}

// ---------------------------------------------------------------------------------------
// Drawing helpers
// ---------------------------------------------------------------------------------------

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const FONT: &str = "sans-serif";
const WIDTH: u32 = 1200;
/// Estimated width of a character of label text (plotters' size 15, 12 pixels in the
/// SVG), for the layout only.
const CHAR_PX: f64 = 7.2;

fn draw_err(chart: &'static str) -> impl Fn(String) -> PlotError {
    move |message| PlotError::Draw { chart, message }
}

/// What a legend entry looks like.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    Bar,
    Line,
    Tick,
}

struct LegendEntry {
    colour: RGBColor,
    label: String,
    swatch: Swatch,
}

/// Lays the legend out in rows within `width`; returns each entry's position.
fn legend_layout(entries: &[LegendEntry], width: i32) -> (Vec<(i32, i32)>, i32) {
    let (left, row_height) = (70, 22);
    let (mut x, mut y) = (left, 0);
    let mut places = Vec::new();
    for e in entries {
        let w = 26 + (e.label.len() as f64 * CHAR_PX) as i32 + 28;
        if x > left && x + w > width - 20 {
            x = left;
            y += row_height;
        }
        places.push((x, y));
        x += w;
    }
    (places, if entries.is_empty() { 0 } else { y + row_height })
}

/// Height of the title, subtitle and legend block for `entries`.
fn header_height(entries: &[LegendEntry]) -> i32 {
    64 + legend_layout(entries, WIDTH as i32).1 + 8
}

/// Draws the title, the subtitle and the legend at the top of `root`.
fn draw_header(root: &Area, title: &str, subtitle: &str, entries: &[LegendEntry]) -> Result<(), String> {
    let centre = Pos::new(HPos::Center, VPos::Center);
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.draw(&Text::new(
        title.to_owned(),
        (WIDTH as i32 / 2, 22),
        (FONT, 26).into_font().color(&BLACK).pos(centre),
    ))
    .map_err(e)?;
    root.draw(&Text::new(
        subtitle.to_owned(),
        (WIDTH as i32 / 2, 46),
        (FONT, 15).into_font().color(&RGBColor(90, 90, 90)).pos(centre),
    ))
    .map_err(e)?;
    let (places, _) = legend_layout(entries, WIDTH as i32);
    for (entry, &(x, y)) in entries.iter().zip(&places) {
        let y = y + 64 + 8;
        let colour = entry.colour;
        match entry.swatch {
            Swatch::Bar => {
                root.draw(&Rectangle::new([(x, y - 6), (x + 20, y + 6)], colour.filled())).map_err(e)?
            }
            Swatch::Line => {
                root.draw(&PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))).map_err(e)?;
                root.draw(&Circle::new((x + 10, y), 3, colour.filled())).map_err(e)?;
            }
            Swatch::Tick => {
                root.draw(&PathElement::new(vec![(x + 10, y - 7), (x + 10, y + 7)], colour.stroke_width(2)))
                    .map_err(e)?;
            }
        }
        root.draw(&Text::new(
            entry.label.clone(),
            (x + 26, y),
            (FONT, 15).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(e)?;
    }
    Ok(())
}

/// A value in a grouped bar chart.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Value(f64),
    /// The run was incorrect.
    Error,
    /// No value (not measured).
    Missing,
}

/// A grouped horizontal bar chart: one group (a row of bars) per category.
struct Bars {
    chart: &'static str,
    title: String,
    subtitle: String,
    x_desc: String,
    categories: Vec<String>,
    /// Series names; `cells[category][series]`.
    series: Vec<String>,
    cells: Vec<Vec<Cell>>,
    /// A tick per category (the utilization bound), with its legend label.
    ticks: Option<(Vec<Option<f64>>, String)>,
    /// A vertical reference line and its label.
    reference: Option<(f64, String)>,
    /// Categories from this index on are summaries, set off by a rule.
    summary_from: Option<usize>,
    /// The text of a value at the end of its bar, and of the x axis' labels.
    value_label: fn(f64) -> String,
}

const BAR_PX: u32 = 10;
const GROUP_GAP_PX: u32 = 14;

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
            entries.push(LegendEntry {
                colour: RGBColor(70, 70, 70),
                label: label.clone(),
                swatch: Swatch::Tick,
            });
        }
        entries
    }

    fn label_width(&self) -> u32 {
        let longest = self.categories.iter().map(String::len).max().unwrap_or(0);
        (longest as f64 * CHAR_PX) as u32 + 30
    }

    /// The SVG, with the x axis `x_spec` (linear or logarithmic).
    fn render<X>(&self, x_spec: X) -> Result<String, PlotError>
    where
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let entries = self.legend();
        let header = header_height(&entries) as u32;
        let series = self.series.len().max(1) as u32;
        let group_px = series * BAR_PX + GROUP_GAP_PX;
        let plot_px = group_px * self.categories.len().max(1) as u32;
        let height = header + plot_px + 70;
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
            .light_line_style(RGBColor(246, 246, 246))
            .bold_line_style(RGBColor(205, 205, 205))
            .draw()
            .map_err(e)?;
        let x_range = chart.x_range();
        let x0 = x_range.start;
        let series = self.series.len().max(1);
        let pad = GROUP_GAP_PX as f64 / 2.0 / (series as f64 * BAR_PX as f64 + GROUP_GAP_PX as f64);
        let bar = (1.0 - 2.0 * pad) / series as f64;
        // Group i is the band [n - 1 - i, n - i); its bars run down from the top.
        let band = |i: usize| (n - 1 - i) as f64;
        let label_style =
            (FONT, 12).into_font().color(&RGBColor(60, 60, 60)).pos(Pos::new(HPos::Left, VPos::Center));
        for (s, name) in self.series.iter().enumerate() {
            let colour = colour_of(name);
            for (i, row) in self.cells.iter().enumerate() {
                let top = band(i) + 1.0 - pad - s as f64 * bar;
                let bottom = top - bar * 0.85;
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
                        root.draw(&Text::new((self.value_label)(v), (px + 4, py), label_style.clone()))
                            .map_err(e)?;
                    }
                    Cell::Error => {
                        let (px, py) = chart.backend_coord(&(x0, middle));
                        let style =
                            (FONT, 12).into_font().color(&RED).pos(Pos::new(HPos::Left, VPos::Center));
                        root.draw(&Text::new(format!("{name}: ERR"), (px + 4, py), style)).map_err(e)?;
                    }
                    Cell::Missing => {}
                }
            }
        }
        if let Some((ticks, _)) = &self.ticks {
            for (i, tick) in ticks.iter().enumerate() {
                if let Some(t) = *tick {
                    let path = vec![(t, band(i) + pad * 0.5), (t, band(i) + 1.0 - pad * 0.5)];
                    chart
                        .draw_series(std::iter::once(PathElement::new(path, BLACK.stroke_width(2))))
                        .map_err(e)?;
                }
            }
        }
        if let Some((at, _)) = &self.reference {
            let path = vec![(*at, 0.0), (*at, n as f64)];
            chart
                .draw_series(std::iter::once(PathElement::new(path, RGBColor(70, 70, 70).stroke_width(2))))
                .map_err(e)?;
        }
        if let Some(from) = self.summary_from.filter(|&f| f > 0 && f < n) {
            let y = band(from) + 1.0;
            let path = vec![(x0, y), (x_range.end, y)];
            chart
                .draw_series(std::iter::once(PathElement::new(path, RGBColor(150, 150, 150).stroke_width(1))))
                .map_err(e)?;
        }
        let category_style = (FONT, 15).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in self.categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x0, band(i) + 0.5));
            root.draw(&Text::new(name.clone(), (px - 8, py), category_style.clone())).map_err(e)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The three charts
// ---------------------------------------------------------------------------------------

/// The label of the summary group in the utilization chart.
pub const AVERAGE: &str = "(average)";
/// The label of the summary group in the throughput chart.
pub const OVERALL: &str = "(overall)";

/// A row of `utilization.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilizationRow {
    /// Trace name, or [`AVERAGE`].
    pub trace: String,
    /// Strategy name.
    pub strategy: String,
    /// Utilization (empty for an incorrect run).
    pub util: Option<f64>,
    /// The alignment bound of the trace (its average on the average row).
    pub util_bound: Option<f64>,
    /// Whether the run (all runs, on the average row) was correct.
    pub correct: bool,
}

/// The rows behind the utilization chart: every strategy that has a utilization (all
/// but libc) on every trace, then its average.
pub fn utilization_rows(input: &PlotInput) -> Vec<UtilizationRow> {
    let strategies: Vec<&PlotSummary> =
        input.summary.iter().filter(|s| s.strategy != LIBC && s.avg_util.is_some()).collect();
    let mut rows = Vec::new();
    for trace in &input.traces {
        for s in &strategies {
            if let Some(run) = input.run(&s.strategy, trace) {
                rows.push(UtilizationRow {
                    trace: trace.clone(),
                    strategy: s.strategy.clone(),
                    util: run.util,
                    util_bound: run.util_bound,
                    correct: run.correct,
                });
            }
        }
    }
    for s in &strategies {
        rows.push(UtilizationRow {
            trace: AVERAGE.to_owned(),
            strategy: s.strategy.clone(),
            util: s.avg_util,
            util_bound: s.avg_util_bound,
            correct: s.correct,
        });
    }
    rows
}

/// A row of `throughput.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// Trace name, or [`OVERALL`].
    pub trace: String,
    /// Strategy name.
    pub strategy: String,
    /// Thousands of ops per second.
    pub kops: Option<f64>,
    /// Libc's on the same trace (overall on the overall row).
    pub libc_kops: Option<f64>,
    /// `kops / libc_kops`: what the chart draws.
    pub ratio_vs_libc: Option<f64>,
    /// Whether the run was correct.
    pub correct: bool,
}

/// The rows behind the throughput chart: every strategy on every trace with libc's
/// throughput on that trace, then the overall figures of the summary.
pub fn throughput_rows(input: &PlotInput) -> Vec<ThroughputRow> {
    let libc_summary = input.summary.iter().find(|s| s.strategy == LIBC);
    let mut rows = Vec::new();
    for trace in &input.traces {
        let libc = input.run(LIBC, trace).and_then(|r| r.kops);
        for s in &input.summary {
            if let Some(run) = input.run(&s.strategy, trace) {
                rows.push(ThroughputRow {
                    trace: trace.clone(),
                    strategy: s.strategy.clone(),
                    kops: run.kops,
                    libc_kops: libc,
                    ratio_vs_libc: run.kops.zip(libc).map(|(k, l)| k / l),
                    correct: run.correct,
                });
            }
        }
    }
    for s in &input.summary {
        rows.push(ThroughputRow {
            trace: OVERALL.to_owned(),
            strategy: s.strategy.clone(),
            kops: s.kops,
            libc_kops: libc_summary.and_then(|l| l.kops),
            ratio_vs_libc: s.thru_ratio_vs_libc,
            correct: s.correct,
        });
    }
    rows
}

fn cell(value: Option<f64>, correct: bool) -> Cell {
    match (value, correct) {
        (_, false) => Cell::Error,
        (Some(v), true) if v.is_finite() && v > 0.0 => Cell::Value(v),
        _ => Cell::Missing,
    }
}

/// Arranges rows of (category, series, cell) as a bar chart's matrix.
fn matrix(
    categories: &[String],
    series: &[String],
    rows: impl Iterator<Item = (String, String, Cell)>,
) -> Vec<Vec<Cell>> {
    let mut cells = vec![vec![Cell::Missing; series.len()]; categories.len()];
    for (category, name, c) in rows {
        if let (Some(i), Some(s)) =
            (categories.iter().position(|x| *x == category), series.iter().position(|x| *x == name))
        {
            cells[i][s] = c;
        }
    }
    cells
}

/// The utilization chart (SVG text) and its rows.
pub fn utilization_chart(input: &PlotInput) -> Result<(String, Vec<UtilizationRow>), PlotError> {
    let rows = utilization_rows(input);
    let series: Vec<String> = input
        .summary
        .iter()
        .filter(|s| s.strategy != LIBC && s.avg_util.is_some())
        .map(|s| s.strategy.clone())
        .collect();
    let mut categories = input.traces.clone();
    categories.push(AVERAGE.to_owned());
    let cells = matrix(
        &categories,
        &series,
        rows.iter().map(|r| (r.trace.clone(), r.strategy.clone(), cell(r.util, r.correct))),
    );
    // The bound is a property of the trace and the alignment: the same for every
    // strategy of ours, so any row's will do.
    let ticks =
        categories.iter().map(|c| rows.iter().find(|r| &r.trace == c).and_then(|r| r.util_bound)).collect();
    let bars = Bars {
        chart: "utilization.svg",
        title: "Utilization: peak live payload / heap high-water mark".to_owned(),
        subtitle: input.subtitle(),
        x_desc: "utilization (1.0 = no overhead at all)".to_owned(),
        categories,
        series,
        cells,
        ticks: Some((ticks, "alignment bound (what no allocator of this alignment could beat)".to_owned())),
        reference: None,
        summary_from: Some(input.traces.len()),
        value_label: |v| format!("{v:.2}"),
    };
    Ok((bars.render(0f64..1.08f64)?, rows))
}

/// The throughput chart (SVG text) and its rows. With libc in the report the bars are
/// ratios to libc on a log scale with libc's 1.0 marked; without it (a report of a
/// race that did not select libc has no per-trace libc runs) they are absolute
/// thousands of ops per second.
pub fn throughput_chart(input: &PlotInput) -> Result<(String, Vec<ThroughputRow>), PlotError> {
    let rows = throughput_rows(input);
    let relative = rows.iter().any(|r| r.trace != OVERALL && r.libc_kops.is_some());
    let series: Vec<String> = input
        .summary
        .iter()
        .filter(|s| !(relative && s.strategy == LIBC))
        .map(|s| s.strategy.clone())
        .collect();
    let mut categories = input.traces.clone();
    categories.push(OVERALL.to_owned());
    let value = |r: &ThroughputRow| if relative { r.ratio_vs_libc } else { r.kops };
    let cells = matrix(
        &categories,
        &series,
        rows.iter().map(|r| (r.trace.clone(), r.strategy.clone(), cell(value(r), r.correct))),
    );
    let values: Vec<f64> =
        cells.iter().flatten().filter_map(|c| if let Cell::Value(v) = c { Some(*v) } else { None }).collect();
    let lo = values.iter().copied().fold(if relative { 1.0 } else { f64::INFINITY }, f64::min);
    let hi = values.iter().copied().fold(if relative { 1.0 } else { 0.0 }, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 { (lo / 2.0, hi * 3.0) } else { (0.1, 10.0) };
    let bars = Bars {
        chart: "throughput.svg",
        title: if relative {
            "Throughput relative to the system malloc (libc = 1)".to_owned()
        } else {
            "Throughput (thousands of operations per second)".to_owned()
        },
        subtitle: input.subtitle(),
        x_desc: if relative {
            "throughput / libc's on the same trace (log scale; right of the line is faster than libc)"
                .to_owned()
        } else {
            "thousands of operations per second (log scale)".to_owned()
        },
        categories,
        series,
        cells,
        ticks: None,
        reference: relative.then(|| (1.0, "libc (the system malloc) = 1".to_owned())),
        summary_from: Some(input.traces.len()),
        value_label: if relative { |v| format!("{}x", short(v)) } else { short },
    };
    Ok((bars.render((lo..hi).log_scale())?, rows))
}

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
    let subtitle = match config {
        Some(g) => format!(
            "n live blocks of {}-{} bytes (seeded), then max(n, {}) pairs of free(random live block) + malloc; \
             fastest of {} runs; a curve stops after a point whose runs took over {:.1} s",
            g.sizes.0,
            g.sizes.1,
            growth::count(g.min_pairs as f64),
            g.reps,
            g.budget.as_secs_f64()
        ),
        None => "n live blocks, then pairs of free(random live block) + malloc".to_owned(),
    };
    let points = || curves.iter().flat_map(|c| c.points.iter());
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::INFINITY, 0f64, f64::INFINITY, 0f64);
    for p in points() {
        x_lo = x_lo.min(p.live as f64);
        x_hi = x_hi.max(p.live as f64);
        y_lo = y_lo.min(p.pairs_per_sec);
        y_hi = y_hi.max(p.pairs_per_sec);
    }
    if !x_lo.is_finite() {
        (x_lo, x_hi, y_lo, y_hi) = (1024.0, 1048576.0, 1e3, 1e8);
    }
    // Ticks at the measured sizes (powers of two), not at decimal round numbers.
    let mut sizes: Vec<f64> = points().map(|p| p.live as f64).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let header = header_height(&entries) as u32;
    let height = header + 620;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let draw = || -> Result<(), String> {
            let e = |e: DrawingAreaErrorKind<_>| e.to_string();
            root.fill(&WHITE).map_err(e)?;
            draw_header(
                &root,
                "Cost growth: free + malloc pairs per second as the live set grows",
                &subtitle,
                &entries,
            )?;
            let (_, body) = root.split_vertically(header);
            let mut chart = ChartBuilder::on(&body)
                .margin_right(40)
                .margin_top(10)
                .x_label_area_size(55)
                .y_label_area_size(80)
                .build_cartesian_2d(
                    (x_lo / 1.3..x_hi * 1.3).log_scale().with_key_points(sizes.clone()),
                    (y_lo / 2.0..y_hi * 2.0).log_scale(),
                )
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc("live blocks (log scale)")
                .y_desc("pairs per second (log scale)")
                .x_label_formatter(&|v| growth::count(*v))
                .y_label_formatter(&|v| short(*v))
                .label_style((FONT, 15))
                .axis_desc_style((FONT, 16))
                .light_line_style(RGBColor(246, 246, 246))
                .bold_line_style(RGBColor(205, 205, 205))
                .draw()
                .map_err(e)?;
            for curve in curves {
                let colour = colour_of(&curve.strategy);
                let line: Vec<(f64, f64)> =
                    curve.points.iter().map(|p| (p.live as f64, p.pairs_per_sec)).collect();
                chart.draw_series(LineSeries::new(line.clone(), colour.stroke_width(3))).map_err(e)?;
                chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled()))).map_err(e)?;
                if curve.stop.is_some()
                    && let Some(&last) = line.last()
                {
                    chart
                        .draw_series(std::iter::once(Cross::new(last, 9, colour.stroke_width(3))))
                        .map_err(e)?;
                    let (px, py) = chart.backend_coord(&last);
                    let style = (FONT, 14).into_font().color(&colour).pos(Pos::new(HPos::Left, VPos::Bottom));
                    root.draw(&Text::new(format!("{}: stopped", curve.strategy), (px + 10, py - 8), style))
                        .map_err(e)?;
                }
            }
            root.present().map_err(|e| e.to_string())
        };
        draw().map_err(draw_err(chart_name))?;
    }
    Ok(svg)
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

fn write_file(path: &Path, text: &str) -> Result<(), PlotError> {
    crate::output::write_atomically(path, |w| w.write_all(text.as_bytes()))
        .map_err(|source| PlotError::Io { path: path.display().to_string(), source })
}

fn write_csv<R: Serialize>(path: &Path, rows: &[R]) -> Result<(), PlotError> {
    let csv_error = |message: String| PlotError::Csv { path: path.display().to_string(), message };
    crate::output::write_atomically(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in rows {
            writer.serialize(row).map_err(std::io::Error::other)?;
        }
        writer.flush()
    })
    .map_err(|e| csv_error(e.to_string()))
}

/// Reads `cost-growth.csv` as written by [`write_charts`].
pub fn read_growth_csv(path: &Path) -> Result<Vec<GrowthCurve>, PlotError> {
    let csv_error = |message: String| PlotError::Csv { path: path.display().to_string(), message };
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(e.to_string()))?;
    let rows = reader
        .deserialize()
        .collect::<Result<Vec<growth::GrowthRow>, _>>()
        .map_err(|e| csv_error(e.to_string()))?;
    Ok(growth::from_rows(&rows))
}

/// Writes the charts into `out_dir` (created if need be), each with its CSV: the
/// utilization and throughput charts when `input` is given, the cost-growth chart when
/// `growth` is. Returns the files written.
pub fn write_charts(
    input: Option<&PlotInput>,
    growth: Option<(&[GrowthCurve], Option<&GrowthConfig>)>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|source| PlotError::Io { path: out_dir.display().to_string(), source })?;
    let mut written = Vec::new();
    let mut emit = |name: &str, svg: &str| -> Result<PathBuf, PlotError> {
        let path = out_dir.join(name);
        write_file(&path, svg)?;
        written.push(path.clone());
        Ok(path)
    };
    let mut csvs = Vec::new();
    if let Some(input) = input {
        let (svg, rows) = utilization_chart(input)?;
        emit("utilization.svg", &svg)?;
        let path = out_dir.join("utilization.csv");
        write_csv(&path, &rows)?;
        csvs.push(path);
        let (svg, rows) = throughput_chart(input)?;
        emit("throughput.svg", &svg)?;
        let path = out_dir.join("throughput.csv");
        write_csv(&path, &rows)?;
        csvs.push(path);
    }
    if let Some((curves, config)) = growth {
        let svg = growth_chart(curves, config)?;
        emit("cost-growth.svg", &svg)?;
        let path = out_dir.join("cost-growth.csv");
        write_csv(&path, &growth::to_rows(curves))?;
        csvs.push(path);
    }
    written.extend(csvs);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_short() {
        assert_eq!(short(0.0234), "0.023");
        assert_eq!(short(1.0), "1");
        assert_eq!(short(1.46), "1.5");
        assert_eq!(short(12.0), "12");
        assert_eq!(short(34059.0), "34k");
        assert_eq!(short(2.5e6), "2.5M");
        assert_eq!(bytes(20.0 * 1048576.0), "20 MiB");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(96.0), "96 B");
    }

    #[test]
    fn colours_are_fixed_per_name() {
        assert_eq!(css(colour_of("segregated")), "#2ca02c");
        assert_eq!(colour_of("talc"), colour_of("talc"));
        let known = ["implicit", "explicit", "segregated", "buddy", LIBC];
        let mut seen: Vec<RGBColor> = known.iter().map(|n| colour_of(n)).collect();
        seen.dedup();
        assert_eq!(seen.len(), known.len(), "the default race's colours differ");
    }
}
