//! The race (`mdriver` with no subcommand): its options, turned into a
//! [`RaceConfig`] in one place ([`RaceArgs::config`]), the race run or a saved one
//! read back, and the report printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mdriver::c;
use mdriver::race::{self, RaceConfig};
use mdriver::registry;
use mdriver::report::{self, Format};
use mm_core::{Align, DEFAULT_MAX_HEAP};

use super::{EXIT_INCORRECT, StrategyName, parse_timeout};

/// The most timed runs `--reps` takes. A median of a thousand runs is as steady as
/// a median gets, and each run lasts at least 10 ms per strategy and trace; four
/// billion would never finish (and their times alone would fill 64 GB).
const MAX_REPS: u32 = 1000;

/// The race's options (also `mdriver plot`'s).
#[derive(Args)]
pub struct RaceArgs {
    /// Race every .rep file in DIR.
    #[arg(short = 't', long = "trace-dir", value_name = "DIR")]
    pub trace_dir: Option<PathBuf>,
    /// Race this trace file, or the bundled trace of this name (e.g. churn-3) (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Race this strategy (repeatable, or several after one -s; a name given twice is
    /// raced once); default: every strategy in the default race. c:PATH races a C
    /// allocator: a .c file (compiled with $CC, else cc) or a .so; PATH may be a pattern
    /// such as 'c:submissions/*/mm.c' (see docs/c-allocators.md).
    #[arg(short = 's', long = "strategy", value_name = "NAME", num_args = 1..,
          value_parser = StrategyName(registry::all_names()))]
    pub strategies: Vec<String>,
    /// Run the strategy's heap checker after every operation.
    #[arg(long)]
    pub check_heap: bool,
    /// Wrap every strategy in hardened mode (double frees, invalid frees and overwritten
    /// headers caught at free), to measure its cost.
    #[arg(long)]
    pub hardened: bool,
    /// The simulated heap's maximum size in bytes (reserved as address space: it costs
    /// memory only as a strategy uses it).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEAP)]
    pub max_heap: usize,
    /// Payload alignment our strategies serve (a power of two, 8..=4096).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub align: usize,
    /// Timed runs per strategy and trace, 1 to 1000 (the median counts).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REPS)))]
    pub reps: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Add per-run detail (peak live bytes, heap bytes, seconds per replay) and, to the
    /// text tables, each strategy's policy under the summary.
    #[arg(short, long)]
    pub verbose: bool,
    /// Show a race saved with `--format json` instead of racing: `-s` picks and orders
    /// its strategies (default: all it raced), `--format` renders them.
    /// Every number is the saved run's, so several views quote one race (docs/ does).
    #[arg(long, value_name = "FILE.json",
          conflicts_with_all = ["trace_dir", "files", "check_heap", "hardened", "max_heap", "align", "reps"])]
    pub input: Option<PathBuf>,
    /// The longest one run of a C allocator (one trace, checked then timed) may take
    /// before it is stopped as an endless loop.
    #[arg(long, value_name = "SECS", default_value_t = c::DEFAULT_TIMEOUT.as_secs_f64(), value_parser = parse_timeout)]
    pub timeout: f64,
}

impl RaceArgs {
    /// The report the arguments ask for: the saved one of `--input` (seen through
    /// `-s`), or a race run now.
    pub fn report(&self) -> Result<race::RaceReport, String> {
        match &self.input {
            Some(path) => saved_race(path, &self.strategies),
            None => self.race(),
        }
    }

    /// The race the arguments ask for, run now.
    pub fn race(&self) -> Result<race::RaceReport, String> {
        let align = super::align(self.align)?;
        let traces = raceable_traces(self.trace_dir.as_deref(), &self.files)?;
        let config = self.config(align)?;
        warn_of_traces_too_big(&traces, config.max_heap);
        race::run(&traces, &config).map_err(|e| e.to_string())
    }

    /// The race's settings from its options (`align` is `--align`, checked first).
    pub fn config(&self, align: Align) -> Result<RaceConfig, String> {
        let strategies = selected_strategies(&self.strategies)?;
        if self.hardened && strategies.iter().any(|s| c::spec::path_of(s).is_some()) {
            eprintln!("mdriver: note: --hardened wraps our strategies only, not C allocators");
        }
        Ok(RaceConfig {
            strategies,
            check_heap: self.check_heap,
            hardened: self.hardened,
            max_heap: self.max_heap,
            align,
            reps: self.reps as usize,
            timeout: super::timeout(self.timeout),
            ..RaceConfig::default()
        })
    }
}

