//! White-box tests: block placement after each policy decision (split, merge, the
//! untouched tail, growth, realloc), and a checker that names each kind of damage. The
//! conformance kit (tests/conformance.rs) covers the contract.

use std::ptr::NonNull;

use mm_core::allocator::Rule;
use mm_core::{Align, Allocator, HeapCheckError, Invariant, MemLib};
use mm_testkit::checked::{free, malloc, realloc};

use super::*;
use crate::arena::{FRONTIER_AT, NONEMPTY_AT};

const HEAP: usize = 1 << 20;

fn buddy_with(config: BuddyConfig) -> Buddy {
    let mut a = Buddy::new(MemLib::new(HEAP).unwrap(), config);
    a.init().unwrap();
    a
}

/// The white-box tests of placement below were written for growth by aligned blocks in
/// one arena (each block at a multiple of its size from the arena's start), which
/// [`BuddyConfig::aligned_growth`] keeps; the default growth by segments has tests of its
/// own ("growth by segments").
fn buddy() -> Buddy {
    buddy_with(BuddyConfig { aligned_growth: true, ..BuddyConfig::default() })
}

/// The default configuration: a growth that would leave a gap starts a new segment.
fn segmented() -> Buddy {
    buddy_with(BuddyConfig::default())
}

/// Every block below the frontier as (arena offset, order, free).
fn blocks(a: &Buddy) -> Vec<(usize, u32, bool)> {
    let arena = a.arena();
    let mut out = Vec::new();
    let mut at = 0;
    while at < arena.frontier() {
        let h = arena.header(Block::at(at));
        out.push((at, h.order(), h.is_free()));
        at += size_of_order(h.order());
    }
    out
}

/// The arena offsets on the free list of `order`, head first.
fn list(a: &Buddy, order: u32) -> Vec<usize> {
    let arena = a.arena();
    std::iter::successors(arena.head(order), |&b| arena.next(b)).map(Block::offset).collect()
}

fn frontier(a: &Buddy) -> usize {
    a.arena().frontier()
}

/// The arena offset of the block whose payload is `p`.
fn off(a: &Buddy, p: NonNull<u8>) -> usize {
    a.payload_block(p).unwrap().offset()
}

/// `malloc`, returning the block's arena offset.
fn malloc_at(a: &mut Buddy, size: usize) -> usize {
    let p = malloc(a, size);
    off(a, p)
}

fn fill(p: NonNull<u8>, len: usize, byte: u8) {
    // SAFETY: the tests only fill bytes of live blocks they own.
    unsafe { p.as_ptr().write_bytes(byte, len) };
}

fn holds(p: NonNull<u8>, len: usize, byte: u8) -> bool {
    // SAFETY: as in `fill`.
    unsafe { std::slice::from_raw_parts(p.as_ptr(), len) }.iter().all(|&b| b == byte)
}

// --- sizes and layout -------------------------------------------------------------------

#[test]
fn requests_round_up_to_a_power_of_two_with_the_header() {
    let a = buddy();
    let cases = [(0, 16), (1, 16), (14, 16), (15, 32), (30, 32), (31, 64), (4094, 4096), (4095, 8192)];
    for (size, block) in cases {
        assert_eq!(a.block_size_for(size), Some(block), "malloc({size})");
    }
    // 1 MiB heap, 102-byte control area: the largest block is 512 KiB.
    assert_eq!((a.min_order(), a.max_order()), (4, 19));
    assert_eq!(a.block_size_for((1 << 19) - 2), Some(1 << 19));
    for size in [(1 << 19) - 1, HEAP, usize::MAX / 2 + 1, usize::MAX - 1, usize::MAX] {
        assert_eq!(a.block_size_for(size), None, "malloc({size:#x})");
    }
    let wide = buddy_with(BuddyConfig::new(Align::new(64).unwrap()));
    assert_eq!(
        (wide.block_size_for(1), wide.block_size_for(62), wide.block_size_for(63)),
        (Some(64), Some(64), Some(128))
    );
}

#[test]
fn every_payload_is_aligned_two_bytes_into_its_block() {
    for bytes in [8, 16, 32, 256, 4096] {
        let align = Align::new(bytes).unwrap();
        let mut a = buddy_with(BuddyConfig::new(align));
        assert_eq!(a.heap.heap_size(), a.layout.base);
        let ps: Vec<_> = [1, 3 * bytes, 100, 0, 5000].into_iter().map(|s| malloc(&mut a, s)).collect();
        for &p in &ps {
            assert!(align.is_aligned(p.as_ptr() as usize), "alignment {bytes}");
            assert_eq!(a.heap.offset_of(p.as_ptr()), a.layout.base + off(&a, p) + HEADER_BYTES);
        }
        // SAFETY: `ps[0]` is live.
        assert_eq!(unsafe { a.usable_size(ps[0]) }, bytes.max(16) - HEADER_BYTES);
        ps.into_iter().for_each(|p| free(&mut a, p));
        assert_eq!(frontier(&a), 0);
    }
}

// --- split, carve, merge, trim --------------------------------------------------------------

#[test]
fn the_first_blocks_are_carved_from_the_tail_leaving_the_gap_on_the_lists() {
    let mut a = buddy();
    let base = a.layout.base;
    let p = malloc(&mut a, 1);
    assert_eq!((off(&a, p), frontier(&a), a.heap.heap_size()), (0, 16, base + 16));
    // A 128-byte block must start at a multiple of 128: [16, 128) is the gap.
    let q = malloc(&mut a, 100);
    assert_eq!((off(&a, q), frontier(&a), a.heap.heap_size()), (128, 256, base + 256));
    assert_eq!(blocks(&a), [(0, 4, false), (16, 4, true), (32, 5, true), (64, 6, true), (128, 7, false)]);
    assert_eq!((list(&a, 4), list(&a, 5), list(&a, 6)), (vec![16], vec![32], vec![64]));
    // The gap serves the next small requests without growing the heap.
    assert_eq!(malloc_at(&mut a, 14), 16);
    assert_eq!(malloc_at(&mut a, 40), 64);
    assert_eq!(a.heap.heap_size(), base + 256);
}

