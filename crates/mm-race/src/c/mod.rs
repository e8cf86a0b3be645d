//! C allocators as strategies: `mdriver -s c:PATH`.
//!
//! The malloc lab is a lab for C programs: a student's `mm.c` implements `mm.h` over
//! `memlib.h`. This module races one next to ours, under the same checks and the same
//! measurements:
//!
//! * **Building** ([`compile`]): a `.c` file is compiled by the system C compiler into a
//!   shared object; a `.so` is taken as it is. The object is then loaded once, in a
//!   child process, to see that it defines `mm_init`, `mm_malloc`, `mm_free` and
//!   `mm_realloc` (and whether `mm_checkheap`), and to read its `team`. An allocator
//!   that does not build or load is reported failed on every trace; the race goes on.
//! * **memlib** ([`sys`]): the driver binary exports `mem_sbrk`, `mem_heap_lo`, ...
//!   (`build.rs` puts them in its dynamic symbol table), so the object's calls resolve
//!   to them when it is loaded. They serve one of our [`MemLib`](mm_core::MemLib) heaps
//!   of `--max-heap` bytes, so the bounds check and utilization work as for our
//!   strategies.
//! * **Isolation** ([`isolate`]): each run — one allocator on one trace, checked then
//!   timed — happens in a child process forked for it, which loads the object afresh
//!   and drives it through the replay engine ([`sys::CSubject`] is its `Subject`). A
//!   segfault, an abort, an `exit` or an endless loop (stopped at `--timeout`) ends
//!   the child, not the race, and is reported as that run's error, naming the signal,
//!   the `mm_*` function and the op it happened at.
//! * **Naming** ([`spec`]): `c:PATH` patterns are expanded by the driver, and each
//!   allocator gets a unique name: its file stem, or its directory for `mm.c`.

pub mod compile;
pub mod isolate;
pub mod spec;
mod sys;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mm_core::Align;
use mm_trace::Trace;
use serde::{Deserialize, Serialize};

use crate::format::seconds;
use crate::heapmap::{self, At, Heapmap, HeapmapError};
use crate::race::{self, Measured, RaceConfig};
use crate::replay::{CheckedRun, ReplayError};
use isolate::{Death, How};
use sys::{CSubject, Call, Library, MmFunctions, Progress};

pub use spec::PREFIX;
pub use sys::MEMLIB_EXPORTS;

/// The default of `--timeout`: how long one run of a C allocator (one trace, checked
/// and timed) may take before it is taken for an endless loop.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A directory of our own for the compiled object, removed with the allocator.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> std::io::Result<Scratch> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0.. {
            let path = base.join(format!("mmlab-c-{}-{nanos}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir is no reason to fail.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What loading the object once told.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Probe {
    /// The required functions it does not define.
    missing: Vec<String>,
    /// Whether it defines `mm_checkheap`.
    has_checkheap: bool,
    /// Its `team`: teamname, name1, id1, name2, id2.
    team: Option<[String; 5]>,
}

/// An allocator that built and loaded.
struct Ready {
    object: PathBuf,
    has_checkheap: bool,
    team: Option<[String; 5]>,
}

/// A C allocator in the race, as the race's own process knows it: its file, and the
/// shared object built from it (or why there is none). It is only ever loaded in child
/// processes.
pub struct CAllocator {
    name: String,
    source: PathBuf,
    state: Result<Ready, String>,
    _scratch: Option<Scratch>,
}

/// Why a child's job failed before or without a replay error: the op (if any) and what.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Failed {
    op_index: Option<usize>,
    message: String,
}

/// A run's figures, as the child sends them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunFigures {
    peak_live_bytes: usize,
    heap_bytes: Option<usize>,
    peak_aligned_bytes: usize,
    secs: Option<f64>,
}

/// Which job a child died in, for the message.
#[derive(Clone, Copy)]
enum Job {
    Race,
    Heapmap,
}

