//! The utilization and throughput charts, and the rows behind them (their CSVs).

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::PlotError;
use super::bars::{Bars, Cell};
use super::input::{PlotInput, PlotSummary};
use crate::format;
use crate::registry::LIBC;

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

/// A chart's cell for a value of a run that was `correct` or not.
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
        value_label: |v| format::decimals(v, 2),
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
        value_label: if relative { format::short_ratio } else { format::short },
    };
    Ok((bars.render((lo..hi).log_scale())?, rows))
}
