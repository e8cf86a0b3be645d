//! Replaying a trace: once with every correctness check on (which also measures
//! utilization), and then, timed, with no checks at all.
//!
//! The ops mean what they mean in C (see [`mm_trace::trace`]): `f -1` calls the
//! subject's `free(NULL)`; `r` of an id that is not live is `realloc(NULL, n)`, its block
//! stored under the id. Two ops make a block that no id names: `r -1 n`
//! (`realloc(NULL, n)`), and `r id 0` on a dead id (`realloc(NULL, 0)`, which may return
//! a block or null). No later op can free such a block, so the replays keep it, as a
//! program that dropped the pointer would leave it: live to the end of the trace,
//! counted in the live payload (and so in utilization), checked for overlap, bounds and
//! its payload like any other block, and released with the blocks still live at the end
//! ([`Subject::finish`]). Every replay keeps its blocks in one table laid out the same
//! way: a slot per id (`0..id_bound`), then one slot per unnamed block, in the order the
//! ops made them.

use std::fmt;
use std::ptr;
use std::time::{Duration, Instant};

use mm_trace::{Op, Trace};

use mm_core::MemLib;
use mm_shadow::{LiveIntervals, pattern};

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
    /// The key of its payload pattern ([`mm_shadow::pattern`]): the index of the op
    /// that made the block (a `realloc` keeps it, with the data). Unique to each block,
    /// so a block allocated again under a reused id never matches what its predecessor
    /// left in memory.
    key: usize,
}

/// Whose a live block is: an id's, or nobody's (see the module documentation).
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// The block of a trace id.
    Id(usize),
    /// A block no id names, made by op `op`.
    Unnamed { op: usize },
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Owner::Id(id) => write!(f, "block {id}"),
            Owner::Unnamed { op } => write!(f, "block of op {op}"),
        }
    }
}

/// The model of the live set: blocks by id, the unnamed blocks, and their address
/// intervals ([`mm_shadow`]'s, to find overlap).
struct LiveSet {
    by_id: Vec<Option<LiveBlock>>,
    /// The blocks no id names, in the order they were made. No op frees them.
    unnamed: Vec<LiveBlock>,
    /// The blocks' address intervals (a zero-byte block counts as one byte, because a
    /// real block always has at least one).
    intervals: LiveIntervals<Owner>,
    /// The live requested bytes.
    bytes: usize,
    /// The live requests each rounded up to `align` (a zero-byte one to one unit).
    aligned_bytes: usize,
    align: usize,
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
    /// An empty live set for ids `0..id_bound`, of a subject aligning to `align`.
    fn new(id_bound: usize, align: usize) -> Self {
        LiveSet {
            by_id: vec![None; id_bound],
            unnamed: Vec::new(),
            intervals: LiveIntervals::new(),
            bytes: 0,
            aligned_bytes: 0,
            align,
        }
    }

    fn aligned(&self, size: usize) -> usize {
        size.max(1).next_multiple_of(self.align)
    }

    fn insert(&mut self, owner: Owner, block: LiveBlock, heap: Option<&MemLib>) -> Result<(), String> {
        self.intervals.insert(block.addr, block.size, owner).map_err(|other| {
            format!(
                "{owner} ({} bytes at {}) overlaps live {} ({} bytes at {})",
                block.size,
                describe_addr(block.addr, heap),
                other.owner,
                other.end - other.start,
                describe_addr(other.start, heap),
            )
        })?;
        match owner {
            Owner::Id(id) => self.by_id[id] = Some(block),
            Owner::Unnamed { .. } => self.unnamed.push(block),
        }
        self.bytes += block.size;
        self.aligned_bytes += self.aligned(block.size);
        Ok(())
    }

    /// Takes the live block of `id` out of the set.
    fn remove(&mut self, id: usize) -> LiveBlock {
        let block = self.by_id[id].take().expect("the caller checked that the id is live");
        self.intervals.remove(block.addr);
        self.bytes -= block.size;
        self.aligned_bytes -= self.aligned(block.size);
        block
    }

