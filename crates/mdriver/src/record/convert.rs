//! The log-to-trace conversion of `mdriver record`: the event logs of the `LD_PRELOAD`
//! recorder parsed, and turned into `.rep` traces.
//!
//! The bundled traces are generated, and a generator only knows the patterns its author
//! thought of. To race the strategies on what a real program does, `mdriver record`
//! runs the program with the recorder library (`crates/mm-preload`, built with
//! `--features record`) preloaded. The recorder wraps `malloc` and friends, lets the
//! system allocator do the work, and appends one line per call to a log. This module
//! reads those logs and converts them into traces; [`super::run`] runs the program.
//!
//! # The event log
//!
//! With `MMLAB_RECORD_DIR=<dir>` in its environment, every process that loads the
//! recorder appends to `<dir>/<pid>.log`. A log is UTF-8 text, one record per line,
//! fields separated by single spaces:
//!
//! ```text
//! # mmlab-record 1 pid 4242 exe /usr/bin/sort    a header: a new segment starts
//! m 24 55d0c2a4b2a0                              malloc(24) returned 0x55d0c2a4b2a0
//! c 4 8 55d0c2a4b2c0                             calloc(4, 8)
//! r 55d0c2a4b2a0 100 55d0c2a4b300                realloc(old, 100) (and reallocarray)
//! a 64 256 55d0c2a4b400                          an aligned allocation: align 64, size 256
//! f 55d0c2a4b2c0                                 free(ptr)
//! ```
//!
//! Sizes, counts and alignments are decimal; pointers are lowercase hex without `0x`,
//! and `0` is NULL. A header starts a new *segment*: a process writes one when it
//! first allocates, and again when `exec` gives the same pid a new program image, so
//! one file may hold several segments. Pointers of one segment mean nothing in
//! another, so each segment is converted on its own. The exe path is the rest of the
//! header line (it may contain spaces; `?` when unknown).
//!
//! A process can be killed in the middle of writing a line, so a final line without
//! its newline is ignored (even if it looks complete: `f 7f12` may be the first half
//! of `f 7f1234`). Any other malformed line is an error naming the file and the line,
//! because a log the parser does not understand is a recorder bug worth hearing about.
//!
//! # From events to a trace
//!
//! A trace names blocks by *id*, not by address. The converter keeps a map from each
//! live pointer to its id; ids are numbered from 0 in order of allocation and never
//! reused, as in the bundled traces. Event by event:
//!
//! * **`malloc`, `calloc`, aligned** that returned a block: a new id, `a id size`
//!   (calloc's size is `count * size`). The alignment of an aligned allocation is
//!   dropped: the `.rep` format has no way to say it, and the driver checks every
//!   block against the strategy's own alignment only. A zero size stays zero: the
//!   trace format, the validator and every strategy accept `a id 0` (`malloc(0)`
//!   returns a unique minimum block), and the driver counts such a block as one byte
//!   when checking overlap.
//! * **A failed allocation** (it returned NULL) changed nothing: no op.
//! * **`free`** of a live pointer: `f id`. Of a pointer that is not live: skipped and
//!   counted as *foreign*. Those are blocks the program did not get from the recorded
//!   `malloc`: the dynamic loader's early allocator, memory allocated before the
//!   recorder was ready, or memory inherited across `fork`. `free(NULL)` is a no-op.
//! * **`realloc(old, size)`**: with `old` NULL it is a `malloc`. Returning NULL with
//!   `size` 0 it freed `old` (glibc's rule), so it becomes `f id`; returning NULL with
//!   `size > 0` it failed and left `old` alone: no op. Otherwise, when `old` is live,
//!   it becomes `r id size` and the id now lives at the returned pointer. A `realloc`
//!   to size 0 that returned a block (not glibc, but C allows it) becomes `f id` and a
//!   new zero-size block, because a trace's `r id 0` means *free*. When `old` is not
//!   live (foreign), the block is new to the trace: `a newid size`, counted as a
//!   foreign realloc.
//! * **A returned pointer that is already live** cannot happen with a correct
//!   allocator and a complete log, but a lost line could cause it: the stale id is
//!   freed first, so the trace stays valid.
//! * **At the end**, blocks still live are freed by appended `f id` ops, in id order.
//!   Programs rarely free everything before they exit; the bundled traces all end with
//!   an empty heap, and a recorded trace that does the same replays (and is timed) the
//!   same way.
//!
//! The header follows the generator's conventions: `num_ids` is the number of ids
//! used, the weight is 1, and `sugg_heapsize` is the peak of the live requested bytes.
//! The result always passes [`Trace::validate`].

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mm_trace::trace::Excerpt;
use mm_trace::{Header, Op, Trace};
use thiserror::Error;