#[test]
fn a_free_block_is_split_down_with_the_right_halves_listed() {
    let mut a = buddy();
    let big = malloc(&mut a, 1000);
    let _fence = malloc(&mut a, 1000);
    free(&mut a, big);
    assert_eq!(list(&a, 10), [0]);
    let small = malloc(&mut a, 10);
    assert_eq!(off(&a, small), 0);
    for k in 4..10 {
        assert_eq!(list(&a, k), [1 << k], "order {k}");
    }
    assert!(list(&a, 10).is_empty());
    assert_eq!(a.arena().nonempty(), 0b11_1111);
}

#[test]
fn freed_buddies_merge_up_to_an_allocated_buddy() {
    let mut a = buddy();
    // Eight 16-byte blocks, then a fence that keeps them off the frontier.
    let ps: Vec<_> = (0..8).map(|_| malloc(&mut a, 1)).collect();
    let _fence = malloc(&mut a, 100);
    free(&mut a, ps[0]);
    assert_eq!(list(&a, 4), [0]);
    // Its right buddy: the two merge into an order-5 block.
    free(&mut a, ps[1]);
    assert_eq!((list(&a, 4), list(&a, 5)), (vec![], vec![0]));
    // A left block whose buddy is allocated stays small.
    free(&mut a, ps[2]);
    assert_eq!((list(&a, 4), list(&a, 5)), (vec![32], vec![0]));
    // ps[3] completes [32, 64), which completes [0, 64).
    free(&mut a, ps[3]);
    assert_eq!((list(&a, 4), list(&a, 5), list(&a, 6)), (vec![], vec![], vec![0]));
    // The other half, freed from the right: [0, 128) merges, and stops at the fence's
    // buddy level (the fence is the order-7 block at 128).
    for &p in ps[4..].iter().rev() {
        free(&mut a, p);
    }
    assert_eq!(blocks(&a), [(0, 7, true), (128, 7, false)]);
    assert_eq!(list(&a, 7), [0]);
}

#[test]
fn free_blocks_at_the_frontier_go_back_to_the_tail() {
    let mut a = buddy();
    let base = a.layout.base;
    let ps: Vec<_> = [1, 1, 40, 100].into_iter().map(|s| malloc(&mut a, s)).collect();
    assert_eq!(blocks(&a), [(0, 4, false), (16, 4, false), (32, 5, true), (64, 6, false), (128, 7, false)]);
    let high = a.heap.heap_size();
    // The last block is the left half of an order-8 block whose right half is tail.
    free(&mut a, ps[3]);
    assert_eq!(frontier(&a), 128);
    // [64, 128) is a right half with an allocated left buddy, but it ends at the
    // frontier, so it joins the tail too; and then the free [32, 64) does.
    free(&mut a, ps[2]);
    assert_eq!((frontier(&a), list(&a, 5)), (32, vec![]));
    free(&mut a, ps[0]);
    assert_eq!(list(&a, 4), [0]);
    free(&mut a, ps[1]);
    assert_eq!((frontier(&a), a.arena().nonempty()), (0, 0));
    // The heap never shrinks: the tail is reused from the bottom.
    assert_eq!(a.heap.heap_size(), high);
    assert_eq!(a.stats().untouched_bytes, high - base);
    let again = malloc(&mut a, 200);
    assert_eq!((off(&a, again), a.heap.heap_size()), (0, high));
}

#[test]
fn a_request_beyond_the_current_root_doubles_the_arena() {
    let mut a = buddy();
    let base = a.layout.base;
    let small = malloc(&mut a, 100);
    // 200 000 bytes need an order-18 block (256 KiB): the arena doubles from 2^7 to
    // 2^19, the old arena being the left buddy at every step, and the block is the
    // first multiple of 2^18 above the frontier.
    let big = malloc(&mut a, 200_000);
    assert_eq!(off(&a, big), 1 << 18);
    let stats = a.stats();
    assert_eq!(stats.segments, 1);
    assert_eq!(a.heap.heap_size(), base + (1 << 19));
    // The gap [128, 2^18) is one free block per order from 7 to 17.
    for k in 7..18 {
        assert_eq!(list(&a, k), [1 << k], "order {k}");
    }
    assert_eq!(stats.free_bytes, (1 << 18) - 128);
    assert_eq!(stats.allocated_bytes, 128 + (1 << 18));
    assert_eq!(
        stats.control_bytes + stats.allocated_bytes + stats.free_bytes + stats.untouched_bytes,
        stats.heap_bytes
    );
    // The biggest block this heap has room for is taken; one more byte is refused.
    free(&mut a, big);
    free(&mut a, small);
    let whole = malloc(&mut a, (1 << 19) - 2);
    assert_eq!(off(&a, whole), 0);
    assert_eq!(a.malloc(1 << 19), None);
}

#[test]
fn running_out_of_heap_changes_nothing() {
    let mut a = buddy();
    let _low = malloc(&mut a, 100);
    let _high = malloc(&mut a, 200_000);
    let (heap, blocks_before) = (a.heap.heap_size(), blocks(&a));
    // Free space remains, but no aligned 512 KiB slot fits in the 1 MiB heap any more.
    for size in [400_000, usize::MAX, usize::MAX - 1, HEAP] {
        assert_eq!(a.malloc(size), None, "malloc({size})");
    }
    assert_eq!((a.heap.heap_size(), blocks(&a)), (heap, blocks_before));
    a.check_heap().unwrap();
}

// --- growth by segments (the default) -----------------------------------------------------

