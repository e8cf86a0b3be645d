//! `mdriver list`: the strategies and the workloads, described; or, with `--names`,
//! the strategy names alone.

use std::process::ExitCode;

use clap::Args;
use mdriver::race::{self, RaceConfig};
use mdriver::registry;
use mm_trace::workload::Workload;

/// `mdriver list`'s options.
#[derive(Args)]
pub struct ListArgs {
    /// Print only the strategy names, one per line, every registered one (for scripts:
    /// `just docs` races them all with `-s`).
    #[arg(long)]
    pub names: bool,
}

/// Lists what `args` asks for.
pub fn run(args: &ListArgs) -> Result<ExitCode, String> {
    if args.names { names() } else { all() }
}

/// `mdriver list --names`: every registered strategy, one per line.
fn names() -> Result<ExitCode, String> {
    for name in registry::all_names() {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `mdriver list`: the strategies and the workloads, each described, wrapped to the
/// text output's width under the description column (see `mdriver::text`).
fn all() -> Result<ExitCode, String> {
    use mdriver::text::{self, WIDTH};

    // `first` is a name padded to its description's column; the wrapped lines go under it.
    let print = |first: &str, description: &str| {
        for line in text::wrap(first, description, text::columns(first), WIDTH) {
            println!("{line}");
        }
    };
    let heading = format!("Strategies (default race: {}):", registry::default_names().join(", "));
    for line in text::wrap("", &heading, 2, WIDTH) {
        println!("{line}");
    }
    // Described as the race builds them (the default heap): buddy's orders depend on it.
    let config = RaceConfig::default();
    for name in registry::all_names() {
        let contender = race::contender(name, &config).map_err(|e| e.to_string())?;
        print(&format!("  {name:<18} "), &contender.description);
    }
    println!(
        "  {:<18} a C allocator: an mm.c (compiled with $CC, else cc) or a .so (docs/c-allocators.md)",
        "c:PATH"
    );
    println!("\nWorkloads (mdriver gen --workload NAME --seed N --ops N):");
    for w in Workload::ALL {
        print(&format!("  {:<14} ", w.name()), w.description());
    }
    Ok(ExitCode::SUCCESS)
}