/// The environment variable that turns the recorder on and names the directory of the
/// logs.
pub const RECORD_DIR_ENV: &str = "MMLAB_RECORD_DIR";

/// The environment variable `mdriver record` reads the recorder library's path from
/// when `--recorder` is not given.
pub const RECORDER_ENV: &str = "MMLAB_RECORDER";

/// The log format version this module reads (the number after `mmlab-record`).
pub const FORMAT_VERSION: &str = "1";

/// One recorded call, as the log states it. Pointers are addresses; `0` is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `m size ret`: `malloc(size)` returned `ret`.
    Malloc {
        /// Requested bytes.
        size: usize,
        /// The returned pointer.
        ret: usize,
    },
    /// `c count size ret`: `calloc(count, size)` returned `ret`.
    Calloc {
        /// Number of elements.
        count: usize,
        /// Bytes per element.
        size: usize,
        /// The returned pointer.
        ret: usize,
    },
    /// `r old size ret`: `realloc(old, size)` (or `reallocarray`, with the product as
    /// `size`) returned `ret`.
    Realloc {
        /// The block passed in.
        old: usize,
        /// The new requested size.
        size: usize,
        /// The returned pointer.
        ret: usize,
    },
    /// `a align size ret`: `memalign`, `posix_memalign`, `aligned_alloc`, `valloc` or
    /// `pvalloc` returned `ret`.
    Aligned {
        /// The requested alignment.
        align: usize,
        /// Requested bytes.
        size: usize,
        /// The returned pointer.
        ret: usize,
    },
    /// `f ptr`: `free(ptr)`.
    Free {
        /// The freed pointer.
        ptr: usize,
    },
}

/// The events of one process image: from a header line to the next header (or the end
/// of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The log file it was read from.
    pub file: String,
    /// The 1-based line of its header. Event `i` is on line `line + 1 + i`, since a
    /// segment's lines are all events.
    pub line: usize,
    /// The process id from the header.
    pub pid: u32,
    /// The executable's path from the header (`?` when the recorder could not tell).
    pub exe: String,
    /// The events, in the order the process made the calls.
    pub events: Vec<Event>,
    /// True when the log's last line was cut short inside this segment (and ignored).
    pub truncated: bool,
}

/// What the conversion of one segment found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Events in the segment.
    pub events: usize,
    /// Operations in the trace (including the frees appended at the end).
    pub ops: usize,
    /// Ids used (the trace's `num_ids`).
    pub ids: usize,
    /// The peak of the live requested bytes (the trace's `sugg_heapsize`).
    pub peak_live_bytes: usize,
    /// `free`s of pointers that were not live: skipped.
    pub foreign_frees: usize,
    /// `realloc`s of non-null pointers that were not live: a block new to the trace
    /// (or nothing, if the call freed it).
    pub foreign_reallocs: usize,
    /// Allocations (and `realloc`s to a nonzero size) that returned NULL: no op.
    pub failed: usize,
    /// Allocations that returned a pointer that was still live under another id (a
    /// sign of a lost log line): the stale id was freed first.
    pub reused_live: usize,
    /// Blocks still live at the end, freed by appended `f` ops.
    pub trailing_frees: usize,
}

