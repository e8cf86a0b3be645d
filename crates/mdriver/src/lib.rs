//! # mdriver: the mmlab race
//!
//! Replays `.rep` traces against every strategy and the system `malloc`, in one
//! process, and reports correctness, utilization, throughput and the performance index
//! side by side.
//!
//! The engine is the `mm-race` crate; its modules are re-exported here under their old
//! names, so `mdriver::race`, `mdriver::registry`... keep working:
//!
//! * [`registry`]: the strategies by name; adding one is a single entry.
//! * [`subject`]: our strategies and libc behind one replayable interface.
//! * [`replay`]: the checked replay and the timed replay.
//! * [`race`]: every strategy over every trace, and the summary.
//! * [`growth`]: the cost-growth measurement.
//! * [`traces`]: loading trace files and the bundled suite.
//! * [`c`]: C allocators (`mdriver -s c:PATH`), each run in a child process.
//! * [`format`](mod@format): numbers as the driver prints them, in tables, charts and messages.
//! * [`output`]: files written whole or not at all.
//!
//! This crate adds what a person sees:
//!
//! * [`report`]: table, Markdown, CSV and JSON output of a race.
//! * [`text`]: the text output's width (120 columns) and the wrapping that keeps to it.
//! * [`plot`]: SVG charts of a race (utilization, throughput against libc, cost
//!   growth) with their CSVs, for `mdriver plot`.
//! * [`heapmap`]: the engine's heap snapshots (`mm_race::heapmap`) drawn as an SVG
//!   map of what every byte holds, for `mdriver heapmap`.
//! * [`timeline`]: the engine's heap timelines (`mm_race::timeline`: the heap after
//!   every op) packed into one self-contained HTML page with a scrubber, for
//!   `mdriver timeline`.
//! * [`record`]: `mdriver record`: running a program under the `LD_PRELOAD` recorder
//!   ([`record::run`]) and converting its event logs into a `.rep` trace
//!   ([`record::convert`](mod@record::convert)).
//!
//! The binary's `src/cli/` holds one module per subcommand: its arguments and the
//! function that runs it.

pub use mm_race::{c, format, growth, output, race, registry, replay, subject, traces};

pub mod heapmap;
pub mod plot;
pub mod record;
pub mod report;
pub mod text;
pub mod timeline;
