//! What the conformance kit does not pin down for the peers: growth over many `sbrk`
//! steps, a small heap running out, alignments up to a page, and that the peers with a
//! realloc of their own really use it.

use std::ptr::NonNull;

use mm_core::{Align, Allocator, DEFAULT_MAX_HEAP, MemLib, PAGE_SIZE};
use mm_peers::{BuddySystemPeer, DlmallocPeer, LinkedListPeer, RlsfPeer, TalcPeer};
use mm_testkit::{self as testkit, RandomProfile};

type Factory = fn(MemLib, Align) -> Box<dyn Allocator>;

const PEERS: [(&str, Factory); 5] = [
    ("talc", |h, a| Box::new(TalcPeer::new(h, a))),
    ("rlsf", |h, a| Box::new(RlsfPeer::new(h, a))),
    ("dlmalloc", |h, a| Box::new(DlmallocPeer::new(h, a))),
    ("linked-list", |h, a| Box::new(LinkedListPeer::new(h, a))),
    ("buddy-system", |h, a| Box::new(BuddySystemPeer::new(h, a))),
];

fn build(factory: Factory, max_heap: usize, align: Align) -> Box<dyn Allocator> {
    let mut alloc = factory(MemLib::new(max_heap).unwrap(), align);
    alloc.init().unwrap();
    alloc
}

/// A live block and the byte it is filled with.
#[derive(Clone, Copy)]
struct Block {
    ptr: NonNull<u8>,
    size: usize,
    byte: u8,
}

fn fill(ptr: NonNull<u8>, size: usize, byte: u8) -> Block {
    // SAFETY: `ptr` is a fresh block of at least `size` bytes.
    unsafe { ptr.as_ptr().write_bytes(byte, size) };
    Block { ptr, size, byte }
}

fn intact(name: &str, b: &Block) {
    // SAFETY: `b` is live and `b.size` bytes long.
    let bytes = unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), b.size) };
    assert!(bytes.iter().all(|&x| x == b.byte), "{name}: a {}-byte block was damaged", b.size);
}

fn checked(name: &str, alloc: &dyn Allocator) {
    if let Err(e) = alloc.check_heap() {
        panic!("{name}: {e}");
    }
}

#[test]
fn the_heap_grows_in_pages_over_many_steps() {
    for (name, factory) in PEERS {
        let mut alloc = build(factory, DEFAULT_MAX_HEAP, Align::SIXTEEN);
        assert_eq!(alloc.heap().heap_size(), 0, "{name}: init must not grow the heap");
        let (mut blocks, mut live, mut steps, mut last) = (Vec::new(), 0, 0, 0);
        for i in 0..400usize {
            let size = [3000, 40, 17_000, 700][i % 4];
            let ptr = alloc.malloc(size).unwrap_or_else(|| panic!("{name}: malloc({size}) failed"));
            blocks.push(fill(ptr, size, i as u8));
            live += size;
            let heap = alloc.heap().heap_size();
            assert!(heap.is_multiple_of(PAGE_SIZE), "{name}: the heap grew to {heap} bytes, not whole pages");
            steps += usize::from(heap != last);
            last = heap;
            checked(name, alloc.as_ref());
        }
        assert!(steps >= 20, "{name}: {live} live bytes took only {steps} sbrk steps");
        assert!(last <= 2 * live + (64 << 10), "{name}: {live} live bytes took a {last}-byte heap");
        blocks.iter().for_each(|b| intact(name, b));

        // One request far larger than any step so far.
        let before = alloc.heap().heap_size();
        let big = alloc.malloc(1 << 20).unwrap_or_else(|| panic!("{name}: malloc(1 MiB) failed"));
        blocks.push(fill(big, 1 << 20, 0xEE));
        let grown = alloc.heap().heap_size() - before;
        assert!(grown <= 3 << 20, "{name}: a 1 MiB block grew the heap by {grown} bytes");
        checked(name, alloc.as_ref());

        // Free in an order unrelated to the addresses, then use the space again.
        for k in (0..blocks.len()).map(|k| (k * 7919) % blocks.len()) {
            intact(name, &blocks[k]);
            // SAFETY: every index comes up once (7919 is prime and does not divide the
            // count), and each block is live until then.
            unsafe { alloc.free(blocks[k].ptr) };
        }
        checked(name, alloc.as_ref());
        let top = alloc.heap().heap_size();
        let again = alloc.malloc(3000).unwrap();
        assert_eq!(alloc.heap().heap_size(), top, "{name}: freed memory was not reused");
        // SAFETY: `again` is live.
        unsafe { alloc.free(again) };
    }
}