/// What is wrong with a line of a log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordErrorKind {
    /// A line that is not valid UTF-8 (outside the exe path of a header).
    #[error("the line is not text (invalid UTF-8)")]
    NotText,
    /// An empty line (the recorder never writes one).
    #[error("an empty line")]
    EmptyLine,
    /// An event before any header.
    #[error("an event before the first `# mmlab-record` header")]
    BeforeHeader,
    /// A line starting with `#` that is not a well-formed header.
    #[error("malformed header: expected `# mmlab-record {FORMAT_VERSION} pid <pid> exe <path>`, found {0}")]
    BadHeader(Excerpt),
    /// A header of another format version.
    #[error("log format version {0} is not supported (this mdriver reads version {FORMAT_VERSION})")]
    UnsupportedVersion(Excerpt),
    /// A record letter other than `m`, `c`, `r`, `a`, `f`.
    #[error("unknown record {0} (expected m, c, r, a or f, or a `#` header)")]
    UnknownRecord(Excerpt),
    /// A record with the wrong number of fields.
    #[error("record {record:?} takes {expected} fields after the letter, found {found}")]
    FieldCount {
        /// The record letter.
        record: char,
        /// The fields it takes.
        expected: usize,
        /// The fields found.
        found: usize,
    },
    /// A size, count, alignment or pid that is not a decimal number that fits.
    #[error("{field}: expected a decimal number no larger than {max}, found {found}", max = usize::MAX)]
    BadDecimal {
        /// Which field.
        field: &'static str,
        /// The text found.
        found: Excerpt,
    },
    /// A pointer that is not lowercase hex (without `0x`) that fits in an address.
    #[error("{field}: expected a pointer in lowercase hex without 0x, found {found}")]
    BadPointer {
        /// Which field.
        field: &'static str,
        /// The text found.
        found: Excerpt,
    },
    /// A `calloc` whose `count * size` overflows, yet returned a block.
    #[error("calloc({count}, {size}) overflows, yet returned a block")]
    CallocOverflow {
        /// Number of elements.
        count: usize,
        /// Bytes per element.
        size: usize,
    },
}

/// Why logs could not be read.
#[derive(Debug, Error)]
pub enum RecordError {
    /// A log file or the log directory could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file or directory.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A line of a log is malformed.
    #[error("{file}:{line}: {kind}")]
    Malformed {
        /// The log file.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        kind: RecordErrorKind,
    },
}

impl RecordError {
    /// The line number, for malformed input.
    pub fn line(&self) -> Option<usize> {
        match self {
            RecordError::Io { .. } => None,
            RecordError::Malformed { line, .. } => Some(*line),
        }
    }

    /// What is wrong, for malformed input.
    pub fn kind(&self) -> Option<&RecordErrorKind> {
        match self {
            RecordError::Io { .. } => None,
            RecordError::Malformed { kind, .. } => Some(kind),
        }
    }
}

/// Parses a decimal field: ASCII digits only (no sign, no spaces), fitting in `T`.
fn decimal<T: FromStr>(field: &'static str, text: &str) -> Result<T, RecordErrorKind> {
    let bad = || RecordErrorKind::BadDecimal { field, found: Excerpt::new(text) };
    // `str::parse` would also take a leading '+'; the format does not.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// Parses a pointer field: lowercase hex digits only, fitting in a `usize`.
fn pointer(field: &'static str, text: &str) -> Result<usize, RecordErrorKind> {
    let bad = || RecordErrorKind::BadPointer { field, found: Excerpt::new(text) };
    if text.is_empty() || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad());
    }
    usize::from_str_radix(text, 16).map_err(|_| bad())
}

