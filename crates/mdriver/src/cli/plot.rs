//! `mdriver plot`: the race (or a saved one), the cost-growth curves (measured, read
//! back, or left out), and the charts written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mdriver::growth::{self, GrowthConfig, GrowthCurve};
use mdriver::plot::{self, PlotInput};
use mdriver::{format, registry};

use super::EXIT_INCORRECT;
use super::race::{RaceArgs, print_report};

/// `mdriver plot`'s options: its own, then the race's.
#[derive(Args)]
pub struct PlotArgs {
    /// Where the charts and their CSVs go (created if need be). The default is a
    /// directory of its own, so that a plot run from the repository never overwrites the
    /// committed charts of docs/results (`just docs` names that one explicitly).
    #[arg(long, value_name = "DIR", default_value = "mmlab-plots")]
    pub out_dir: PathBuf,
    /// Do not draw the cost-growth chart (measuring it takes a minute or two).
    #[arg(long)]
    pub no_growth: bool,
    /// Redraw the cost-growth chart from this cost-growth.csv instead of measuring.
    #[arg(long, value_name = "FILE", conflicts_with = "no_growth")]
    pub growth_input: Option<PathBuf>,
    /// The largest live-set size of the cost-growth curves (they start at 1024 and double).
    #[arg(long, value_name = "N", default_value_t = 1 << 20, value_parser = clap::value_parser!(usize))]
    pub growth_max: usize,
    /// Free + malloc pairs timed per cost-growth point: the live-set size, but at least N.
    #[arg(long, value_name = "N", default_value_t = GrowthConfig::default().min_pairs)]
    pub growth_pairs: usize,
    /// A cost-growth curve stops after a point that took longer than SECS.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub growth_budget: f64,
    /// The simulated heap of the cost-growth measurement (room for a million blocks).
    #[arg(long, value_name = "BYTES", default_value_t = GrowthConfig::default().max_heap)]
    pub growth_heap: usize,
    #[command(flatten)]
    pub race: RaceArgs,
}

/// `mdriver plot`: the race (or a report read back), the cost-growth curves, the charts.
pub fn run(args: &PlotArgs) -> Result<ExitCode, String> {
    let report = args.race.report()?;
    print_report(&report, &args.race)?;
    let (input, correct) = (PlotInput::from_report(&report), report.all_correct());
    let config = growth_config(args)?;
    let curves = if args.no_growth {
        None
    } else if let Some(path) = &args.growth_input {
        Some(plot::read_growth_csv(path).map_err(|e| e.to_string())?)
    } else {
        Some(measure_curves(&input, &config)?)
    };
    let growth = curves.as_deref().map(|c| (c, args.growth_input.is_none().then_some(&config)));
    let written = plot::write_charts(Some(&input), growth, &args.out_dir).map_err(|e| e.to_string())?;
    for path in written {
        eprintln!("mdriver plot: wrote {}", path.display());
    }
    Ok(if correct { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INCORRECT) })
}

/// The cost-growth measurement's settings from the options: live sets from 1024 (or
/// `--growth-max`, if smaller) doubling up to `--growth-max`.
fn growth_config(args: &PlotArgs) -> Result<GrowthConfig, String> {
    Ok(GrowthConfig {
        live: (0..usize::BITS)
            .map(|k| 1usize << k)
            .skip_while(|&n| n < 1024.min(args.growth_max))
            .take_while(|&n| n <= args.growth_max)
            .collect(),
        budget: std::time::Duration::try_from_secs_f64(args.growth_budget)
            .map_err(|e| format!("--growth-budget {}: {e}", args.growth_budget))?,
        max_heap: args.growth_heap,
        min_pairs: args.growth_pairs,
        align: super::align(args.race.align)?,
        ..GrowthConfig::default()
    })
}

/// Measures the cost-growth curves of the report's strategies and libc, each point
/// reported on stderr as it is measured. C allocators are left out: the curves are
/// measured in this process, which is no place for C code.
fn measure_curves(input: &PlotInput, config: &GrowthConfig) -> Result<Vec<GrowthCurve>, String> {
    let mut names: Vec<String> = input.strategies().into_iter().map(str::to_owned).collect();
    if !names.iter().any(|n| n == registry::LIBC) {
        names.push(registry::LIBC.to_owned());
    }
    names.retain(|name| {
        let ours = name == registry::LIBC || registry::find(name).is_some();
        if !ours {
            eprintln!("mdriver plot: cost growth: {name} is not one of ours (a C allocator?): left out");
        }
        ours
    });
    let mut curves = Vec::new();
    for name in &names {
        let curve = growth::measure(name, config, |p| {
            eprintln!(
                "mdriver plot: cost growth: {name} at {} live blocks: {} pairs/s ({} s)",
                format::count(p.live as f64),
                format::short(p.pairs_per_sec),
                format::decimals(p.secs, 2)
            );
        })
        .map_err(|e| e.to_string())?;
        if let Some(stop) = &curve.stop {
            eprintln!("mdriver plot: cost growth: {name}: {stop}");
        }
        curves.push(curve);
    }
    Ok(curves)
}
