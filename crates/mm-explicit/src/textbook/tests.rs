//! White-box tests of the textbook list: every newly free block goes to the front, first
//! fit takes the first block from the front that fits, and the checker holds rules 1 to
//! 13 (not the tuned list's 14 to 16). Each test that shows a policy also shows where
//! the tuned list decides otherwise. The conformance kit (tests/conformance.rs) covers
//! the contract; the misuse tests are the tuned list's, on this list.

use std::ptr::NonNull;

use mm_core::{Align, Allocator, HeapCheckError, Invariant, MemLib};
use mm_tags::{Block, Tag, WORD, walk};
use mm_testkit::{ALIGNMENTS, misuse};

use super::*;
use crate::list::{NIL, next_link_offset};
use crate::tests::list_rule;
use crate::{Explicit, ExplicitConfig, ExplicitRule};
use mm_testkit::checked::{free, malloc, realloc};

/// A block of 100 payload bytes is 120 bytes at alignment 8 (16 of tags, rounded).
const B100: usize = 120;

fn textbook(align: Align) -> ExplicitTextbook {
    let mut a = ExplicitTextbook::new(MemLib::new(1 << 20).unwrap(), ExplicitTextbookConfig::new(align));
    a.init().unwrap();
    a
}

/// Every block as (heap offset of its header, size, allocated).
fn blocks(a: &ExplicitTextbook) -> Vec<(usize, usize, bool)> {
    walk(&a.heap, a.layout.first).map(|(b, t)| (b.offset(), t.size(), t.is_allocated())).collect()
}

/// The free list, front to back, as heap offsets of the headers.
fn listed(a: &ExplicitTextbook) -> Vec<usize> {
    a.list.iter(&a.heap).map(Block::offset).collect()
}

/// The header offset of the block whose payload is `p`.
fn hdr<A: Allocator>(a: &A, p: NonNull<u8>) -> usize {
    Block::from_payload(a.heap().offset_of(p.as_ptr())).offset()
}

/// `n` blocks of 100 bytes, then a small fence so that none of them is the last block.
fn row(n: usize) -> (ExplicitTextbook, Vec<NonNull<u8>>) {
    let mut a = textbook(Align::MIN);
    let ps = (0..n).map(|_| malloc(&mut a, 100)).collect();
    malloc(&mut a, 8);
    (a, ps)
}

// --- the list -----------------------------------------------------------------------

#[test]
fn every_freed_block_goes_to_the_front_merged_or_not() {
    let (mut a, ps) = row(7);
    let h: Vec<usize> = ps.iter().map(|&p| hdr(&a, p)).collect();
    for i in [3, 1, 5] {
        free(&mut a, ps[i]);
    }
    assert_eq!(listed(&a), [h[5], h[1], h[3]]);
    // Freeing 2 merges 1, 2 and 3; the merged block goes to the front. (The tuned list
    // keeps it where 1 was, behind 5.)
    free(&mut a, ps[2]);
    assert_eq!(listed(&a), [h[1], h[5]]);
    assert_eq!(Block::at(h[1]).size(&a.heap), 3 * B100);
    // First fit from the front: the merged block, the most recently freed.
    assert_eq!(malloc(&mut a, 100), ps[1]);
    assert_eq!(listed(&a), [h[2], h[5]], "the remainder went to the front");
}

#[test]
fn a_split_remainder_goes_to_the_front() {
    let mut a = textbook(Align::MIN);
    let big = malloc(&mut a, 300);
    malloc(&mut a, 8);
    let small = malloc(&mut a, 16);
    malloc(&mut a, 8);
    free(&mut a, big);
    free(&mut a, small);
    assert_eq!(listed(&a), [hdr(&a, small), hdr(&a, big)]);
    // 100 bytes do not fit the small block at the front, so first fit cuts them out of
    // the big one, and its rest goes to the front. (The tuned list leaves the rest where
    // the big block was, behind the small one.)
    assert_eq!(malloc(&mut a, 100), big);
    assert_eq!(listed(&a), [hdr(&a, big) + B100, hdr(&a, small)]);
}