/// Parses a header line's fields after `#`: `(pid, exe)`.
fn parse_header(line: &[u8]) -> Result<(u32, String), RecordErrorKind> {
    let bad = || RecordErrorKind::BadHeader(Excerpt::from_bytes(line));
    // The exe path is the rest of the line and may contain spaces, so split off only
    // the six fields before it. A path need not be UTF-8 on Unix: it alone is decoded
    // lossily, for display and for `--exe`.
    let mut fields = line.splitn(7, |&b| b == b' ');
    let mut next = || fields.next().ok_or_else(bad);
    let (hash, magic, version, pid_word, pid, exe_word, exe) =
        (next()?, next()?, next()?, next()?, next()?, next()?, next()?);
    if hash != b"#" || magic != b"mmlab-record" || pid_word != b"pid" || exe_word != b"exe" {
        return Err(bad());
    }
    let version = std::str::from_utf8(version).map_err(|_| bad())?;
    if version != FORMAT_VERSION {
        return Err(RecordErrorKind::UnsupportedVersion(Excerpt::new(version)));
    }
    let pid = std::str::from_utf8(pid).map_err(|_| bad())?;
    Ok((decimal("pid", pid)?, String::from_utf8_lossy(exe).into_owned()))
}

/// Parses an event line.
fn parse_event(line: &str) -> Result<Event, RecordErrorKind> {
    let mut fields = line.split(' ');
    let letter = fields.next().unwrap_or_default();
    let (record, expected) = match letter {
        "m" => ('m', 2),
        "c" | "r" | "a" => (letter.as_bytes()[0] as char, 3),
        "f" => ('f', 1),
        "" if line.is_empty() => return Err(RecordErrorKind::EmptyLine),
        other => return Err(RecordErrorKind::UnknownRecord(Excerpt::new(other))),
    };
    // Fields are separated by single spaces, so `split(' ')` yields every field,
    // including the empty ones a doubled space would make (which then fail to parse).
    let mut values = [""; 3];
    let mut found = 0;
    for field in fields {
        if let Some(slot) = values.get_mut(found) {
            *slot = field;
        }
        found += 1;
    }
    if found != expected {
        return Err(RecordErrorKind::FieldCount { record, expected, found });
    }
    let [first, second, third] = values;
    Ok(match record {
        'm' => Event::Malloc { size: decimal("size", first)?, ret: pointer("ret", second)? },
        'c' => {
            let (count, size, ret): (usize, usize, usize) =
                (decimal("count", first)?, decimal("size", second)?, pointer("ret", third)?);
            // calloc must fail when the product overflows; a block returned anyway
            // would have no size a trace could state.
            if ret != 0 && count.checked_mul(size).is_none() {
                return Err(RecordErrorKind::CallocOverflow { count, size });
            }
            Event::Calloc { count, size, ret }
        }
        'r' => Event::Realloc {
            old: pointer("old", first)?,
            size: decimal("size", second)?,
            ret: pointer("ret", third)?,
        },
        'a' => Event::Aligned {
            align: decimal("align", first)?,
            size: decimal("size", second)?,
            ret: pointer("ret", third)?,
        },
        _ => Event::Free { ptr: pointer("ptr", first)? },
    })
}

/// Parses one log into its segments. `file` names the log in error messages and in
/// each [`Segment`].
///
/// An incomplete final line (no trailing newline) is ignored and marks its segment
/// [`truncated`](Segment::truncated); any other malformed line is an error naming
/// `file` and the 1-based line. A log with no header and no events has no segments.
pub fn parse_log(file: &str, bytes: &[u8]) -> Result<Vec<Segment>, RecordError> {
    let malformed =
        |line: usize, kind: RecordErrorKind| RecordError::Malformed { file: file.to_owned(), line, kind };
    // Everything after the last newline is a line the process did not finish writing.
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |last| last + 1);
    let mut segments: Vec<Segment> = Vec::new();
    for (index, line) in bytes[..complete].split_inclusive(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.first() == Some(&b'#') {
            let (pid, exe) = parse_header(line).map_err(|kind| malformed(line_no, kind))?;
            segments.push(Segment {
                file: file.to_owned(),
                line: line_no,
                pid,
                exe,
                events: Vec::new(),
                truncated: false,
            });
            continue;
        }
        let text = std::str::from_utf8(line).map_err(|_| malformed(line_no, RecordErrorKind::NotText))?;
        let event = parse_event(text).map_err(|kind| malformed(line_no, kind))?;
        let segment = segments.last_mut().ok_or_else(|| malformed(line_no, RecordErrorKind::BeforeHeader))?;
        segment.events.push(event);
    }
    if complete < bytes.len()
        && let Some(last) = segments.last_mut()
    {
        last.truncated = true;
    }
    Ok(segments)
}

