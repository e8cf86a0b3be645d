//! # mdriver: the mmlab race
//!
//! Replays `.rep` traces against every strategy and the system `malloc`, in one
//! process, and reports correctness, utilization, throughput and the performance index
//! side by side.
//!
//! * [`registry`]: the strategies by name; adding one is a single entry.
//! * [`subject`]: our strategies and libc behind one replayable interface.
//! * [`replay`]: the checked replay (alignment, bounds, overlap, payload data,
//!   optional `check_heap` after every op; it also measures utilization) and the timed
//!   replay (no checks).
//! * [`race`]: every strategy over every trace, and the summary.
//! * [`report`]: table, Markdown, CSV and JSON output.
//! * [`traces`]: loading trace files and the bundled suite embedded in the binary.
//! * [`record`]: converting the event logs of the `LD_PRELOAD` recorder (real programs'
//!   `malloc` calls) into `.rep` traces, for `mdriver record`.
//! * [`plot`]: SVG charts of a race (utilization, throughput against libc, cost
//!   growth) with their CSVs, for `mdriver plot`.
//! * [`growth`]: the cost-growth measurement: free + malloc pairs per second as the
//!   live set grows from 1k to 1M blocks.
//! * [`output`]: files written whole or not at all.
//! * [`heapmap`]: an SVG map of what every byte of a strategy's heap holds at points
//!   of a trace, for `mdriver heapmap`.
//! * [`text`]: the text output's width (120 columns) and the wrapping that keeps to it.
//! * [`c`]: C allocators (`mdriver -s c:PATH`): compiled, given memlib, and raced like
//!   ours, each run in a child process so that a crash or an endless loop in C code
//!   costs that run only.

pub mod c;
pub mod growth;
pub mod heapmap;
pub mod output;
pub mod plot;
pub mod race;
pub mod record;
pub mod registry;
pub mod replay;
pub mod report;
pub mod subject;
pub mod text;
pub mod traces;
