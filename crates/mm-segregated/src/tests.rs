//! Unit tests: placement, coalescing, realloc paths and the checker.

use std::ptr::NonNull;

use mm_core::allocator::Rule;
use mm_core::{Align, Allocator, HeapCheckError, Invariant, MemLib};
use mm_testkit::checked::{free, malloc, realloc};

use crate::block::{Block, HEADER, MAX_BLOCK, MAX_HEAP, encode};
use crate::{Header, HeaderFlags, Segregated, SegregatedConfig, SegregatedRule};

fn new(align: usize) -> Segregated {
    let mut a = Segregated::new(
        MemLib::new(1 << 20).unwrap(),
        SegregatedConfig { align: Align::new(align).unwrap() },
    );
    a.init().unwrap();
    a
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

/// Breaks one thing through the heap memory of a heap holding an allocated block, a
/// free one and a guard (`[4, 52)` allocated, `[52, 100)` free, `[100, 148)` allocated),
/// and returns what the checker says.
fn corrupted(break_it: impl Fn(&mut Segregated, Block, Block)) -> HeapCheckError {
    let mut a = new(8);
    let p = malloc(&mut a, 40);
    let q = malloc(&mut a, 40);
    let _guard = malloc(&mut a, 40);
    free(&mut a, q);
    let (used, free_block) = (Block::from_payload(offset(&a, p)), Block::from_payload(offset(&a, q)));
    assert_eq!((used.offset(), free_block.offset()), (4, 52));
    break_it(&mut a, used, free_block);
    a.check_heap().expect_err("the checker must notice")
}

/// The rule of segregated fits' own that `err` reports, if any.
fn rule(err: &HeapCheckError) -> Option<SegregatedRule> {
    err.invariant.rule::<SegregatedRule>().copied()
}

#[test]
fn the_checker_catches_broken_sizes_flags_footers_and_the_epilogue() {
    let err = corrupted(|a, used, _| a.heap_mut().write::<u32>(used.offset(), 48 | 7));
    assert_eq!(rule(&err), Some(SegregatedRule::UnknownFlags { header: Header::from_word(48 | 7) }));
    assert_eq!((err.offset, err.invariant.rule::<SegregatedRule>().map(Rule::number)), (4, Some(2)));
    let err = corrupted(|a, used, _| a.heap_mut().write::<u32>(used.offset(), 8 | 3));
    assert_eq!(err.invariant, Invariant::TooSmall { size: 8, min: 16 });
    let err = corrupted(|a, used, _| a.heap_mut().write::<u32>(used.offset(), 1 << 20 | 3));
    assert_eq!(err.invariant, Invariant::PastHeapEnd { size: 1 << 20 });
    // The first block's left is the padding, which counts as allocated.
    let err = corrupted(|a, used, _| a.heap_mut().write::<u32>(used.offset(), 48 | 1));
    assert_eq!(
        rule(&err),
        Some(SegregatedRule::PrevAllocated { header: Header::from_word(48 | 1), left_allocated: true })
    );
    assert_eq!(
        err.to_string(),
        "heap check: block at heap offset 0x4: rule 3: PREV_ALLOCATED is false but the block to the left is allocated"
    );
    let err = corrupted(|a, _, free| a.heap_mut().write::<u32>(free.offset() + 48 - HEADER, 40));
    assert_eq!((err.offset, err.invariant), (52, Invariant::HeaderFooterMismatch { header: 48, footer: 40 }));
    // An allocated block marked free: its "footer" is the last word of a payload never
    // written (the heap's fresh memory is zero).
    let err =
        corrupted(|a, used, _| used.set_header(&mut a.heap, Header::new(48, HeaderFlags::PREV_ALLOCATED)));
    assert_eq!((err.offset, err.invariant), (4, Invariant::HeaderFooterMismatch { header: 48, footer: 0 }));
    let err = corrupted(|a, _, _| {
        let end = a.epilogue();
        a.heap_mut().write::<u32>(end.offset(), 0);
    });
    assert_eq!(err.invariant, Invariant::BadEpilogue);
}

#[test]
fn the_checker_holds_the_lists_and_the_bitmap_to_the_heap() {
    // The free block [52, 100) is the only listed one, in class 6 (48 bytes).
    assert_eq!(crate::classes::class_of(48), 6);
    let err = corrupted(|a, _, free| free.set_prev_link(a.heap_mut(), Some(free)));
    assert_eq!(
        (err.offset, rule(&err)),
        (52, Some(SegregatedRule::PrevLink { found: Some(52), expected: None }))
    );
    let err = corrupted(|a, _, free| free.set_next_link(a.heap_mut(), Some(free)));
    assert_eq!(rule(&err), Some(SegregatedRule::ListedCount { free_blocks: 1, listed: 2 }));
    assert!(err.to_string().ends_with("(a cycle or a stale block)"), "{err}");
    let err = corrupted(|a, _, _| a.lists.bitmap.set(7));
    assert_eq!((err.offset, rule(&err)), (0, Some(SegregatedRule::Bitmap { class: 7, bit: true })));
    let err = corrupted(|a, _, _| a.lists.bitmap.clear(6));
    assert_eq!(rule(&err), Some(SegregatedRule::Bitmap { class: 6, bit: false }));
    let err = corrupted(|a, _, _| a.lists.heads[6] = encode(Some(Block::at(a.heap().heap_size() + 64))));
    assert_eq!(rule(&err), Some(SegregatedRule::LinkOutsideHeap { class: 6 }));
    let err = corrupted(|a, used, _| a.lists.heads[6] = encode(Some(used)));
    assert_eq!((err.offset, rule(&err)), (4, Some(SegregatedRule::AllocatedOnList { class: 6 })));
    let err = corrupted(|a, _, _| {
        a.lists.heads.swap(6, 7);
        a.lists.bitmap.clear(6);
        a.lists.bitmap.set(7);
    });
    assert_eq!((err.offset, rule(&err)), (52, Some(SegregatedRule::WrongClass { class: 7, size: 48 })));
    let err = corrupted(|a, _, _| {
        a.lists.heads[6] = 0;
        a.lists.bitmap.clear(6);
    });
    assert_eq!(
        (err.offset, rule(&err)),
        (0, Some(SegregatedRule::ListedCount { free_blocks: 1, listed: 0 }))
    );
    assert_eq!(
        err.to_string(),
        "heap check: block at heap offset 0x0: rule 12: the heap has 1 free blocks but the lists hold 0"
    );
}

// ---- limits: the largest block, the largest heap ---------------------------------------

/// An allocator over a reservation of `bytes` of virtual memory: blocks of gigabytes
/// cost only the pages their headers and footers touch.
fn huge(bytes: usize) -> Segregated {
    let mut a = Segregated::new(MemLib::reserve(bytes).unwrap(), SegregatedConfig { align: Align::SIXTEEN });
    a.init().unwrap();
    a
}

const GIB: usize = 1 << 30;

/// The sizes of the free blocks, walking the heap.
fn free_block_sizes(a: &Segregated) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut at = Block::at(a.config.align.get() - HEADER);
    while at != a.epilogue() {
        let header = at.header(a.heap());
        if !header.is_allocated() {
            sizes.push(header.size());
        }
        at = at.plus(header.size());
    }
    sizes
}