/// Reads every `*.log` file of `dir`, in file-name order, and parses each into its
/// segments.
pub fn read_log_dir(dir: &Path) -> Result<Vec<Segment>, RecordError> {
    let mut segments = Vec::new();
    for path in log_files(dir)? {
        let file = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| RecordError::Io { file: file.clone(), source })?;
        segments.extend(parse_log(&file, &bytes)?);
    }
    Ok(segments)
}

/// The `*.log` files of `dir`, sorted by name.
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let io_error = |source| RecordError::Io { file: dir.display().to_string(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if path.extension().is_some_and(|e| e == "log") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The segment to convert: the one with the most events, or with `exe`, the one with
/// the most events among those whose executable's file name is `exe`. Ties go to the
/// first. `None` when no segment qualifies.
pub fn choose<'a>(segments: &'a [Segment], exe: Option<&str>) -> Option<&'a Segment> {
    segments.iter().filter(|s| exe.is_none_or(|name| s.exe_name() == name)).fold(None, |best, s| match best {
        Some(b) if b.events.len() >= s.events.len() => Some(b),
        _ => Some(s),
    })
}

impl Segment {
    /// The file name of the executable (`sort` for `/usr/bin/sort`), or the whole exe
    /// field when it has none (`?`).
    pub fn exe_name(&self) -> &str {
        Path::new(&self.exe).file_name().and_then(OsStr::to_str).unwrap_or(&self.exe)
    }

    /// Converts the segment's events into a trace named `name`; see [`convert`].
    pub fn to_trace(&self, name: &str) -> (Trace, RecordStats) {
        convert(&self.events, name)
    }
}

/// Converts events (of one segment) into a trace named `name`, by the rules of the
/// module documentation. The trace always passes [`Trace::validate`].
pub fn convert(events: &[Event], name: &str) -> (Trace, RecordStats) {
    let mut converter = Converter::default();
    for &event in events {
        converter.apply(event);
    }
    converter.finish(name, events.len())
}

/// The state of a conversion: which pointers are live under which ids, and the ops so
/// far.
#[derive(Default)]
struct Converter {
    /// Live pointer -> its id.
    live: HashMap<usize, usize>,
    /// The current requested size of each id (index = id), live or not.
    sizes: Vec<usize>,
    ops: Vec<Op>,
    /// Live requested bytes, and their peak. Wider than `usize` because a hand-made
    /// log can claim blocks whose sizes no address space could hold at once.
    live_bytes: u128,
    peak_bytes: u128,
    stats: RecordStats,
}

impl Converter {
    fn apply(&mut self, event: Event) {
        match event {
            Event::Malloc { ret: 0, .. } | Event::Aligned { ret: 0, .. } | Event::Calloc { ret: 0, .. } => {
                self.stats.failed += 1;
            }
            // The alignment is dropped: the format cannot state it (see the module docs).
            Event::Malloc { size, ret } | Event::Aligned { size, ret, .. } => self.alloc(ret, size),
            // The parser rejects an overflowing calloc that returned a block; should one
            // arrive anyway, it is treated as failed rather than given a made-up size.
            Event::Calloc { count, size, ret } => match count.checked_mul(size) {
                Some(bytes) => self.alloc(ret, bytes),
                None => self.stats.failed += 1,
            },
            // free(NULL) does nothing.
            Event::Free { ptr: 0 } => {}
            Event::Free { ptr } => match self.live.remove(&ptr) {
                Some(id) => self.free_id(id),
                None => self.stats.foreign_frees += 1,
            },
            Event::Realloc { old, size, ret } => self.realloc(old, size, ret),
        }
    }

