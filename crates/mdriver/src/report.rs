//! Rendering a [`RaceReport`]: aligned text tables, Markdown, CSV or JSON.
//!
//! The text tables are for a terminal [`WIDTH`] columns wide, whatever the number of
//! strategies and the trace names: a table with more columns than fit is printed in
//! successive blocks of columns, each repeating the row's label columns (trace and ops),
//! a trace name longer than a column takes a line of its own, and the summary leaves
//! the strategies' long policy descriptions to `-v`, which lists them wrapped under the
//! table. Markdown keeps every table whole (its viewers wrap or scroll), with the policy
//! as the summary's last column; CSV and JSON carry every field.

use std::io::{self, Write};

use crate::format::{self, or_dash};
use crate::race::{RaceReport, RunRecord};
use crate::text::{self, WIDTH};

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned plain-text tables for a terminal 120 columns wide.
    Table,
    /// The same tables in Markdown, for docs and issues, whole and with the summary's
    /// policy column.
    Markdown,
    /// Machine-readable rows: the runs, a blank line, then the summary.
    Csv,
    /// One JSON object with `settings`, `traces`, `runs` and `summary`.
    Json,
}

/// The widest a text column (a trace's or a strategy's name) is drawn in a text table.
/// A longer cell is written whole on a line of its own just above its row, starting at
/// its column (and cut in the middle, `…`, only if even that line would pass the
/// width), and left blank in the row itself: the row's numbers stay in their columns,
/// and a long trace name (a path) does not widen every row of every block.
const MAX_TEXT_COLUMN: usize = 40;

/// A table of text cells. Text columns (names, descriptions) are left-aligned and
/// numeric columns right-aligned.
struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// `text[c]`: column `c` holds text, not numbers.
    text: Vec<bool>,
    /// The leading columns that name a row (trace and ops, or strategy): a text table
    /// too wide for the width is split into blocks of the other columns, and every
    /// block repeats these, as R and pandas print wide frames.
    labels: usize,
}

impl Table {
    /// A table whose columns named in `text_columns` are text and whose first `labels`
    /// columns name its rows.
    fn new(title: &str, headers: &[&str], text_columns: &[&str], labels: usize) -> Self {
        Table {
            title: title.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            text: headers.iter().map(|h| text_columns.contains(h)).collect(),
            labels,
        }
    }

    /// Each column's width in a text table: its widest cell; for text, its widest cell
    /// of at most [`MAX_TEXT_COLUMN`] (the longer ones take lines of their own).
    fn widths(&self) -> Vec<usize> {
        (0..self.headers.len())
            .map(|c| {
                let cells = self.rows.iter().map(|r| text::columns(&r[c]));
                let fitting = cells.filter(|&w| !self.text[c] || w <= MAX_TEXT_COLUMN);
                fitting.chain([text::columns(&self.headers[c])]).max().unwrap_or(0)
            })
            .collect()
    }

    /// The columns after the labels, split into as few successive blocks as fit in
    /// `width` with the labels before each, and balanced: of the splits into that many
    /// blocks, the one whose widest line is the narrowest (ten columns that overflow by
    /// one split five and five, not nine and one).
    fn blocks(&self, widths: &[usize], width: usize) -> Vec<Vec<usize>> {
        let fewest = self.fill(widths, width);
        if fewest.len() <= 1 {
            return fewest;
        }
        // Fewer columns per line never means fewer blocks: the first line length that
        // still gives that many is the balanced split.
        (0..width).map(|w| self.fill(widths, w)).find(|b| b.len() == fewest.len()).unwrap_or(fewest)
    }

    /// The columns after the labels in blocks filled in order up to lines of `width`
    /// (every block takes at least one column, so a single column wider than the width
    /// still shows).
    fn fill(&self, widths: &[usize], width: usize) -> Vec<Vec<usize>> {
        // A line is two spaces, then the cells two spaces apart.
        let labels_len = 2 + widths[..self.labels].iter().map(|w| w + 2).sum::<usize>();
        let mut blocks = Vec::new();
        let mut block = Vec::new();
        let mut len = labels_len;
        for (c, &w) in widths.iter().enumerate().skip(self.labels) {
            if !block.is_empty() && len + w > width {
                blocks.push(std::mem::take(&mut block));
                len = labels_len;
            }
            block.push(c);
            len += w + 2;
        }
        if !block.is_empty() || blocks.is_empty() {
            blocks.push(block);
        }
        blocks
    }

