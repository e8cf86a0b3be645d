//! Where a header-free buddy heap's bytes go, per trace, at the moment of peak live
//! payload, and at the heap's high-water mark.
//!
//! ```sh
//! cargo run --release -p mm-buddy-bitmap --example waste               # the bundled traces
//! cargo run --release -p mm-buddy-bitmap --example waste -- a.rep b.rep  # these traces
//! ```
//!
//! Replays each trace against [`BuddyBitmap`] (alignment 8, the default 20 MiB heap),
//! counts at the first op where the live requested payload peaks, and prints a markdown
//! table, each part as a share of the heap at that moment:
//!
//! * **payload**: the bytes the live blocks asked for (utilization's numerator);
//! * **rounding**: live block bytes minus live payload (the power-of-two rounding);
//! * **bitmaps** and **control**: the metadata (the bitmap block; the control area);
//! * **free**: free blocks on the lists, and **tail**: the untouched tail;
//! * **util**: payload over the heap's high-water mark at the end of the trace (what
//!   the race reports), and **at peak**: payload over the heap at that moment.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use mm_buddy_bitmap::{BitmapStats, BuddyBitmap};
use mm_core::{Align, Allocator, MemLib};
use mm_trace::{Op, Trace};

/// What one trace's replay counted.
struct Breakdown {
    name: String,
    payload: usize,
    stats: BitmapStats,
    high_water: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces");
        for dir in [root.clone(), root.join("recorded")] {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "rep") {
                    files.push(path);
                }
            }
        }
        files.sort();
    }
    let mut rows = Vec::new();
    for file in &files {
        rows.push(replay(&Trace::read(file)?)?);
    }
    print_table(&rows);
    Ok(())
}

fn replay(trace: &Trace) -> Result<Breakdown, Box<dyn Error>> {
    let mut a = BuddyBitmap::new(MemLib::with_default_size()?, Align::MIN);
    a.init()?;
    let peak_at = trace.peak_op();
    let mut live: Vec<Option<(NonNull<u8>, usize)>> = vec![None; trace.id_bound()];
    let mut snapshot = None;
    let failed = |op: &Op| format!("{}: {op} failed: the heap is exhausted", trace.name);
    for (i, op) in trace.ops.iter().enumerate() {
        match *op {
            Op::Alloc { id, size } => {
                let p = a.malloc(size).ok_or_else(|| failed(op))?;
                live[id] = Some((p, size));
            }
            Op::Free { id } => {
                let (p, _) = live[id].take().expect("validated trace: the id is live");
                // SAFETY: `p` came from this allocator and is freed once.
                unsafe { a.free(p) };
            }
            Op::FreeNull => {}
            Op::Realloc { id, size } => {
                let old = live[id].take().map(|(p, _)| p);
                // SAFETY: `old` is live or `None`.
                match unsafe { a.realloc(old, size) } {
                    Some(q) if size == 0 => live.push(Some((q, 0))),
                    Some(q) => live[id] = Some((q, size)),
                    None if size == 0 => {}
                    None => return Err(failed(op).into()),
                }
            }
            Op::ReallocNull { size } => match a.malloc(size) {
                Some(q) => live.push(Some((q, size))),
                None if size == 0 => {}
                None => return Err(failed(op).into()),
            },
        }
        if i == peak_at {
            let payload = live.iter().flatten().map(|&(_, size)| size).sum();
            snapshot = Some((payload, a.stats()));
        }
    }
    let (payload, stats) = snapshot.expect("the trace has ops");
    Ok(Breakdown { name: trace.name.clone(), payload, stats, high_water: a.heap().heap_size() })
}

fn print_table(rows: &[Breakdown]) {
    println!(
        "| trace | payload | rounding | bitmaps | control | free | tail | heap at peak | util | at peak |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let pct = |part: usize, whole: usize| format!("{:.1}%", 100.0 * part as f64 / whole as f64);
    let mut totals = [0usize; 7];
    let (mut util, mut at_peak) = (0.0, 0.0);
    for r in rows {
        let s = &r.stats;
        let heap = s.heap_bytes;
        let parts = [
            r.payload,
            s.allocated_bytes - r.payload,
            s.bitmap_bytes,
            s.control_bytes,
            s.free_bytes,
            s.untouched_bytes,
        ];
        let cells: Vec<String> = parts.iter().map(|&p| pct(p, heap)).collect();
        let (u, p) = (r.payload as f64 / r.high_water as f64, r.payload as f64 / heap as f64);
        println!("| {} | {} | {heap} | {u:.3} | {p:.3} |", r.name, cells.join(" | "));
        for (t, v) in totals.iter_mut().zip(parts.into_iter().chain([heap])) {
            *t += v;
        }
        (util, at_peak) = (util + u, at_peak + p);
    }
    let heap = totals[6];
    let cells: Vec<String> = totals[..6].iter().map(|&p| pct(p, heap)).collect();
    let n = rows.len() as f64;
    println!("| **all traces** | {} | {heap} | {:.3} | {:.3} |", cells.join(" | "), util / n, at_peak / n);
}