#[test]
fn the_end_of_the_heap_is_not_kept_for_last() {
    let run = |a: &mut dyn Allocator| {
        let ps: Vec<_> = (0..4).map(|_| malloc(a, 100)).collect();
        free(a, ps[1]);
        free(a, ps[3]);
        let p = malloc(a, 100);
        ps.iter().position(|&q| q == p).unwrap()
    };
    // The free last block was freed last, so it is at the front, and first fit takes
    // it: the textbook list spends the end of the heap on a request a hole fits.
    assert_eq!(run(&mut textbook(Align::MIN)), 3);
    let mut tuned = Explicit::new(MemLib::new(1 << 20).unwrap(), ExplicitConfig::default());
    tuned.init().unwrap();
    assert_eq!(run(&mut tuned), 1, "the tuned list keeps the wilderness at the back");
}

#[test]
fn coalescing_covers_all_four_boundary_tag_cases_and_lists_the_result_once() {
    // Four allocated blocks a b c d (and a fence); free some, then b.
    fn case(free_first: &[usize]) -> (Vec<(usize, usize, bool)>, Vec<usize>) {
        let (mut a, ps) = row(4);
        for &i in free_first {
            free(&mut a, ps[i]);
        }
        free(&mut a, ps[1]);
        let first = a.layout.first.offset();
        let index = |o: usize| (o - first) / B100;
        let all = blocks(&a);
        let shape = all[..all.len() - 1].iter().map(|&(o, s, f)| (index(o), s / B100, f)).collect();
        (shape, listed(&a).into_iter().map(index).collect())
    }
    // (block index, size in blocks, allocated); then the list, as block indices.
    assert_eq!(case(&[]), (vec![(0, 1, true), (1, 1, false), (2, 1, true), (3, 1, true)], vec![1]));
    assert_eq!(case(&[2]), (vec![(0, 1, true), (1, 2, false), (3, 1, true)], vec![1]));
    assert_eq!(case(&[0]), (vec![(0, 2, false), (2, 1, true), (3, 1, true)], vec![0]));
    assert_eq!(case(&[0, 2]), (vec![(0, 3, false), (3, 1, true)], vec![0]));
}

#[test]
fn the_heap_grows_by_exactly_what_is_missing() {
    let mut a = textbook(Align::MIN);
    let base = a.heap.heap_size();
    let p = malloc(&mut a, 100);
    assert_eq!(a.heap.heap_size(), base + B100);
    let q = malloc(&mut a, 1000);
    assert_eq!(a.heap.heap_size(), base + B100 + 1016);
    // The free last block is reused and topped up by the difference only.
    free(&mut a, q);
    assert_eq!(malloc(&mut a, 2000), q);
    assert_eq!(a.heap.heap_size(), base + B100 + 2016);
    assert_eq!(listed(&a), []);
    free(&mut a, p);
    assert_eq!(listed(&a), [hdr(&a, p)]);
}

// --- realloc ------------------------------------------------------------------------

#[test]
fn realloc_shrinks_and_grows_in_place_as_the_implicit_list_does() {
    let (mut a, ps) = row(4);
    free(&mut a, ps[2]);
    // Into the free right neighbour: the rest goes to the front.
    assert_eq!(realloc(&mut a, ps[1], 150), ps[1]);
    assert_eq!(listed(&a), [hdr(&a, ps[2]) + 48]);
    // Shrinking frees the tail, merged with the free rest on its right.
    assert_eq!(realloc(&mut a, ps[1], 100), ps[1]);
    assert_eq!(listed(&a), [hdr(&a, ps[2])]);
    assert_eq!(Block::at(hdr(&a, ps[2])).size(&a.heap), B100);
    // The last block grows past the end of the heap by the shortfall only.
    let mut a = textbook(Align::MIN);
    let p = malloc(&mut a, 100);
    let heap = a.heap.heap_size();
    assert_eq!(realloc(&mut a, p, 1000), p);
    assert_eq!(a.heap.heap_size(), heap + 1016 - B100);
}

