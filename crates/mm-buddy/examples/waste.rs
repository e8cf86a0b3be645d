//! Where a buddy heap's bytes go, per trace, at the moment of peak live payload.
//!
//! ```sh
//! cargo run --release -p mm-buddy --example waste               # the bundled traces
//! cargo run --release -p mm-buddy --example waste -- a.rep b.rep  # these traces
//! ```
//!
//! Replays each trace directly against [`Buddy`] (alignment 8, the default 20 MiB
//! heap), stops to count at the first op where the live requested payload peaks, and
//! prints a markdown table:
//!
//! * **live payload**: the bytes the live blocks asked for (utilization's numerator);
//! * **rounding waste**: live block bytes minus live payload (the power-of-two rounding,
//!   with the 2-byte headers), and **of which header**: the part the header alone
//!   causes (blocks that would be half as big if the order were kept on the side, as
//!   for requests of exactly `2^k` bytes);
//! * **free blocks**: free blocks inside the arena (on the free lists);
//! * **other**: the control area and the untouched tail;
//! * **heap at peak**, and the heap's **high-water** mark at the end of the trace, which
//!   utilization (`live payload / high-water`) is measured against.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use mm_buddy::{Buddy, BuddyConfig, BuddyStats, HEADER_BYTES};
use mm_core::{Allocator, MemLib};
use mm_trace::{Op, Trace};

/// What one trace's replay counted.
struct Breakdown {
    name: String,
    payload: usize,
    block_bytes: usize,
    header_waste: usize,
    stats: BuddyStats,
    high_water: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces");
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rep") {
                files.push(path);
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
    let mut buddy = Buddy::new(MemLib::with_default_size()?, BuddyConfig::default());
    buddy.init()?;
    let min_block = buddy.block_size_for(0).expect("a minimum block fits");
    // The block a request gets, and the one it would get with the order kept aside.
    let block = |b: &Buddy, size: usize| b.block_size_for(size).expect("the trace fits the heap");
    let headerless = |size: usize| size.next_power_of_two().max(min_block);
    let peak_at = trace.peak_op();
    // By id, then the blocks no id names (`r -1 n`, and `r id 0` of a dead id), which
    // stay live to the end of the trace.
    let mut live: Vec<Option<(NonNull<u8>, usize)>> = vec![None; trace.id_bound()];
    let mut snapshot = None;
    let failed = |op: &Op| format!("{}: {op} failed: the heap is exhausted", trace.name);
    for (i, op) in trace.ops.iter().enumerate() {
        match *op {
            Op::Alloc { id, size } => {
                let p = buddy.malloc(size).ok_or_else(|| failed(op))?;
                live[id] = Some((p, size));
            }
            Op::Free { id } => {
                let (p, _) = live[id].take().expect("validated trace: the id is live");
                // SAFETY: `p` came from this allocator and is freed once.
                unsafe { buddy.free(p) };
            }
            // free(NULL) does nothing; `Allocator::free` takes only blocks.
            Op::FreeNull => {}
            Op::Realloc { id, size } => {
                // A dead id's `r` is realloc(NULL, size).
                let old = live[id].take().map(|(p, _)| p);
                // SAFETY: `old` is live or `None`; on `None` with `size > 0` it is still live.
                match unsafe { buddy.realloc(old, size) } {
                    Some(q) if size == 0 => live.push(Some((q, 0))), // realloc(NULL, 0)
                    Some(q) => live[id] = Some((q, size)),
                    None if size == 0 => {}
                    None => return Err(failed(op).into()),
                }
            }
            // realloc(NULL, size) is malloc(size).
            Op::ReallocNull { size } => match buddy.malloc(size) {
                Some(q) => live.push(Some((q, size))),
                None if size == 0 => {}
                None => return Err(failed(op).into()),
            },
        }
        if i == peak_at {
            let sizes = live.iter().flatten().map(|&(_, size)| size);
            let payload = sizes.clone().sum();
            // SAFETY: every pointer in `live` is a live block of `buddy`.
            let held = |p| unsafe { buddy.usable_size(p) } + HEADER_BYTES;
            let block_bytes = live.iter().flatten().map(|&(p, _)| held(p)).sum();
            let header_waste = sizes.map(|s| block(&buddy, s) - headerless(s)).sum();
            snapshot = Some((payload, block_bytes, header_waste, buddy.stats()));
        }
    }
    let (payload, block_bytes, header_waste, stats) = snapshot.expect("the trace has ops");
    assert_eq!(
        block_bytes, stats.allocated_bytes,
        "{}: the live blocks are the allocated blocks",
        trace.name
    );
    Ok(Breakdown {
        name: trace.name.clone(),
        payload,
        block_bytes,
        header_waste,
        stats,
        high_water: buddy.heap().heap_size(),
    })
}

fn print_table(rows: &[Breakdown]) {
    println!(
        "| trace | live payload | rounding waste | of which header | free blocks | other | heap at peak | \
         high-water | util |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let pct = |part: usize, whole: usize| format!("{part} ({:.1}%)", 100.0 * part as f64 / whole as f64);
    let mut totals = [0usize; 6];
    for r in rows {
        let heap = r.stats.heap_bytes;
        let other = r.stats.control_bytes + r.stats.untouched_bytes;
        let waste = r.block_bytes - r.payload;
        println!(
            "| {} | {} | {} | {} | {} | {} | {heap} | {} | {:.3} |",
            r.name,
            pct(r.payload, heap),
            pct(waste, heap),
            pct(r.header_waste, heap),
            pct(r.stats.free_bytes, heap),
            pct(other, heap),
            r.high_water,
            r.payload as f64 / r.high_water as f64,
        );
        for (t, v) in
            totals.iter_mut().zip([r.payload, waste, r.header_waste, r.stats.free_bytes, other, heap])
        {
            *t += v;
        }
    }
    let [payload, waste, header, free, other, heap] = totals;
    println!(
        "| **all traces** | {} | {} | {} | {} | {} | {heap} | | |",
        pct(payload, heap),
        pct(waste, heap),
        pct(header, heap),
        pct(free, heap),
        pct(other, heap)
    );
}
