//! # mm-trace: traces in, traces out
//!
//! * [`trace`]: the CS:APP `.rep` trace format, fully validated: what the driver
//!   replays and what the recorder writes.
//! * [`workload`]: a seeded generator of named workloads, which made the bundled traces.
//!
//! Nothing here knows an allocator: a trace is a list of requests, and the driver
//! (`mdriver`) is what replays one against a strategy of `mm-core`'s contract.

pub mod trace;
pub mod workload;

pub use trace::{Header, IgnoredTail, Op, Trace, TraceError, TraceErrorKind};
pub use workload::{Workload, generate};