#[test]
fn realloc_moves_instead_of_sliding_into_a_free_left_neighbour() {
    let (mut a, ps) = row(3);
    free(&mut a, ps[0]);
    // SAFETY: `ps[1]` has 100 usable bytes.
    unsafe { ps[1].as_ptr().write_bytes(0x5a, 100) };
    // 0 + 1 hold 240 bytes, enough for 200: the tuned list slides down into 0; the
    // textbook list allocates, copies and frees.
    let q = realloc(&mut a, ps[1], 200);
    assert!(q != ps[0] && q != ps[1]);
    // SAFETY: `q` holds at least 200 bytes, the first 100 copied from `ps[1]`.
    let data = unsafe { std::slice::from_raw_parts(q.as_ptr(), 100) };
    assert!(data.iter().all(|&b| b == 0x5a));
    assert_eq!(listed(&a), [hdr(&a, ps[0])], "0 and 1 merged, at the front");
}

#[test]
fn before_init_nothing_is_checked_and_init_starts_over() {
    // The rest of the rule for before `init` is the conformance kit's `before_init`.
    let mut a = ExplicitTextbook::new(MemLib::new(4096).unwrap(), ExplicitTextbookConfig::default());
    let wild = NonNull::new(0x1000 as *mut u8).unwrap();
    assert_eq!(a.check_neighbourhood(wild), Ok(()));
    assert_eq!(
        a.describe(),
        "explicit free list, textbook LIFO, first fit, boundary tags, immediate coalescing"
    );
    assert_eq!(a.config(), ExplicitTextbookConfig::new(Align::MIN));
    let b = ExplicitTextbook::new(MemLib::new(4096).unwrap(), Align::SIXTEEN);
    assert_eq!(b.config(), ExplicitTextbookConfig::new(Align::SIXTEEN));
    a.init().unwrap();
    let p = malloc(&mut a, 100);
    malloc(&mut a, 100);
    free(&mut a, p);
    a.init().unwrap();
    assert_eq!((a.list.head, a.list.tail, a.list.len), (None, None, 0));
    a.check_heap().unwrap();
}

// --- the checker: rules 1 to 13 -------------------------------------------------------

/// Blocks 1, 3 and 5 of a row of 7 free (listed 5, 3, 1), and their header offsets.
fn holes() -> (ExplicitTextbook, Vec<NonNull<u8>>, [usize; 3]) {
    let (mut a, ps) = row(7);
    for i in [1, 3, 5] {
        free(&mut a, ps[i]);
    }
    let h = [hdr(&a, ps[1]), hdr(&a, ps[3]), hdr(&a, ps[5])];
    assert_eq!(listed(&a), [h[2], h[1], h[0]]);
    (a, ps, h)
}

#[test]
fn the_checker_holds_the_list_rules_it_shares_with_the_tuned_list() {
    let (mut a, ps, [h1, h3, h5]) = holes();
    let allocated = hdr(&a, ps[2]);
    a.heap.write::<u32>(next_link_offset(Block::at(h5)), allocated as u32);
    assert_eq!(list_rule(&a), (h5, ExplicitRule::LinkToNonFree { holder: Some(h5), link: allocated }));

    let (mut a, _, _) = holes();
    a.heap.write::<u32>(next_link_offset(Block::at(h1)), h5 as u32);
    assert_eq!(list_rule(&a), (h5, ExplicitRule::ListedTwice));

    let (mut a, _, _) = holes();
    a.heap.write::<u32>(next_link_offset(Block::at(h3)) + 4, h1 as u32);
    assert_eq!(list_rule(&a), (h3, ExplicitRule::PrevMismatch { prev: Some(h1), expected: Some(h5) }));

    let (mut a, _, _) = holes();
    a.heap.write::<u32>(next_link_offset(Block::at(h3)), NIL);
    assert_eq!(list_rule(&a), (h1, ExplicitRule::Unlisted));

    let (mut a, _, _) = holes();
    a.list.tail = None;
    assert_eq!(list_rule(&a), (h1, ExplicitRule::TailMismatch { end: Some(h1), tail: None }));

    // The boundary-tag rules, through the same walk.
    let (mut a, ps, _) = holes();
    let at = hdr(&a, ps[2]);
    a.heap.write::<usize>(at + B100 - WORD, 0xdead_beef);
    assert_eq!(
        a.check_heap(),
        Err(HeapCheckError::new(
            at,
            Invariant::HeaderFooterMismatch { header: B100 | 1, footer: 0xdead_beef }
        ))
    );
}

