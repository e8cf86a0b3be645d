//! Rendering a [`RaceReport`]: an aligned text table, Markdown, CSV or JSON.

use std::io::{self, Write};

use crate::race::{RaceReport, RunRecord};

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned plain-text tables for a terminal.
    Table,
    /// The same tables in Markdown, for docs and issues.
    Markdown,
    /// Machine-readable rows: the runs, a blank line, then the summary.
    Csv,
    /// One JSON object with `settings`, `traces`, `runs` and `summary`.
    Json,
}

/// A table of text cells. Text columns (names, descriptions) are left-aligned and
/// numeric columns right-aligned.
struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// `text[c]`: column `c` holds text, not numbers.
    text: Vec<bool>,
}

impl Table {
    /// A table whose columns named in `text_columns` are text.
    fn new(title: &str, headers: &[&str], text_columns: &[&str]) -> Self {
        Table {
            title: title.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            text: headers.iter().map(|h| text_columns.contains(h)).collect(),
        }
    }

    fn widths(&self) -> Vec<usize> {
        (0..self.headers.len())
            .map(|c| self.rows.iter().map(|r| r[c].len()).chain([self.headers[c].len()]).max().unwrap_or(0))
            .collect()
    }

    fn render_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let widths = self.widths();
        writeln!(out, "{}", self.title)?;
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    if self.text[c] {
                        format!("{cell:<w$}", w = widths[c])
                    } else {
                        format!("{cell:>w$}", w = widths[c])
                    }
                })
                .collect();
            writeln!(out, "  {}", cells.join("  ").trim_end())?;
        }
        writeln!(out)
    }

    fn render_markdown(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "### {}\n", self.title)?;
        writeln!(out, "| {} |", self.headers.join(" | "))?;
        let rule: Vec<&str> = self.text.iter().map(|&text| if text { "---" } else { "---:" }).collect();
        writeln!(out, "| {} |", rule.join(" | "))?;
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        writeln!(out)
    }
}

fn fmt_util(u: Option<f64>) -> String {
    u.map_or_else(|| "-".to_owned(), |u| format!("{u:.3}"))
}

fn fmt_kops(k: Option<f64>) -> String {
    k.map_or_else(|| "-".to_owned(), |k| format!("{k:.0}"))
}

/// A matrix with one row per trace and one column per strategy.
fn per_trace_matrix(report: &RaceReport, title: &str, cell: impl Fn(&RunRecord) -> String) -> Table {
    let strategies: Vec<&str> = report.summary.iter().map(|s| s.strategy.as_str()).collect();
    let mut headers = vec!["trace", "ops"];
    headers.extend(&strategies);
    let mut table = Table::new(title, &headers, &["trace"]);
    for trace in &report.traces {
        let mut row = vec![trace.clone()];
        row.push(report.runs.iter().find(|r| &r.trace == trace).map_or(String::new(), |r| r.ops.to_string()));
        for strategy in &strategies {
            row.push(
                report
                    .run(strategy, trace)
                    .map_or_else(String::new, |r| if r.correct { cell(r) } else { "ERR".to_owned() }),
            );
        }
        table.rows.push(row);
    }
    table
}

fn summary_table(report: &RaceReport) -> Table {
    let mut table = Table::new(
        "Summary (perf index = 100 * (0.6 * avg util + 0.4 * min(1, Kops/s / libc's)))",
        &["strategy", "correct", "avg util", "util bound", "Kops/s", "vs libc", "perf index", "policy"],
        &["strategy", "policy"],
    );
    for s in &report.summary {
        table.rows.push(vec![
            s.strategy.clone(),
            format!("{}/{}", s.traces_correct, s.traces),
            fmt_util(s.avg_util),
            fmt_util(s.avg_util_bound),
            fmt_kops(s.kops),
            s.thru_ratio_vs_libc.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
            s.perf_index.map_or_else(|| "-".to_owned(), |p| format!("{p:.1}")),
            s.description.clone(),
        ]);
    }
    table
}

fn detail_table(report: &RaceReport) -> Table {
    let mut table = Table::new(
        "Per-run detail",
        &["strategy", "trace", "ops", "peak live B", "heap B", "util", "util bound", "secs/replay", "Kops/s"],
        &["strategy", "trace"],
    );
    let or_dash = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for r in &report.runs {
        table.rows.push(vec![
            r.strategy.clone(),
            r.trace.clone(),
            r.ops.to_string(),
            or_dash(r.peak_live_bytes),
            or_dash(r.heap_bytes),
            fmt_util(r.util),
            fmt_util(r.util_bound),
            r.secs.map_or_else(|| "-".to_owned(), |s| format!("{s:.6}")),
            fmt_kops(r.kops),
        ]);
    }
    table
}

fn tables(report: &RaceReport, verbose: bool) -> Vec<Table> {
    let mut tables = vec![
        per_trace_matrix(report, "Utilization (peak live payload / heap high-water mark)", |r| {
            fmt_util(r.util)
        }),
        per_trace_matrix(report, "Throughput (thousands of ops per second, median replay)", |r| {
            fmt_kops(r.kops)
        }),
        summary_table(report),
    ];
    if verbose {
        tables.push(detail_table(report));
    }
    tables
}

fn errors(report: &RaceReport) -> Vec<&str> {
    report.runs.iter().filter_map(|r| r.error.as_deref()).collect()
}

fn heading(report: &RaceReport) -> String {
    let s = &report.settings;
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let timing =
        if s.reps == 1 { "one timed run".to_owned() } else { format!("median of {} timed runs", s.reps) };
    format!(
        "mmlab race: {}, alignment {}, max heap {} bytes, {timing}{}",
        plural(report.traces.len(), "trace", "traces"),
        s.align,
        s.max_heap,
        if s.check_heap { ", check_heap after every op" } else { "" }
    )
}

/// Writes `report` in `format`; `verbose` adds the per-run detail to the tables.
pub fn write(report: &RaceReport, format: Format, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => {
            writeln!(out, "{}\n", heading(report))?;
            for table in tables(report, verbose) {
                table.render_text(out)?;
            }
            let errors = errors(report);
            if !errors.is_empty() {
                writeln!(out, "Errors")?;
                for e in errors {
                    writeln!(out, "  {e}")?;
                }
            }
        }
        Format::Markdown => {
            writeln!(out, "{}\n", heading(report))?;
            for table in tables(report, verbose) {
                table.render_markdown(out)?;
            }
            let errors = errors(report);
            if !errors.is_empty() {
                writeln!(out, "### Errors\n")?;
                for e in errors {
                    writeln!(out, "- {e}")?;
                }
            }
        }
        Format::Csv => {
            let mut runs = csv::Writer::from_writer(&mut *out);
            for r in &report.runs {
                runs.serialize(r).map_err(io::Error::other)?;
            }
            runs.flush()?;
            drop(runs);
            writeln!(out)?;
            let mut summary = csv::Writer::from_writer(&mut *out);
            for s in &report.summary {
                summary.serialize(s).map_err(io::Error::other)?;
            }
            summary.flush()?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