    /// Every live block with its owner: by id, then the unnamed ones.
    fn blocks(&self) -> impl Iterator<Item = (Owner, LiveBlock)> + '_ {
        let by_id = self.by_id.iter().enumerate().filter_map(|(id, b)| b.map(|b| (Owner::Id(id), b)));
        by_id.chain(self.unnamed.iter().map(|&b| (Owner::Unnamed { op: b.key }, b)))
    }
}

/// Writes the block's pattern over its bytes `from..`.
///
/// # Safety
/// `block` was returned by the subject for at least `block.size` bytes, has passed the
/// bounds and overlap checks, and is still live.
unsafe fn fill(block: LiveBlock, from: usize) {
    // SAFETY: the caller guarantees the block is live, in bounds and exclusively ours.
    unsafe { pattern::fill_block(block.addr as *mut u8, block.size, block.key as u64, from) }
}

fn verify(owner: Owner, block: LiveBlock, len: usize, heap: Option<&MemLib>) -> Result<(), String> {
    // SAFETY: every block in the live set passed the checks when it was inserted, and
    // `len <= block.size`.
    let checked = unsafe { pattern::check_block(block.addr as *const u8, len, block.key as u64) };
    checked.map_err(|m| {
        format!(
            "{owner} ({} bytes at {}) lost its data: byte {} is {:#04x}, expected {:#04x}",
            block.size,
            describe_addr(block.addr, heap),
            m.offset,
            m.found,
            m.expected,
        )
    })
}

/// Checks a pointer the subject just returned for `size` bytes from `call` (as the
/// messages name it): not null, aligned, inside the heap. The block gets the pattern
/// key `key`.
fn check_new_block(
    subject: &dyn Subject,
    ptr: *mut u8,
    size: usize,
    key: usize,
    call: fmt::Arguments<'_>,
) -> Result<LiveBlock, String> {
    if ptr.is_null() {
        return Err(format!("{call} returned null (out of memory?)"));
    }
    let addr = ptr as usize;
    let heap = subject.heap();
    let align = subject.alignment();
    if !addr.is_multiple_of(align) {
        return Err(format!("{call} returned {}, not aligned to {align}", describe_addr(addr, heap)));
    }
    if let Some(h) = heap
        && !h.contains(ptr, size.max(1))
    {
        return Err(format!(
            "{call} returned {} ({addr:#x}), which does not lie wholly inside the heap \
             [{:p}, {:p}] ({} bytes)",
            describe_addr(addr, heap),
            h.heap_lo(),
            h.heap_hi(),
            h.heap_size(),
        ));
    }
    Ok(LiveBlock { addr, size, key })
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
    let mut live = LiveSet::new(trace.id_bound(), subject.alignment());
    let (mut peak, mut peak_aligned) = (0usize, 0usize);
    let result = (|| {
        for (index, &op) in trace.ops.iter().enumerate() {
            let fail = |message: String| ReplayError { op_index: Some(index), op: Some(op), message };
            apply_checked(subject, &mut live, index, op).map_err(fail)?;
            peak = peak.max(live.bytes);
            peak_aligned = peak_aligned.max(live.aligned_bytes);
            if check_heap {
                subject.check_heap().map_err(|e| fail(e.to_string()))?;
            }
        }
        let heap = subject.heap();
        for (owner, block) in live.blocks() {
            verify(owner, block, block.size, heap).map_err(|message| ReplayError {
                op_index: None,
                op: None,
                message: format!("at the end of the trace: {message}"),
            })?;
        }
        Ok(CheckedRun {
            peak_live_bytes: peak,
            heap_bytes: heap.map(MemLib::heap_size),
            peak_aligned_bytes: peak_aligned,
        })
    })();
    let leftovers: Vec<*mut u8> = live.blocks().map(|(_, b)| b.addr as *mut u8).collect();
    // SAFETY: the live set holds exactly the blocks the subject handed out and that
    // are not yet freed.
    unsafe { subject.finish(&leftovers) };
    result
}

