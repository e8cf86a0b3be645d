//! `mdriver gen`: a seeded trace of a named workload, to stdout or a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mm_trace::workload::{self, Workload};

/// The most operations `gen --ops` writes. A trace of 10^8 operations is about 1.1 GB
/// of text and takes the generator about 3.5 GB of memory, and as much again to race;
/// much longer ones would exhaust the memory of the machine making or racing them.
const MAX_GEN_OPS: usize = 100_000_000;

/// `mdriver gen`'s options.
#[derive(Args)]
pub struct GenArgs {
    /// The workload (see `mdriver list`).
    #[arg(long, value_name = "NAME")]
    pub workload: String,
    /// The random seed.
    #[arg(long, value_name = "N")]
    pub seed: u64,
    /// The number of operations, at most 100000000.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(..=MAX_GEN_OPS as u64))]
    pub ops: usize,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Generates the trace and writes it.
pub fn run(args: &GenArgs) -> Result<ExitCode, String> {
    let workload: Workload = args.workload.parse().map_err(|e| format!("--workload: {e}"))?;
    let trace = workload::generate(workload, args.seed, args.ops);
    let written = match &args.output {
        Some(path) => mdriver::output::write_atomically(path, |w| trace.write_to(w))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => trace.write_to(std::io::stdout().lock()).map_err(|e| format!("writing the trace: {e}")),
    };
    written.map(|()| ExitCode::SUCCESS)
}
