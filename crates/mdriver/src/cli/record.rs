//! `mdriver record`: its options, handed to [`mdriver::record::run`], which does the
//! work.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mdriver::record::run::{self, Recording};

/// `mdriver record`'s options.
#[derive(Args)]
pub struct RecordArgs {
    /// Write the trace here instead of stdout (where it would follow the program's own output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The recorder library [default: $MMLAB_RECORDER, else
    /// <workspace>/target/recorder/release/libmm_preload.so, built on first use].
    #[arg(long, value_name = "PATH")]
    pub recorder: Option<PathBuf>,
    /// Convert the largest process image of the executable with this file name.
    #[arg(long, value_name = "NAME")]
    pub exe: Option<String>,
    /// Copy the raw event logs into DIR (they are deleted otherwise).
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
    /// Convert the recording even when the command fails (exits non-zero or is killed).
    /// Without it a failed run is an error and no trace is written: its allocations are
    /// those of the failure (a compile that stopped at a missing header), not the program's.
    #[arg(long)]
    pub allow_failure: bool,
    /// The program to record and its arguments, after `--`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Records the command and writes its trace.
pub fn run(args: &RecordArgs) -> Result<ExitCode, String> {
    let recording = Recording {
        output: args.output.clone(),
        recorder: args.recorder.clone(),
        exe: args.exe.clone(),
        keep_logs: args.keep_logs.clone(),
        allow_failure: args.allow_failure,
        command: args.command.clone(),
    };
    run::record(&recording).map(|()| ExitCode::SUCCESS)
}
