//! The charts on disk: each SVG with the CSV of its numbers beside it, written whole or
//! not at all; and `cost-growth.csv` read back, to redraw the chart without measuring.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::PlotError;
use super::charts::{throughput_chart, utilization_chart};
use super::growth_chart::growth_chart;
use super::input::PlotInput;
use crate::growth::{self, GrowthConfig, GrowthCurve};

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
