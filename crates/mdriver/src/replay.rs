//! Replaying a trace: once with every correctness check on (which also measures
//! utilization), and then, timed, with no checks at all.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mm_core::{Op, Trace};

use crate::payload;
use mm_core::MemLib;

use crate::subject::Subject;

/// What the checked replay measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedRun {
    /// The peak, over the trace, of the sum of live requested payload bytes.
    pub peak_live_bytes: usize,
    /// The heap's size at the end of the trace (its break's high-water mark), when the
    /// subject has a heap the driver can see.
    pub heap_bytes: Option<usize>,
    /// The peak of the live requests each rounded up to the subject's alignment: the
    /// least heap any allocator of that alignment could have needed.
    pub peak_aligned_bytes: usize,
}

impl CheckedRun {
    /// Peak live payload over the heap high-water mark.
    pub fn utilization(&self) -> Option<f64> {
        self.heap_bytes.map(|heap| if heap == 0 { 0.0 } else { self.peak_live_bytes as f64 / heap as f64 })
    }

    /// The utilization no allocator of the subject's alignment can beat on this trace:
    /// every block takes at least its request rounded up to the alignment, so the heap
    /// is at least the peak of the rounded live requests.
    pub fn utilization_bound(&self) -> f64 {
        if self.peak_aligned_bytes == 0 {
            1.0
        } else {
            self.peak_live_bytes as f64 / self.peak_aligned_bytes as f64
        }
    }
}