#[test]
fn a_block_that_would_leave_a_gap_starts_a_segment_at_the_break() {
    let mut a = segmented();
    let base = a.layout.base;
    assert_eq!(malloc_at(&mut a, 1), 0);
    // 128 bytes would start at 128 in the first segment; it starts a segment at 16.
    assert_eq!(malloc_at(&mut a, 100), 16);
    assert_eq!((frontier(&a), a.heap.heap_size(), a.stats().segments), (144, base + 144, 2));
    assert_eq!(a.arena().nonempty(), 0, "no gap was filled");
    // Inside the new segment blocks align from its start: 144 is 128 into it, a
    // multiple of 32, so a 32-byte block just follows.
    assert_eq!(malloc_at(&mut a, 30), 144);
    assert_eq!(a.stats().segments, 2);
    a.check_heap().unwrap();
}

#[test]
fn merges_never_cross_from_one_segment_into_the_next() {
    let mut a = segmented();
    let first = malloc(&mut a, 1); // [0, 16): segment 0
    let second = malloc(&mut a, 1); // [16, 32): segment 0, its buddy
    let big = malloc(&mut a, 100); // [32, 160): segment 1
    let _fence = malloc(&mut a, 100); // [160, 288): segment 1
    assert_eq!((off(&a, big), a.stats().segments), (32, 2));
    free(&mut a, first);
    free(&mut a, second);
    // [0, 32) is all of segment 0: it stays a 32-byte free block, never merging with
    // [32, 64), whose offset XOR 32 from arena offset 0 would name it.
    assert_eq!(blocks(&a)[0], (0, 5, true));
    free(&mut a, big);
    assert_eq!((list(&a, 5), list(&a, 7)), (vec![0], vec![32]));
    a.check_heap().unwrap();
}

#[test]
fn an_empty_last_segment_is_dropped_and_the_tail_reused() {
    let mut a = segmented();
    let small = malloc(&mut a, 1);
    let big = malloc(&mut a, 100);
    assert_eq!(a.stats().segments, 2);
    let high = a.heap.heap_size();
    free(&mut a, big);
    assert_eq!((frontier(&a), a.stats().segments), (16, 1));
    free(&mut a, small);
    assert_eq!((frontier(&a), a.stats().segments, a.heap.heap_size()), (0, 1, high));
    a.check_heap().unwrap();
}

#[test]
fn a_full_segment_table_falls_back_to_aligned_blocks() {
    let mut a = segmented();
    // A 16-byte block, then each block twice the last: every growth would leave a gap,
    // so each starts a segment until the table is full.
    malloc(&mut a, 1);
    let mut size = 32;
    while a.stats().segments < MAX_SEGMENTS {
        malloc(&mut a, size - HEADER_BYTES);
        size *= 2;
    }
    let before = frontier(&a);
    let p = malloc(&mut a, size - HEADER_BYTES);
    assert_eq!(a.stats().segments, MAX_SEGMENTS);
    let last = a.arena().last_segment().base;
    assert!((off(&a, p) - last).is_multiple_of(size) && off(&a, p) > before, "aligned in the last segment");
    assert!(a.arena().nonempty() != 0, "the gap is on the free lists");
    a.check_heap().unwrap();
}

/// Allocates blocks of `size` bytes until `malloc` fails, checking the heap at the end;
/// returns them.
fn fill_up(a: &mut Buddy, size: usize) -> Vec<NonNull<u8>> {
    let mut live = Vec::new();
    while let Some(p) = a.malloc(size) {
        live.push(p);
    }
    a.check_heap().unwrap();
    live
}

#[test]
fn exhaustion_uses_the_last_bytes_of_the_heap() {
    // A power of two, and a size whose binary digits make several trees.
    for max in [1 << 20, (3 << 20) + 4096] {
        for size in [1, 14, 100, 1000, 4000] {
            let mut a = Buddy::new(MemLib::new(max).unwrap(), BuddyConfig::default());
            a.init().unwrap();
            let block = a.block_size_for(size).unwrap();
            let live = fill_up(&mut a, size);
            let left = max - a.heap.heap_size();
            assert!(left < block, "{max} / {size}: {left} bytes left, a block is {block}");
            // Then smaller and smaller blocks fill the rest, to the last minimum block.
            let mut rest = Vec::new();
            for smaller in (a.min_order()..block.trailing_zeros()).rev() {
                rest.extend(fill_up(&mut a, size_of_order(smaller) - HEADER_BYTES));
            }
            let left = max - a.heap.heap_size();
            assert!(left < 16, "{max} / {size}: {left} bytes left after the small blocks");
            // Everything freed: the heap checks out, and the largest block fits again.
            for p in live.into_iter().chain(rest) {
                // SAFETY: each block is live and freed once (checked once, below: a
                // check after each of thousands of frees would take minutes).
                unsafe { a.free(p) };
            }
            a.check_heap().unwrap();
            assert_eq!((frontier(&a), a.stats().segments), (0, 1), "{max} / {size}");
            let largest = size_of_order(a.max_order()) - HEADER_BYTES;
            let p = malloc(&mut a, largest);
            assert_eq!(off(&a, p), 0);
            a.check_heap().unwrap();
        }
    }
}

