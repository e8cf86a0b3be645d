//! `mdriver`: race the mmlab strategies and the system malloc over `.rep` traces,
//! generate traces, or record a real program's allocations as a trace. See
//! `mdriver --help`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use mdriver::c;
use mdriver::race::{self, RaceConfig};
use mdriver::record::{self, Segment};
use mdriver::registry;
use mdriver::report::{self, Format};
use mm_core::{Align, DEFAULT_MAX_HEAP};
use mm_trace::workload::{self, Workload};

/// Exit status when a strategy was incorrect on some trace.
const EXIT_INCORRECT: u8 = 1;
/// Exit status for bad usage or unreadable/malformed input.
const EXIT_USAGE: u8 = 2;

/// The most timed runs `--reps` takes. A median of a thousand runs is as steady as
/// a median gets, and each run lasts at least 10 ms per strategy and trace; four
/// billion would never finish (and their times alone would fill 64 GB).
const MAX_REPS: u32 = 1000;

/// The most operations `gen --ops` writes. A trace of 10^8 operations is about 1.1 GB
/// of text and takes the generator about 3.5 GB of memory, and as much again to race;
/// much longer ones would exhaust the memory of the machine making or racing them.
const MAX_GEN_OPS: usize = 100_000_000;

#[derive(Parser)]
#[command(
    name = "mdriver",
    version,
    about = "Race malloc-lab allocators and the system malloc over .rep traces",
    long_about = "Race malloc-lab allocators and the system malloc over .rep traces.\n\n\
        With no trace arguments the bundled suite (built into the binary) is raced. Every run is \
        checked (alignment, bounds, overlap, payload data), then timed.\n\n\
        Exit status: 0 all correct, 1 a strategy was incorrect, 2 bad usage, malformed input, \
        or a trace no allocator can serve (the system malloc refuses it too).",
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
    List(ListArgs),
    /// Run a program under the allocation recorder and write its allocations as a trace.
    #[command(override_usage = "mdriver record [OPTIONS] -- <COMMAND>...")]
    #[command(
        long_about = "Run a program under the allocation recorder and write its allocations as a trace.\n\n\
        The command runs with the recorder library (crates/mm-preload, built with --features record) \
        in LD_PRELOAD; every process it starts logs its malloc, calloc, realloc, aligned allocations \
        and free. The process image with the most events (or, with --exe, the largest of that \
        executable) is converted into a .rep trace, written to stdout unless -o. \
        See docs/recording.md.\n\n\
        Exit status: 0 a trace was written (even if the command itself failed), 2 bad usage, \
        the command could not be started, or nothing usable was recorded."
    )]
    Record(RecordArgs),
    /// Draw the race as SVG charts (utilization, throughput vs libc, cost growth), each with its CSV.
    #[command(long_about = "Draw the race as SVG charts, each with the CSV of its numbers beside it: \
        utilization.svg (per trace and strategy), throughput.svg (per trace, relative to libc) and \
        cost-growth.svg (free + malloc pairs per second as the live set grows from 1k to 1M blocks).\n\n\
        Without --input the race is run first, with the race's options, and its report printed \
        as the race prints it. The cost-growth curves are measured for the same strategies and \
        libc; a curve stops once one point takes longer than --growth-budget.\n\n\
        Exit status: 0 charts written, 1 charts written but a strategy was incorrect, 2 bad \
        usage or unreadable input.")]
    Plot(PlotArgs),
    /// Draw a strategy's heap at points of a trace as an SVG map of what every byte holds.
    #[command(
        long_about = "Draw a strategy's heap at points of a trace as an SVG map of what every byte holds: \
        requested payload, padding (rounding and alignment waste), metadata (headers, footers, \
        control data), free blocks, and heap beyond the break at that point. Each snapshot is \
        the whole heap up to the trace's high-water mark, wrapped over lines, with the byte \
        total of every kind. Strategies that do not describe their heap (heap_spans) are mapped \
        from what the driver knows: requested payloads, and the rest as unknown.\n\n\
        Exit status: 0 map written, 1 the strategy is incorrect on the trace, 2 bad usage or \
        unreadable input."
    )]
    Heapmap(HeapmapArgs),
}