fn apply_checked(subject: &mut dyn Subject, live: &mut LiveSet, index: usize, op: Op) -> Result<(), String> {
    match op {
        Op::Alloc { id, size } => {
            let ptr = subject.malloc(size);
            let block = check_new_block(subject, ptr, size, index, format_args!("malloc({size})"))?;
            insert_filled(subject, live, Owner::Id(id), block)?;
        }
        Op::Free { id } => {
            let block = live.by_id[id].expect("the trace was validated: the id is live");
            verify(Owner::Id(id), block, block.size, subject.heap())?;
            live.remove(id);
            // SAFETY: the block is live and was returned by this subject.
            unsafe { subject.free(block.addr as *mut u8) };
        }
        // SAFETY: `free` accepts null (the subject's contract), as C's does.
        Op::FreeNull => unsafe { subject.free(ptr::null_mut()) },
        Op::Realloc { id, size } => {
            let Some(old) = live.by_id[id] else {
                // `r` of a dead id: realloc(NULL, size), stored under the id (unless size
                // is 0, which leaves the id dead).
                return realloc_null(subject, live, index, size, (size > 0).then_some(id));
            };
            verify(Owner::Id(id), old, old.size, subject.heap())?;
            live.remove(id);
            // SAFETY: the block is live and was returned by this subject.
            let ptr = unsafe { subject.realloc(old.addr as *mut u8, size) };
            if size == 0 {
                if !ptr.is_null() {
                    return Err("realloc(p, 0) must free the block and return null".to_owned());
                }
                return Ok(());
            }
            let block = check_new_block(subject, ptr, size, old.key, format_args!("realloc({size})"))?;
            live.insert(Owner::Id(id), block, subject.heap())?;
            let kept = old.size.min(size);
            verify(Owner::Id(id), block, kept, subject.heap())
                .map_err(|m| format!("realloc did not keep the data: {m}"))?;
            // SAFETY: the block passed the bounds and overlap checks.
            unsafe { fill(block, kept) };
        }
        Op::ReallocNull { size } => realloc_null(subject, live, index, size, None)?,
    }
    Ok(())
}

/// `realloc(NULL, size)` at op `index`: its block is stored under `id`, or under no id
/// (see the module documentation). C lets `realloc(NULL, 0)` return null or a block; a
/// block is checked like any other.
fn realloc_null(
    subject: &mut dyn Subject,
    live: &mut LiveSet,
    index: usize,
    size: usize,
    id: Option<usize>,
) -> Result<(), String> {
    // SAFETY: realloc accepts null.
    let ptr = unsafe { subject.realloc(ptr::null_mut(), size) };
    if ptr.is_null() && size == 0 {
        return Ok(());
    }
    let block = check_new_block(subject, ptr, size, index, format_args!("realloc(NULL, {size})"))?;
    insert_filled(subject, live, id.map_or(Owner::Unnamed { op: index }, Owner::Id), block)
}

/// Adds a new block to the live set and fills it with its pattern.
fn insert_filled(
    subject: &dyn Subject,
    live: &mut LiveSet,
    owner: Owner,
    block: LiveBlock,
) -> Result<(), String> {
    live.insert(owner, block, subject.heap())?;
    // SAFETY: the block passed the bounds and overlap checks.
    unsafe { fill(block, 0) };
    Ok(())
}

/// The most blocks a replay of `trace` can keep under no id: one per `r -1`, and one per
/// `r id 0` (which makes one only on a dead id). The room to reserve for them.
fn unnamed_bound(trace: &Trace) -> usize {
    trace.ops.iter().filter(|op| matches!(op, Op::ReallocNull { .. } | Op::Realloc { size: 0, .. })).count()
}