#[test]
fn the_default_heap_is_used_to_its_last_minimum_block_after_a_large_block() {
    // The classic 20 MiB heap: small blocks, then a 16 MiB block (which aligned growth
    // would put at 16 MiB, past the end), then smaller and smaller blocks until nothing
    // fits: the last block ends within one minimum block of the heap's end.
    let mut a = Buddy::new(MemLib::with_default_size().unwrap(), BuddyConfig::default());
    a.init().unwrap();
    let max = a.heap().max_size();
    assert_eq!(max, 20 << 20);
    let mut live: Vec<_> = (0..100).map(|i| malloc(&mut a, 1 + 37 * i)).collect();
    live.push(malloc(&mut a, (16 << 20) - HEADER_BYTES));
    for order in (a.min_order()..=22).rev() {
        live.extend(fill_up(&mut a, size_of_order(order) - HEADER_BYTES));
    }
    a.check_heap().unwrap();
    // The frontier is the end of the last block, which is allocated (rule 9).
    let left = max - a.layout.base - frontier(&a);
    assert!(left < 16, "the last block ends {left} bytes before the heap's end");
    assert_eq!(
        a.heap().heap_size(),
        a.layout.base + frontier(&a),
        "the heap grew only as far as the last block"
    );
    live.into_iter().for_each(|p| free(&mut a, p));
    assert_eq!((frontier(&a), a.stats().segments), (0, 1));
}

#[test]
fn a_trace_of_18_mib_with_a_large_block_after_small_ones_fits_the_default_heap() {
    // 2 MiB of 1 KiB blocks, then a 12 MiB buffer (a 16 MiB block): 18 MiB in all. With
    // growth by segments the buffer starts a segment at 2 MiB; a single arena grown by
    // aligned blocks (the lazily doubled arena) must put it at 16 MiB and needs 32 MiB.
    let small = 2048;
    let mut text = format!("0\n{}\n{}\n1\n", small + 1, 2 * (small + 1));
    for id in 0..small {
        text += &format!("a {id} 1000\n");
    }
    text += &format!("a {small} {}\n", 12 << 20);
    for id in 0..=small {
        text += &format!("f {id}\n");
    }
    let trace = mm_trace::Trace::parse("large-after-small", text.as_bytes()).unwrap();
    for (aligned_growth, fits) in [(false, true), (true, false)] {
        let config = BuddyConfig { aligned_growth, ..BuddyConfig::default() };
        let mut a = Buddy::new(MemLib::with_default_size().unwrap(), config);
        a.init().unwrap();
        let mut live = vec![None; trace.id_bound()];
        let mut served = true;
        for op in &trace.ops {
            match *op {
                mm_trace::Op::Alloc { id, size } => match a.malloc(size) {
                    Some(p) => live[id] = Some(p),
                    None => {
                        served = false;
                        break;
                    }
                },
                mm_trace::Op::Free { id } => free(&mut a, live[id].take().unwrap()),
                _ => unreachable!("the trace only allocates and frees"),
            }
        }
        assert_eq!(served, fits, "aligned growth: {aligned_growth}");
        a.check_heap().unwrap();
        if fits {
            let high_water = a.heap().heap_size();
            assert!((18 << 20..19 << 20).contains(&high_water), "{high_water} bytes of heap");
        }
    }
}

#[test]
fn a_large_block_after_small_ones_needs_only_its_own_size_of_heap() {
    // The corner case of a heap just big enough: small blocks, then one block of half
    // the heap's largest order, which aligned growth would put at a multiple of its
    // size, past the end.
    let max = (1 << 20) + 4096;
    for (aligned_growth, fits) in [(false, true), (true, false)] {
        let mut a =
            Buddy::new(MemLib::new(max).unwrap(), BuddyConfig { aligned_growth, ..BuddyConfig::default() });
        a.init().unwrap();
        let small: Vec<_> = (0..10).map(|i| malloc(&mut a, 10 + 50 * i)).collect();
        assert_eq!(a.malloc((1 << 20) - HEADER_BYTES).is_some(), fits, "aligned growth: {aligned_growth}");
        a.check_heap().unwrap();
        small.into_iter().for_each(|p| free(&mut a, p));
    }
}

// --- realloc ----------------------------------------------------------------------------------

#[test]
fn realloc_keeps_the_block_while_the_new_size_fits_it() {
    let mut a = buddy();
    let p = malloc(&mut a, 1000);
    let _fence = malloc(&mut a, 8);
    fill(p, 1000, 0x11);
    for size in [1022, 600, 100, 1, 513] {
        assert_eq!(realloc(&mut a, p, size), p, "realloc to {size}");
        assert_eq!(a.arena().header(a.payload_block(p).unwrap()), Header::allocated(10, 0));
    }
    assert!(holds(p, 1, 0x11));
}

#[test]
fn realloc_can_release_the_halves_it_no_longer_needs() {
    let mut a = buddy_with(BuddyConfig { release_on_shrink: true, ..BuddyConfig::default() });
    let p = malloc(&mut a, 1000);
    let _fence = malloc(&mut a, 8);
    fill(p, 1000, 0x22);
    assert_eq!(realloc(&mut a, p, 100), p);
    assert_eq!(a.arena().header(a.payload_block(p).unwrap()), Header::allocated(7, 0));
    assert_eq!((list(&a, 7), list(&a, 8), list(&a, 9)), (vec![128], vec![256], vec![512]));
    assert!(holds(p, 100, 0x22));
    // And grows back into them in place.
    assert_eq!(realloc(&mut a, p, 1000), p);
    assert_eq!(a.arena().nonempty(), 0);
    // The top half of the last block goes back to the tail.
    let q = malloc(&mut a, 3000);
    assert_eq!(realloc(&mut a, q, 500), q);
    assert_eq!(frontier(&a), off(&a, q) + 512);
}

