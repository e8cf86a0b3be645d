//! `mdriver`: race the mmlab strategies and the system malloc over `.rep` traces,
//! generate traces, record a real program's allocations as a trace, or draw a race
//! and a heap. See `mdriver --help`.
//!
//! This file is the command line's shape (the subcommands and their help) and the
//! dispatch; each subcommand's options and work are a module of [`cli`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

use cli::generate::GenArgs;
use cli::heapmap::HeapmapArgs;
use cli::list::ListArgs;
use cli::plot::PlotArgs;
use cli::race::RaceArgs;
use cli::record::RecordArgs;
use cli::timeline::TimelineArgs;

#[derive(Parser)]
#[command(
    name = "mdriver",
    version,
    about = "Race malloc-lab allocators and the system malloc over .rep traces",
    long_about = "Race malloc-lab allocators and the system malloc over .rep traces.\n\n\
        With no trace arguments the bundled suite (built into the binary) is raced. Every run is \
        checked (alignment, bounds, overlap, payload data), then timed.\n\n\
        Exit status: 0 all correct, 1 a strategy was incorrect, 2 bad usage, malformed input, \
        or a trace no allocator can serve (the system malloc refuses it too).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    race: RaceArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Write a seeded trace of a named workload (to stdout unless -o).
    Gen(GenArgs),
    /// List the strategies and the workloads.
    List(ListArgs),
    /// Run a program under the allocation recorder and write its allocations as a trace.
    #[command(override_usage = "mdriver record [OPTIONS] -- <COMMAND>...")]
    #[command(
        long_about = "Run a program under the allocation recorder and write its allocations as a trace.\n\n\
        The command runs with the recorder library (crates/mm-preload, built with --features record) \
        in LD_PRELOAD; every process it starts logs its malloc, calloc, realloc, aligned allocations \
        and free. The process image with the most events (or, with --exe, the largest of that \
        executable) is converted into a .rep trace, written to stdout unless -o. \
        See docs/recording.md.\n\n\
        A command that fails (exits non-zero or is killed) writes no trace: its allocations would \
        be those of the failure, not of the program; --allow-failure converts them anyway.\n\n\
        Exit status: 0 a trace was written, 2 bad usage, the command could not be started or \
        failed (without --allow-failure), or nothing usable was recorded."
    )]
    Record(RecordArgs),
    /// Draw the race as SVG charts (utilization, throughput vs libc, cost growth), each with its CSV.
    #[command(long_about = "Draw the race as SVG charts, each with the CSV of its numbers beside it: \
        utilization.svg (per trace and strategy), throughput.svg (per trace, relative to libc) and \
        cost-growth.svg (free + malloc pairs per second as the live set grows from 1k to 1M blocks).\n\n\
        Without --input the race is run first, with the race's options, and its report printed \
        as the race prints it. The cost-growth curves are measured for the same strategies and \
        libc; a curve stops once one point takes longer than --growth-budget.\n\n\
        Exit status: 0 charts written, 1 charts written but a strategy was incorrect, 2 bad \
        usage or unreadable input.")]
    Plot(PlotArgs),
    /// Draw a strategy's heap at points of a trace as an SVG map of what every byte holds.
    #[command(
        long_about = "Draw a strategy's heap at points of a trace as an SVG map of what every byte holds: \
        requested payload, padding (rounding and alignment waste), metadata (headers, footers, \
        control data), free blocks, and heap beyond the break at that point. Each snapshot is \
        the whole heap up to the trace's high-water mark, wrapped over lines, with the byte \
        total of every kind. Strategies that do not describe their heap (heap_spans) are mapped \
        from what the driver knows: requested payloads, and the rest as unknown.\n\n\
        Exit status: 0 map written, 1 the strategy is incorrect on the trace, 2 bad usage or \
        unreadable input."
    )]
    Heapmap(HeapmapArgs),
    /// Write a page that scrubs through a trace op by op, the heaps of several strategies side by side.
    #[command(
        long_about = "Write one self-contained HTML page (no network; data inline) that scrubs through \
        a trace op by op: for each strategy, side by side, its heap drawn as the heap map's lines \
        (payload, padding, metadata, free, beyond the break) after the current op, the block the op \
        touched outlined, the op itself, and charts of heap size and utilization over all ops with a \
        cursor. A slider, play/pause, the arrow keys and a jump to the peak move the op; hovering a \
        block shows its id, size and offset. Only strategies that describe their heap have a timeline. \
        See docs/timeline.md.\n\n\
        Exit status: 0 page written, 1 a strategy is incorrect on the trace, 2 bad usage (a strategy \
        that does not describe its heap, an unknown name) or unreadable input."
    )]
    Timeline(TimelineArgs),
}

fn main() -> ExitCode {
    // Die quietly of SIGPIPE when the reader of our output goes away (`mdriver list |
    // head`), as Unix tools do, instead of panicking in `println!` (Rust ignores it).
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Gen(args)) => cli::generate::run(&args),
        Some(Command::List(args)) => cli::list::run(&args),
        Some(Command::Record(args)) => cli::record::run(&args),
        Some(Command::Plot(args)) => cli::plot::run(&args),
        Some(Command::Heapmap(args)) => cli::heapmap::run(&args),
        Some(Command::Timeline(args)) => cli::timeline::run(&args),
        None => cli::race::run(&cli.race),
    };
    result.unwrap_or_else(|message| {
        eprintln!("mdriver: error: {message}");
        ExitCode::from(cli::EXIT_USAGE)
    })
}