#[derive(Args)]
struct RaceArgs {
    /// Race every .rep file in DIR.
    #[arg(short = 't', long = "trace-dir", value_name = "DIR")]
    trace_dir: Option<PathBuf>,
    /// Race this trace file (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Race this strategy (repeatable, or several after one -s; a name given twice is
    /// raced once); default: every strategy in the default race. c:PATH races a C
    /// allocator: a .c file (compiled with $CC, else cc) or a .so; PATH may be a pattern
    /// such as 'c:submissions/*/mm.c' (see docs/c-allocators.md).
    #[arg(short = 's', long = "strategy", value_name = "NAME", num_args = 1..,
          value_parser = StrategyName(registry::all_names()))]
    strategies: Vec<String>,
    /// Run the strategy's heap checker after every operation.
    #[arg(long)]
    check_heap: bool,
    /// Wrap every strategy in hardened mode (double frees, invalid frees and overwritten
    /// headers caught at free), to measure its cost.
    #[arg(long)]
    hardened: bool,
    /// The simulated heap's maximum size in bytes (reserved as address space: it costs
    /// memory only as a strategy uses it).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEAP)]
    max_heap: usize,
    /// Payload alignment our strategies serve (a power of two, 8..=4096).
    #[arg(long, value_name = "N", default_value_t = 8)]
    align: usize,
    /// Timed runs per strategy and trace, 1 to 1000 (the median counts).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REPS)))]
    reps: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Add per-run detail (peak live bytes, heap bytes, seconds per replay) and, to the
    /// text tables, each strategy's policy under the summary.
    #[arg(short, long)]
    verbose: bool,
    /// Show a race saved with `--format json` instead of racing: `-s` picks and orders
    /// its strategies (default: all it raced), `--format` renders them.
    /// Every number is the saved run's, so several views quote one race (docs/ does).
    #[arg(long, value_name = "FILE.json",
          conflicts_with_all = ["trace_dir", "files", "check_heap", "hardened", "max_heap", "align", "reps"])]
    input: Option<PathBuf>,
    /// The longest one run of a C allocator (one trace, checked then timed) may take
    /// before it is stopped as an endless loop.
    #[arg(long, value_name = "SECS", default_value_t = c::DEFAULT_TIMEOUT.as_secs_f64(), value_parser = parse_timeout)]
    timeout: f64,
}

/// `--timeout`: a positive number of seconds.
fn parse_timeout(text: &str) -> Result<f64, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 1e9 {
        Ok(secs)
    } else {
        Err(format!("{text} is not a positive number of seconds"))
    }
}

/// The names `-s` takes: those given (registered strategies), or `c:PATH`.
#[derive(Clone)]
struct StrategyName(Vec<&'static str>);

impl StrategyName {
    fn parser(&self) -> PossibleValuesParser {
        PossibleValuesParser::new(self.possible())
    }

    fn possible(&self) -> Vec<PossibleValue> {
        let c_path = PossibleValue::new("c:PATH").help("a C allocator: a .c file or a .so");
        self.0.iter().map(PossibleValue::new).chain(std::iter::once(c_path)).collect()
    }
}

impl TypedValueParser for StrategyName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_str() {
            Some(text) if c::spec::path_of(text).is_some() => Ok(text.to_owned()),
            _ => self.parser().parse_ref(cmd, arg, value),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.possible().into_iter()))
    }
}

#[derive(Args)]
struct ListArgs {
    /// Print only the strategy names, one per line, every registered one (for scripts:
    /// `just docs` races them all with `-s`).
    #[arg(long)]
    names: bool,
}