#[test]
fn realloc_grows_in_place_into_free_right_buddies_and_the_tail() {
    let mut a = buddy();
    let ps: Vec<_> = (0..4).map(|_| malloc(&mut a, 100)).collect();
    let _fence = malloc(&mut a, 500);
    fill(ps[0], 126, 0x33);
    free(&mut a, ps[1]);
    free(&mut a, ps[3]);
    // [0, 128) + free [128, 256): in place.
    assert_eq!(realloc(&mut a, ps[0], 200), ps[0]);
    // [0, 256) + [256, 512), once both its halves are free.
    free(&mut a, ps[2]);
    let heap = a.heap.heap_size();
    assert_eq!(realloc(&mut a, ps[0], 500), ps[0]);
    assert_eq!(a.heap.heap_size(), heap);
    assert!(holds(ps[0], 126, 0x33));
    // A block carved above the frontier is a right half: it cannot grow in place.
    let last = malloc(&mut a, 2000);
    assert_eq!((off(&a, last), frontier(&a)), (2048, 4096));
    assert_ne!(realloc(&mut a, last, 4000), last);

    // The last block, a left half, grows into the tail by sbrk alone.
    let mut a = buddy();
    let p = malloc(&mut a, 100);
    assert_eq!(realloc(&mut a, p, 4000), p);
    assert_eq!((frontier(&a), a.heap.heap_size()), (4096, a.layout.base + 4096));
    assert_eq!(a.arena().nonempty(), 0);
}

#[test]
fn realloc_merges_a_free_left_buddy_and_slides_the_payload() {
    let mut a = buddy();
    let left = malloc(&mut a, 100);
    let right = malloc(&mut a, 100);
    let _fence = malloc(&mut a, 200);
    fill(right, 126, 0x44);
    free(&mut a, left);
    let q = realloc(&mut a, right, 200);
    assert_eq!((off(&a, q), off(&a, right)), (0, 128));
    assert!(holds(q, 126, 0x44));
    assert_eq!(blocks(&a)[0], (0, 8, false));
}

#[test]
fn realloc_moves_when_boxed_in_and_keeps_the_data() {
    let mut a = buddy();
    let p = malloc(&mut a, 100);
    let _neighbour = malloc(&mut a, 100);
    fill(p, 126, 0x55);
    let q = realloc(&mut a, p, 1000);
    assert_ne!(q, p);
    assert!(holds(q, 126, 0x55));
    assert_eq!(list(&a, 7), [0]);
}

#[test]
fn huge_reallocs_fail_without_touching_the_block() {
    let mut a = buddy();
    let p = malloc(&mut a, 10);
    fill(p, 14, 0x66);
    let heap = a.heap.heap_size();
    for size in [usize::MAX, usize::MAX - 1, usize::MAX / 2, HEAP, 600_000] {
        // SAFETY: `p` is live.
        assert_eq!(unsafe { a.realloc(Some(p), size) }, None, "realloc to {size}");
    }
    assert_eq!(a.heap.heap_size(), heap);
    assert!(holds(p, 14, 0x66));
    a.check_heap().unwrap();
}

// --- init -----------------------------------------------------------------------------------

#[test]
fn init_starts_over_and_a_one_page_heap_refuses_every_request() {
    // What the contract says of before `init` is the conformance kit's `before_init`.
    let mut a = Buddy::new(MemLib::new(HEAP).unwrap(), BuddyConfig::default());
    assert_eq!(
        a.describe(),
        "binary buddy, orders 2^4..2^19, 2-byte header per block, grown by each block at the break, up to 8 \
         segments"
    );
    a.init().unwrap();
    let first: Vec<_> = [100, 5000, 1].into_iter().map(|s| malloc_at(&mut a, s)).collect();
    a.heap_mut().reset_brk();
    a.init().unwrap();
    assert_eq!((frontier(&a), a.arena().nonempty(), a.heap.heap_size()), (0, 0, a.layout.base));
    let second: Vec<_> = [100, 5000, 1].into_iter().map(|s| malloc_at(&mut a, s)).collect();
    assert_eq!(first, second);
    // A one-page heap at alignment 4096: the control area takes all but 2 bytes, so
    // init works and every request is refused.
    let mut tiny = Buddy::new(MemLib::new(64).unwrap(), BuddyConfig::new(Align::MAX));
    tiny.init().unwrap();
    assert!(tiny.max_order() < tiny.min_order());
    assert_eq!((tiny.malloc(0), tiny.heap.heap_size()), (None, 4094));
    tiny.check_heap().unwrap();
}

// --- the checker catches damage ------------------------------------------------------------

/// Three allocated blocks of 16 bytes, a free one, and an allocated 64-byte block:
/// `[0,16) a, [16,32) a, [32,48) a, [48,64) f, [64,128) a`.
fn small_heap() -> Buddy {
    let mut a = buddy();
    let ps: Vec<_> = (0..4).map(|_| malloc(&mut a, 1)).collect();
    malloc(&mut a, 40);
    free(&mut a, ps[3]);
    assert_eq!(blocks(&a), [(0, 4, false), (16, 4, false), (32, 4, false), (48, 4, true), (64, 6, false)]);
    a
}

/// The rule of the buddy system's own that `err` reports, if any.
fn rule(err: &HeapCheckError) -> Option<BuddyRule> {
    err.invariant.rule::<BuddyRule>().copied()
}

fn write_header(a: &mut Buddy, at: usize, word: u16) {
    let base = a.layout.base;
    a.heap_mut().write::<u16>(base + at, word);
}

