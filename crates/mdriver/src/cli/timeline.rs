//! `mdriver timeline`: a trace (a file or a bundled one) replayed against one or more
//! strategies that describe their heap, the heap recorded after every op, and the
//! whole written as one self-contained HTML page with a scrubber.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mdriver::timeline::{self, Timeline, TimelineError};
use mdriver::{race, registry};
use mm_core::DEFAULT_MAX_HEAP;

use super::EXIT_INCORRECT;

/// `mdriver timeline`'s options.
#[derive(Args)]
pub struct TimelineArgs {
    /// The trace: a .rep file, or the name of a bundled trace (e.g. binary-1).
    #[arg(short, long, value_name = "TRACE")]
    pub trace: String,
    /// A strategy to show, side by side with the others in the order given (repeatable):
    /// one that describes its heap (implicit, implicit-nextfit, implicit-bestfit,
    /// explicit, explicit-addr, explicit-textbook, segregated, buddy, buddy-bitmap).
    #[arg(short, long = "strategy", value_name = "NAME", required = true)]
    pub strategies: Vec<String>,
    /// Write the page here [default: timeline-<TRACE>.html].
    #[arg(short, long, value_name = "FILE.html")]
    pub output: Option<PathBuf>,
    /// The simulated heap's maximum size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEAP)]
    pub max_heap: usize,
    /// Payload alignment (a power of two, 8..=4096).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub align: usize,
}

/// Why a `-s` name has no timeline, or `None` when it has one.
fn refusal(name: &str, describing: &[&str]) -> Option<String> {
    if describing.contains(&name) {
        return None;
    }
    let choose = format!("choose among {}", describing.join(", "));
    Some(if name == registry::LIBC {
        format!("libc has no timeline: the driver cannot see inside the system malloc's heap; {choose}")
    } else if mdriver::c::spec::path_of(name).is_some() {
        format!(
            "{name}: a C allocator does not describe its heap to the driver (only what it was asked \
             for is known, not where its free blocks and headers are), so it has no timeline; {choose}"
        )
    } else if registry::find(name).is_some() {
        format!("{name} does not describe its heap (Allocator::heap_spans), so it has no timeline; {choose}")
    } else {
        format!("unknown strategy {name:?}; {choose}")
    })
}

/// `mdriver timeline`: replay, record every step, write the page.
pub fn run(args: &TimelineArgs) -> Result<ExitCode, String> {
    let align = super::align(args.align)?;
    let describing = timeline::describing();
    let mut names: Vec<&str> = Vec::new();
    for name in &args.strategies {
        if let Some(why) = refusal(name, &describing) {
            return Err(format!("-s {why}"));
        }
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let trace =
        mdriver::traces::read_or_bundled(Path::new(&args.trace)).map_err(|e| format!("--trace {e}"))?;
    // One thread per strategy: each replays on a heap of its own (made in its thread:
    // a heap is not `Send`).
    let recorded: Vec<Result<Result<Timeline, TimelineError>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|&name| {
                let trace = &trace;
                scope.spawn(move || {
                    let info = registry::find(name).expect("refusal() let only registered names through");
                    let heap = race::heap(args.max_heap).map_err(|e| format!("--max-heap: {e}"))?;
                    Ok(timeline::record(name, (info.build)(heap, align), trace))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut timelines = Vec::with_capacity(recorded.len());
    for result in recorded {
        match result? {
            Ok(t) => timelines.push(t),
            Err(e @ TimelineError::Incorrect { .. }) => {
                eprintln!("mdriver: incorrect: {e}");
                return Ok(ExitCode::from(EXIT_INCORRECT));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let html = timeline::page(&trace, &timelines);
    let output = args.output.clone().unwrap_or_else(|| {
        let safe = trace.name.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'), "_");
        PathBuf::from(format!("timeline-{safe}.html"))
    });
    mdriver::output::write_atomically(&output, |w| w.write_all(html.as_bytes()))
        .map_err(|e| format!("{}: {e}", output.display()))?;
    eprintln!(
        "mdriver timeline: wrote {} ({}, {} ops, {})",
        output.display(),
        mdriver::format::bytes(html.len() as f64),
        trace.ops.len(),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