/// One timed replay: `start` (the reset and `init`), every op, and `finish`, with no
/// checks. The trace must already have passed [`checked_replay`] on this subject.
/// `blocks` ends holding the blocks live at the end of the trace (which `finish` has
/// released), laid out as the module documentation says: by id, then the unnamed
/// blocks (null where `realloc(NULL, 0)` returned null).
pub fn timed_replay(subject: &mut dyn Subject, trace: &Trace, blocks: &mut Vec<*mut u8>) -> Duration {
    // One slot per id the ops use: `finish`, inside the timed region, walks them all,
    // so a table sized by the header's `num_ids` would time a walk of empty slots. Room
    // for the unnamed blocks is reserved here, outside the timed region.
    prepare_table(trace, blocks);
    let started = Instant::now();
    // The observer is an empty closure of its own type: monomorphized, it compiles to
    // nothing, and the timed loop is the plain one.
    replay_ops(subject, trace, blocks, |_, _, _| {});
    started.elapsed()
}

/// A replay like [`timed_replay`] (no checks, the same table of blocks) that calls
/// `observe(n, subject, blocks)` after `start` (`n == 0`) and after each op (`n` ops
/// done), with the table as it stands then: how the timeline sees every step of a
/// trace in one replay. The trace must already have passed [`checked_replay`] on this
/// subject. Returns false when the subject could not start (nothing is observed then).
pub fn observed_replay<S: Subject + ?Sized>(
    subject: &mut S,
    trace: &Trace,
    blocks: &mut Vec<*mut u8>,
    observe: impl FnMut(usize, &S, &[*mut u8]),
) -> bool {
    prepare_table(trace, blocks);
    replay_ops(subject, trace, blocks, observe)
}

/// Sizes the table of blocks for `trace`: a null slot per id, room for the unnamed.
fn prepare_table(trace: &Trace, blocks: &mut Vec<*mut u8>) {
    blocks.clear();
    blocks.resize(trace.id_bound(), ptr::null_mut());
    blocks.reserve(unnamed_bound(trace));
}