#[test]
fn the_checker_names_each_broken_header() {
    type Damage = fn(&mut Buddy);
    let cases: [(&str, Damage, usize, Invariant); 6] = [
        (
            "stray bits",
            |a| write_header(a, 16, Header::allocated(4, 0).word() | 0x4000),
            16,
            Invariant::rule_of(BuddyRule::BadHeader { header: Header::from_word(0x4104) }),
        ),
        (
            "never written",
            |a| write_header(a, 16, 0),
            16,
            Invariant::rule_of(BuddyRule::BadHeader { header: Header::from_word(0) }),
        ),
        (
            "order below the minimum",
            |a| write_header(a, 16, Header::allocated(3, 0).word()),
            16,
            Invariant::TooSmall { size: 8, min: 16 },
        ),
        (
            "order above the maximum",
            |a| write_header(a, 0, Header::allocated(20, 0).word()),
            0,
            Invariant::rule_of(BuddyRule::OrderTooLarge { order: 20, max_order: 19 }),
        ),
        (
            "not aligned to its size",
            |a| write_header(a, 16, Header::allocated(5, 0).word()),
            16,
            Invariant::rule_of(BuddyRule::Misplaced { order: 5, offset: 16, segment: 0 }),
        ),
        ("past the frontier", |a| write_header(a, 0, Header::allocated(8, 0).word()), 0, {
            Invariant::PastHeapEnd { size: 256 }
        }),
    ];
    for (what, damage, at, invariant) in cases {
        let mut a = small_heap();
        damage(&mut a);
        let err = a.check_heap().unwrap_err();
        assert_eq!((err.offset, &err.invariant), (a.layout.base + at, &invariant), "{what}");
        // Typed rules match by value, not by their text.
        if let Some(rule) = rule(&err) {
            assert_eq!(Some(&rule), invariant.rule::<BuddyRule>(), "{what}");
        }
    }
    let mut a = small_heap();
    write_header(&mut a, 16, Header::allocated(5, 0).word());
    let err = a.check_heap().unwrap_err();
    assert_eq!(rule(&err).map(|r| r.number()), Some(6));
    assert_eq!(
        err.to_string(),
        format!(
            "heap check: block at heap offset {:#x}: rule 6: a block of order 5 at arena offset 0x10 is not \
             aligned to its size 32 from its segment's start 0x0",
            a.layout.base + 16
        )
    );
}

#[test]
fn the_checker_finds_unmerged_buddies_and_a_free_block_at_the_frontier() {
    let mut a = small_heap();
    // [32, 48) marked free next to its free buddy [48, 64).
    write_header(&mut a, 32, Header::free(4, 0).word());
    let err = a.check_heap().unwrap_err();
    assert_eq!((err.offset, &err.invariant), (a.layout.base + 32, &Invariant::Uncoalesced));
    assert_eq!(
        err.to_string(),
        format!(
            "heap check: block at heap offset {:#x}: free block is followed by another free block (not coalesced)",
            a.layout.base + 32
        )
    );

    let mut a = small_heap();
    write_header(&mut a, 64, Header::free(6, 0).word());
    let err = a.check_heap().unwrap_err();
    assert_eq!((err.offset, rule(&err)), (a.layout.base + 64, Some(BuddyRule::FreeAtFrontier { order: 6 })));
}

#[test]
fn the_checker_holds_the_free_lists_to_the_heap() {
    let head_at = |a: &Buddy| a.layout.head_at(4);
    let link = |at: usize| (at >> 4) as u32 + 1;

    // The list names an allocated block.
    let mut a = small_heap();
    let at = head_at(&a);
    a.heap_mut().write::<u32>(at, link(16));
    let err = a.check_heap().unwrap_err();
    let entry = a.layout.base + 16;
    assert_eq!((err.offset, rule(&err)), (at, Some(BuddyRule::NotAFreeBlock { order: 4, entry })));

    // A free block the list has lost.
    let mut a = small_heap();
    let at = head_at(&a);
    a.heap_mut().write::<u32>(at, 0);
    let err = a.check_heap().unwrap_err();
    assert_eq!(
        (err.offset, rule(&err)),
        (a.layout.base + 48, Some(BuddyRule::Unlisted { order: 4, free: 1, listed: 0 }))
    );

    // Two entries, the second pointing back at the first: a cycle.
    let mut a = small_heap();
    let second = a.payload_ptr(Block::at(16));
    free(&mut a, second);
    assert_eq!(list(&a, 4), [16, 48]);
    let base = a.layout.base;
    a.heap_mut().write::<u32>(base + 48 + HEADER_BYTES, link(16));
    let err = a.check_heap().unwrap_err();
    assert_eq!((err.offset, rule(&err)), (base + 16, Some(BuddyRule::ListedTwice { order: 4 })));

    // A prev link that does not name the entry before.
    let mut a = small_heap();
    let base = a.layout.base;
    a.heap_mut().write::<u32>(base + 48 + HEADER_BYTES + 4, link(0));
    let err = a.check_heap().unwrap_err();
    assert_eq!(
        (err.offset, rule(&err)),
        (base + 48, Some(BuddyRule::PrevLink { found: Some(base), expected: None }))
    );

    // The non-empty mask disagrees with the lists.
    let mut a = small_heap();
    a.heap_mut().write::<u64>(NONEMPTY_AT, 0b10);
    let err = a.check_heap().unwrap_err();
    assert_eq!(
        (err.offset, rule(&err)),
        (NONEMPTY_AT, Some(BuddyRule::Mask { stored: 0b10, expected: 0b1 }))
    );
}

#[test]
fn the_checker_guards_the_frontier() {
    let mut a = small_heap();
    let past = a.heap.heap_size() - a.layout.base + 16;
    a.heap_mut().write::<usize>(FRONTIER_AT, past);
    let err = a.check_heap().unwrap_err();
    let arena_bytes = a.heap.heap_size() - a.layout.base;
    assert_eq!(
        (err.offset, rule(&err)),
        (FRONTIER_AT, Some(BuddyRule::Frontier { frontier: past, min_block: 16, arena_bytes }))
    );
    a.heap_mut().write::<usize>(FRONTIER_AT, 120);
    let err = a.check_heap().unwrap_err();
    assert_eq!(
        (err.offset, rule(&err)),
        (FRONTIER_AT, Some(BuddyRule::Frontier { frontier: 120, min_block: 16, arena_bytes }))
    );
    a.heap_mut().write::<usize>(FRONTIER_AT, 128);
    a.check_heap().unwrap();
}

