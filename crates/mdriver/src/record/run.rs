//! `mdriver record`, run: the program under the recorder, its logs read, one process
//! image converted and written.
//!
//! 1. [`locate_recorder`]: `--recorder`, `$MMLAB_RECORDER`, or the workspace's own
//!    build of the recorder (built on first use by [`build_recorder`]).
//! 2. The program runs with the recorder in `LD_PRELOAD` and a fresh [`ScratchDir`]
//!    for the logs; a failed run is refused unless [`Recording::allow_failure`].
//! 3. The logs are (optionally kept, then) parsed into segments, one per process image.
//! 4. One segment is chosen ([`choose`], `--exe`), the segments are listed on stderr
//!    ([`print_segments`]), and the chosen one is converted and written.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use super::convert::{RECORD_DIR_ENV, RECORDER_ENV, Segment, choose, ld_preload_value, log_files, parse_log};

/// What `mdriver record` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Where the trace goes (stdout when `None`).
    pub output: Option<PathBuf>,
    /// The recorder library, if named (`--recorder`).
    pub recorder: Option<PathBuf>,
    /// Convert the largest process image of the executable of this file name.
    pub exe: Option<String>,
    /// Copy the raw logs into this directory.
    pub keep_logs: Option<PathBuf>,
    /// Convert the recording even when the program fails.
    pub allow_failure: bool,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

/// Records `recording.command` and writes the trace of one of its process images.
/// Every error is a message for the user (exit status 2).
pub fn record(recording: &Recording) -> Result<(), String> {
    let recorder = locate_recorder(recording.recorder.as_deref())?;
    let scratch = ScratchDir::create()?;
    run_program(recording, &recorder, &scratch.0)?;
    let segments = read_segments(recording, &recorder, &scratch.0)?;
    let chosen = choose_segment(recording, &segments)?;
    write_trace(recording, chosen)
}

/// Runs the program with the recorder preloaded, logging into `log_dir`; a failed run
/// is an error unless `--allow-failure`, which makes it a warning.
fn run_program(recording: &Recording, recorder: &Path, log_dir: &Path) -> Result<(), String> {
    let (program, program_args) = recording.command.split_first().ok_or("record: no command given")?;
    let preload = ld_preload_value(recorder, std::env::var_os("LD_PRELOAD").as_deref());
    let status: ExitStatus = std::process::Command::new(program)
        .args(program_args)
        .env("LD_PRELOAD", preload)
        .env(RECORD_DIR_ENV, log_dir)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    if !status.success() {
        let program = program.to_string_lossy();
        if !recording.allow_failure {
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
    Ok(())
}

/// The segments of every log in `log_dir` (kept first, with `--keep-logs`); an error
/// when there are none, or none made an allocation.
fn read_segments(recording: &Recording, recorder: &Path, log_dir: &Path) -> Result<Vec<Segment>, String> {
    let logs = log_files(log_dir).map_err(|e| e.to_string())?;
    // Kept logs are copied before parsing, so a log the parser rejects is kept too, and
    // the error then names the kept copy.
    let logs = match &recording.keep_logs {
        Some(dir) => keep_logs(&logs, dir)?,
        None => logs,
    };
    let mut segments = Vec::new();
    for log in &logs {
        let file = log.display().to_string();
        let bytes = std::fs::read(log).map_err(|e| format!("{file}: {e}"))?;
        segments.extend(parse_log(&file, &bytes).map_err(|e| e.to_string())?);
    }
    if segments.is_empty() {
        return Err(format!(
            "nothing was recorded: was the recorder {} loaded? (LD_PRELOAD has no effect on \
             statically linked or setuid programs)",
            recorder.display()
        ));
    }
    if segments.iter().all(|s| s.events.is_empty()) {
        let program = recording.command.first().map(|p| p.to_string_lossy()).unwrap_or_default();
        return Err(format!(
            "{program} made no allocation: the recorder was loaded ({} process {}: {}) but saw no malloc, \
             calloc, realloc or free, so there is no trace to write",
            segments.len(),
            if segments.len() == 1 { "image" } else { "images" },
            exe_names(&segments)
        ));
    }
    Ok(segments)
}

/// The executables' file names of `segments`, sorted, each once, comma-separated.
fn exe_names(segments: &[Segment]) -> String {
    let mut names: Vec<&str> = segments.iter().map(Segment::exe_name).collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}

/// The segment to convert ([`choose`]), after listing them all on stderr; an error
/// when `--exe` names no recorded executable, or the chosen image made no allocation.
fn choose_segment<'a>(recording: &Recording, segments: &'a [Segment]) -> Result<&'a Segment, String> {
    let exe = recording.exe.as_deref().unwrap_or_default();
    let chosen = choose(segments, recording.exe.as_deref()).ok_or_else(|| {
        format!(
            "--exe {exe}: no recorded process ran an executable of that name (recorded: {})",
            exe_names(segments)
        )
    })?;
    print_segments(segments, chosen);
    if chosen.events.is_empty() {
        return Err(format!(
            "--exe {exe}: the process image {} (pid {}) made no allocation, so there is no trace to write",
            chosen.exe, chosen.pid
        ));
    }
    Ok(chosen)
}

/// Converts `chosen`, says what the conversion did (and whether the race's default heap
/// is too small for the trace), and writes the trace to `--output` or stdout.
fn write_trace(recording: &Recording, chosen: &Segment) -> Result<(), String> {
    let name = match &recording.output {
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
    let suggested = crate::traces::suggested_max_heap(&trace);
    if suggested > default_heap {
        eprintln!(
            "mdriver record: note: the trace holds {} bytes live at its peak; the race's default \
             heap of {default_heap} bytes may be too small for it: race it with --max-heap {suggested}",
            stats.peak_live_bytes
        );
    }
    match &recording.output {
        Some(path) => crate::output::write_atomically(path, |w| trace.write_to(w))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => trace.write_to(std::io::stdout().lock()).map_err(|e| format!("writing the trace: {e}")),
    }
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
pub fn locate_recorder(flag: Option<&Path>) -> Result<PathBuf, String> {
    let from_env = std::env::var_os(RECORDER_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let (path, source) = match (flag, from_env) {
        (Some(path), _) => (path.to_path_buf(), "--recorder".to_owned()),
        (None, Some(path)) => (path, format!("${}", RECORDER_ENV)),
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
pub fn build_recorder(workspace: &Path, target: &Path) -> Result<(), String> {
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
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// Creates a directory of a name no other process uses, in the temp dir.
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
pub fn print_segments(segments: &[Segment], chosen: &Segment) {
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
