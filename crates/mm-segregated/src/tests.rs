//! Unit tests: placement, coalescing, realloc paths and the checker.

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Invariant, MemLib};

use crate::block::{Block, HEADER};
use crate::{Segregated, SegregatedConfig};

fn new(align: usize) -> Segregated {
    let mut a = Segregated::new(
        MemLib::new(1 << 20).unwrap(),
        SegregatedConfig { align: Align::new(align).unwrap() },
    );
    a.init().unwrap();
    a
}

fn malloc(a: &mut Segregated, size: usize) -> NonNull<u8> {
    let p = a.malloc(size).expect("malloc");
    a.check_heap().unwrap();
    p
}

fn free(a: &mut Segregated, p: NonNull<u8>) {
    // SAFETY: the tests free each pointer from `malloc` once.
    unsafe { a.free(p) };
    a.check_heap().unwrap();
}

fn realloc(a: &mut Segregated, p: NonNull<u8>, size: usize) -> NonNull<u8> {
    // SAFETY: `p` is live.
    let q = unsafe { a.realloc(Some(p), size) }.expect("realloc");
    a.check_heap().unwrap();
    q
}

fn offset(a: &Segregated, p: NonNull<u8>) -> usize {
    a.heap().offset_of(p.as_ptr())
}

#[test]
fn blocks_cost_a_four_byte_header() {
    let mut a = new(8);
    let p = malloc(&mut a, 12);
    let q = malloc(&mut a, 20);
    assert_eq!(offset(&a, q) - offset(&a, p), 16, "12 bytes + header = one 16-byte block");
    // SAFETY: `p` is live.
    assert_eq!(unsafe { a.usable_size(p) }, 12);
    assert_eq!(a.heap().heap_size(), 8 + 16 + 24, "pad + two blocks, nothing more");
}

#[test]
fn the_heap_grows_only_by_what_is_missing() {
    let mut a = new(8);
    let p = malloc(&mut a, 100);
    let q = malloc(&mut a, 100);
    free(&mut a, q);
    let before = a.heap().heap_size();
    let r = malloc(&mut a, 300);
    assert_eq!(offset(&a, r), offset(&a, q), "the free last block is reused");
    assert_eq!(a.heap().heap_size() - before, 304 - 104, "grown by the shortfall only");
    free(&mut a, p);
    free(&mut a, r);
}

#[test]
fn all_four_coalescing_cases_leave_one_free_block() {
    for order in [[0, 1, 2], [2, 1, 0], [0, 2, 1], [1, 0, 2]] {
        let mut a = new(8);
        let blocks: Vec<_> = (0..3).map(|_| malloc(&mut a, 40)).collect();
        let guard = malloc(&mut a, 40);
        for i in order {
            free(&mut a, blocks[i]);
        }
        let first = Block::from_payload(offset(&a, blocks[0]));
        assert_eq!(first.header(a.heap()).size(), 3 * 48, "order {order:?}");
        free(&mut a, guard);
    }
}

#[test]
fn small_requests_take_the_high_end_of_a_split_block() {
    let mut a = new(8);
    let big = malloc(&mut a, 16000);
    let guard = malloc(&mut a, 8);
    free(&mut a, big);
    // The running (geometric) average is now between 16 and 16000 bytes.
    let large = malloc(&mut a, 10000);
    assert_eq!(offset(&a, large), offset(&a, big), "a large request takes the low end");
    let small = malloc(&mut a, 16);
    let guard_at = offset(&a, guard);
    assert_eq!(offset(&a, small), guard_at - 24, "a small request takes the high end");
    free(&mut a, large);
    free(&mut a, small);
    free(&mut a, guard);
}

#[test]
fn realloc_shrinks_in_place_and_frees_the_tail() {
    let mut a = new(8);
    let p = malloc(&mut a, 1000);
    let guard = malloc(&mut a, 8);
    let q = realloc(&mut a, p, 100);
    assert_eq!(q, p);
    let tail = Block::from_payload(offset(&a, p)).plus(104);
    assert!(!tail.header(a.heap()).is_allocated());
    free(&mut a, q);
    free(&mut a, guard);
}

#[test]
fn a_small_shrink_keeps_the_block_whole() {
    let mut a = new(8);
    let p = malloc(&mut a, 1000);
    let _guard = malloc(&mut a, 8);
    assert_eq!(realloc(&mut a, p, 600), p);
    // SAFETY: `p` is live.
    assert_eq!(unsafe { a.usable_size(p) }, 1004, "no tail split off above half the size");
    assert_eq!(realloc(&mut a, p, 900), p, "and it grows back in place");
}