#[test]
fn the_checker_guards_the_control_area() {
    let mut a = small_heap();
    let control_bytes = a.layout.base;
    a.heap_mut().reset_brk();
    let err = a.check_heap().unwrap_err();
    assert_eq!((err.offset, rule(&err)), (0, Some(BuddyRule::ControlArea { heap_bytes: 0, control_bytes })));
    assert_eq!(err.invariant.rule::<BuddyRule>().map(Rule::number), Some(1));
}

#[test]
fn the_checker_holds_blocks_to_their_segments() {
    use crate::arena::{SEGMENT_COUNT_AT, SEGMENTS_AT};
    // [0, 16) in segment 0; [16, 144) and [144, 176) in segment 1.
    let two_segments = || {
        let mut a = segmented();
        malloc(&mut a, 1);
        malloc(&mut a, 100);
        malloc(&mut a, 30);
        assert_eq!(a.stats().segments, 2);
        a
    };
    let mut a = two_segments();
    a.heap_mut().write::<u32>(SEGMENT_COUNT_AT, 0);
    let err = a.check_heap().unwrap_err();
    assert_eq!(
        (err.offset, rule(&err)),
        (SEGMENT_COUNT_AT, Some(BuddyRule::SegmentCount { count: 0, max: 8 }))
    );
    assert_eq!(rule(&err).map(|r| r.number()), Some(3));

    // The second segment said to start at 32: the block at 16 is then in segment 0,
    // though its header names segment 1; with the header made to agree, the walk finds
    // [16, 144) misplaced there.
    let mut a = two_segments();
    a.heap_mut().write::<u32>(SEGMENTS_AT + 4, 2);
    let err = a.check_heap().unwrap_err();
    let number = BuddyRule::SegmentNumber { found: 1, expected: 0 };
    assert_eq!((err.offset, rule(&err)), (a.layout.base + 16, Some(number)));
    assert_eq!(rule(&err).map(|r| r.number()), Some(4));
    write_header(&mut a, 16, Header::allocated(7, 0).word());
    let err = a.check_heap().unwrap_err();
    let misplaced = BuddyRule::Misplaced { order: 7, offset: 16, segment: 0 };
    assert_eq!((err.offset, rule(&err)), (a.layout.base + 16, Some(misplaced)));

    // Segment 0 must start at 0, and every entry past the last segment must say that
    // no segment starts there: `free` reads the entry after a block's segment as its end.
    let mut a = two_segments();
    a.heap_mut().write::<u32>(SEGMENTS_AT, 1);
    let err = a.check_heap().unwrap_err();
    let start = BuddyRule::SegmentStart { index: 0, start: 16, previous: 0, frontier: 176 };
    assert_eq!((err.offset, rule(&err)), (SEGMENTS_AT, Some(start)));
    assert!(err.to_string().contains("segment 0 starts at arena offset 0x10, not at 0"), "{err}");
    let mut a = two_segments();
    a.heap_mut().write::<u32>(SEGMENTS_AT + 4 * 2, 9);
    let err = a.check_heap().unwrap_err();
    let mark = BuddyRule::SegmentEndMark { index: 2, word: 9 };
    assert_eq!((err.offset, rule(&err)), (SEGMENTS_AT + 8, Some(mark)));
    assert_eq!(rule(&err).map(|r| r.number()), Some(3));

    // Past the frontier.
    let mut a = two_segments();
    a.heap_mut().write::<u32>(SEGMENTS_AT + 4, 100);
    let err = a.check_heap().unwrap_err();
    let start = BuddyRule::SegmentStart { index: 1, start: 1600, previous: 0, frontier: 176 };
    assert_eq!((err.offset, rule(&err)), (SEGMENTS_AT + 4, Some(start)));

    // A block of segment 0 grown over the start of segment 1.
    let mut a = two_segments();
    write_header(&mut a, 0, Header::allocated(5, 0).word());
    let err = a.check_heap().unwrap_err();
    let crosses = BuddyRule::CrossesSegment { order: 5, segment_end: 16 };
    assert_eq!((err.offset, rule(&err)), (a.layout.base, Some(crosses)));
}

// --- limits: link width, header width, the largest heap --------------------------------

const GIB: usize = 1 << 30;

#[test]
fn every_block_of_the_largest_arena_can_be_linked() {
    // Links name arena offsets in units of 16 bytes, in 32 bits: the arena reaches
    // 2^36 - 16 bytes and no further, however large the reservation. A reservation past
    // that limit (untouched pages cost nothing) is filled from the largest blocks down,
    // then emptied: every block freed must be linked correctly, and merge back.
    let mut a = Buddy::new(MemLib::reserve(72 * GIB).unwrap(), BuddyConfig::new(Align::SIXTEEN));
    a.init().unwrap();
    let mut live = Vec::new();
    for order in (a.min_order()..=34).rev() {
        while let Some(p) = a.malloc(size_of_order(order) - HEADER_BYTES) {
            live.push(p);
        }
    }
    assert_eq!(live.len(), 3 + (4..=33).count(), "3 blocks of 16 GiB, then one of every smaller order");
    let reach = (u32::MAX as usize) << 4;
    for &p in &live {
        let end = off(&a, p) + size_of_order(a.arena().header(a.payload_block(p).unwrap()).order());
        assert!(end <= reach, "a block ends at arena offset {end:#x}, past what a link can name");
    }
    a.check_heap().unwrap();
    for p in live.into_iter().rev() {
        free(&mut a, p);
    }
    assert_eq!(frontier(&a), 0, "everything merged back into the untouched tail");
    for _ in 0..3 {
        malloc(&mut a, 16 * GIB - HEADER_BYTES);
    }
}

#[test]
fn a_header_never_takes_an_order_it_cannot_hold() {
    assert_eq!(Header::allocated(63, 0).order(), 63);
    assert_eq!(Header::free(4, 7).segment(), 7);
    for make in [Header::allocated, Header::free] {
        assert!(std::panic::catch_unwind(|| make(64, 0)).is_err(), "order 64 would be truncated to 0");
        assert!(std::panic::catch_unwind(|| make(4, 8)).is_err(), "segment 8 would be truncated to 0");
    }
}

