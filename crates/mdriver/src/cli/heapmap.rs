//! `mdriver heapmap`: a trace (a file or a bundled one) replayed against one strategy
//! (ours or a C allocator), its heap snapshotted, and the map written as SVG.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mdriver::heapmap::{self, HeapmapError};
use mdriver::{c, race, registry};
use mm_core::DEFAULT_MAX_HEAP;

use super::{EXIT_INCORRECT, StrategyName, parse_timeout};

/// `mdriver heapmap`'s options.
#[derive(Args)]
pub struct HeapmapArgs {
    /// The strategy to map (any strategy but libc, whose heap the driver cannot see), or
    /// c:PATH, a C allocator (a .c file or a .so).
    #[arg(short, long, value_name = "NAME",
          value_parser = StrategyName(registry::STRATEGIES.iter().map(|s| s.name).collect()))]
    pub strategy: String,
    /// The trace: a .rep file, or the name of a bundled trace (e.g. churn-3).
    #[arg(short, long, value_name = "FILE")]
    pub trace: String,
    /// Where to take snapshots: peak (of the live payload), end, or op:N (after N operations);
    /// comma-separated or repeated [default: peak, end, and a quarter, half and three quarters through].
    #[arg(long, value_name = "POINT", value_delimiter = ',', value_parser = clap::value_parser!(heapmap::At))]
    pub at: Vec<heapmap::At>,
    /// Write the SVG here [default: heapmap-<STRATEGY>-<TRACE>.svg].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The simulated heap's maximum size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEAP)]
    pub max_heap: usize,
    /// Payload alignment (a power of two, 8..=4096).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub align: usize,
    /// Heap bytes per line of the map (rounded up to a multiple of 1024)
    /// [default: a power of two that fits the heap on 8 to 16 lines].
    #[arg(long, value_name = "BYTES")]
    pub line_bytes: Option<usize>,
    /// For a C allocator: the longest its replays may take before it is stopped.
    #[arg(long, value_name = "SECS", default_value_t = c::DEFAULT_TIMEOUT.as_secs_f64(), value_parser = parse_timeout)]
    pub timeout: f64,
}

/// `mdriver heapmap`: replay a trace, snapshot the heap, draw it.
pub fn run(args: &HeapmapArgs) -> Result<ExitCode, String> {
    let align = super::align(args.align)?;
    let trace =
        mdriver::traces::read_or_bundled(Path::new(&args.trace)).map_err(|e| format!("--trace {e}"))?;
    let mapped = match c::spec::path_of(&args.strategy) {
        Some(pattern) => {
            let files = c::spec::expand(pattern)?;
            let [file] = files.as_slice() else {
                return Err(format!(
                    "heapmap maps one allocator, and {} names {}",
                    args.strategy,
                    files.len()
                ));
            };
            let spec = format!("{}{}", c::PREFIX, file.display());
            let timeout = super::timeout(args.timeout);
            let allocator = c::build_all(&[spec.as_str()], &registry::all_names(), timeout)?.remove(0);
            allocator.heapmap(&trace, &args.at, args.max_heap, align, timeout)
        }
        None => {
            let info = registry::find(&args.strategy)
                .ok_or_else(|| format!("unknown strategy {:?}", args.strategy))?;
            let heap = race::heap(args.max_heap).map_err(|e| format!("--max-heap: {e}"))?;
            heapmap::map(&args.strategy, (info.build)(heap, align), &trace, &args.at)
        }
    };
    let map = match mapped {
        Ok(map) => map,
        Err(e @ HeapmapError::Incorrect { .. }) => {
            eprintln!("mdriver: incorrect: {e}");
            return Ok(ExitCode::from(EXIT_INCORRECT));
        }
        Err(e) => return Err(e.to_string()),
    };
    let svg = heapmap::render(&map, args.line_bytes);
    let output = args.output.clone().unwrap_or_else(|| {
        let safe = |s: &str| s.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'), "_");
        PathBuf::from(format!("heapmap-{}-{}.svg", safe(&map.strategy), safe(&map.trace)))
    });
    mdriver::output::write_atomically(&output, |w| w.write_all(svg.as_bytes()))
        .map_err(|e| format!("{}: {e}", output.display()))?;
    for snap in &map.snapshots {
        eprintln!("mdriver heapmap: {}", heapmap::summary_line(&map, snap));
    }
    if map.snapshots.iter().any(|s| !s.described) {
        eprintln!(
            "mdriver heapmap: {} does not describe its heap: only the requested payloads are known",
            map.strategy
        );
    }
    eprintln!("mdriver heapmap: wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}