    /// The table as aligned text no wider than `width` (given a label part that fits):
    /// the title, then each block of columns with its headings, blocks a blank line
    /// apart.
    fn render_text(&self, out: &mut dyn Write, width: usize) -> io::Result<()> {
        let widths = self.widths();
        writeln!(out, "{}", self.title)?;
        for (i, block) in self.blocks(&widths, width).iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            let columns: Vec<usize> = (0..self.labels).chain(block.iter().copied()).collect();
            for row in std::iter::once(&self.headers).chain(&self.rows) {
                self.render_row(out, row, &columns, &widths, width)?;
            }
        }
        writeln!(out)
    }

    /// One row's `columns`, with each cell too wide for its column on a line of its
    /// own above it (see [`MAX_TEXT_COLUMN`]).
    fn render_row(
        &self,
        out: &mut dyn Write,
        row: &[String],
        columns: &[usize],
        widths: &[usize],
        width: usize,
    ) -> io::Result<()> {
        let mut cells = Vec::with_capacity(columns.len());
        let mut at = 2;
        for &c in columns {
            let (cell, w) = (&row[c], widths[c]);
            if text::columns(cell) > w {
                writeln!(out, "{:at$}{}", "", text::cut_middle(cell, width.saturating_sub(at)))?;
                cells.push(" ".repeat(w));
            } else if self.text[c] {
                cells.push(format!("{cell:<w$}"));
            } else {
                cells.push(format!("{cell:>w$}"));
            }
            at += w + 2;
        }
        writeln!(out, "  {}", cells.join("  ").trim_end())
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

/// A matrix with one row per trace and one column per strategy.
fn per_trace_matrix(report: &RaceReport, title: &str, cell: impl Fn(&RunRecord) -> String) -> Table {
    let strategies: Vec<&str> = report.summary.iter().map(|s| s.strategy.as_str()).collect();
    let mut headers = vec!["trace", "ops"];
    headers.extend(&strategies);
    let mut table = Table::new(title, &headers, &["trace"], 2);
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

/// The summary, one row per strategy; with `policy`, a last column describes each
/// strategy (in Markdown, whose viewers wrap it; the text table lists the descriptions
/// under the table with `-v` instead, see [`write_policies`]).
fn summary_table(report: &RaceReport, policy: bool) -> Table {
    let mut headers =
        vec!["strategy", "correct", "avg util", "util bound", "Kops/s", "vs libc", "perf index"];
    if policy {
        headers.push("policy");
    }
    let mut table = Table::new(
        "Summary (perf index = 100 * (0.6 * avg util + 0.4 * min(1, Kops/s / libc's)))",
        &headers,
        &["strategy", "policy"],
        1,
    );
    for s in &report.summary {
        let mut row = vec![
            s.strategy.clone(),
            format!("{}/{}", s.traces_correct, s.traces),
            or_dash(s.avg_util, format::utilization),
            or_dash(s.avg_util_bound, format::utilization),
            or_dash(s.kops, format::kops),
            or_dash(s.thru_ratio_vs_libc, format::ratio),
            or_dash(s.perf_index, format::index),
        ];
        if policy {
            row.push(s.description.clone());
        }
        table.rows.push(row);
    }
    table
}

/// Under the text summary with `-v`: each strategy's policy, as `  name  description`,
/// wrapped at `width` under the description's first column.
fn write_policies(report: &RaceReport, width: usize, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Policies")?;
    let name_width = report.summary.iter().map(|s| text::columns(&s.strategy)).max().unwrap_or(0);
    for s in &report.summary {
        let name = format!("  {:<name_width$}  ", s.strategy);
        for line in text::wrap(&name, &s.description, name_width + 4, width) {
            writeln!(out, "{line}")?;
        }
    }
    writeln!(out)
}

fn detail_table(report: &RaceReport) -> Table {
    let mut table = Table::new(
        "Per-run detail",
        &["strategy", "trace", "ops", "peak live B", "heap B", "util", "util bound", "secs/replay", "Kops/s"],
        &["strategy", "trace"],
        2,
    );
    let count = |v: Option<usize>| or_dash(v, |v| v.to_string());
    for r in &report.runs {
        table.rows.push(vec![
            r.strategy.clone(),
            r.trace.clone(),
            r.ops.to_string(),
            count(r.peak_live_bytes),
            count(r.heap_bytes),
            or_dash(r.util, format::utilization),
            or_dash(r.util_bound, format::utilization),
            or_dash(r.secs, |s| format::decimals(s, 6)),
            or_dash(r.kops, format::kops),
        ]);
    }
    table
}

/// The per-trace tables: utilization, then throughput.
fn matrices(report: &RaceReport) -> [Table; 2] {
    [
        per_trace_matrix(report, "Utilization (peak live payload / heap high-water mark)", |r| {
            or_dash(r.util, format::utilization)
        }),
        per_trace_matrix(report, "Throughput (thousands of ops per second, median replay)", |r| {
            or_dash(r.kops, format::kops)
        }),
    ]
}

/// The race as text for a terminal `width` columns wide: no line is longer (see
/// [`crate::text`]; tables too wide are split into blocks of columns, long trace names
/// take a line of their own, and the heading, the policies and the errors are wrapped).
fn write_text(report: &RaceReport, verbose: bool, width: usize, out: &mut dyn Write) -> io::Result<()> {
    for line in text::wrap("", &heading(report), 2, width) {
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    for table in matrices(report) {
        table.render_text(out, width)?;
    }
    summary_table(report, false).render_text(out, width)?;
    if verbose {
        write_policies(report, width, out)?;
        detail_table(report).render_text(out, width)?;
    }
    let errors = errors(report);
    if !errors.is_empty() {
        writeln!(out, "Errors")?;
        for e in errors {
            for line in text::wrap("  ", e, 4, width) {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
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

/// Writes `report` in `format`; `verbose` adds the per-run detail to the tables, and to
/// the text tables the strategies' policies (Markdown has them in the summary).
pub fn write(report: &RaceReport, format: Format, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => write_text(report, verbose, WIDTH, out)?,
        Format::Markdown => {
            writeln!(out, "{}\n", heading(report))?;
            let [utilization, throughput] = matrices(report);
            let mut tables = vec![utilization, throughput, summary_table(report, true)];
            if verbose {
                tables.push(detail_table(report));
            }
            for table in tables {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::race::{Settings, Summary};

    /// A report of `strategies` over `traces`, every run correct, strategy `s` scoring a
    /// utilization of `0.1s` (a trace's row index in its thousandths) and `1000s + t`
    /// Kops/s, so that every cell says whose it is.
    fn report(strategies: &[String], traces: &[String]) -> RaceReport {
        let mut runs = Vec::new();
        for (s, strategy) in strategies.iter().enumerate() {
            for (t, trace) in traces.iter().enumerate() {
                runs.push(RunRecord {
                    strategy: strategy.clone(),
                    trace: trace.clone(),
                    ops: 1000 + t,
                    correct: true,
                    error: None,
                    util: Some(s as f64 / 100.0 + t as f64 / 1000.0),
                    util_bound: Some(1.0),
                    secs: Some(0.001),
                    kops: Some((1000 * s + t) as f64),
                    peak_live_bytes: Some(100),
                    heap_bytes: Some(200),
                });
            }
        }
        let summary = strategies
            .iter()
            .map(|strategy| Summary {
                strategy: strategy.clone(),
                description: format!("{strategy}: {}", "a long description of its policy, ".repeat(5)),
                correct: true,
                traces_correct: traces.len(),
                traces: traces.len(),
                avg_util: Some(0.5),
                avg_util_bound: Some(1.0),
                kops: Some(1000.0),
                thru_ratio_vs_libc: Some(1.0),
                perf_index: Some(70.0),
            })
            .collect();
        RaceReport {
            settings: Settings { align: 8, max_heap: 1 << 20, reps: 1, check_heap: false },
            traces: traces.to_vec(),
            runs,
            summary,
        }
    }

    fn text(report: &RaceReport, verbose: bool) -> String {
        let mut out = Vec::new();
        write(report, Format::Table, verbose, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn assert_fits(text: &str) {
        for line in text.lines() {
            assert!(text::columns(line) <= WIDTH, "{} columns: {line:?} in\n{text}", text::columns(line));
        }
    }

    /// Twenty strategies with long names over traces named up to 200 characters: every
    /// line fits, the long names are written whole on lines of their own (cut only past
    /// the width), and every strategy's value for every trace is printed, in its block.
    #[test]
    fn wide_races_and_long_trace_names_fit_the_width() {
        let strategies: Vec<String> = (0..20).map(|s| format!("strategy-number-{s:02}")).collect();
        let long = format!("/recorded/elsewhere/{}/x", "deeply-nested-directory".repeat(2));
        let huge = format!("/{}/y", "z".repeat(200));
        let traces = vec!["short".to_owned(), long.clone(), huge.clone()];
        let report = report(&strategies, &traces);
        let out = text(&report, true);
        assert_fits(&out);
        assert!(out.lines().any(|l| l == format!("  {long}")), "{long} whole on its own line:\n{out}");
        let cut = text::cut_middle(&huge, WIDTH - 2);
        assert!(cut.contains('…') && out.lines().any(|l| l == format!("  {cut}")), "{out}");
        // Every block of both tables: its headings, then rows whose last cells are the
        // ops and one value per heading; each strategy's value for each trace shows once.
        let sections = out.split("\nThroughput").collect::<Vec<_>>();
        let (utilization, throughput) = (sections[0], sections[1].split("\nSummary").next().unwrap());
        // A cell's expected text from its strategy's and its trace's index.
        type Value = fn(usize, usize) -> String;
        let cases: [(&str, Value); 2] = [
            (utilization, |s, t| format!("{:.3}", s as f64 / 100.0 + t as f64 / 1000.0)),
            (throughput, |s, t| (1000 * s + t).to_string()),
        ];
        for (section, value) in cases {
            let mut seen = Vec::new();
            for block in section.split("\n\n").filter(|b| b.contains("  trace ")) {
                let mut lines = block.lines().skip_while(|l| !l.starts_with("  trace "));
                let headings: Vec<&str> = lines.next().unwrap().split_whitespace().skip(2).collect();
                for line in lines {
                    let cells: Vec<&str> = line.split_whitespace().collect();
                    let Some(ops) = cells.len().checked_sub(headings.len() + 1).map(|i| cells[i]) else {
                        continue; // a long trace name's own line
                    };
                    let Some(t) = ops.parse::<usize>().ok().and_then(|ops| ops.checked_sub(1000)) else {
                        continue;
                    };
                    for (heading, cell) in headings.iter().zip(&cells[cells.len() - headings.len()..]) {
                        let s = strategies.iter().position(|name| name == heading).unwrap();
                        assert_eq!(*cell, value(s, t), "{heading} on trace {t} in\n{block}");
                        seen.push((s, t));
                    }
                }
            }
            seen.sort_unstable();
            let every: Vec<(usize, usize)> =
                (0..strategies.len()).flat_map(|s| (0..traces.len()).map(move |t| (s, t))).collect();
            assert_eq!(seen, every, "every strategy on every trace, once:\n{section}");
        }
    }

    /// The policies are under the text summary with `-v` only, wrapped; the summary
    /// itself has no policy column. Markdown keeps the column.
    #[test]
    fn policies_are_listed_with_verbose_only() {
        let strategies = vec!["implicit".to_owned(), "libc".to_owned()];
        let report = report(&strategies, &["t".to_owned()]);
        let description = &report.summary[0].description;
        let quiet = text(&report, false);
        assert!(!quiet.contains("policy") && !quiet.contains("Policies"), "{quiet}");
        assert!(!quiet.contains("a long description"), "{quiet}");
        let verbose = text(&report, true);
        assert_fits(&verbose);
        let policies = verbose.split("Policies\n").nth(1).unwrap().split("\n\n").next().unwrap();
        let lines: Vec<&str> = policies.lines().collect();
        assert!(lines[0].starts_with("  implicit  implicit: a long"), "{policies}");
        assert!(lines[1].starts_with("            a") || lines[1].starts_with("            p"), "{policies}");
        let joined =
            policies.split("  libc").next().unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(joined, format!("implicit {}", description.trim_end()));
        let mut markdown = Vec::new();
        write(&report, Format::Markdown, false, &mut markdown).unwrap();
        assert!(String::from_utf8(markdown).unwrap().contains("| perf index | policy |"));
    }

    /// Ten columns of which nine fit on a line split five and five, not nine and one.
    #[test]
    fn a_split_is_balanced() {
        let mut headers = vec!["label".to_owned()];
        headers.extend((0..10).map(|c| format!("c{c}")));
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut table = Table::new("t", &headers, &["label"], 1);
        table.rows.push(
            std::iter::once("row".to_owned()).chain((0..10).map(|_| "1234567890".to_owned())).collect(),
        );
        let widths = table.widths();
        assert_eq!(table.fill(&widths, 120).iter().map(Vec::len).collect::<Vec<_>>(), [9, 1]);
        assert_eq!(table.blocks(&widths, 120).iter().map(Vec::len).collect::<Vec<_>>(), [5, 5]);
        let mut out = Vec::new();
        table.render_text(&mut out, 120).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().filter(|l| l.starts_with("  label")).count(), 2, "{out}");
        assert_fits(&out);
    }
}