impl CAllocator {
    /// Builds the allocator at `path` (a `.c` file is compiled, a `.so` taken as it is),
    /// named `name`, and loads it once in a child process (which may take `timeout`).
    /// Never fails: an allocator that does not build or load is kept with the reason,
    /// which every one of its runs reports. The compiler's whole message is printed on
    /// standard error.
    pub fn build(name: &str, path: &Path, timeout: Duration) -> CAllocator {
        let mut allocator = CAllocator {
            name: name.to_owned(),
            source: path.to_path_buf(),
            state: Err(String::new()),
            _scratch: None,
        };
        allocator.state = allocator.make(timeout);
        allocator
    }

    fn make(&mut self, timeout: Duration) -> Result<Ready, String> {
        let object = match spec::kind(&self.source)? {
            spec::Kind::Object => {
                self.source.canonicalize().map_err(|e| format!("{}: {e}", self.source.display()))?
            }
            spec::Kind::Source => {
                let scratch = Scratch::create().map_err(|e| format!("cannot make a build directory: {e}"))?;
                let stem: String = self
                    .name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
                    .collect();
                let built = compile::compile(&self.source, &scratch.0, &stem);
                self._scratch = Some(scratch);
                match built {
                    Ok(object) => object,
                    Err(e) => {
                        eprintln!(
                            "mdriver: {}: {} did not compile; the compiler said:\n$ {}\n{}",
                            self.name,
                            self.source.display(),
                            e.command,
                            e.message.trim_end()
                        );
                        return Err(format!("did not compile: {}", e.first_error()));
                    }
                }
            }
        };
        let probe = isolate::run(timeout, |progress| -> Result<Probe, String> {
            let library = load(&object, progress)?;
            let (missing, has_checkheap) = match MmFunctions::resolve(&library) {
                Ok(functions) => (Vec::new(), functions.has_checkheap()),
                Err(missing) => (missing.into_iter().map(str::to_owned).collect(), false),
            };
            Ok(Probe { missing, has_checkheap, team: sys::team(&library) })
        });
        let probe = match probe {
            Ok(Ok(probe)) => probe,
            Ok(Err(message)) => return Err(message),
            Err(death) => {
                return Err(format!("could not be loaded: {}", died(&death, None, Job::Race).message));
            }
        };
        if !probe.missing.is_empty() {
            return Err(format!(
                "does not define {} (a C allocator defines {})",
                probe.missing.join(", "),
                sys::REQUIRED.join(", ")
            ));
        }
        Ok(Ready { object, has_checkheap: probe.has_checkheap, team: probe.team })
    }

    /// Its name in the reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why it cannot be raced, if it cannot.
    pub fn failure(&self) -> Option<&str> {
        self.state.as_ref().err().map(String::as_str)
    }

    /// Whether it defines `mm_checkheap` (what `--check-heap` calls).
    pub fn has_checkheap(&self) -> bool {
        self.state.as_ref().is_ok_and(|r| r.has_checkheap)
    }

    /// One line on it: the file, and the team it names.
    pub fn description(&self) -> String {
        let mut text = format!("C allocator {}", self.source.display());
        match &self.state {
            Ok(Ready { team: Some(team), .. }) => {
                let [teamname, name1, id1, name2, id2] = team;
                let person = |name: &str, id: &str| match (name.is_empty(), id.is_empty()) {
                    (true, true) => None,
                    (false, true) => Some(name.to_owned()),
                    (true, false) => Some(id.to_owned()),
                    (false, false) => Some(format!("{name} <{id}>")),
                };
                let people: Vec<String> =
                    [person(name1, id1), person(name2, id2)].into_iter().flatten().collect();
                text.push_str(&format!(", team {teamname:?}"));
                if !people.is_empty() {
                    text.push_str(&format!(" ({})", people.join(", ")));
                }
            }
            Ok(_) => {}
            Err(_) => text.push_str(" (not raceable: see its errors)"),
        }
        text
    }