#[test]
fn the_checker_asks_no_order_no_place_for_the_wilderness_and_no_fit_bound() {
    // Not sorted by address: 5, 3, 1.
    let (a, _, _) = holes();
    a.check_heap().unwrap();
    // The free last block at the front, and blocks far larger than any request.
    let mut a = textbook(Align::MIN);
    let ps: Vec<_> = (0..3).map(|_| malloc(&mut a, 100_000)).collect();
    free(&mut a, ps[0]);
    free(&mut a, ps[2]);
    assert_eq!(listed(&a), [hdr(&a, ps[2]), hdr(&a, ps[0])]);
    a.check_heap().unwrap();
}

// --- misuse the default build catches, as on the tuned list -------------------------------

fn factory(heap: MemLib, align: Align) -> ExplicitTextbook {
    ExplicitTextbook::new(heap, ExplicitTextbookConfig::new(align))
}

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    for align in ALIGNMENTS {
        misuse::double_free(factory, align);
    }
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
    // As on the implicit list: one byte of 0x41 writes what the footer holds.
    assert_eq!(misuse::hardened_catches_overflows(factory), 141);
}

#[test]
fn check_neighbourhood_reports_damage_and_never_panics() {
    assert!(misuse::neighbourhood_never_panics(factory, 300) > 300);
}

#[test]
fn a_write_into_a_freed_block_never_leads_outside_the_heap() {
    // free(q), then the program writes over q's links, then mallocs and the free of
    // q's neighbour: an unchecked unlink writes where the links point.
    type Forge = fn(&ExplicitTextbook, u32, u32) -> [u32; 2];
    let forgeries: [(&str, Forge); 5] = [
        ("next past the break", |a, _, _| [a.heap.heap_size() as u32 + 4096, NIL]),
        ("prev past the break", |a, _, _| [NIL, a.heap.heap_size() as u32 + 4096]),
        ("next at an allocated block", |_, _, allocated| [allocated, NIL]),
        ("next at itself", |_, me, _| [me, NIL]),
        ("next at an odd offset", |_, me, _| [me + 3, NIL]),
    ];
    for (what, forge) in forgeries {
        for request in [100, 500] {
            let (mut a, ps) = row(5);
            free(&mut a, ps[1]);
            free(&mut a, ps[3]);
            let q = ps[3];
            let words = forge(&a, hdr(&a, q) as u32, hdr(&a, ps[2]) as u32);
            // SAFETY: the 8 bytes at `q` are the freed block's links, inside the heap.
            unsafe { q.as_ptr().cast::<[u32; 2]>().write_unaligned(words) };
            let what = format!("{what}, malloc({request})");
            misuse::stops_inside_the_heap(&mut a, &what, "corrupted double-linked list", |a| {
                a.malloc(request);
                a.malloc(request);
                a.malloc(request);
                // SAFETY: `ps[2]` is live.
                unsafe { a.free(ps[2]) };
            });
        }
    }
}

#[test]
fn a_forged_free_header_is_not_merged_with() {
    let (mut a, ps) = row(3);
    let next = hdr(&a, ps[1]);
    a.heap.write::<usize>(next, Tag::free(B100).word());
    a.heap.write::<usize>(next + B100 - WORD, Tag::free(B100).word());
    misuse::stops_inside_the_heap(&mut a, "a forged free header", "corrupted double-linked list", |a| {
        // SAFETY: `ps[0]` is live.
        unsafe { a.free(ps[0]) };
    });
}
