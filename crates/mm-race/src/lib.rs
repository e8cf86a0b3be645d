//! # mm-race: the mmlab race engine
//!
//! Replays `.rep` traces against every strategy, the system `malloc` and C allocators,
//! checks every run, times it, and sums the race up; measures how a strategy's cost
//! grows with its live set; takes snapshots of a strategy's heap. Everything `mdriver`
//! computes, and nothing it draws or parses from a command line: the CLI, the tables,
//! the charts and the heap-map pictures are `mdriver`'s. The engine compiles no
//! argument parser, chart library or CSV writer, so the benches, which build on it,
//! do not either.
//!
//! * [`registry`]: the strategies by name; adding one is a single entry.
//! * [`subject`]: our strategies and libc behind one replayable interface.
//! * [`replay`]: the checked replay (alignment, bounds, overlap, payload data,
//!   optional `check_heap` after every op; it also measures utilization) and the timed
//!   replay (no checks).
//! * [`race`]: every strategy over every trace, and the summary.
//! * [`growth`]: the cost-growth measurement: free + malloc pairs per second as the
//!   live set grows from 1k to 1M blocks.
//! * [`heapmap`]: what every byte of a strategy's heap holds at points of a trace (the
//!   snapshots `mdriver heapmap` draws).
//! * [`timeline`]: a strategy's heap after every operation of a trace, as what changed
//!   from one op to the next (the data of `mdriver timeline`'s page).
//! * [`traces`]: loading trace files, and the bundled suite embedded in the crate.
//! * [`c`]: C allocators (`mdriver -s c:PATH`): compiled, given memlib, and raced like
//!   ours, each run in a child process so that a crash or an endless loop in C code
//!   costs that run only.
//! * [`format`](mod@format): numbers as the driver prints them (counts, bytes, ratios, shares).
//! * [`output`]: files written whole or not at all.

pub mod c;
pub mod format;
pub mod growth;
pub mod heapmap;
pub mod output;
pub mod race;
pub mod registry;
pub mod replay;
pub mod subject;
pub mod timeline;
pub mod traces;