#[test]
fn free_neighbours_past_the_largest_block_stay_apart() {
    // The issue-11 reproduction: five 1 GiB blocks freed side by side would merge into
    // 5 GiB, more than a 32-bit header holds.
    for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 3, 0, 4, 2]] {
        let mut a = huge(8 * GIB);
        let blocks: Vec<_> = (0..5).map(|_| malloc(&mut a, GIB)).collect();
        let keep = malloc(&mut a, 64);
        for i in order {
            free(&mut a, blocks[i]);
        }
        let sizes = free_block_sizes(&a);
        assert!(sizes.iter().all(|&s| s <= MAX_BLOCK), "{order:?}: {sizes:?}");
        assert!(sizes.iter().sum::<usize>() >= 5 * GIB, "{order:?}: {sizes:?}");
        // The space is all there: the same five blocks fit again without growing.
        let before = a.heap().heap_size();
        let again: Vec<_> = (0..5).map(|_| malloc(&mut a, GIB)).collect();
        assert_eq!(a.heap().heap_size(), before, "{order:?}: freed gigabytes reused");
        for p in again.into_iter().rev() {
            free(&mut a, p);
        }
        free(&mut a, keep);
    }
}

#[test]
fn the_largest_block_is_served_and_one_byte_more_is_refused() {
    let mut a = huge(10 * GIB);
    let largest = MAX_BLOCK - HEADER; // align 16: MAX_BLOCK is a multiple of 16 plus 8
    let largest = largest - (largest + HEADER) % 16;
    let p = malloc(&mut a, largest);
    // SAFETY: `p` is live.
    assert!(unsafe { a.usable_size(p) } >= largest);
    assert!(a.malloc(MAX_BLOCK).is_none(), "past the largest block");
    assert!(a.malloc(usize::MAX - 3).is_none());
    a.check_heap().unwrap();
    // Growing it by realloc past the limit fails and keeps it.
    // SAFETY: `p` is live.
    assert_eq!(unsafe { a.realloc(Some(p), MAX_BLOCK) }, None);
    a.check_heap().unwrap();
    // Two of them side by side, freed, stay two blocks; a third request reuses one.
    let q = malloc(&mut a, largest);
    free(&mut a, p);
    free(&mut a, q);
    let before = a.heap().heap_size();
    let r = malloc(&mut a, largest);
    assert_eq!(a.heap().heap_size(), before);
    // Shrinking a near-limit block next to a near-limit free one merges only what fits.
    let r = realloc(&mut a, r, GIB);
    free(&mut a, r);
}

