//! `mdriver`: race the mmlab strategies and the system malloc over `.rep` traces, or
//! generate traces. See `mdriver --help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, builder::PossibleValuesParser};
use mdriver::race::{self, RaceConfig};
use mdriver::registry;
use mdriver::report::{self, Format};
use mm_core::workload::{self, Workload};
use mm_core::{Align, DEFAULT_MAX_HEAP};

/// Exit status when a strategy was incorrect on some trace.
const EXIT_INCORRECT: u8 = 1;
/// Exit status for bad usage or unreadable/malformed input.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "mdriver",
    version,
    about = "Race malloc-lab allocators and the system malloc over .rep traces",
    long_about = "Race malloc-lab allocators and the system malloc over .rep traces.\n\n\
        With no trace arguments the bundled suite (built into the binary) is raced. Every run is \
        checked (alignment, bounds, overlap, payload data), then timed.\n\n\
        Exit status: 0 all correct, 1 a strategy was incorrect, 2 bad usage or malformed input.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    race: RaceArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Write a seeded trace of a named workload (to stdout unless -o).
    Gen(GenArgs),
    /// List the strategies and the workloads.
    List,
}

#[derive(Args)]
struct RaceArgs {
    /// Race every .rep file in DIR.
    #[arg(short = 't', long = "trace-dir", value_name = "DIR")]
    trace_dir: Option<PathBuf>,
    /// Race this trace file (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Race this strategy (repeatable); default: every strategy in the default race.
    #[arg(short = 's', long = "strategy", value_name = "NAME", value_parser = PossibleValuesParser::new(registry::all_names()))]
    strategies: Vec<String>,
    /// Run the strategy's heap checker after every operation.
    #[arg(long)]
    check_heap: bool,
    /// The simulated heap's maximum size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEAP)]
    max_heap: usize,
    /// Payload alignment our strategies serve (a power of two, 8..=4096).
    #[arg(long, value_name = "N", default_value_t = 8)]
    align: usize,
    /// Timed runs per strategy and trace (the median counts).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    reps: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Add per-run detail (peak live bytes, heap bytes, seconds per replay).
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
struct GenArgs {
    /// The workload (see `mdriver list`).
    #[arg(long, value_name = "NAME")]
    workload: String,
    /// The random seed.
    #[arg(long, value_name = "N")]
    seed: u64,
    /// The number of operations.
    #[arg(long, value_name = "N")]
    ops: usize,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Gen(args)) => generate(&args),
        Some(Command::List) => list(),
        None => race(&cli.race),
    };
    result.unwrap_or_else(|message| {
        eprintln!("mdriver: error: {message}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn race(args: &RaceArgs) -> Result<ExitCode, String> {
    let usage_error = |message: String| {
        if args.format == Format::Json {
            // Scripts read stdout as JSON whatever the status: give them an object.
            println!("{}", serde_json::json!({ "error": message, "runs": [], "summary": [] }));
        }
        message
    };
    let align = Align::new(args.align).map_err(|e| usage_error(format!("--align: {e}")))?;
    let traces = mdriver::traces::load(args.trace_dir.as_deref(), &args.files)
        .map_err(|e| usage_error(e.to_string()))?;
    let strategies = if args.strategies.is_empty() {
        registry::default_names().into_iter().map(str::to_owned).collect()
    } else {
        args.strategies.clone()
    };
    let config = RaceConfig {
        strategies,
        check_heap: args.check_heap,
        max_heap: args.max_heap,
        align,
        reps: args.reps as usize,
        ..RaceConfig::default()
    };
    let report = race::run(&traces, &config).map_err(|e| usage_error(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    report::write(&report, args.format, args.verbose, &mut stdout)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the report: {e}"))?;
    if report.all_correct() {
        Ok(ExitCode::SUCCESS)
    } else {
        for run in report.runs.iter().filter(|r| !r.correct) {
            eprintln!("mdriver: incorrect: {}", run.error.as_deref().unwrap_or("(no message)"));
        }
        Ok(ExitCode::from(EXIT_INCORRECT))
    }
}

fn generate(args: &GenArgs) -> Result<ExitCode, String> {
    let workload: Workload = args.workload.parse().map_err(|e| format!("--workload: {e}"))?;
    let trace = workload::generate(workload, args.seed, args.ops);
    let written = match &args.output {
        Some(path) => std::fs::File::create(path)
            .and_then(|file| trace.write_to(file))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => trace.write_to(std::io::stdout().lock()).map_err(|e| format!("writing the trace: {e}")),
    };
    written.map(|()| ExitCode::SUCCESS)
}

fn list() -> Result<ExitCode, String> {
    println!("Strategies (default race: {}):", registry::default_names().join(", "));
    let config = RaceConfig { max_heap: mm_core::PAGE_SIZE, ..RaceConfig::default() };
    for name in registry::all_names() {
        let contender = race::contender(name, &config).map_err(|e| e.to_string())?;
        println!("  {name:<18} {}", contender.description);
    }
    println!("\nWorkloads (mdriver gen --workload NAME --seed N --ops N):");
    for w in Workload::ALL {
        println!("  {:<14} {}", w.name(), w.description());
    }
    Ok(ExitCode::SUCCESS)
}
