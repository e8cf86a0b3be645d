//! The race: every selected strategy over every trace, checked then timed, and the
//! per-strategy summary with the performance index.
//!
//! Ours and libc are replayed in this process; a C allocator (`c:PATH`, see
//! [`crate::c`]) is replayed in a child process per trace. Both are [`Entrant`]s.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use mm_core::hardened::Hardened;
use mm_core::{Align, MemLib};
use mm_trace::Trace;
use serde::{Deserialize, Serialize};

use crate::c::{self, CAllocator};
use crate::registry::{self, LIBC};
use crate::replay::{self, ReplayError};
use crate::subject::{Libc, Ours, Subject};

/// How to run the race.
#[derive(Debug, Clone)]
pub struct RaceConfig {
    /// Strategy names, in report order (validated against the registry).
    pub strategies: Vec<String>,
    /// Run the strategy's heap checker after every op of the checked replay.
    pub check_heap: bool,
    /// The simulated heap's maximum size.
    pub max_heap: usize,
    /// The payload alignment our strategies serve (libc always serves its own).
    pub align: Align,
    /// Timed runs per (strategy, trace); the median counts. Zero skips timing (the
    /// checks alone, for tests).
    pub reps: usize,
    /// The shortest a timed run may be: short traces are replayed repeatedly within one.
    pub min_run: Duration,
    /// Wrap every strategy in [`Hardened`] (double frees, invalid frees and overwritten
    /// headers caught at `free`), to measure what that costs. C allocators are not
    /// wrapped.
    pub hardened: bool,
    /// The longest one run of a C allocator (one trace, checked then timed) may take
    /// before it is stopped as an endless loop.
    pub timeout: Duration,
}

impl Default for RaceConfig {
    fn default() -> Self {
        RaceConfig {
            strategies: registry::default_names().into_iter().map(str::to_owned).collect(),
            check_heap: false,
            max_heap: mm_core::DEFAULT_MAX_HEAP,
            align: Align::MIN,
            reps: 5,
            min_run: Duration::from_millis(10),
            hardened: false,
            timeout: c::DEFAULT_TIMEOUT,
        }
    }
}

/// One strategy on one trace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Strategy name.
    pub strategy: String,
    /// Trace name.
    pub trace: String,
    /// Operations in the trace.
    pub ops: usize,
    /// Whether every check passed.
    pub correct: bool,
    /// What went wrong, naming strategy, trace and op.
    pub error: Option<String>,
    /// Peak live payload / heap high-water mark (null for libc and incorrect runs).
    pub util: Option<f64>,
    /// The utilization no allocator of this alignment could beat on this trace: peak
    /// live payload / peak of the live requests rounded up to the alignment.
    pub util_bound: Option<f64>,
    /// Median seconds per replay.
    pub secs: Option<f64>,
    /// Thousands of ops per second.
    pub kops: Option<f64>,
    /// Peak of the live requested payload bytes.
    pub peak_live_bytes: Option<usize>,
    /// Heap high-water mark in bytes (null for libc).
    pub heap_bytes: Option<usize>,
}

/// One strategy over all traces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Strategy name.
    pub strategy: String,
    /// The strategy's one-line description.
    pub description: String,
    /// Correct on every trace.
    pub correct: bool,
    /// Traces it was correct on.
    pub traces_correct: usize,
    /// Traces run.
    pub traces: usize,
    /// Mean utilization over the traces (null for libc, or when no trace was correct).
    pub avg_util: Option<f64>,
    /// Mean of the traces' `util_bound`: the average no allocator of this alignment
    /// could beat (null for libc).
    pub avg_util_bound: Option<f64>,
    /// Total ops / total median seconds, in thousands per second, over correct traces.
    pub kops: Option<f64>,
    /// `kops` over libc's over the same traces, measured in this run.
    pub thru_ratio_vs_libc: Option<f64>,
    /// `100 * (0.6 * avg_util + 0.4 * min(1, thru_ratio_vs_libc))`; null unless correct
    /// on every trace.
    pub perf_index: Option<f64>,
}

/// The settings a report was made with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Payload alignment of our strategies.
    pub align: usize,
    /// Heap maximum in bytes.
    pub max_heap: usize,
    /// Timed runs per (strategy, trace).
    pub reps: usize,
    /// Whether `check_heap` ran after every op.
    pub check_heap: bool,
}

