//! `mdriver`: race the mmlab strategies and the system malloc over `.rep` traces,
//! generate traces, or record a real program's allocations as a trace. See
//! `mdriver --help`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use clap::{Args, Parser, Subcommand, builder::PossibleValuesParser};
use mdriver::race::{self, RaceConfig};
use mdriver::record::{self, Segment};
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
    /// The program to record and its arguments, after `--`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Gen(args)) => generate(&args),
        Some(Command::List) => list(),
        Some(Command::Record(args)) => record(&args),
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
        eprintln!(
            "mdriver record: warning: {} failed ({status}); converting what it recorded",
            program.to_string_lossy()
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

    let name = match &args.output {
        Some(path) => mm_core::trace::trace_name(&path.display().to_string()),
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
    match &args.output {
        Some(path) => std::fs::File::create(path)
            .and_then(|file| trace.write_to(file))
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

/// Lists the recorded segments on stderr, marking the chosen one.
fn print_segments(segments: &[Segment], chosen: &Segment) {
    eprintln!("mdriver record: process images recorded: {} (* = converted)", segments.len());
    let pid_width = segments.iter().map(|s| s.pid.to_string().len()).max().unwrap_or(0);
    let events_width = segments.iter().map(|s| s.events.len().to_string().len()).max().unwrap_or(0);
    for segment in segments {
        let mark = if std::ptr::eq(segment, chosen) { '*' } else { ' ' };
        eprintln!(
            "  {mark} pid {:>pid_width$}  {:>events_width$} events  {}",
            segment.pid,
            segment.events.len(),
            segment.exe
        );
    }
}