#[derive(Args)]
struct GenArgs {
    /// The workload (see `mdriver list`).
    #[arg(long, value_name = "NAME")]
    workload: String,
    /// The random seed.
    #[arg(long, value_name = "N")]
    seed: u64,
    /// The number of operations, at most 100000000.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(..=MAX_GEN_OPS as u64))]
    ops: usize,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct RecordArgs {
    /// Write the trace here instead of stdout (where it would follow the program's own output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The recorder library [default: $MMLAB_RECORDER, else
    /// <workspace>/target/recorder/release/libmm_preload.so, built on first use].
    #[arg(long, value_name = "PATH")]
    recorder: Option<PathBuf>,
    /// Convert the largest process image of the executable with this file name.
    #[arg(long, value_name = "NAME")]
    exe: Option<String>,
    /// Copy the raw event logs into DIR (they are deleted otherwise).
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
    /// Convert the recording even when the command fails (exits non-zero or is killed).
    /// Without it a failed run is an error and no trace is written: its allocations are
    /// those of the failure (a compile that stopped at a missing header), not the program's.
    #[arg(long)]
    allow_failure: bool,
    /// The program to record and its arguments, after `--`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Args)]
struct PlotArgs {
    /// Where the charts and their CSVs go (created if need be). The default is a
    /// directory of its own, so that a plot run from the repository never overwrites the
    /// committed charts of docs/results (`just docs` names that one explicitly).
    #[arg(long, value_name = "DIR", default_value = "mmlab-plots")]
    out_dir: PathBuf,
    /// Do not draw the cost-growth chart (measuring it takes a minute or two).
    #[arg(long)]
    no_growth: bool,
    /// Redraw the cost-growth chart from this cost-growth.csv instead of measuring.
    #[arg(long, value_name = "FILE", conflicts_with = "no_growth")]
    growth_input: Option<PathBuf>,
    /// The largest live-set size of the cost-growth curves (they start at 1024 and double).
    #[arg(long, value_name = "N", default_value_t = 1 << 20, value_parser = clap::value_parser!(usize))]
    growth_max: usize,
    /// Free + malloc pairs timed per cost-growth point: the live-set size, but at least N.
    #[arg(long, value_name = "N", default_value_t = mdriver::growth::GrowthConfig::default().min_pairs)]
    growth_pairs: usize,
    /// A cost-growth curve stops after a point that took longer than SECS.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    growth_budget: f64,
    /// The simulated heap of the cost-growth measurement (room for a million blocks).
    #[arg(long, value_name = "BYTES", default_value_t = mdriver::growth::GrowthConfig::default().max_heap)]
    growth_heap: usize,
    #[command(flatten)]
    race: RaceArgs,
}

#[derive(Args)]
struct HeapmapArgs {
    /// The strategy to map (any strategy but libc, whose heap the driver cannot see), or
    /// c:PATH, a C allocator (a .c file or a .so).
    #[arg(short, long, value_name = "NAME",
          value_parser = StrategyName(registry::STRATEGIES.iter().map(|s| s.name).collect()))]
    strategy: String,
    /// The trace: a .rep file, or the name of a bundled trace (e.g. churn-3).
    #[arg(short, long, value_name = "FILE")]
    trace: String,
    /// Where to take snapshots: peak (of the live payload), end, or op:N (after N operations);
    /// comma-separated or repeated [default: peak, end, and a quarter, half and three quarters through].
    #[arg(long, value_name = "POINT", value_delimiter = ',', value_parser = clap::value_parser!(mdriver::heapmap::At))]
    at: Vec<mdriver::heapmap::At>,
    /// Write the SVG here [default: heapmap-<STRATEGY>-<TRACE>.svg].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The simulated heap's maximum size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEAP)]
    max_heap: usize,
    /// Payload alignment (a power of two, 8..=4096).
    #[arg(long, value_name = "N", default_value_t = 8)]
    align: usize,
    /// Heap bytes per line of the map (rounded up to a multiple of 1024)
    /// [default: a power of two that fits the heap on 8 to 16 lines].
    #[arg(long, value_name = "BYTES")]
    line_bytes: Option<usize>,
    /// For a C allocator: the longest its replays may take before it is stopped.
    #[arg(long, value_name = "SECS", default_value_t = c::DEFAULT_TIMEOUT.as_secs_f64(), value_parser = parse_timeout)]
    timeout: f64,
}

fn main() -> ExitCode {
    // Die quietly of SIGPIPE when the reader of our output goes away (`mdriver list |
    // head`), as Unix tools do, instead of panicking in `println!` (Rust ignores it).
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Gen(args)) => generate(&args),
        Some(Command::List(args)) if args.names => list_names(),
        Some(Command::List(_)) => list(),
        Some(Command::Record(args)) => record(&args),
        Some(Command::Plot(args)) => plot(&args),
        Some(Command::Heapmap(args)) => heapmap(&args),
        None => race(&cli.race),
    };
    result.unwrap_or_else(|message| {
        eprintln!("mdriver: error: {message}");
        ExitCode::from(EXIT_USAGE)
    })
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