/// Everything a race measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RaceReport {
    /// How the race was run.
    pub settings: Settings,
    /// Trace names in order.
    pub traces: Vec<String>,
    /// One entry per strategy and trace.
    pub runs: Vec<RunRecord>,
    /// One entry per strategy.
    pub summary: Vec<Summary>,
}

impl RaceReport {
    /// True when every selected strategy was correct on every trace.
    pub fn all_correct(&self) -> bool {
        self.summary.iter().all(|s| s.correct)
    }

    /// The record of `strategy` on `trace`.
    pub fn run(&self, strategy: &str, trace: &str) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.strategy == strategy && r.trace == trace)
    }

    /// Reads a report written by `--format json`; `source` names it in errors.
    pub fn from_json(source: &str, json: &str) -> Result<RaceReport, String> {
        serde_json::from_str(json)
            .map_err(|e| format!("{source}: not a race report written by --format json: {e}"))
    }

    /// The same race seen through fewer columns: the runs and summary rows of
    /// `strategies` only, in that order. Every number is the one measured in the full
    /// race (ratios to libc included), so tables of several subsets quote one run.
    pub fn select(&self, strategies: &[String]) -> Result<RaceReport, String> {
        let mut summary = Vec::new();
        for name in strategies {
            let row = self.summary.iter().find(|s| &s.strategy == name).ok_or_else(|| {
                let raced: Vec<&str> = self.summary.iter().map(|s| s.strategy.as_str()).collect();
                format!("strategy {name} is not in this report (it raced: {})", raced.join(", "))
            })?;
            summary.push(row.clone());
        }
        let runs = strategies
            .iter()
            .flat_map(|name| self.runs.iter().filter(move |r| &r.strategy == name).cloned())
            .collect();
        Ok(RaceReport { settings: self.settings.clone(), traces: self.traces.clone(), runs, summary })
    }
}

/// Why the race could not start (bad configuration: usage errors).
#[derive(Debug, thiserror::Error)]
pub enum RaceError {
    /// A strategy name that is not registered.
    #[error("unknown strategy {0:?}; the strategies are: {names}", names = registry::all_names().join(", "))]
    UnknownStrategy(String),
    /// The heap could not be reserved.
    #[error("--max-heap: {0}")]
    Heap(#[from] mm_core::MemError),
    /// A `c:PATH` name that names no C allocator, or one asked for where only an
    /// in-process strategy will do.
    #[error("{0}")]
    C(String),
}

/// Something to replay: a subject and its name and description.
pub struct Contender {
    /// The name in reports.
    pub name: String,
    /// One line on the policy.
    pub description: String,
    /// The subject itself.
    pub subject: Box<dyn Subject>,
}

/// A strategy's simulated heap of `max_heap` bytes, reserved lazily.
///
/// Every contender's heap exists for the whole race, so a heap allocated and
/// zero-filled up front (`MemLib::new`) would cost `max_heap` bytes of RAM per
/// strategy before the first op: four strategies at `--max-heap 8589934592` were
/// killed by the kernel's OOM killer. `MemLib::reserve` maps address space only
/// (`mmap` with `MAP_NORESERVE`, as the preload library's heap is), and the OS
/// commits each page when a strategy first touches it, so a heap costs what the
/// traces use. Its pages read as zero, as `MemLib::new`'s do.
pub fn heap(max_heap: usize) -> Result<MemLib, mm_core::MemError> {
    #[cfg(unix)]
    let heap = MemLib::reserve(max_heap);
    #[cfg(not(unix))]
    let heap = MemLib::new(max_heap);
    heap
}

/// Builds the named strategy (or libc) with the race's settings.
pub fn contender(name: &str, config: &RaceConfig) -> Result<Contender, RaceError> {
    if c::spec::path_of(name).is_some() {
        return Err(RaceError::C(format!(
            "{name}: a C allocator runs in a child process of the race, and cannot be measured in this one"
        )));
    }
    if name == LIBC {
        return Ok(Contender {
            name: LIBC.to_owned(),
            description: "the system malloc (glibc on Linux)".to_owned(),
            subject: Box::new(Libc),
        });
    }
    let info = registry::find(name).ok_or_else(|| RaceError::UnknownStrategy(name.to_owned()))?;
    let mut allocator = (info.build)(heap(config.max_heap)?, config.align);
    if config.hardened {
        allocator = Box::new(Hardened::new(allocator));
    }
    Ok(Contender {
        name: name.to_owned(),
        description: allocator.describe(),
        subject: Box::new(Ours(allocator)),
    })
}

/// The result of one (contender, trace) pair: the checked run's figures and the median
/// time.
pub struct Measured {
    /// What the checked replay measured.
    pub checked: replay::CheckedRun,
    /// The median seconds of a timed replay (none when timing is skipped).
    pub secs: Option<f64>,
}

/// The text of a panic's payload.
pub(crate) fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    format!("the strategy panicked: {}", panic_text(payload))
}