    /// Checks, then times, the allocator on `trace` as the race does for ours, in a
    /// child process (see the module docs).
    pub fn measure(&self, trace: &Trace, config: &RaceConfig) -> Result<Measured, ReplayError> {
        let ready = self.state.as_ref().map_err(|message| ReplayError {
            op_index: None,
            op: None,
            message: message.clone(),
        })?;
        let outcome = isolate::run(config.timeout, |progress| -> Result<RunFigures, Failed> {
            let mut subject = open(&ready.object, progress, config.max_heap, config.align)?;
            match race::measure_subject(&mut subject, trace, config) {
                Ok(m) => Ok(RunFigures {
                    peak_live_bytes: m.checked.peak_live_bytes,
                    heap_bytes: m.checked.heap_bytes,
                    peak_aligned_bytes: m.checked.peak_aligned_bytes,
                    secs: m.secs,
                }),
                Err(e) => Err(Failed {
                    op_index: e.op_index,
                    message: subject.take_failure().map_or(e.message, |why| explain(&why)),
                }),
            }
        });
        match outcome {
            Ok(Ok(f)) => Ok(Measured {
                checked: CheckedRun {
                    peak_live_bytes: f.peak_live_bytes,
                    heap_bytes: f.heap_bytes,
                    peak_aligned_bytes: f.peak_aligned_bytes,
                },
                secs: f.secs,
            }),
            Ok(Err(failed)) => Err(ReplayError {
                op_index: failed.op_index,
                op: failed.op_index.and_then(|i| trace.ops.get(i).copied()),
                message: failed.message,
            }),
            Err(death) => Err(died(&death, Some(trace), Job::Race)),
        }
    }

    /// The heap map of the allocator on `trace` at the points `at`, made in a child
    /// process: the driver's view (requested payloads, the rest as overhead), since a C
    /// allocator does not describe its heap.
    pub fn heapmap(
        &self,
        trace: &Trace,
        at: &[At],
        max_heap: usize,
        align: Align,
        timeout: Duration,
    ) -> Result<Heapmap, HeapmapError> {
        heapmap::resolve_points(trace, at)?;
        let incorrect = |message: String| HeapmapError::Incorrect {
            strategy: self.name.clone(),
            trace: trace.name.clone(),
            message,
        };
        let ready = self.state.as_ref().map_err(|message| incorrect(message.clone()))?;
        let description = self.description();
        let outcome = isolate::run(timeout, |progress| -> Result<Heapmap, String> {
            let mut subject = open(&ready.object, progress, max_heap, align).map_err(|f| f.message)?;
            heapmap::map_subject(&self.name, &description, &mut subject, |_| None, trace, at).map_err(|e| {
                match (subject.take_failure(), e) {
                    (Some(why), _) => explain(&why),
                    (None, HeapmapError::Incorrect { message, .. }) => message,
                    (None, e) => e.to_string(),
                }
            })
        });
        match outcome {
            Ok(Ok(map)) => Ok(map),
            Ok(Err(message)) => Err(incorrect(message)),
            Err(death) => Err(incorrect(died(&death, Some(trace), Job::Heapmap).to_string())),
        }
    }
}

/// A failure the C allocator reported itself, in words.
fn explain(why: &str) -> String {
    if why.starts_with("mm_checkheap") {
        format!("{why} after this op: the allocator's own heap checker says its heap is broken")
    } else {
        why.to_owned()
    }
}

/// Loads the object in this (child) process, noting it in `progress`.
fn load(object: &Path, progress: &Progress) -> Result<Library, String> {
    progress.loading();
    let library = Library::open(object).map_err(|e| format!("could not be loaded: {e}"))?;
    progress.loaded();
    Ok(library)
}

