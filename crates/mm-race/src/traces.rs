//! Where traces come from: files, directories, or the bundled suite built into the binary.

use std::path::{Path, PathBuf};

use mm_trace::{Op, Trace, TraceError};

use crate::replay;
use crate::subject::Libc;

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
}

pub use bundled::BUNDLED_TRACES;

/// Why traces could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A trace file is unreadable or malformed (the message names file and line).
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A trace directory could not be listed.
    #[error("{dir}: {source}")]
    Dir {
        /// The directory.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A trace asks for more than any allocator can give: the system malloc refuses
    /// one of its requests too.
    #[error(
        "{file}:{line}: op {index} ({op}) asks for more memory than any allocator can give: \
         the system malloc refuses it too"
    )]
    Unservable {
        /// The file.
        file: String,
        /// The 1-based line of the op.
        line: usize,
        /// The op's index (0-based), as the race's errors count ops.
        index: usize,
        /// The op.
        op: Op,
    },
    /// A trace directory holds no `.rep` file.
    #[error("{0}: no .rep trace files in this directory")]
    EmptyDir(String),
    /// The same trace file is named twice (its rows would be ambiguous).
    #[error("trace {0} is named twice")]
    NamedTwice(String),
    /// Every trace named has no operations: there is nothing to race.
    #[error("no trace to race: {0} (each has no operations)")]
    NothingToRace(String),
}

/// The bundled suite, parsed. The files are validated by the test suite, so a failure
/// here means the binary was built from a broken checkout.
pub fn bundled() -> Result<Vec<Trace>, TraceError> {
    BUNDLED_TRACES.iter().map(|(name, bytes)| Trace::parse(&format!("traces/{name}"), bytes)).collect()
}

/// A trace named on the command line: the `.rep` file at `path`, or, when there is no
/// such file and `path` is a bare name (`churn-3`), the bundled trace of that name. A
/// name that is neither is the file's not-found error, with the bundled names listed.
pub fn read_or_bundled(path: &Path) -> Result<Trace, LoadError> {
    let bare = path.components().count() == 1 && path.extension().is_none();
    if path.exists() || !bare {
        return read(path);
    }
    let bundled = bundled()?;
    if let Some(found) = bundled.iter().find(|t| Path::new(&t.name) == path) {
        return Ok(found.clone());
    }
    let names: Vec<&str> = bundled.iter().map(|t| t.name.as_str()).collect();
    let file = path.display().to_string();
    let source = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no such file, and no bundled trace has that name (bundled: {})", names.join(", ")),
    );
    Err(TraceError::Io { file, source }.into())
}

/// Reads and validates a trace file, and checks that it asks for no more than an
/// allocator can give.
///
/// A request no allocator can serve (2^63 bytes, say) would make every strategy fail
/// and be reported incorrect, when the fault is the trace's. The system malloc is the
/// judge: if it refuses a request too ([`replay::first_refused`], which writes to no
/// block and so costs no memory), the trace is rejected, naming the op's line.
pub fn read(path: &Path) -> Result<Trace, LoadError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io { file: file.clone(), source })?;
    let (trace, ignored) = Trace::parse_noting(&file, &bytes)?;
    if let Some(tail) = ignored {
        eprintln!(
            "mdriver: note: {file}:{}: {} after the header's num_ops ({}) {} ignored, as the lab's \
             driver ignores them",
            tail.line,
            if tail.lines == 1 { "1 line".to_owned() } else { format!("{} lines", tail.lines) },
            trace.ops.len(),
            if tail.lines == 1 { "is" } else { "are" },
        );
    }
    if let Some(index) = replay::first_refused(&mut Libc, &trace) {
        let line = mm_trace::trace::op_line(&bytes, index).expect("the parsed trace has this op");
        return Err(LoadError::Unservable { file, line, index, op: trace.ops[index] });
    }
    Ok(trace)
}

/// The `.rep` files of a directory, sorted by name.
pub fn rep_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let listing =
        std::fs::read_dir(dir).map_err(|source| LoadError::Dir { dir: dir.display().to_string(), source })?;
    let mut files = Vec::new();
    for entry in listing {
        let path = entry.map_err(|source| LoadError::Dir { dir: dir.display().to_string(), source })?.path();
        if path.extension().is_some_and(|e| e == "rep") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(LoadError::EmptyDir(dir.display().to_string()));
    }
    files.sort();
    Ok(files)
}

/// The traces named on the command line: every `.rep` in `dir` (if given), then each
/// `file`, each [`read`] and checked; the bundled suite when neither is given.
pub fn load(dir: Option<&Path>, files: &[PathBuf]) -> Result<Vec<Trace>, LoadError> {
    if dir.is_none() && files.is_empty() {
        return Ok(bundled()?);
    }
    let mut paths = match dir {
        Some(dir) => rep_files(dir)?,
        None => Vec::new(),
    };
    paths.extend(files.iter().cloned());
    let mut traces: Vec<Trace> = paths.iter().map(|p| read_or_bundled(p)).collect::<Result<_, _>>()?;
    name_uniquely(&mut traces, &paths)?;
    Ok(traces)
}

/// Every row of every output is keyed by the trace's name, its file stem: two files with
/// the same stem (`d1/x.rep`, `d2/x.rep`) would share rows. Those are named by their
/// path as given instead (`d1/x`, `d2/x`); the same path given twice is an error.
fn name_uniquely(traces: &mut [Trace], paths: &[PathBuf]) -> Result<(), LoadError> {
    let count = |name: &str, traces: &[Trace]| traces.iter().filter(|t| t.name == name).count();
    let clashing: Vec<bool> = traces.iter().map(|t| count(&t.name, traces) > 1).collect();
    for ((trace, path), clash) in traces.iter_mut().zip(paths).zip(clashing) {
        if clash {
            trace.name = path.with_extension("").display().to_string();
        }
    }
    match traces.iter().find(|t| count(&t.name, traces) > 1) {
        Some(twice) => Err(LoadError::NamedTwice(twice.name.clone())),
        None => Ok(()),
    }
}

/// Leaves out the traces with no operations, which measure nothing (a utilization of 0
/// and a throughput of 0/0), and returns the names it left out, for a note. An error
/// when that leaves nothing.
pub fn without_empty(traces: Vec<Trace>) -> Result<(Vec<Trace>, Vec<String>), LoadError> {
    let (kept, empty): (Vec<Trace>, Vec<Trace>) = traces.into_iter().partition(|t| !t.ops.is_empty());
    let names: Vec<String> = empty.into_iter().map(|t| t.name).collect();
    if kept.is_empty() && !names.is_empty() {
        return Err(LoadError::NothingToRace(names.join(", ")));
    }
    Ok((kept, names))
}

/// A `--max-heap` to suggest for `trace`: room for twice its peak live payload (an
/// allocator's overhead and fragmentation; a factor of two is the least the strategies
/// here pass with), and for four times its largest request (a binary buddy serves a
/// request of n bytes from a block of up to 2n, and keeping such a block whole beside
/// the small blocks already placed takes an arena of two of them), rounded up to a
/// power of two.
pub fn suggested_max_heap(trace: &Trace) -> usize {
    let largest_request = trace.ops.iter().filter_map(Op::size).max().unwrap_or(0);
    trace
        .peak_live_bytes()
        .saturating_mul(2)
        .max(largest_request.saturating_mul(4))
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
}