/// `start`, every op (then `observe`), and `finish`, over a table [`prepare_table`]
/// made. False when `start` failed.
fn replay_ops<S: Subject + ?Sized>(
    subject: &mut S,
    trace: &Trace,
    blocks: &mut Vec<*mut u8>,
    mut observe: impl FnMut(usize, &S, &[*mut u8]),
) -> bool {
    if subject.start().is_err() {
        return false;
    }
    observe(0, subject, blocks);
    for (index, op) in trace.ops.iter().enumerate() {
        match *op {
            Op::Alloc { id, size } => blocks[id] = subject.malloc(size),
            Op::Free { id } => {
                // SAFETY: the checked replay showed this id's block is live here.
                unsafe { subject.free(blocks[id]) };
                blocks[id] = ptr::null_mut();
            }
            // SAFETY: `free` accepts null.
            Op::FreeNull => unsafe { subject.free(ptr::null_mut()) },
            Op::Realloc { id, size } => {
                // The block is live, or null when the id is dead (the checked replay
                // showed no live block is null): realloc(NULL, size).
                let old = blocks[id];
                // SAFETY: as for free: the block is live, or null, which realloc accepts.
                let new = unsafe { subject.realloc(old, size) };
                if size == 0 && old.is_null() {
                    blocks.push(new); // realloc(NULL, 0): the id stays dead
                } else {
                    blocks[id] = new;
                }
            }
            // SAFETY: realloc accepts null.
            Op::ReallocNull { size } => blocks.push(unsafe { subject.realloc(ptr::null_mut(), size) }),
        }
        observe(index + 1, subject, blocks);
    }
    // SAFETY: `blocks` holds the live blocks, and null for the others.
    unsafe { subject.finish(blocks) };
    true
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
    let mut blocks = vec![ptr::null_mut(); trace.id_bound()];
    let mut refused = None;
    for (index, op) in trace.ops.iter().enumerate() {
        // The call, and the id its result is stored under (`None`: under no id).
        let (ptr, size, id) = match *op {
            Op::Alloc { id, size } => (subject.malloc(size), size, Some(id)),
            Op::Free { id } => {
                // SAFETY: the trace is valid, so the id's block is live (or null, for a
                // zero-byte request answered with null; freeing null does nothing).
                unsafe { subject.free(blocks[id]) };
                blocks[id] = ptr::null_mut();
                continue;
            }
            Op::FreeNull => {
                // SAFETY: `free` accepts null.
                unsafe { subject.free(ptr::null_mut()) };
                continue;
            }
            Op::Realloc { id, size } => {
                let old = blocks[id];
                // SAFETY: as for free: the block is live, or null for a dead id.
                let new = unsafe { subject.realloc(old, size) };
                (new, size, (size > 0 || !old.is_null()).then_some(id))
            }
            // SAFETY: realloc accepts null.
            Op::ReallocNull { size } => (unsafe { subject.realloc(ptr::null_mut(), size) }, size, None),
        };
        if ptr.is_null() && size > 0 {
            // A failed realloc leaves the old block live, where `blocks` still has it.
            refused = Some(index);
            break;
        }
        match id {
            Some(id) => blocks[id] = ptr,
            None => blocks.push(ptr),
        }
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
            header: mm_trace::Header::Classic { sugg_heapsize: 0, weight: 1 },
            num_ids: usize::MAX,
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
        let header = mm_trace::Header::Classic { sugg_heapsize: 0, weight: 1 };
        let trace = |ops: Vec<Op>| Trace { name: "t".to_owned(), header, num_ids: 3, ops };
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
        // realloc(NULL, n), written `r -1 n` or as `r` of a dead id, is a request too;
        // free(NULL) and realloc(NULL, 0) are none.
        let null_ops = trace(vec![
            Op::FreeNull,
            Op::ReallocNull { size: 0 },
            Op::Realloc { id: 1, size: 0 },
            Op::ReallocNull { size: 8 },
            Op::ReallocNull { size: 1 << 63 },
        ]);
        assert_eq!(first_refused(&mut Libc, &null_ops), Some(4));
        let dead = trace(vec![
            Op::Alloc { id: 0, size: 8 },
            Op::Free { id: 0 },
            Op::Realloc { id: 0, size: 1 << 63 },
        ]);
        assert_eq!(first_refused(&mut Libc, &dead), Some(2));
    }

    /// The table of blocks has a slot per id, then one per block no id names, in the
    /// order they were made: what the heap map pairs with the requested sizes.
    #[test]
    fn unnamed_blocks_follow_the_ids_in_the_table() {
        let trace = Trace::parse(
            "t.rep",
            b"0\n2\n8\n1\nr -1 24\na 1 8\nr 0 0\nf -1\nr 1 0\nr -1 40\nr 1 16\nr 1 0\n",
        )
        .unwrap();
        let build = crate::registry::find("implicit").unwrap().build;
        let mut ours = crate::subject::Ours(build(MemLib::new(1 << 20).unwrap(), mm_core::Align::MIN));
        let checked = checked_replay(&mut ours, &trace, false).unwrap();
        // The unnamed 24 and 40 stay live; block 1 is 8 and then 16 at most.
        assert_eq!(checked.peak_live_bytes, 24 + 40 + 16);
        let mut blocks = Vec::new();
        timed_replay(&mut ours, &trace, &mut blocks);
        // Ids 0 and 1 (both dead), then the blocks of ops 0, 2 (realloc(NULL, 0) of dead
        // id 0) and 5.
        assert_eq!(blocks.len(), 2 + 3);
        assert!(blocks[..2].iter().all(|p| p.is_null()), "{blocks:?}");
        assert!(!blocks[2].is_null() && !blocks[4].is_null(), "{blocks:?}");
        // Our strategies answer realloc(NULL, 0) as malloc(0): a block.
        assert!(!blocks[3].is_null(), "{blocks:?}");
        let heap = ours.heap().unwrap();
        assert!(heap.contains(blocks[4], 40));
    }
}
