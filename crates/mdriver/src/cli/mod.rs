//! The subcommands of `mdriver`, one module each: its arguments (a clap `Args`
//! struct) and the function that runs it, returning the exit status or an error
//! message (exit status [`EXIT_USAGE`]).
//!
//! * [`race`]: the race itself (no subcommand), and the race options `plot` shares.
//! * [`list`]: the strategies and the workloads.
//! * [`generate`]: `mdriver gen`: a seeded trace of a named workload.
//! * [`record`]: a real program's allocations as a trace.
//! * [`plot`]: the race as SVG charts.
//! * [`heapmap`]: a strategy's heap as an SVG map.
//! * [`timeline`]: strategies' heaps after every op, as one HTML page with a scrubber.
//!
//! Here: the exit statuses, and the parsers and conversions several share.

use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use mdriver::c;
use mm_core::Align;

pub mod generate;
pub mod heapmap;
pub mod list;
pub mod plot;
pub mod race;
pub mod record;
pub mod timeline;

/// Exit status when a strategy was incorrect on some trace.
pub const EXIT_INCORRECT: u8 = 1;
/// Exit status for bad usage or unreadable/malformed input.
pub const EXIT_USAGE: u8 = 2;

/// `--align`: the payload alignment, a power of two in 8..=4096.
pub fn align(n: usize) -> Result<Align, String> {
    Align::new(n).map_err(|e| format!("--align: {e}"))
}

/// `--timeout`, parsed by [`parse_timeout`], as a duration.
pub fn timeout(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

/// `--timeout`: a positive number of seconds.
pub fn parse_timeout(text: &str) -> Result<f64, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 1e9 {
        Ok(secs)
    } else {
        Err(format!("{text} is not a positive number of seconds"))
    }
}

/// The names `-s` takes: those given (registered strategies), or `c:PATH`.
#[derive(Clone)]
pub struct StrategyName(pub Vec<&'static str>);

impl StrategyName {
    fn parser(&self) -> PossibleValuesParser {
        PossibleValuesParser::new(self.possible())
    }

    fn possible(&self) -> Vec<PossibleValue> {
        let c_path = PossibleValue::new("c:PATH").help("a C allocator: a .c file or a .so");
        self.0.iter().map(PossibleValue::new).chain(std::iter::once(c_path)).collect()
    }
}

impl TypedValueParser for StrategyName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_str() {
            Some(text) if c::spec::path_of(text).is_some() => Ok(text.to_owned()),
            // Only `heapmap` leaves libc out; clap's "similar value" tip would point at
            // an unrelated strategy, so say why.
            Some("libc") if !self.0.contains(&"libc") => Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                "libc cannot be mapped: the driver cannot see inside the system malloc's heap; \
                 map one of ours, a peer, or a C allocator (c:PATH)\n",
            )
            .with_cmd(cmd)),
            _ => self.parser().parse_ref(cmd, arg, value),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.possible().into_iter()))
    }
}