/// Something the race measures: one of ours (or libc) in this process, or a C
/// allocator in child processes.
trait Entrant {
    fn name(&self) -> &str;
    fn description(&self) -> String;
    fn measure(&mut self, trace: &Trace, config: &RaceConfig) -> Result<Measured, ReplayError>;
}

impl Entrant for Contender {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> String {
        self.description.clone()
    }

    fn measure(&mut self, trace: &Trace, config: &RaceConfig) -> Result<Measured, ReplayError> {
        measure_subject(self.subject.as_mut(), trace, config)
    }
}

impl Entrant for CAllocator {
    fn name(&self) -> &str {
        CAllocator::name(self)
    }

    fn description(&self) -> String {
        CAllocator::description(self)
    }

    fn measure(&mut self, trace: &Trace, config: &RaceConfig) -> Result<Measured, ReplayError> {
        CAllocator::measure(self, trace, config)
    }
}

/// Checks, then times, one subject on one trace. A panic inside the strategy is
/// caught and reported as an error of that run.
pub fn measure_subject(
    subject: &mut dyn Subject,
    trace: &Trace,
    config: &RaceConfig,
) -> Result<Measured, ReplayError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let checked = replay::checked_replay(subject, trace, config.check_heap)?;
        let secs = (config.reps > 0)
            .then(|| replay::median_replay_time(subject, trace, config.reps, config.min_run).as_secs_f64());
        Ok(Measured { checked, secs })
    }));
    outcome.unwrap_or_else(|payload| {
        Err(ReplayError { op_index: None, op: None, message: panic_message(payload) })
    })
}

/// Runs the race over the strategies named in `config`. Libc is always measured, as
/// the baseline of every throughput ratio, and reported only when selected.
///
/// A `c:PATH` name is a C allocator (one file; see [`crate::c`]): it is built first,
/// and named uniquely, apart from every registered name.
pub fn run(traces: &[Trace], config: &RaceConfig) -> Result<RaceReport, RaceError> {
    let c_specs: Vec<&str> =
        config.strategies.iter().map(String::as_str).filter(|s| c::spec::path_of(s).is_some()).collect();
    let c_allocators =
        c::build_all(&c_specs, &registry::all_names(), config.timeout).map_err(RaceError::C)?;
    let unchecked: Vec<&str> = c_allocators
        .iter()
        .filter(|a| config.check_heap && a.failure().is_none() && !a.has_checkheap())
        .map(CAllocator::name)
        .collect();
    if !unchecked.is_empty() {
        eprintln!(
            "mdriver: note: --check-heap checks nothing more for {}: no mm_checkheap defined",
            unchecked.join(", ")
        );
    }
    let mut c_allocators = c_allocators.into_iter();
    let mut entrants: Vec<Box<dyn Entrant>> = Vec::new();
    for name in &config.strategies {
        if c::spec::path_of(name).is_some() {
            entrants.push(Box::new(c_allocators.next().expect("one built per c: name")));
        } else {
            entrants.push(Box::new(contender(name, config)?));
        }
    }
    let libc_selected = config.strategies.iter().any(|s| s == LIBC);
    if !libc_selected {
        entrants.push(Box::new(contender(LIBC, config)?));
    }
    let mut entrants: Vec<&mut dyn Entrant> =
        entrants.iter_mut().map(|e| &mut **e as &mut dyn Entrant).collect();
    let mut report = run_entrants(traces, &mut entrants, config);
    if !libc_selected {
        report.runs.retain(|r| r.strategy != LIBC);
        report.summary.retain(|s| s.strategy != LIBC);
    }
    Ok(report)
}