fn race(args: &RaceArgs) -> Result<ExitCode, String> {
    let usage_error = |message: String| {
        if args.format == Format::Json {
            // Scripts read stdout as JSON whatever the status: give them an object.
            println!("{}", serde_json::json!({ "error": message, "runs": [], "summary": [] }));
        }
        message
    };
    let report = match &args.input {
        Some(path) => saved_race(path, &args.strategies).map_err(usage_error)?,
        None => new_race(args).map_err(usage_error)?,
    };
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

/// The race the arguments ask for, run now.
fn new_race(args: &RaceArgs) -> Result<race::RaceReport, String> {
    let align = Align::new(args.align).map_err(|e| format!("--align: {e}"))?;
    let traces = raceable_traces(args.trace_dir.as_deref(), &args.files)?;
    let config = race_config(args, align)?;
    warn_of_traces_too_big(&traces, config.max_heap);
    race::run(&traces, &config).map_err(|e| e.to_string())
}

/// The race's settings from its options.
fn race_config(args: &RaceArgs, align: Align) -> Result<RaceConfig, String> {
    let strategies = selected_strategies(&args.strategies)?;
    if args.hardened && strategies.iter().any(|s| c::spec::path_of(s).is_some()) {
        eprintln!("mdriver: note: --hardened wraps our strategies only, not C allocators");
    }
    Ok(RaceConfig {
        strategies,
        check_heap: args.check_heap,
        hardened: args.hardened,
        max_heap: args.max_heap,
        align,
        reps: args.reps as usize,
        timeout: std::time::Duration::from_secs_f64(args.timeout),
        ..RaceConfig::default()
    })
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

fn generate(args: &GenArgs) -> Result<ExitCode, String> {
    let workload: Workload = args.workload.parse().map_err(|e| format!("--workload: {e}"))?;
    let trace = workload::generate(workload, args.seed, args.ops);
    let written = match &args.output {
        Some(path) => mdriver::output::write_atomically(path, |w| trace.write_to(w))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => trace.write_to(std::io::stdout().lock()).map_err(|e| format!("writing the trace: {e}")),
    };
    written.map(|()| ExitCode::SUCCESS)
}

/// `mdriver list --names`: every registered strategy, one per line.
fn list_names() -> Result<ExitCode, String> {
    for name in registry::all_names() {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `mdriver list`: the strategies and the workloads, each described, wrapped to the
/// text output's width under the description column (see `mdriver::text`).
fn list() -> Result<ExitCode, String> {
    use mdriver::text::{self, WIDTH};

    // `first` is a name padded to its description's column; the wrapped lines go under it.
    let print = |first: &str, description: &str| {
        for line in text::wrap(first, description, text::columns(first), WIDTH) {
            println!("{line}");
        }
    };
    let heading = format!("Strategies (default race: {}):", registry::default_names().join(", "));
    for line in text::wrap("", &heading, 2, WIDTH) {
        println!("{line}");
    }
    // Described as the race builds them (the default heap): buddy's orders depend on it.
    let config = RaceConfig::default();
    for name in registry::all_names() {
        let contender = race::contender(name, &config).map_err(|e| e.to_string())?;
        print(&format!("  {name:<18} "), &contender.description);
    }
    println!(
        "  {:<18} a C allocator: an mm.c (compiled with $CC, else cc) or a .so (docs/c-allocators.md)",
        "c:PATH"
    );
    println!("\nWorkloads (mdriver gen --workload NAME --seed N --ops N):");
    for w in Workload::ALL {
        print(&format!("  {:<14} ", w.name()), w.description());
    }
    Ok(ExitCode::SUCCESS)
}

/// The workspace this binary was built from, where the recorder crate lives.
fn workspace_dir() -> PathBuf {
    let raw = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    raw.canonicalize().unwrap_or_else(|_| raw.to_path_buf())
}

/// Where the recorder is: `--recorder`, else `$MMLAB_RECORDER`, else the workspace's
/// own build of it, which is built first if it is missing. The path returned is
/// absolute (the program may change directory before it `exec`s another) and usable
/// in `LD_PRELOAD`.
fn locate_recorder(flag: Option<&Path>) -> Result<PathBuf, String> {
    let from_env = std::env::var_os(record::RECORDER_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let (path, source) = match (flag, from_env) {
        (Some(path), _) => (path.to_path_buf(), "--recorder".to_owned()),
        (None, Some(path)) => (path, format!("${}", record::RECORDER_ENV)),
        (None, None) => {
            let workspace = workspace_dir();
            let target = workspace.join("target/recorder");
            let path = target.join("release/libmm_preload.so");
            if !path.is_file() {
                build_recorder(&workspace, &target)?;
            }
            (path, "the built recorder".to_owned())
        }
    };
    let absolute = path.canonicalize().map_err(|e| format!("{source} {}: {e}", path.display()))?;
    if !absolute.is_file() {
        return Err(format!("{source} {}: not a file", absolute.display()));
    }
    // The loader splits LD_PRELOAD at spaces and colons: a path holding one would be
    // read as two libraries.
    if absolute.as_os_str().as_encoded_bytes().iter().any(|b| matches!(b, b' ' | b':' | b'\t' | b'\n')) {
        return Err(format!(
            "{source} {}: LD_PRELOAD cannot name a path containing spaces or colons; \
             copy the library somewhere else and pass --recorder",
            absolute.display()
        ));
    }
    Ok(absolute)
}

/// Builds the recorder into `target` by running cargo in `workspace`.
fn build_recorder(workspace: &Path, target: &Path) -> Result<(), String> {
    // Under `cargo run`, $CARGO is the cargo that is running us: use the same one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = ["build", "--release", "-p", "mm-preload", "--no-default-features", "--features", "record"];
    let shown = format!(
        "`{} {} --target-dir {}` in {}",
        cargo.to_string_lossy(),
        args.join(" "),
        target.display(),
        workspace.display()
    );
    eprintln!("mdriver record: building the recorder: {shown}");
    // Cargo's stdout goes to our stderr: our stdout may be the trace.
    let status = std::process::Command::new(&cargo)
        .args(args)
        .arg("--target-dir")
        .arg(target)
        .current_dir(workspace)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| {
            format!(
                "cannot run cargo to build the recorder ({e}); run {shown} yourself, or pass --recorder PATH"
            )
        })?;
    if !status.success() {
        return Err(format!("building the recorder failed ({status}); the command was {shown}"));
    }
    Ok(())
}

/// A fresh directory for the logs, removed when dropped (on every path out of
/// `record`, errors included).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<ScratchDir, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let base = std::env::temp_dir();
        let mut last_error = None;
        // `create_dir` fails if the name exists, so a directory we get is ours alone.
        for attempt in 0..100 {
            let path = base.join(format!("mmlab-record-{}-{nanos}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => {
                    return Err(format!("creating a directory for the logs in {}: {e}", base.display()));
                }
            }
        }
        Err(format!(
            "creating a directory for the logs in {}: {}",
            base.display(),
            last_error.map_or_else(|| "no unused name".to_owned(), |e| e.to_string())
        ))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir is no reason to fail.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn record(args: &RecordArgs) -> Result<ExitCode, String> {
    let recorder = locate_recorder(args.recorder.as_deref())?;
    let scratch = ScratchDir::create()?;
    let (program, program_args) = args.command.split_first().ok_or("record: no command given")?;
    let preload = record::ld_preload_value(&recorder, std::env::var_os("LD_PRELOAD").as_deref());
    let status = std::process::Command::new(program)
        .args(program_args)
        .env("LD_PRELOAD", preload)
        .env(record::RECORD_DIR_ENV, &scratch.0)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    if !status.success() {
        let program = program.to_string_lossy();
        if !args.allow_failure {
            return Err(format!(
                "{program} failed ({status}), so no trace was written: a recording of a failed run \
                 holds the failure's allocations, not the program's. Fix the command (its own \
                 messages are above), or pass --allow-failure to convert what it recorded anyway"
            ));
        }
        eprintln!(
            "mdriver record: warning: {program} failed ({status}); converting what it recorded (--allow-failure)"
        );
    }

    let logs = record::log_files(&scratch.0).map_err(|e| e.to_string())?;
    // Kept logs are copied before parsing, so a log the parser rejects is kept too, and
    // the error then names the kept copy.
    let logs = match &args.keep_logs {
        Some(dir) => keep_logs(&logs, dir)?,
        None => logs,
    };
    let mut segments = Vec::new();
    for log in &logs {
        let file = log.display().to_string();
        let bytes = std::fs::read(log).map_err(|e| format!("{file}: {e}"))?;
        segments.extend(record::parse_log(&file, &bytes).map_err(|e| e.to_string())?);
    }
    if segments.is_empty() {
        return Err(format!(
            "nothing was recorded: was the recorder {} loaded? (LD_PRELOAD has no effect on \
             statically linked or setuid programs)",
            recorder.display()
        ));
    }

    if segments.iter().all(|s| s.events.is_empty()) {
        let mut names: Vec<&str> = segments.iter().map(Segment::exe_name).collect();
        names.sort_unstable();
        names.dedup();
        return Err(format!(
            "{} made no allocation: the recorder was loaded ({} process {}: {}) but saw no malloc, \
             calloc, realloc or free, so there is no trace to write",
            program.to_string_lossy(),
            segments.len(),
            if segments.len() == 1 { "image" } else { "images" },
            names.join(", ")
        ));
    }

    let chosen = record::choose(&segments, args.exe.as_deref()).ok_or_else(|| {
        let mut names: Vec<&str> = segments.iter().map(Segment::exe_name).collect();
        names.sort_unstable();
        names.dedup();
        format!(
            "--exe {}: no recorded process ran an executable of that name (recorded: {})",
            args.exe.as_deref().unwrap_or_default(),
            names.join(", ")
        )
    })?;
    print_segments(&segments, chosen);
    if chosen.events.is_empty() {
        return Err(format!(
            "--exe {}: the process image {} (pid {}) made no allocation, so there is no trace to write",
            args.exe.as_deref().unwrap_or_default(),
            chosen.exe,
            chosen.pid
        ));
    }

    let name = match &args.output {
        Some(path) => mm_trace::trace::trace_name(&path.display().to_string()),
        None => chosen.exe_name().to_owned(),
    };
    let (trace, stats) = chosen.to_trace(&name);
    // The converter guarantees a valid trace; checking costs one pass and turns a
    // converter bug into a clear error instead of a trace the race rejects later.
    trace.validate().map_err(|e| format!("internal error: the converted trace is invalid: {e}"))?;
    eprintln!(
        "mdriver record: pid {} ({}): {} events -> {} ops, {} ids, peak {} live bytes, \
         {} foreign frees, {} foreign reallocs, {} failed, {} freed at the end{}",
        chosen.pid,
        chosen.exe,
        stats.events,
        stats.ops,
        stats.ids,
        stats.peak_live_bytes,
        stats.foreign_frees,
        stats.foreign_reallocs,
        stats.failed,
        stats.trailing_frees,
        if chosen.truncated { " (its log's cut-off last line was ignored)" } else { "" },
    );
    let default_heap = mm_core::DEFAULT_MAX_HEAP;
    let suggested = mdriver::traces::suggested_max_heap(&trace);
    if suggested > default_heap {
        eprintln!(
            "mdriver record: note: the trace holds {} bytes live at its peak; the race's default \
             heap of {default_heap} bytes may be too small for it: race it with --max-heap {suggested}",
            stats.peak_live_bytes
        );
    }
    match &args.output {
        Some(path) => mdriver::output::write_atomically(path, |w| trace.write_to(w))
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => trace.write_to(std::io::stdout().lock()).map_err(|e| format!("writing the trace: {e}"))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies the logs into `dir` (created if need be) and returns the copies' paths.
fn keep_logs(logs: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--keep-logs {}: {e}", dir.display()))?;
    let mut kept = Vec::new();
    for log in logs {
        let copy = dir.join(log.file_name().unwrap_or_default());
        std::fs::copy(log, &copy).map_err(|e| format!("--keep-logs: copying to {}: {e}", copy.display()))?;
        kept.push(copy);
    }
    eprintln!("mdriver record: kept {} logs in {}", kept.len(), dir.display());
    Ok(kept)
}

/// The most process images `record` lists one per line; the rest are summarized.
const SEGMENTS_LISTED: usize = 8;

/// Lists the recorded segments on stderr, marking the chosen one: all of them when there
/// are few, else the chosen one and the largest others, then a count of the rest by
/// executable (a shell script or a build runs dozens of short processes).
fn print_segments(segments: &[Segment], chosen: &Segment) {
    eprintln!("mdriver record: process images recorded: {} (* = converted)", segments.len());
    let mut listed: Vec<&Segment> = segments.iter().collect();
    if segments.len() > SEGMENTS_LISTED {
        // The chosen one first, then by size; shown again in the order they ran.
        listed.sort_by_key(|s| (!std::ptr::eq(*s, chosen), std::cmp::Reverse(s.events.len())));
        listed.truncate(SEGMENTS_LISTED);
        listed.sort_by_key(|s| segments.iter().position(|t| std::ptr::eq(t, *s)));
    }
    let pid_width = listed.iter().map(|s| s.pid.to_string().len()).max().unwrap_or(0);
    let events_width = listed.iter().map(|s| s.events.len().to_string().len()).max().unwrap_or(0);
    for segment in &listed {
        let mark = if std::ptr::eq(*segment, chosen) { '*' } else { ' ' };
        eprintln!(
            "  {mark} pid {:>pid_width$}  {:>events_width$} events  {}",
            segment.pid,
            segment.events.len(),
            segment.exe
        );
    }
    let rest: Vec<&Segment> =
        segments.iter().filter(|s| !listed.iter().any(|l| std::ptr::eq(*l, *s))).collect();
    if !rest.is_empty() {
        let mut by_name: Vec<(&str, usize)> = Vec::new();
        for segment in &rest {
            match by_name.iter_mut().find(|(name, _)| *name == segment.exe_name()) {
                Some((_, count)) => *count += 1,
                None => by_name.push((segment.exe_name(), 1)),
            }
        }
        by_name.sort_by_key(|&(name, count)| (std::cmp::Reverse(count), name));
        let names: Vec<String> = by_name.iter().map(|(name, count)| format!("{count} x {name}")).collect();
        let events: usize = rest.iter().map(|s| s.events.len()).sum();
        eprintln!(
            "    ... and {} more with {events} events in all: {} (--keep-logs DIR keeps every log)",
            rest.len(),
            names.join(", ")
        );
    }
}

/// `mdriver plot`: the race (or a report read back), the cost-growth curves, the charts.
fn plot(args: &PlotArgs) -> Result<ExitCode, String> {
    use mdriver::growth::{self, GrowthConfig};
    use mdriver::plot::{self, PlotInput};

    let race = &args.race;
    let report = match &race.input {
        Some(path) => saved_race(path, &race.strategies)?,
        None => new_race(race)?,
    };
    let mut stdout = std::io::stdout().lock();
    report::write(&report, race.format, race.verbose, &mut stdout)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the report: {e}"))?;
    for run in report.runs.iter().filter(|r| !r.correct) {
        eprintln!("mdriver: incorrect: {}", run.error.as_deref().unwrap_or("(no message)"));
    }
    let (input, correct) = (PlotInput::from_report(&report), report.all_correct());

    let config = GrowthConfig {
        live: (0..usize::BITS)
            .map(|k| 1usize << k)
            .skip_while(|&n| n < 1024.min(args.growth_max))
            .take_while(|&n| n <= args.growth_max)
            .collect(),
        budget: std::time::Duration::try_from_secs_f64(args.growth_budget)
            .map_err(|e| format!("--growth-budget {}: {e}", args.growth_budget))?,
        max_heap: args.growth_heap,
        min_pairs: args.growth_pairs,
        align: Align::new(args.race.align).map_err(|e| format!("--align: {e}"))?,
        ..GrowthConfig::default()
    };
    let curves = if args.no_growth {
        None
    } else if let Some(path) = &args.growth_input {
        Some(plot::read_growth_csv(path).map_err(|e| e.to_string())?)
    } else {
        let mut names: Vec<String> = input.strategies().into_iter().map(str::to_owned).collect();
        if !names.iter().any(|n| n == registry::LIBC) {
            names.push(registry::LIBC.to_owned());
        }
        // The curves are measured in this process, which is no place for C code.
        names.retain(|name| {
            let ours = name == registry::LIBC || registry::find(name).is_some();
            if !ours {
                eprintln!("mdriver plot: cost growth: {name} is not one of ours (a C allocator?): left out");
            }
            ours
        });
        let mut curves = Vec::new();
        for name in &names {
            let curve = growth::measure(name, &config, |p| {
                eprintln!(
                    "mdriver plot: cost growth: {name} at {} live blocks: {} pairs/s ({:.2} s)",
                    growth::count(p.live as f64),
                    plot::short(p.pairs_per_sec),
                    p.secs
                );
            })
            .map_err(|e| e.to_string())?;
            if let Some(stop) = &curve.stop {
                eprintln!("mdriver plot: cost growth: {name}: {stop}");
            }
            curves.push(curve);
        }
        Some(curves)
    };
    let growth = curves.as_deref().map(|c| (c, args.growth_input.is_none().then_some(&config)));
    let written = plot::write_charts(Some(&input), growth, &args.out_dir).map_err(|e| e.to_string())?;
    for path in written {
        eprintln!("mdriver plot: wrote {}", path.display());
    }
    Ok(if correct { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INCORRECT) })
}

/// `mdriver heapmap`: replay a trace, snapshot the heap, draw it.
fn heapmap(args: &HeapmapArgs) -> Result<ExitCode, String> {
    use mdriver::heapmap::{self, HeapmapError};

    let align = Align::new(args.align).map_err(|e| format!("--align: {e}"))?;
    let path = Path::new(&args.trace);
    let trace = if path.exists() {
        mdriver::traces::read(path).map_err(|e| e.to_string())?
    } else {
        let bundled = mdriver::traces::bundled().map_err(|e| e.to_string())?;
        let names: Vec<&str> = bundled.iter().map(|t| t.name.as_str()).collect();
        let Some(found) = bundled.iter().find(|t| t.name == args.trace) else {
            return Err(format!(
                "--trace {}: no such file, and no bundled trace has that name (bundled: {})",
                args.trace,
                names.join(", ")
            ));
        };
        found.clone()
    };
    let mapped = match c::spec::path_of(&args.strategy) {
        Some(pattern) => {
            let files = c::spec::expand(pattern)?;
            let [file] = files.as_slice() else {
                return Err(format!(
                    "heapmap maps one allocator, and {} names {}",
                    args.strategy,
                    files.len()
                ));
            };
            let spec = format!("{}{}", c::PREFIX, file.display());
            let timeout = std::time::Duration::from_secs_f64(args.timeout);
            let allocator = c::build_all(&[spec.as_str()], &registry::all_names(), timeout)?.remove(0);
            allocator.heapmap(&trace, &args.at, args.max_heap, align, timeout)
        }
        None => {
            let info = registry::find(&args.strategy)
                .ok_or_else(|| format!("unknown strategy {:?}", args.strategy))?;
            let heap = race::heap(args.max_heap).map_err(|e| format!("--max-heap: {e}"))?;
            heapmap::map(&args.strategy, (info.build)(heap, align), &trace, &args.at)
        }
    };
    let map = match mapped {
        Ok(map) => map,
        Err(e @ HeapmapError::Incorrect { .. }) => {
            eprintln!("mdriver: incorrect: {e}");
            return Ok(ExitCode::from(EXIT_INCORRECT));
        }
        Err(e) => return Err(e.to_string()),
    };
    let svg = heapmap::render(&map, args.line_bytes);
    let output = args.output.clone().unwrap_or_else(|| {
        let safe = |s: &str| s.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'), "_");
        PathBuf::from(format!("heapmap-{}-{}.svg", safe(&map.strategy), safe(&map.trace)))
    });
    mdriver::output::write_atomically(&output, |w| w.write_all(svg.as_bytes()))
        .map_err(|e| format!("{}: {e}", output.display()))?;
    for snap in &map.snapshots {
        eprintln!("mdriver heapmap: {}", heapmap::summary_line(&map, snap));
    }
    if map.snapshots.iter().any(|s| !s.described) {
        eprintln!(
            "mdriver heapmap: {} does not describe its heap: only the requested payloads are known",
            map.strategy
        );
    }
    eprintln!("mdriver heapmap: wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}