/// The traces to race: those named (or the bundled suite), less those with no
/// operations, each left out with a note.
fn raceable_traces(dir: Option<&Path>, files: &[PathBuf]) -> Result<Vec<mm_trace::Trace>, String> {
    let loaded = mdriver::traces::load(dir, files).map_err(|e| e.to_string())?;
    let (traces, empty) = mdriver::traces::without_empty(loaded).map_err(|e| e.to_string())?;
    for name in empty {
        eprintln!("mdriver: note: trace {name} has no operations: it measures nothing and is left out");
    }
    Ok(traces)
}

/// Says, before racing, which traces hold more live payload at their peak than the heap
/// can hold: every strategy will run out of memory on them, which the errors alone
/// would not explain.
fn warn_of_traces_too_big(traces: &[mm_trace::Trace], max_heap: usize) {
    for trace in traces {
        let peak = trace.peak_live_bytes();
        if peak > max_heap {
            let suggested = mdriver::traces::suggested_max_heap(trace);
            eprintln!(
                "mdriver: note: trace {} holds {peak} bytes live at its peak, more than the heap's \
                 {max_heap}: every strategy will run out of memory on it (try --max-heap {suggested})",
                trace.name
            );
        }
    }
}

/// Runs the race (or shows a saved one) and prints the report.
pub fn run(args: &RaceArgs) -> Result<ExitCode, String> {
    let usage_error = |message: String| {
        if args.format == Format::Json {
            // Scripts read stdout as JSON whatever the status: give them an object.
            println!("{}", serde_json::json!({ "error": message, "runs": [], "summary": [] }));
        }
        message
    };
    let report = args.report().map_err(usage_error)?;
    print_report(&report, args)?;
    if report.all_correct() { Ok(ExitCode::SUCCESS) } else { Ok(ExitCode::from(EXIT_INCORRECT)) }
}

/// Prints `report` on stdout as `--format` and `-v` ask, then each incorrect run's
/// error on stderr.
pub fn print_report(report: &race::RaceReport, args: &RaceArgs) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    report::write(report, args.format, args.verbose, &mut stdout)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the report: {e}"))?;
    for run in report.runs.iter().filter(|r| !r.correct) {
        eprintln!("mdriver: incorrect: {}", run.error.as_deref().unwrap_or("(no message)"));
    }
    Ok(())
}

/// `--input`: the saved race, seen through the strategies named (or all it raced).
fn saved_race(path: &Path, named: &[String]) -> Result<race::RaceReport, String> {
    let json = std::fs::read_to_string(path).map_err(|e| format!("--input {}: {e}", path.display()))?;
    let saved = race::RaceReport::from_json(&path.display().to_string(), &json)?;
    let strategies: Vec<String> = if named.is_empty() {
        saved.summary.iter().map(|s| s.strategy.clone()).collect()
    } else {
        selected_strategies(named)?
    };
    saved.select(&strategies).map_err(|e| format!("--input {}: {e}", path.display()))
}

/// The strategies to race: each named with `-s` once, in the order first named, or
/// the default race when none is. A name given twice would be raced twice and each
/// of its summary rows would count both runs; it is raced once, with a note. A
/// `c:PATTERN` stands for every file it matches (`c:PATH` for each), and a file named
/// twice (by two patterns, or two spellings of its path) is raced once too.
fn selected_strategies(named: &[String]) -> Result<Vec<String>, String> {
    if named.is_empty() {
        return Ok(registry::default_names().into_iter().map(str::to_owned).collect());
    }
    let mut chosen: Vec<String> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut repeated: Vec<String> = Vec::new();
    for name in named {
        if let Some(pattern) = c::spec::path_of(name) {
            for path in c::spec::expand(pattern)? {
                let file = path.canonicalize().unwrap_or_else(|_| path.clone());
                let spec = format!("{}{}", c::PREFIX, path.display());
                if !files.contains(&file) {
                    files.push(file);
                    chosen.push(spec);
                } else if !repeated.contains(&spec) {
                    repeated.push(spec);
                }
            }
        } else if !chosen.contains(name) {
            chosen.push(name.clone());
        } else if !repeated.contains(name) {
            repeated.push(name.clone());
        }
    }
    for name in repeated {
        eprintln!("mdriver: note: strategy {name} is named more than once; it is raced once");
    }
    Ok(chosen)
}