/// Runs the race over prepared contenders (include one named `libc` for the ratios).
/// Each run is checked, then timed; a run that fails a check is marked incorrect with
/// a message naming the strategy, the trace, the op and what went wrong.
pub fn run_contenders(traces: &[Trace], contenders: &mut [Contender], config: &RaceConfig) -> RaceReport {
    let mut entrants: Vec<&mut dyn Entrant> = contenders.iter_mut().map(|c| c as &mut dyn Entrant).collect();
    run_entrants(traces, &mut entrants, config)
}

fn run_entrants(traces: &[Trace], entrants: &mut [&mut dyn Entrant], config: &RaceConfig) -> RaceReport {
    let mut runs = Vec::new();
    for trace in traces {
        for entrant in entrants.iter_mut() {
            runs.push(run_one(&mut **entrant, trace, config));
        }
    }
    let summary = entrants.iter().map(|e| summarize(e.name(), &e.description(), &runs)).collect();
    RaceReport {
        settings: Settings {
            align: config.align.get(),
            max_heap: config.max_heap,
            reps: config.reps,
            check_heap: config.check_heap,
        },
        traces: traces.iter().map(|t| t.name.clone()).collect(),
        runs,
        summary,
    }
}

fn run_one(entrant: &mut dyn Entrant, trace: &Trace, config: &RaceConfig) -> RunRecord {
    let ops = trace.ops.len();
    let mut record = RunRecord {
        strategy: entrant.name().to_owned(),
        trace: trace.name.clone(),
        ops,
        correct: false,
        error: None,
        util: None,
        util_bound: None,
        secs: None,
        kops: None,
        peak_live_bytes: None,
        heap_bytes: None,
    };
    match entrant.measure(trace, config) {
        Ok(m) => {
            record.correct = true;
            record.util = m.checked.utilization();
            record.util_bound = Some(m.checked.utilization_bound());
            record.secs = m.secs;
            record.kops = m.secs.map(|secs| ops as f64 / secs.max(f64::MIN_POSITIVE) / 1000.0);
            record.peak_live_bytes = Some(m.checked.peak_live_bytes);
            record.heap_bytes = m.checked.heap_bytes;
        }
        Err(e) => record.error = Some(format!("{} on trace {}: {e}", entrant.name(), trace.name)),
    }
    record
}

/// The performance index of the classic lab, with libc's throughput as the reference.
pub fn perf_index(avg_util: f64, thru_ratio_vs_libc: f64) -> f64 {
    100.0 * (0.6 * avg_util + 0.4 * thru_ratio_vs_libc.min(1.0))
}

fn summarize(strategy: &str, description: &str, runs: &[RunRecord]) -> Summary {
    let mine: Vec<&RunRecord> = runs.iter().filter(|r| r.strategy == strategy).collect();
    let good: Vec<&RunRecord> = mine.iter().copied().filter(|r| r.correct).collect();
    let correct = good.len() == mine.len();
    let utils: Vec<f64> = good.iter().filter_map(|r| r.util).collect();
    let mean = |values: &[f64]| {
        (!values.is_empty() && strategy != LIBC).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let avg_util = mean(&utils);
    let bounds: Vec<f64> = good.iter().filter_map(|r| r.util_bound).collect();
    let avg_util_bound = mean(&bounds);
    let totals = |name: &str| -> (usize, f64) {
        good.iter()
            .filter_map(|mine| runs.iter().find(|r| r.strategy == name && r.trace == mine.trace))
            .filter_map(|r| r.secs.map(|s| (r.ops, s)))
            .fold((0, 0.0), |(ops, secs), (o, s)| (ops + o, secs + s))
    };
    let (ops, secs) = totals(strategy);
    let (libc_ops, libc_secs) = totals(LIBC);
    let kops = (secs > 0.0).then(|| ops as f64 / secs / 1000.0);
    let libc_kops = (libc_secs > 0.0).then(|| libc_ops as f64 / libc_secs / 1000.0);
    let thru_ratio_vs_libc = kops.zip(libc_kops).map(|(k, l)| k / l);
    let perf_index = match (correct, avg_util, thru_ratio_vs_libc) {
        (true, Some(u), Some(t)) => Some(perf_index(u, t)),
        _ => None,
    };
    Summary {
        strategy: strategy.to_owned(),
        description: description.to_owned(),
        correct,
        traces_correct: good.len(),
        traces: mine.len(),
        avg_util,
        avg_util_bound,
        kops,
        thru_ratio_vs_libc,
        perf_index,
    }
}
