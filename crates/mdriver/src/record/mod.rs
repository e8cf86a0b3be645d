//! Recording real programs as traces, for `mdriver record`.
//!
//! * [`run`]: the orchestration: find (or build) the recorder library, run the
//!   program with it preloaded into a scratch directory of logs, pick the process
//!   image to convert, and write the trace.
//! * [`convert`](mod@convert): the event logs parsed and converted into a `.rep` trace; its items
//!   are re-exported here (`mdriver::record::parse_log`, ...).

pub mod convert;
pub mod run;

pub use convert::*;