/// A correctness failure: the op at which it was seen (if any) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    /// Index of the op (0-based) whose effect failed a check; `None` for `init`.
    pub op_index: Option<usize>,
    /// The op, as it reads in the trace.
    pub op: Option<Op>,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.op_index, self.op) {
            (Some(index), Some(op)) => write!(f, "op {index} ({op}): {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

/// A live block, as the checker models it.
#[derive(Debug, Clone, Copy)]
struct LiveBlock {
    addr: usize,
    size: usize,
}

/// The model of the live set: blocks by id, and their address intervals, to find overlap.
struct LiveSet {
    by_id: Vec<Option<LiveBlock>>,
    /// Interval start -> (end, id); intervals are never empty (a zero-byte block counts as
    /// one byte, because a real block always has at least one).
    by_addr: BTreeMap<usize, (usize, usize)>,
    bytes: usize,
}

/// How the checker names an address: as a heap offset when the subject has a heap.
fn describe_addr(addr: usize, heap: Option<&MemLib>) -> String {
    match heap {
        Some(heap) if addr >= heap.heap_lo() as usize => {
            format!("heap offset {:#x}", heap.offset_of(addr as *const u8))
        }
        _ => format!("address {addr:#x}"),
    }
}

impl LiveSet {
    /// An empty live set for ids `0..id_bound`.
    fn new(id_bound: usize) -> Self {
        LiveSet { by_id: vec![None; id_bound], by_addr: BTreeMap::new(), bytes: 0 }
    }

    fn insert(&mut self, id: usize, block: LiveBlock, heap: Option<&MemLib>) -> Result<(), String> {
        let start = block.addr;
        let end = start + block.size.max(1);
        let before = self.by_addr.range(..=start).next_back();
        let after = self.by_addr.range(start..).next();
        for (&other_start, &(other_end, other_id)) in before.into_iter().chain(after) {
            if other_start < end && start < other_end {
                return Err(format!(
                    "block {id} ({} bytes at {}) overlaps live block {other_id} ({} bytes at {})",
                    block.size,
                    describe_addr(start, heap),
                    other_end - other_start,
                    describe_addr(other_start, heap),
                ));
            }
        }
        self.by_addr.insert(start, (end, id));
        self.by_id[id] = Some(block);
        self.bytes += block.size;
        Ok(())
    }

    fn remove(&mut self, id: usize) -> LiveBlock {
        let block = self.by_id[id].take().expect("the trace was validated: the id is live");
        self.by_addr.remove(&block.addr);
        self.bytes -= block.size;
        block
    }
}

/// Views a live block's payload.
///
/// # Safety
/// `block` was returned by the subject for at least `block.size` bytes, has passed the
/// bounds and overlap checks, and is still live.
unsafe fn payload_mut<'a>(block: LiveBlock) -> &'a mut [u8] {
    // SAFETY: the caller guarantees the block is live, in bounds and exclusively ours.
    unsafe { std::slice::from_raw_parts_mut(block.addr as *mut u8, block.size) }
}

fn verify(id: usize, block: LiveBlock, len: usize, heap: Option<&MemLib>) -> Result<(), String> {
    // SAFETY: every block in the live set passed the checks when it was inserted.
    let bytes = unsafe { payload_mut(block) };
    match payload::first_mismatch(&bytes[..len], id) {
        None => Ok(()),
        Some((offset, expected, found)) => Err(format!(
            "block {id} ({} bytes at {}) lost its data: byte {offset} is {found:#04x}, expected {expected:#04x}",
            block.size,
            describe_addr(block.addr, heap),
        )),
    }
}

/// Checks a pointer the subject just returned for `size` bytes: not null, aligned,
/// inside the heap.
fn check_new_block(
    subject: &dyn Subject,
    ptr: *mut u8,
    size: usize,
    what: &str,
) -> Result<LiveBlock, String> {
    if ptr.is_null() {
        return Err(format!("{what}({size}) returned null (out of memory?)"));
    }
    let addr = ptr as usize;
    let heap = subject.heap();
    let align = subject.alignment();
    if !addr.is_multiple_of(align) {
        return Err(format!("{what}({size}) returned {}, not aligned to {align}", describe_addr(addr, heap)));
    }
    if let Some(h) = heap
        && !h.contains(ptr, size.max(1))
    {
        return Err(format!(
            "{what}({size}) returned {} ({addr:#x}), which does not lie wholly inside the heap \
             [{:p}, {:p}] ({} bytes)",
            describe_addr(addr, heap),
            h.heap_lo(),
            h.heap_hi(),
            h.heap_size(),
        ));
    }
    Ok(LiveBlock { addr, size })
}

/// Replays `trace` against `subject` with every check on; `check_heap` additionally runs
/// the subject's own heap checker after every op.
pub fn checked_replay(
    subject: &mut dyn Subject,
    trace: &Trace,
    check_heap: bool,
) -> Result<CheckedRun, ReplayError> {
    subject.start().map_err(|e| ReplayError {
        op_index: None,
        op: None,
        message: format!("init failed: {e}"),
    })?;
    // Sized by the ids the ops use, not by the header's `num_ids`, which is a claim.
    let mut live = LiveSet::new(trace.id_bound());
    let mut peak = 0;
    let align = subject.alignment();
    let aligned = |size: usize| size.max(1).next_multiple_of(align);
    let (mut aligned_live, mut peak_aligned) = (0usize, 0usize);
    let result = (|| {
        for (index, &op) in trace.ops.iter().enumerate() {
            let fail = |message: String| ReplayError { op_index: Some(index), op: Some(op), message };
            let before = live.by_id[op.id()].map_or(0, |b| aligned(b.size));
            apply_checked(subject, &mut live, op).map_err(fail)?;
            let after = live.by_id[op.id()].map_or(0, |b| aligned(b.size));
            aligned_live = aligned_live - before + after;
            peak = peak.max(live.bytes);
            peak_aligned = peak_aligned.max(aligned_live);
            if check_heap {
                subject.check_heap().map_err(|e| fail(e.to_string()))?;
            }
        }
        let heap = subject.heap();
        for (id, block) in live.by_id.iter().enumerate() {
            if let Some(block) = *block {
                verify(id, block, block.size, heap).map_err(|message| ReplayError {
                    op_index: None,
                    op: None,
                    message: format!("at the end of the trace: {message}"),
                })?;
            }
        }
        Ok(CheckedRun {
            peak_live_bytes: peak,
            heap_bytes: heap.map(MemLib::heap_size),
            peak_aligned_bytes: peak_aligned,
        })
    })();
    let leftovers: Vec<*mut u8> = live.by_id.iter().flatten().map(|b| b.addr as *mut u8).collect();
    // SAFETY: the live set holds exactly the blocks the subject handed out and that
    // are not yet freed.
    unsafe { subject.finish(&leftovers) };
    result
}

fn apply_checked(subject: &mut dyn Subject, live: &mut LiveSet, op: Op) -> Result<(), String> {
    match op {
        Op::Alloc { id, size } => {
            let ptr = subject.malloc(size);
            let block = check_new_block(subject, ptr, size, "malloc")?;
            live.insert(id, block, subject.heap())?;
            // SAFETY: the block passed the bounds and overlap checks.
            payload::fill(unsafe { payload_mut(block) }, id, 0);
        }
        Op::Free { id } => {
            let block = live.by_id[id].expect("the trace was validated: the id is live");
            verify(id, block, block.size, subject.heap())?;
            live.remove(id);
            // SAFETY: the block is live and was returned by this subject.
            unsafe { subject.free(block.addr as *mut u8) };
        }
        Op::Realloc { id, size } => {
            let old = live.by_id[id].expect("the trace was validated: the id is live");
            verify(id, old, old.size, subject.heap())?;
            live.remove(id);
            // SAFETY: the block is live and was returned by this subject.
            let ptr = unsafe { subject.realloc(old.addr as *mut u8, size) };
            if size == 0 {
                if !ptr.is_null() {
                    return Err("realloc(p, 0) must free the block and return null".to_owned());
                }
                return Ok(());
            }
            let block = check_new_block(subject, ptr, size, "realloc")?;
            live.insert(id, block, subject.heap())?;
            let kept = old.size.min(size);
            verify(id, block, kept, subject.heap())
                .map_err(|m| format!("realloc did not keep the data: {m}"))?;
            // SAFETY: the block passed the bounds and overlap checks.
            payload::fill(unsafe { payload_mut(block) }, id, kept);
        }
    }
    Ok(())
}

/// One timed replay: `start` (the reset and `init`), every op, and `finish`, with no
/// checks. The trace must already have passed [`checked_replay`] on this subject.
/// `blocks` ends holding, by id, the blocks live at the end of the trace (which
/// `finish` has released).
pub fn timed_replay(subject: &mut dyn Subject, trace: &Trace, blocks: &mut Vec<*mut u8>) -> Duration {
    // One slot per id the ops use: `finish`, inside the timed region, walks them all,
    // so a table sized by the header's `num_ids` would time a walk of empty slots.
    blocks.clear();
    blocks.resize(trace.id_bound(), std::ptr::null_mut());
    let started = Instant::now();
    if subject.start().is_err() {
        return started.elapsed();
    }
    for op in &trace.ops {
        match *op {
            Op::Alloc { id, size } => blocks[id] = subject.malloc(size),
            Op::Free { id } => {
                // SAFETY: the checked replay showed this id's block is live here; the
                // subject frees null as a no-op.
                unsafe { subject.free(blocks[id]) };
                blocks[id] = std::ptr::null_mut();
            }
            // SAFETY: as for free: the block is live (or null, which realloc accepts).
            Op::Realloc { id, size } => blocks[id] = unsafe { subject.realloc(blocks[id], size) },
        }
    }
    // SAFETY: `blocks` holds the live blocks, and null for the others.
    unsafe { subject.finish(blocks) };
    started.elapsed()
}

/// The index of the first op whose request the subject refuses (a `malloc` or a
/// `realloc` of a non-zero size returning null), or `None` when it serves them all.
///
/// Only the calls are replayed: no checks, and no writes to the payloads, so a block
/// the subject reserves but never has to touch costs no memory (the system malloc
/// maps large blocks lazily). Every block is freed before returning. A subject that
/// cannot start refuses nothing it was asked: `None`. The trace must be valid.
pub fn first_refused(subject: &mut dyn Subject, trace: &Trace) -> Option<usize> {
    subject.start().ok()?;
    let mut blocks = vec![std::ptr::null_mut(); trace.id_bound()];
    let mut refused = None;
    for (index, op) in trace.ops.iter().enumerate() {
        let (id, ptr, size) = match *op {
            Op::Alloc { id, size } => (id, subject.malloc(size), size),
            Op::Free { id } => {
                // SAFETY: the trace is valid, so the id's block is live (or null, for a
                // zero-byte request answered with null; freeing null does nothing).
                unsafe { subject.free(blocks[id]) };
                (id, std::ptr::null_mut(), 0)
            }
            // SAFETY: as for free: the block is live.
            Op::Realloc { id, size } => (id, unsafe { subject.realloc(blocks[id], size) }, size),
        };
        if ptr.is_null() && size > 0 {
            // A failed realloc leaves the old block live, where `blocks` still has it.
            refused = Some(index);
            break;
        }
        blocks[id] = ptr;
    }
    // SAFETY: `blocks` holds the live blocks, and null for the others.
    unsafe { subject.finish(&blocks) };
    refused
}

/// The median time of one replay, from `runs` timed runs. Each run repeats the replay
/// enough times to last at least `min_run`, so short traces are not lost in timer noise.
pub fn median_replay_time(
    subject: &mut dyn Subject,
    trace: &Trace,
    runs: usize,
    min_run: Duration,
) -> Duration {
    let mut blocks = Vec::new();
    let first = timed_replay(subject, trace, &mut blocks);
    let repeats = (min_run.as_nanos() / first.as_nanos().max(1)).clamp(1, 10_000) as u32;
    let mut per_replay: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let total: Duration = (0..repeats).map(|_| timed_replay(subject, trace, &mut blocks)).sum();
            total / repeats
        })
        .collect();
    per_replay.sort();
    per_replay[per_replay.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::Libc;

    /// Two ops under a header claiming every id there is: the replays must size their
    /// tables by the ids the ops use (a table of `num_ids` slots cannot even be made).
    #[test]
    fn tables_are_sized_by_the_ids_used_not_the_header() {
        let trace = Trace {
            name: "claims".to_owned(),
            sugg_heapsize: 0,
            num_ids: usize::MAX,
            weight: 1,
            ops: vec![Op::Alloc { id: 3, size: 24 }, Op::Realloc { id: 3, size: 40 }],
        };
        let checked = checked_replay(&mut Libc, &trace, false).expect("libc replays two ops");
        assert_eq!(checked.peak_live_bytes, 40);
        let mut blocks = Vec::new();
        timed_replay(&mut Libc, &trace, &mut blocks);
        assert_eq!(blocks.len(), 4, "one slot per id up to the largest used");
        assert!(!blocks[3].is_null(), "block 3 was live at the end (and finish freed it)");
    }

    #[test]
    fn the_first_refused_request_is_found() {
        let trace =
            |ops: Vec<Op>| Trace { name: "t".to_owned(), sugg_heapsize: 0, num_ids: 3, weight: 1, ops };
        let servable = trace(vec![
            Op::Alloc { id: 0, size: 8 },
            Op::Alloc { id: 1, size: 0 },
            Op::Realloc { id: 0, size: 0 },
            Op::Free { id: 1 },
        ]);
        assert_eq!(first_refused(&mut Libc, &servable), None, "malloc(0) and realloc(p, 0) are no refusals");
        let too_big = trace(vec![
            Op::Alloc { id: 0, size: 8 },
            Op::Alloc { id: 2, size: 1 },
            Op::Realloc { id: 2, size: 1 << 63 },
            Op::Alloc { id: 1, size: 8 },
        ]);
        assert_eq!(first_refused(&mut Libc, &too_big), Some(2));
    }
}
