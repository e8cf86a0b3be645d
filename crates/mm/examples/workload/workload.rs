//! A real Rust workload — collections, strings, sorting, threads, over-aligned values —
//! that reports a digest of what it computed. The `workload` example (`main.rs`) runs
//! it with an mmlab strategy as the global allocator; `tests/global_allocator.rs`
//! includes this file too and compares the example's output with the same workload run
//! on the system allocator. Demo code: it is not part of `mm`'s API.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// A cache-line aligned value, to exercise layouts above the strategies' 16 bytes.
#[repr(align(64))]
struct CacheLine([u64; 8]);

/// A page-aligned value.
#[repr(align(4096))]
struct Page([u8; 4096]);

/// A small deterministic generator (no allocation, no dependency).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs the workload and returns its report: one line per part, each a digest.
pub fn run() -> String {
    let mut report = String::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;

    // Strings and maps: a word count over generated text.
    let mut text = String::new();
    for _ in 0..20_000 {
        let len = 1 + next(&mut seed) % 12;
        let word: String = (0..len).map(|i| (b'a' + ((next(&mut seed) + i) % 6) as u8) as char).collect();
        text.push_str(&word);
        text.push(' ');
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    let ordered: BTreeMap<&str, usize> = counts.into_iter().collect();
    let top: Vec<String> =
        ordered.iter().filter(|&(_, &n)| n > 40).map(|(w, n)| format!("{w}={n}")).collect();
    writeln!(report, "words: {} distinct, frequent: {}", ordered.len(), top.join(",")).unwrap();

    // Sorting: a large vector, sorted and deduplicated.
    let mut numbers: Vec<u64> = (0..200_000).map(|_| next(&mut seed) % 1_000_000).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let digest = numbers.iter().fold(0u64, |acc, &n| acc.rotate_left(5) ^ n);
    writeln!(report, "sorted: {} unique, digest {digest:016x}", numbers.len()).unwrap();

    // Growth: vectors and strings grown one push at a time (realloc).
    let mut grown: Vec<Vec<u32>> = (0..64).map(|_| Vec::new()).collect();
    for i in 0..100_000u32 {
        grown[(next(&mut seed) % 64) as usize].push(i);
    }
    let lengths: usize = grown.iter().map(Vec::len).sum();
    writeln!(report, "grown: {lengths} pushes into {} vectors", grown.len()).unwrap();

    // Threads: each builds and sorts its own data, and they hand blocks across.
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut s = t + 1;
                let mut v: Vec<String> =
                    (0..20_000).map(|_| format!("{:x}", next(&mut s) % 100_000)).collect();
                v.sort();
                v
            })
        })
        .collect();
    let joined: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().expect("worker thread")).collect();
    let firsts: Vec<&str> = joined.iter().map(|v| v[0].as_str()).collect();
    writeln!(report, "threads: {} results, first keys {}", joined.len(), firsts.join(",")).unwrap();

    // Over-aligned layouts.
    let lines: Vec<Box<CacheLine>> = (0..1000).map(|i| Box::new(CacheLine([i; 8]))).collect();
    let pages: Vec<Box<Page>> = (0..16u8).map(|i| Box::new(Page([i; 4096]))).collect();
    let aligned = lines.iter().all(|b| (&**b as *const CacheLine as usize).is_multiple_of(64))
        && pages.iter().all(|b| (&**b as *const Page as usize).is_multiple_of(4096));
    let sum: u64 =
        lines.iter().map(|b| b.0[7]).sum::<u64>() + pages.iter().map(|p| u64::from(p.0[4095])).sum::<u64>();
    writeln!(report, "aligned: {aligned}, sum {sum}").unwrap();
    report
}