#[test]
fn realloc_never_merges_past_the_largest_block() {
    let mut a = huge(12 * GIB);
    let left = malloc(&mut a, 3 * GIB);
    let p = malloc(&mut a, 2 * GIB);
    let right = malloc(&mut a, 3 * GIB);
    let _guard = malloc(&mut a, 64);
    free(&mut a, left);
    free(&mut a, right);
    // 3 + 2 + 3 GiB around `p`: growing to 3.5 GiB can use one side, never both.
    let q = realloc(&mut a, p, 3 * GIB + GIB / 2);
    // SAFETY: `q` is live.
    assert!(unsafe { a.usable_size(q) } >= 3 * GIB + GIB / 2);
    free(&mut a, q);
}

#[test]
fn the_heap_stops_at_what_a_link_can_name() {
    // Links are payload offsets / 8 in 32 bits: 32 GiB of heap. Reserve more, and the
    // allocator must still stop there, cleanly.
    let mut a = huge(MAX_HEAP + 8 * GIB);
    let mut live = Vec::new();
    while let Some(p) = a.malloc(MAX_BLOCK / 2) {
        live.push(p);
        assert!(a.heap().heap_size() <= MAX_HEAP);
    }
    a.check_heap().unwrap();
    assert!(a.heap().heap_size() > MAX_HEAP - MAX_BLOCK, "it used the heap up to the limit");
    // Small blocks still fit in what is left, and every one of them can be listed.
    while let Some(p) = a.malloc(1 << 20) {
        live.push(p);
    }
    a.check_heap().unwrap();
    for p in live.iter().skip(1).step_by(2) {
        free(&mut a, *p);
    }
    for p in live.iter().step_by(2) {
        free(&mut a, *p);
    }
    assert!(a.malloc(MAX_BLOCK / 2).is_some(), "the freed space is found through the lists");
}

// ---- misuse the default build catches ------------------------------------------------

use mm_testkit::{ALIGNMENTS, misuse};

fn factory(heap: MemLib, align: Align) -> Segregated {
    Segregated::new(heap, SegregatedConfig { align })
}

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    for align in ALIGNMENTS {
        misuse::double_free(factory, align);
    }
}

#[test]
fn a_pointer_freed_after_realloc_slid_its_block_down_is_seen_as_freed() {
    let mut a = new(16);
    let (left, p, _guard) = (malloc(&mut a, 200), malloc(&mut a, 100), malloc(&mut a, 8));
    free(&mut a, left);
    let q = realloc(&mut a, p, 250);
    assert_eq!(q, left, "slid down into the free left neighbour");
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
    // 48 overflows into a free neighbour, 48 into an allocated one freed in two orders:
    // every one changes a header, and every one is caught.
    assert_eq!(misuse::hardened_catches_overflows(factory), 144);
}

// ---- corruption: the operation stops, inside the heap ----------------------------------

/// A link word that names a block `bytes` past the break.
fn link_past_the_break(a: &Segregated, bytes: usize) -> u32 {
    ((a.heap().heap_size() + bytes) / 8) as u32
}

#[test]
fn a_write_into_a_freed_block_never_leads_outside_the_heap() {
    // free(q), then the program writes over q's links, then malloc of q's size: an
    // unchecked unlink would write `prev` into the word `next` names.
    for (next, prev) in [(1, 0), (2, 0), (0, 1)] {
        let mut a = new(16);
        let _p = malloc(&mut a, 40);
        let q = malloc(&mut a, 40);
        let _r = malloc(&mut a, 40);
        let _guard = malloc(&mut a, 40);
        free(&mut a, q);
        let (forged_next, forged_prev) =
            (link_past_the_break(&a, 4096 * next), link_past_the_break(&a, 4096 * prev));
        let words = [if next > 0 { forged_next } else { 0 }, if prev > 0 { forged_prev } else { 0 }];
        // SAFETY: the 8 bytes at `q` are the freed block's links, inside the heap.
        unsafe { q.as_ptr().cast::<[u32; 2]>().write(words) };
        misuse::stops_inside_the_heap(&mut a, "segregated", "corrupted double-linked list", |a| {
            a.malloc(40);
        });
    }
}

#[test]
fn describe_quotes_the_constants_as_the_docs_do() {
    // docs/ and README quote this line: formatted from the constants, it must still read
    // exactly so.
    assert_eq!(
        new(8).describe(),
        "segregated fits: 416 size classes with a bitmap, best of 8 in class, 4-byte headers, no footers \
         when allocated"
    );
}