#[test]
fn running_out_returns_none_and_keeps_everything() {
    const HEAP: usize = 64 << 10;
    for (name, factory) in PEERS {
        let mut alloc = build(factory, HEAP, Align::MIN);
        let mut blocks = Vec::new();
        while let Some(ptr) = alloc.malloc(1000) {
            blocks.push(fill(ptr, 1000, blocks.len() as u8));
            assert!(blocks.len() <= HEAP / 1000, "{name}: more blocks than the heap can hold");
        }
        assert!(blocks.len() >= HEAP / 4 / 1000, "{name}: only {} blocks fit in {HEAP} bytes", blocks.len());
        assert!(alloc.heap().heap_size() <= HEAP);
        checked(name, alloc.as_ref());
        assert!(alloc.malloc(HEAP).is_none(), "{name}: malloc({HEAP}) in a full heap");
        assert!(alloc.malloc(usize::MAX).is_none(), "{name}: malloc(usize::MAX)");
        // A failed realloc leaves the block where it was, intact.
        let first = blocks[0];
        // SAFETY: `first` is live.
        assert!(unsafe { alloc.realloc(Some(first.ptr), HEAP) }.is_none(), "{name}: realloc past the heap");
        checked(name, alloc.as_ref());
        blocks.iter().for_each(|b| intact(name, b));

        // Freed space is usable again after running out.
        for b in blocks.drain(..).step_by(2) {
            // SAFETY: each block is live and freed once.
            unsafe { alloc.free(b.ptr) };
        }
        checked(name, alloc.as_ref());
        assert!(alloc.malloc(900).is_some(), "{name}: no room after freeing half the heap");
        checked(name, alloc.as_ref());

        // And the peer starts over on a reset heap.
        alloc.heap_mut().reset_brk();
        alloc.init().unwrap();
        assert!(alloc.malloc(HEAP / 2).is_some(), "{name}: half the heap after re-init");
        checked(name, alloc.as_ref());
    }
}

/// The kit's scenarios that do not assume a small alignment, at alignments it does not
/// run: a cache line and a page.
fn large_alignments<A: Allocator>(factory: fn(MemLib, Align) -> A) {
    for align in [64, PAGE_SIZE].map(|a| Align::new(a).unwrap()) {
        testkit::short1(factory, align);
        testkit::short2(factory, align);
        testkit::realloc_shrink(factory, align);
        testkit::realloc_grow(factory, align);
        testkit::realloc_into_free_neighbour(factory, align);
        testkit::realloc_null_is_malloc(factory, align);
        testkit::realloc_zero_frees(factory, align);
        testkit::malloc_zero(factory, align);
        testkit::calloc(factory, align);
        testkit::huge_requests(factory, align);
        testkit::reinit(factory, align);
        testkit::random_ops(factory, align, RandomProfile::Mixed, 0x5eed_a119, 2000);
        testkit::random_ops(factory, align, RandomProfile::ReallocHeavy, 0x5eed_a11a, 2000);
    }
}

#[test]
fn talc_serves_alignments_up_to_a_page() {
    large_alignments(TalcPeer::new);
}

#[test]
fn rlsf_serves_alignments_up_to_a_page() {
    large_alignments(RlsfPeer::new);
}

#[test]
fn dlmalloc_serves_alignments_up_to_a_page() {
    large_alignments(DlmallocPeer::new);
}

#[test]
fn linked_list_serves_alignments_up_to_a_page() {
    large_alignments(LinkedListPeer::new);
}

#[test]
fn buddy_system_serves_alignments_up_to_a_page() {
    large_alignments(BuddySystemPeer::new);
}

#[test]
fn peers_with_a_realloc_of_their_own_grow_in_place() {
    for (name, factory) in &PEERS[..3] {
        for align in [Align::MIN, Align::SIXTEEN] {
            let mut alloc = build(*factory, DEFAULT_MAX_HEAP, align);
            let a = fill(alloc.malloc(100).unwrap(), 100, 0x5A);
            // The free space above the only block is where it grows.
            // SAFETY: `a` is live.
            let grown = unsafe { alloc.realloc(Some(a.ptr), 2000) }.unwrap();
            assert_eq!(grown, a.ptr, "{name} at {align}: growing into free space moved the block");
            intact(name, &Block { ptr: grown, ..a });
            // SAFETY: `grown` is live.
            let shrunk = unsafe { alloc.realloc(Some(grown), 50) }.unwrap();
            assert_eq!(shrunk, a.ptr, "{name} at {align}: shrinking moved the block");
            checked(name, alloc.as_ref());
        }
    }
}

#[test]
fn buddy_system_merges_freed_buddies() {
    // 32 blocks of 128 bytes fill one page exactly, and a page is always aligned to
    // its size: once they are all free, whatever the order, they merge back into it.
    for order in 0..3 {
        let mut alloc = build(PEERS[4].1, DEFAULT_MAX_HEAP, Align::MIN);
        let blocks: Vec<NonNull<u8>> = (0..32).map(|_| alloc.malloc(100).unwrap()).collect();
        assert_eq!(alloc.heap().heap_size(), PAGE_SIZE);
        let order: Vec<usize> = match order {
            0 => (0..32).collect(),
            1 => (0..32).rev().collect(),
            _ => (0..32).map(|k| (k * 13) % 32).collect(),
        };
        for k in order {
            // SAFETY: every block is freed once.
            unsafe { alloc.free(blocks[k]) };
        }
        assert!(alloc.malloc(PAGE_SIZE).is_some());
        assert_eq!(alloc.heap().heap_size(), PAGE_SIZE, "the freed page was not merged whole");
        checked("buddy-system", alloc.as_ref());
    }
}