    fn realloc(&mut self, old: usize, size: usize, ret: usize) {
        if old == 0 {
            // realloc(NULL, size) is malloc(size).
            match ret {
                0 => self.stats.failed += 1,
                _ => self.alloc(ret, size),
            }
            return;
        }
        if ret == 0 && size > 0 {
            // It failed, and the old block is untouched.
            self.stats.failed += 1;
            return;
        }
        let Some(id) = self.live.remove(&old) else {
            // A block the trace never saw allocated: from here on it is a new block.
            self.stats.foreign_reallocs += 1;
            if ret != 0 {
                self.alloc(ret, size);
            }
            return;
        };
        if ret == 0 {
            // size == 0 and NULL came back: glibc's realloc freed the block.
            self.free_id(id);
        } else if size == 0 {
            // A minimum block came back for size 0. In a trace `r id 0` frees, so this
            // is a free and a new zero-size block.
            self.free_id(id);
            self.alloc(ret, 0);
        } else {
            self.evict(ret);
            self.ops.push(Op::Realloc { id, size });
            self.account(self.sizes[id], size);
            self.sizes[id] = size;
            self.live.insert(ret, id);
        }
    }

    /// A new id for a block of `size` bytes at `ret`.
    fn alloc(&mut self, ret: usize, size: usize) {
        self.evict(ret);
        let id = self.sizes.len();
        self.sizes.push(size);
        self.live.insert(ret, id);
        self.ops.push(Op::Alloc { id, size });
        self.account(0, size);
    }

    /// Frees the id still live at `ret`, if any: the allocator handed out a pointer the
    /// log says is live, so a free of it was lost and the old block must be gone.
    fn evict(&mut self, ret: usize) {
        if let Some(stale) = self.live.remove(&ret) {
            self.stats.reused_live += 1;
            self.free_id(stale);
        }
    }

    /// `f id` for an id already removed from the live map.
    fn free_id(&mut self, id: usize) {
        self.ops.push(Op::Free { id });
        self.account(self.sizes[id], 0);
    }

    /// A live block's requested size changed from `old` to `new` bytes.
    fn account(&mut self, old: usize, new: usize) {
        self.live_bytes = self.live_bytes - old as u128 + new as u128;
        self.peak_bytes = self.peak_bytes.max(self.live_bytes);
    }

    fn finish(mut self, name: &str, events: usize) -> (Trace, RecordStats) {
        // Free what is still live, in id order, so the trace ends with an empty heap
        // (and does not depend on the hash map's order).
        let mut leftovers: Vec<usize> = self.live.drain().map(|(_, id)| id).collect();
        leftovers.sort_unstable();
        self.stats.trailing_frees = leftovers.len();
        for id in leftovers {
            self.free_id(id);
        }
        let peak = usize::try_from(self.peak_bytes).unwrap_or(usize::MAX);
        let trace = Trace {
            name: name.to_owned(),
            header: Header::Classic { sugg_heapsize: peak, weight: 1 },
            num_ids: self.sizes.len(),
            ops: self.ops,
        };
        let stats = RecordStats {
            events,
            ops: trace.ops.len(),
            ids: trace.num_ids,
            peak_live_bytes: peak,
            ..self.stats
        };
        (trace, stats)
    }
}