// --- misuse the default build catches ---------------------------------------------------

use mm_testkit::{ALIGNMENTS, misuse};

fn factory(heap: MemLib, align: Align) -> Buddy {
    Buddy::new(heap, BuddyConfig::new(align))
}

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    for align in ALIGNMENTS {
        misuse::double_free(factory, align);
    }
}

#[test]
fn a_right_buddy_freed_twice_after_merging_left_is_seen_as_freed() {
    let mut a = buddy();
    let (left, right, _guard) = (malloc(&mut a, 40), malloc(&mut a, 40), malloc(&mut a, 40));
    free(&mut a, left);
    free(&mut a, right);
    assert_eq!(blocks(&a)[0], (0, 7, true), "the two merged");
    // SAFETY: deliberately misused: `right` was freed.
    unsafe { a.free(right) };
    let offset = a.heap().offset_of(right.as_ptr());
    assert_eq!(a.take_misuse(), Some(mm_core::Misuse::DoubleFree { offset }));
    a.check_heap().unwrap();
}

#[test]
fn a_pointer_freed_after_realloc_slid_its_block_down_is_seen_as_freed() {
    let mut a = buddy();
    let (left, p, _guard) = (malloc(&mut a, 40), malloc(&mut a, 40), malloc(&mut a, 200));
    free(&mut a, left);
    let q = realloc(&mut a, p, 100);
    assert_eq!(q, left, "slid down into the free left buddy");
    // SAFETY: deliberately misused: `p` was given up to realloc.
    unsafe { a.free(p) };
    assert!(matches!(a.take_misuse(), Some(mm_core::Misuse::DoubleFree { .. })));
    a.check_heap().unwrap();
}

#[test]
fn pointers_that_are_not_payloads_are_refused() {
    for align in ALIGNMENTS {
        misuse::wild_pointers(factory, align);
    }
}

#[test]
fn an_overflow_never_makes_the_default_build_write_outside_the_heap() {
    misuse::overflows_stay_inside_the_heap(factory);
}

#[test]
fn hardened_catches_an_overflow_when_either_neighbour_is_freed() {
    let caught = misuse::hardened_catches_overflows(factory);
    // 48 overflows into a free neighbour, 48 into an allocated one freed in two orders:
    // every one changes the neighbour's header, and every one is caught.
    assert_eq!(caught, 144);
}

// --- corruption: the operation stops, inside the heap -----------------------------------

/// The link word naming arena offset `offset`.
fn link_to(offset: usize) -> u32 {
    (offset / 16 + 1) as u32
}

#[test]
fn a_write_into_a_freed_block_never_leads_outside_the_heap() {
    // free(q), then the program writes over q's links, then malloc of q's size: an
    // unchecked unlink would write where the links point.
    fn past(a: &Buddy, pages: usize) -> u32 {
        link_to(a.arena().materialized() + 4096 * pages)
    }
    type Forge = fn(&Buddy, u32) -> [u32; 2];
    let forgeries: [(&str, Forge); 5] = [
        ("next past the break", |a, _| [past(a, 1), 0]),
        ("next far past the break", |a, _| [past(a, 100), 0]),
        ("prev past the break", |a, _| [0, past(a, 1)]),
        ("next at an allocated block", |_, _| [link_to(0), 0]),
        ("prev at itself", |_, me| [0, me]),
    ];
    for (what, forge) in forgeries {
        let mut a = buddy();
        let blocks: Vec<_> = (0..4).map(|_| malloc(&mut a, 40)).collect();
        let q = blocks[1];
        free(&mut a, q);
        assert_eq!(list(&a, 6), [64], "{what}");
        let words = forge(&a, link_to(64));
        // SAFETY: the 8 bytes at `q` are the freed block's links, inside the heap.
        unsafe { q.as_ptr().cast::<[u32; 2]>().write_unaligned(words) };
        misuse::stops_inside_the_heap(&mut a, "buddy", "corrupted double-linked list", |a| {
            a.malloc(40);
        });
    }
}

#[test]
fn a_header_naming_another_segment_stops_free() {
    // [0, 16) in segment 0; [16, 144) and [144, 176) in segment 1. The last block's
    // header rewritten to name segment 0: `free` counts buddies from the segment the
    // header names, so it must find that the block does not lie there, and stop.
    let mut a = segmented();
    malloc(&mut a, 1);
    malloc(&mut a, 100);
    let p = malloc(&mut a, 30);
    assert_eq!(a.arena().header(a.payload_block(p).unwrap()), Header::allocated(5, 1));
    write_header(&mut a, 144, Header::allocated(5, 0).word());
    assert_eq!(a.check_free(p), Err(Misuse::InvalidPointer { offset: a.layout.base + 146 }));
    misuse::stops_inside_the_heap(&mut a, "buddy", "invalid block size", |a| {
        // SAFETY: `p` is live (its header was overwritten).
        unsafe { a.free(p) };
    });
}

#[test]
fn a_forged_free_header_is_not_merged_with() {
    // An overflow that makes the right buddy look free: freeing the block must not
    // unlink a block that is not on the list.
    let mut a = buddy();
    let (p, n, _guard) = (malloc(&mut a, 40), malloc(&mut a, 40), malloc(&mut a, 40));
    // SAFETY: the two bytes past `p`'s usable size are `n`'s header, inside the heap.
    unsafe { p.as_ptr().add(a.usable_size(p)).cast::<u16>().write_unaligned(Header::free(6, 0).word()) };
    misuse::stops_inside_the_heap(&mut a, "buddy", "corrupted double-linked list", |a| {
        // SAFETY: `p` is live.
        unsafe { a.free(p) };
    });
    let _ = n;
}