/// Loads the object in this (child) process and makes it a subject over a fresh heap.
fn open<'p>(
    object: &Path,
    progress: &'p Progress,
    max_heap: usize,
    align: Align,
) -> Result<CSubject<'p>, Failed> {
    let fail = |message: String| Failed { op_index: None, message };
    let library = load(object, progress).map_err(fail)?;
    let api = MmFunctions::resolve(&library)
        .map_err(|missing| fail(format!("does not define {}", missing.join(", "))))?;
    let heap = race::heap(max_heap).map_err(|e| fail(format!("--max-heap: {e}")))?;
    Ok(CSubject::new(api, heap, align.get(), progress))
}

/// The replay error that says how and where a child died.
fn died(death: &Death, trace: Option<&Trace>, job: Job) -> ReplayError {
    let in_op = matches!(death.call, Call::Malloc | Call::Free | Call::Realloc | Call::Checkheap);
    let op_index = (in_op && death.replay >= 1 && death.ops >= 1)
        .then(|| death.ops as usize - 1)
        .filter(|&i| trace.is_some_and(|t| i < t.ops.len()));
    let op = op_index.and_then(|i| trace.and_then(|t| t.ops.get(i).copied()));
    let what = match &death.how {
        How::Signal(signal) => format!("killed by {}", isolate::signal_name(*signal)),
        How::Exit(code) => format!("exited with status {code}"),
        How::TimedOut(t) => format!("stopped at --timeout {}", seconds(*t)),
        How::Panicked(message) => format!("the driver panicked in the child process: {message}"),
        How::Setup(message) => {
            return ReplayError {
                op_index: None,
                op: None,
                message: format!("could not be run in a child process: {message}"),
            };
        }
    };
    let place = match death.call {
        Call::Load => " while being loaded (in a constructor)".to_owned(),
        Call::Init => " in mm_init".to_owned(),
        Call::Malloc => " in mm_malloc".to_owned(),
        Call::Free => " in mm_free".to_owned(),
        Call::Realloc => " in mm_realloc".to_owned(),
        Call::Checkheap if op_index.is_some() => " in mm_checkheap, after this op".to_owned(),
        Call::Checkheap => " in mm_checkheap".to_owned(),
        Call::None if death.replay == 0 => String::new(),
        Call::None => format!(" in the driver's code, after {} ops", death.ops),
    };
    let when = match (death.replay, job) {
        (0, _) => String::new(),
        (1, _) => " during the checked replay".to_owned(),
        (k, Job::Race) => format!(" during timed replay {} (the checked replay had passed)", k - 1),
        (k, Job::Heapmap) => format!(" during replay {k} (for a snapshot)"),
    };
    let hint = match death.how {
        How::TimedOut(_) if death.replay > 1 => {
            ": slow, or an endless loop? (raise --timeout if it is only slow)"
        }
        How::TimedOut(_) => ": an endless loop? (raise --timeout if it is only slow)",
        _ => "",
    };
    let words = death.last_words();
    let printed = if words.is_empty() { String::new() } else { format!("; it printed: {words}") };
    ReplayError { op_index, op, message: format!("{what}{place}{when}{hint}{printed}") }
}

/// Builds every C allocator named in `specs` (`c:PATH` names, each one file), named
/// uniquely and apart from `reserved`, in order.
pub fn build_all(specs: &[&str], reserved: &[&str], timeout: Duration) -> Result<Vec<CAllocator>, String> {
    let paths: Vec<PathBuf> = specs
        .iter()
        .map(|s| {
            let path = PathBuf::from(spec::path_of(s).unwrap_or(s));
            spec::kind(&path)?;
            Ok(path)
        })
        .collect::<Result<_, String>>()?;
    let canonical: Vec<PathBuf> =
        paths.iter().map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())).collect();
    let names = spec::names(&canonical, reserved);
    Ok(paths.iter().zip(&names).map(|(path, name)| CAllocator::build(name, path, timeout)).collect())
}
