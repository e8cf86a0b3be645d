//! What the utilization and throughput charts are drawn from: the part of a race
//! report they show, read from a race run in this process or from its JSON.

use serde::{Deserialize, Serialize};

use super::PlotError;
use crate::format::bytes;
use crate::race::RaceReport;

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

    /// The run of `strategy` on `trace`, if the report has one.
    pub fn run(&self, strategy: &str, trace: &str) -> Option<&PlotRun> {
        self.runs.iter().find(|r| r.strategy == strategy && r.trace == trace)
    }

    /// The line under a chart's title: the traces and, when known, the race's settings.
    pub fn subtitle(&self) -> String {
        let mut parts = vec![format!("{} traces", self.traces.len())];
        if let Some(s) = &self.settings {
            parts.push(format!("alignment {}", s.align));
            parts.push(format!("max heap {}", bytes(s.max_heap as f64)));
            parts.push(format!("median of {} timed runs", s.reps));
        }
        parts.join(" · ")
    }
}
