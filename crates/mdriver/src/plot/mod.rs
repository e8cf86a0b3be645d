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
//!
//! ## Files
//!
//! * [`input`]: what the utilization and throughput charts read of a race report.
//! * [`colour`]: every strategy's one colour.
//! * [`canvas`]: the drawing helpers every chart shares: the page, the title block and
//!   the legend, with the layout's distances named.
//! * [`bars`]: the grouped horizontal bar chart (utilization, throughput).
//! * [`charts`]: the utilization and throughput charts and the rows of their CSVs.
//! * [`growth_chart`](mod@growth_chart): the cost-growth chart, log-log lines.
//! * [`files`]: writing the charts and their CSVs, and reading `cost-growth.csv` back.

use std::io;

pub mod bars;
pub mod canvas;
pub mod charts;
pub mod colour;
pub mod files;
pub mod growth_chart;
pub mod input;

pub use charts::{
    AVERAGE, OVERALL, ThroughputRow, UtilizationRow, throughput_chart, throughput_rows, utilization_chart,
    utilization_rows,
};
pub use colour::{colour_of, css};
pub use files::{read_growth_csv, write_charts};
pub use growth_chart::growth_chart;
pub use input::{PlotInput, PlotRun, PlotSettings, PlotSummary};

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