/// The `LD_PRELOAD` value that loads `recorder` ahead of whatever `existing` preloads:
/// the recorder first, so its `malloc` is the one the program binds to.
pub fn ld_preload_value(recorder: &Path, existing: Option<&OsStr>) -> OsString {
    let mut value = recorder.as_os_str().to_owned();
    if let Some(existing) = existing.filter(|e| !e.is_empty()) {
        value.push(":");
        value.push(existing);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Segment>, RecordError> {
        parse_log("1.log", text.as_bytes())
    }

    fn error_at(text: &str) -> (usize, RecordErrorKind) {
        match parse(text) {
            Err(RecordError::Malformed { file, line, kind }) => {
                assert_eq!(file, "1.log");
                (line, kind)
            }
            other => panic!("expected a malformed-log error, got {other:?}"),
        }
    }

    const HEAD: &str = "# mmlab-record 1 pid 7 exe /bin/x\n";

    #[test]
    fn parses_every_record_kind() {
        let segments =
            parse(&format!("{HEAD}m 24 1000\nc 4 8 2000\nr 1000 100 3000\na 64 256 4000\nf 2000\n")).unwrap();
        assert_eq!(segments.len(), 1);
        let s = &segments[0];
        assert_eq!(
            (s.file.as_str(), s.line, s.pid, s.exe.as_str(), s.truncated),
            ("1.log", 1, 7, "/bin/x", false)
        );
        assert_eq!(
            s.events,
            vec![
                Event::Malloc { size: 24, ret: 0x1000 },
                Event::Calloc { count: 4, size: 8, ret: 0x2000 },
                Event::Realloc { old: 0x1000, size: 100, ret: 0x3000 },
                Event::Aligned { align: 64, size: 256, ret: 0x4000 },
                Event::Free { ptr: 0x2000 },
            ]
        );
    }

    #[test]
    fn the_exe_path_is_the_rest_of_the_line() {
        let s = parse("# mmlab-record 1 pid 9 exe /opt/my tools/run me\n").unwrap();
        assert_eq!(s[0].exe, "/opt/my tools/run me");
        assert_eq!(s[0].exe_name(), "run me");
        let s = parse("# mmlab-record 1 pid 9 exe ?\n").unwrap();
        assert_eq!((s[0].exe.as_str(), s[0].exe_name()), ("?", "?"));
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let at = |body: &str| error_at(&format!("{HEAD}{body}"));
        assert_eq!(error_at("m 1 10\n"), (1, RecordErrorKind::BeforeHeader));
        assert_eq!(at("x 1 2\n"), (2, RecordErrorKind::UnknownRecord("x".into())));
        assert_eq!(at("\n"), (2, RecordErrorKind::EmptyLine));
        assert_eq!(at(" m 1 10\n"), (2, RecordErrorKind::UnknownRecord("".into())));
        assert_eq!(at("m 1\n"), (2, RecordErrorKind::FieldCount { record: 'm', expected: 2, found: 1 }));
        assert_eq!(at("f 1 2\n"), (2, RecordErrorKind::FieldCount { record: 'f', expected: 1, found: 2 }));
        assert_eq!(at("m 1  10\n"), (2, RecordErrorKind::FieldCount { record: 'm', expected: 2, found: 3 }));
        assert_eq!(at("m -1 10\n"), (2, RecordErrorKind::BadDecimal { field: "size", found: "-1".into() }));
        assert_eq!(at("m +1 10\n"), (2, RecordErrorKind::BadDecimal { field: "size", found: "+1".into() }));
        assert_eq!(
            at("c 99999999999999999999999 1 0\n"),
            (2, RecordErrorKind::BadDecimal { field: "count", found: "99999999999999999999999".into() })
        );
        assert_eq!(at("m 1 0x10\n"), (2, RecordErrorKind::BadPointer { field: "ret", found: "0x10".into() }));
        assert_eq!(at("f ABC\n"), (2, RecordErrorKind::BadPointer { field: "ptr", found: "ABC".into() }));
        assert_eq!(
            at("r 11112222333344445 1 10\n"),
            (2, RecordErrorKind::BadPointer { field: "old", found: "11112222333344445".into() })
        );
        assert_eq!(at("m 1 10\r\n"), (2, RecordErrorKind::BadPointer { field: "ret", found: "10\r".into() }));
        let huge = usize::MAX / 2;
        assert_eq!(
            at(&format!("c 3 {huge} 10\n")),
            (2, RecordErrorKind::CallocOverflow { count: 3, size: huge })
        );
        assert_eq!(
            error_at("# mmlab-record 2 pid 1 exe x\n"),
            (1, RecordErrorKind::UnsupportedVersion("2".into()))
        );
        for header in
            ["# mmlab-record 1 pid 1\n", "# mmlab-record 1 pid 1 exe\n", "#mmlab-record 1 pid 1 exe x\n"]
        {
            assert!(matches!(error_at(header), (1, RecordErrorKind::BadHeader(_))), "{header:?}");
        }
        assert_eq!(
            error_at("# mmlab-record 1 pid x exe y\n"),
            (1, RecordErrorKind::BadDecimal { field: "pid", found: "x".into() })
        );
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(b"m 1 \xff\n");
        let err = parse_log("bin.log", &bytes).unwrap_err();
        assert_eq!((err.line(), err.kind()), (Some(2), Some(&RecordErrorKind::NotText)));
        assert_eq!(err.to_string(), "bin.log:2: the line is not text (invalid UTF-8)");
    }

    #[test]
    fn long_fields_are_quoted_cut_and_say_so() {
        let long = "9".repeat(100_000);
        let message =
            parse_log("long.log", format!("{HEAD}m {long} 10\n").as_bytes()).unwrap_err().to_string();
        assert!(message.starts_with("long.log:2: size: expected a decimal number"), "{message}");
        assert!(message.ends_with(&format!("found \"{}…\" (100000 bytes)", &long[..40])), "{message}");
        let header = format!("# {long}\n");
        let message = parse_log("long.log", header.as_bytes()).unwrap_err().to_string();
        assert!(message.ends_with("…\" (100002 bytes)"), "{message}");
    }

    #[test]
    fn a_non_utf8_exe_path_is_decoded_lossily() {
        let s = parse_log("1.log", b"# mmlab-record 1 pid 3 exe /bin/\xffx\n").unwrap();
        assert_eq!(s[0].exe, "/bin/\u{fffd}x");
    }

    #[test]
    fn an_incomplete_last_line_is_ignored() {
        // "f 10" looks complete but may be the start of "f 1000": it is dropped.
        let s = parse(&format!("{HEAD}m 1 10\nf 10")).unwrap();
        assert_eq!(s[0].events, vec![Event::Malloc { size: 1, ret: 0x10 }]);
        assert!(s[0].truncated);
        // Even a garbled tail is no error, and neither is a cut-off header.
        assert!(parse(&format!("{HEAD}m 1 10\nm 1")).unwrap()[0].truncated);
        assert!(parse(&format!("{HEAD}m 1 10\n# mmlab-rec")).unwrap()[0].truncated);
        assert_eq!(parse("# mmlab-rec").unwrap(), vec![]);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn headers_split_segments() {
        let text = format!("{HEAD}m 1 10\n# mmlab-record 1 pid 7 exe /bin/y\nm 2 10\nf 10\n");
        let s = parse(&text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].line, s[0].exe.as_str(), s[0].events.len()), (1, "/bin/x", 1));
        assert_eq!((s[1].line, s[1].exe.as_str(), s[1].events.len()), (3, "/bin/y", 2));
        // A header with no events after it is an empty segment.
        assert_eq!(parse(HEAD).unwrap()[0].events, vec![]);
    }

    fn seg(exe: &str, events: usize) -> Segment {
        Segment {
            file: "f.log".into(),
            line: 1,
            pid: 1,
            exe: exe.into(),
            events: vec![Event::Free { ptr: 1 }; events],
            truncated: false,
        }
    }

    #[test]
    fn choose_takes_the_largest_or_the_largest_of_an_exe() {
        let segments = [seg("/bin/sh", 5), seg("/usr/bin/sort", 9), seg("/bin/sh", 7), seg("/x/sort", 9)];
        assert_eq!(choose(&segments, None).map(|s| s.exe.as_str()), Some("/usr/bin/sort"));
        assert_eq!(choose(&segments, Some("sh")).map(|s| s.events.len()), Some(7));
        assert!(choose(&segments, Some("bash")).is_none());
        assert!(choose(&[], None).is_none());
    }

    #[test]
    fn ld_preload_goes_first() {
        let r = Path::new("/r/lib.so");
        assert_eq!(ld_preload_value(r, None), "/r/lib.so");
        assert_eq!(ld_preload_value(r, Some(OsStr::new(""))), "/r/lib.so");
        assert_eq!(ld_preload_value(r, Some(OsStr::new("/a.so /b.so"))), "/r/lib.so:/a.so /b.so");
    }
}