#[test]
fn realloc_grows_into_a_free_right_neighbour() {
    let mut a = new(8);
    let p = malloc(&mut a, 100);
    let n = malloc(&mut a, 200);
    let guard = malloc(&mut a, 8);
    free(&mut a, n);
    assert_eq!(realloc(&mut a, p, 250), p);
    free(&mut a, p);
    free(&mut a, guard);
}

#[test]
fn realloc_grows_the_last_block_with_the_heap() {
    let mut a = new(8);
    let p = malloc(&mut a, 100);
    let before = a.heap().heap_size();
    assert_eq!(realloc(&mut a, p, 1000), p);
    assert_eq!(a.heap().heap_size() - before, 1008 - 104);
}

#[test]
fn realloc_slides_into_a_free_left_neighbour_keeping_the_data() {
    let mut a = new(16);
    let left = malloc(&mut a, 200);
    let p = malloc(&mut a, 100);
    let guard = malloc(&mut a, 8);
    // SAFETY: `p` has at least 100 usable bytes.
    unsafe { (0..100).for_each(|i| p.as_ptr().add(i).write(i as u8)) };
    free(&mut a, left);
    let before = a.heap().heap_size();
    let q = realloc(&mut a, p, 250);
    assert_eq!(q, left, "moved down into the left neighbour");
    assert_eq!(a.heap().heap_size(), before, "without growing the heap");
    // SAFETY: `q` has at least 250 usable bytes, the first 100 kept.
    let data = unsafe { std::slice::from_raw_parts(q.as_ptr(), 100) };
    assert!(data.iter().enumerate().all(|(i, &b)| b == i as u8));
    free(&mut a, q);
    free(&mut a, guard);
}

#[test]
fn payloads_honour_large_alignments() {
    for align in [8, 16, 64, 4096] {
        let mut a = new(align);
        for size in [1, 13, 100, 5000] {
            let p = malloc(&mut a, size);
            assert_eq!(p.as_ptr() as usize % align, 0, "align {align}, size {size}");
        }
    }
}

/// Breaks one thing through the heap memory and expects the checker to name it.
fn corrupted(break_it: impl Fn(&mut Segregated, Block, Block), expect: impl Fn(&Invariant) -> bool) {
    let mut a = new(8);
    let p = malloc(&mut a, 40);
    let q = malloc(&mut a, 40);
    let _guard = malloc(&mut a, 40);
    free(&mut a, q);
    let (used, free_block) = (Block::from_payload(offset(&a, p)), Block::from_payload(offset(&a, q)));
    break_it(&mut a, used, free_block);
    let err = a.check_heap().expect_err("the checker must notice");
    assert!(expect(&err.invariant), "unexpected: {err}");
}

#[test]
fn the_checker_catches_broken_sizes_flags_footers_and_links() {
    corrupted(
        |a, used, _| a.heap_mut().write::<u32>(used.offset(), 48 | 7),
        |i| matches!(i, Invariant::Flags(_)),
    );
    corrupted(
        |a, used, _| a.heap_mut().write::<u32>(used.offset(), 8 | 3),
        |i| matches!(i, Invariant::TooSmall { .. }),
    );
    corrupted(
        |a, used, _| a.heap_mut().write::<u32>(used.offset(), 1 << 20 | 3),
        |i| matches!(i, Invariant::PastHeapEnd { .. }),
    );
    corrupted(
        |a, used, _| a.heap_mut().write::<u32>(used.offset(), 48 | 1),
        |i| matches!(i, Invariant::Flags(_)),
    );
    corrupted(
        |a, _, free| a.heap_mut().write::<u32>(free.offset() + 48 - HEADER, 40),
        |i| matches!(i, Invariant::HeaderFooterMismatch { header: 48, footer: 40 }),
    );
    corrupted(
        |a, _, free| free.set_prev_link(a.heap_mut(), Some(free)),
        |i| matches!(i, Invariant::FreeList(_)),
    );
    corrupted(
        |a, _, free| free.set_next_link(a.heap_mut(), Some(free)),
        |i| matches!(i, Invariant::FreeList(_)),
    );
    corrupted(
        |a, used, _| used.set_header(&mut a.heap, crate::Header::new(48, crate::HeaderFlags::PREV_ALLOCATED)),
        |i| matches!(i, Invariant::HeaderFooterMismatch { .. } | Invariant::FreeList(_)),
    );
    corrupted(|a, _, _| a.lists.bitmap.set(7), |i| matches!(i, Invariant::FreeList(_)));
    corrupted(
        |a, _, _| {
            let end = a.epilogue();
            a.heap_mut().write::<u32>(end.offset(), 0);
        },
        |i| matches!(i, Invariant::BadEpilogue),
    );
}
