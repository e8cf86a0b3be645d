//! White-box tests: the block layout and the list after each policy decision, and a
//! checker that notices when the heap or the list is damaged. The conformance kit
//! (tests/conformance.rs) covers the contract.

use std::ptr::NonNull;

use mm_core::allocator::Rule;
use mm_core::{Align, Allocator, HeapCheckError, Invariant, MemLib};
use mm_tags::{WORD, walk};
use mm_testkit::checked::{free, malloc, realloc};

use super::*;
use crate::list::{NIL, next_link_offset};

const A8: Align = Align::MIN;
const LIFO: FreeListOrder = FreeListOrder::Lifo;
const ADDR: FreeListOrder = FreeListOrder::AddressOrdered;

fn allocator(align: Align, order: FreeListOrder) -> Explicit {
    let mut a = Explicit::new(MemLib::new(1 << 20).unwrap(), ExplicitConfig::new(align, order));
    a.init().unwrap();
    a
}

/// Every block as (heap offset of its header, size, allocated).
fn blocks(a: &Explicit) -> Vec<(usize, usize, bool)> {
    walk(&a.heap, a.layout.first).map(|(b, t)| (b.offset(), t.size(), t.is_allocated())).collect()
}

/// The free list, front to back, as heap offsets of the headers.
fn listed(a: &Explicit) -> Vec<usize> {
    a.list.iter(&a.heap).map(Block::offset).collect()
}

/// The block whose payload is `p` (live or not).
fn block_of(a: &Explicit, p: NonNull<u8>) -> Block {
    Block::from_payload(a.heap.offset_of(p.as_ptr()))
}

/// The header offset of the block whose payload is `p`.
fn hdr(a: &Explicit, p: NonNull<u8>) -> usize {
    block_of(a, p).offset()
}

/// A block of 100 payload bytes is 120 bytes at alignment 8 (16 of tags, rounded).
const B100: usize = 120;

/// `n` blocks of 100 bytes, then a small fence so that none of them is the last block.
fn row(order: FreeListOrder, n: usize) -> (Explicit, Vec<NonNull<u8>>) {
    let mut a = allocator(A8, order);
    let ps = (0..n).map(|_| malloc(&mut a, 100)).collect();
    malloc(&mut a, 8);
    (a, ps)
}

// --- layout -------------------------------------------------------------------------

#[test]
fn layout_matches_the_implicit_list_with_room_for_two_links() {
    for bytes in [8, 16, 32, 64, 4096] {
        let align = Align::new(bytes).unwrap();
        let mut a = allocator(align, LIFO);
        assert_eq!(a.heap.heap_size(), bytes.max(24).next_multiple_of(bytes));
        assert_eq!(a.layout.min_block, 24usize.next_multiple_of(bytes));
        let p = malloc(&mut a, 1);
        assert!(align.is_aligned(p.as_ptr() as usize), "alignment {bytes}");
        let q = malloc(&mut a, 3 * bytes);
        assert!(align.is_aligned(q.as_ptr() as usize));
        free(&mut a, p);
        free(&mut a, q);
        assert_eq!(blocks(&a).len(), 1);
        assert_eq!(listed(&a), [a.layout.first.offset()]);
    }
    // Four-byte links keep the smallest block at 24 bytes, what the implicit list
    // gives a 1-byte request, so tiny blocks cost no more than there.
    let mut a = allocator(A8, LIFO);
    let p = malloc(&mut a, 0);
    let q = malloc(&mut a, 8);
    assert_eq!(block_of(&a, p).size(&a.heap), 24);
    assert_eq!(block_of(&a, q).size(&a.heap), 24);
    // SAFETY: `q` is live.
    assert_eq!(unsafe { a.usable_size(q) }, 8);
}

#[test]
fn the_heap_grows_by_exactly_what_is_missing() {
    let mut a = allocator(A8, LIFO);
    let base = a.heap.heap_size();
    let p = malloc(&mut a, 100);
    assert_eq!(a.heap.heap_size(), base + B100);
    let q = malloc(&mut a, 1000);
    assert_eq!(a.heap.heap_size(), base + B100 + 1016);
    // The free last block is reused and topped up by the difference only.
    free(&mut a, q);
    let r = malloc(&mut a, 2000);
    assert_eq!(r, q);
    assert_eq!(a.heap.heap_size(), base + B100 + 2016);
    free(&mut a, p);
    free(&mut a, r);
    assert_eq!(blocks(&a), [(a.layout.first.offset(), B100 + 2016, false)]);
}

// --- the list -----------------------------------------------------------------------

#[test]
fn lifo_reuses_the_most_recently_freed_block_and_address_order_the_lowest() {
    for (order, expect) in [(LIFO, [5, 1, 3]), (ADDR, [1, 3, 5])] {
        let (mut a, ps) = row(order, 7);
        for i in [3, 1, 5] {
            free(&mut a, ps[i]);
        }
        let expected: Vec<usize> = expect.iter().map(|&i| hdr(&a, ps[i])).collect();
        assert_eq!(listed(&a), expected, "{order}");
        assert_eq!(malloc(&mut a, 100), ps[expect[0]], "{order}");
        assert_eq!(listed(&a), expected[1..], "{order}");
    }
}

#[test]
fn lifo_sends_a_large_freed_block_to_the_back() {
    let mut a = allocator(A8, LIFO);
    // Requests of 100 bytes set the running average; a 1000-byte block is large.
    let small: Vec<_> = (0..8).map(|_| malloc(&mut a, 100)).collect();
    let big = malloc(&mut a, 1000);
    let _fence = malloc(&mut a, 100);
    free(&mut a, small[1]);
    free(&mut a, big);
    free(&mut a, small[3]);
    let expected = vec![hdr(&a, small[3]), hdr(&a, small[1]), hdr(&a, big)];
    assert_eq!(listed(&a), expected, "ordinary blocks in front, the large one at the back");
    assert_eq!(malloc(&mut a, 100), small[3], "small requests take the small blocks");
    assert_eq!(malloc(&mut a, 100), small[1]);
    assert_eq!(malloc(&mut a, 100), big, "and only then cut into the large one");
}

#[test]
fn lifo_large_requests_search_the_large_blocks_from_the_back() {
    let mut a = allocator(A8, LIFO);
    let small: Vec<_> = (0..8).map(|_| malloc(&mut a, 100)).collect();
    let big1 = malloc(&mut a, 1000);
    let _fence1 = malloc(&mut a, 100);
    let big2 = malloc(&mut a, 1000);
    let _fence2 = malloc(&mut a, 100);
    free(&mut a, small[2]);
    free(&mut a, big1);
    free(&mut a, big2);
    let expected = vec![hdr(&a, small[2]), hdr(&a, big1), hdr(&a, big2)];
    assert_eq!(listed(&a), expected);
    assert_eq!(malloc(&mut a, 900), big2, "found walking from the back");
}

/// Four allocated blocks a b c d (and a fence); the test frees some, then `b`.
fn coalesce_case(order: FreeListOrder, free_first: &[usize]) -> (Vec<(usize, usize, bool)>, Vec<usize>) {
    let (mut a, ps) = row(order, 4);
    for &i in free_first {
        free(&mut a, ps[i]);
    }
    free(&mut a, ps[1]);
    let first = a.layout.first.offset();
    let index = |o: usize| (o - first) / B100;
    let shape = blocks(&a)[..blocks(&a).len() - 1].iter().map(|&(o, s, f)| (index(o), s / B100, f)).collect();
    (shape, listed(&a).into_iter().map(index).collect())
}

#[test]
fn coalescing_covers_all_four_boundary_tag_cases_and_lists_the_result_once() {
    for order in FreeListOrder::ALL {
        // (block index, size in blocks, allocated); then the list, as block indices.
        let (shape, list) = coalesce_case(order, &[]);
        assert_eq!((shape, list), (vec![(0, 1, true), (1, 1, false), (2, 1, true), (3, 1, true)], vec![1]));
        let (shape, list) = coalesce_case(order, &[2]);
        assert_eq!((shape, list), (vec![(0, 1, true), (1, 2, false), (3, 1, true)], vec![1]));
        let (shape, list) = coalesce_case(order, &[0]);
        assert_eq!((shape, list), (vec![(0, 2, false), (2, 1, true), (3, 1, true)], vec![0]));
        let (shape, list) = coalesce_case(order, &[0, 2]);
        assert_eq!((shape, list), (vec![(0, 3, false), (3, 1, true)], vec![0]));
    }
}

#[test]
fn a_merged_block_takes_over_its_neighbours_place() {
    let (mut a, ps) = row(LIFO, 10);
    let h: Vec<usize> = ps.iter().map(|&p| hdr(&a, p)).collect();
    for i in [1, 4, 6] {
        free(&mut a, ps[i]);
    }
    assert_eq!(listed(&a), [h[6], h[4], h[1]]);
    // Merging with its left neighbour: the merged block stays where 1 was.
    free(&mut a, ps[2]);
    assert_eq!(listed(&a), [h[6], h[4], h[1]]);
    // With both: the merged block starts at 4 and is listed once, where 4 was.
    free(&mut a, ps[5]);
    assert_eq!(listed(&a), [h[4], h[1]]);
    assert_eq!(block_of(&a, ps[4]).size(&a.heap), 3 * B100);
    // With its right neighbour: the merged block starts at 0, in 1's place.
    free(&mut a, ps[0]);
    assert_eq!(listed(&a), [h[4], h[0]]);
    assert_eq!(block_of(&a, ps[0]).size(&a.heap), 3 * B100);
    // A block that touches no free block goes to the front.
    free(&mut a, ps[8]);
    assert_eq!(listed(&a), [h[8], h[4], h[0]]);
}

#[test]
fn a_split_remainder_keeps_its_place() {
    for (order, taken) in [(LIFO, 4), (ADDR, 1)] {
        let (mut a, ps) = row(order, 6);
        for i in [1, 2, 4] {
            free(&mut a, ps[i]);
        }
        let before = listed(&a);
        // 40 bytes (a 56-byte block) fit in both free blocks; LIFO takes the one
        // freed last, address order the lower one. The rest of the block stays where
        // the block was in the list.
        assert_eq!(malloc(&mut a, 40), ps[taken], "{order}");
        let cut = hdr(&a, ps[taken]);
        let expected: Vec<usize> = before.iter().map(|&b| if b == cut { b + 56 } else { b }).collect();
        assert_eq!(listed(&a), expected, "{order}");
    }
}

#[test]
fn the_wilderness_stays_at_the_back_where_first_fit_reaches_it_last() {
    let mut a = allocator(A8, LIFO);
    let ps: Vec<_> = (0..4).map(|_| malloc(&mut a, 100)).collect();
    free(&mut a, ps[3]);
    free(&mut a, ps[1]);
    assert_eq!(listed(&a), [hdr(&a, ps[1]), hdr(&a, ps[3])]);
    // A request both fit goes to the hole, not to the end of the heap.
    assert_eq!(malloc(&mut a, 100), ps[1]);
    // A block merged into the wilderness stays at the back, behind a newer free block.
    free(&mut a, ps[2]);
    free(&mut a, ps[0]);
    assert_eq!(listed(&a), [hdr(&a, ps[0]), hdr(&a, ps[2])]);
    // A request nothing fits tops the wilderness up by the shortfall.
    let heap = a.heap.heap_size();
    assert_eq!(malloc(&mut a, 1000), ps[2]);
    assert_eq!(a.heap.heap_size(), heap + 1016 - 2 * B100);
}

#[test]
fn first_fit_skips_the_walk_for_requests_above_the_bound() {
    let (mut a, ps) = row(LIFO, 6);
    assert_eq!(a.fit_bound, 0);
    free(&mut a, ps[1]);
    free(&mut a, ps[3]);
    assert_eq!(a.fit_bound, B100);
    // Merging raises the bound to the merged size.
    free(&mut a, ps[2]);
    assert_eq!(a.fit_bound, 3 * B100);
    // Taking the block does not lower it (it is an upper bound) ...
    let p = malloc(&mut a, 3 * B100 - 16);
    assert_eq!(p, ps[1]);
    assert_eq!(a.fit_bound, 3 * B100);
    // ... a walk that finds nothing does, to the largest block it saw.
    free(&mut a, ps[4]);
    assert_eq!(a.find_fit(2 * B100), None);
    assert_eq!(a.fit_bound, B100);
    assert_eq!(a.find_fit(B100), Some(block_of(&a, ps[4])));
}

#[test]
fn address_order_finds_the_place_of_a_lone_free_block_from_any_direction() {
    // Free blocks near the start, near the end and nowhere near, in scrambled orders:
    // `check_heap` after each free verifies the list is sorted.
    let (mut a, ps) = row(ADDR, 120);
    let mut order: Vec<usize> = (0..120).step_by(2).collect();
    order.sort_by_key(|&i| (i * 37) % 120);
    for &i in &order {
        free(&mut a, ps[i]);
    }
    let expected: Vec<usize> = (0..120).step_by(2).map(|i| hdr(&a, ps[i])).collect();
    assert_eq!(listed(&a), expected);
    for i in (1..120).step_by(4) {
        free(&mut a, ps[i]);
    }
    assert!(listed(&a).is_sorted());
}

// --- realloc ------------------------------------------------------------------------

#[test]
fn realloc_shrinks_in_place_and_lists_the_tail() {
    for order in FreeListOrder::ALL {
        let mut a = allocator(A8, order);
        let p = malloc(&mut a, 1000);
        let next = malloc(&mut a, 100);
        let _fence = malloc(&mut a, 8);
        free(&mut a, next);
        // The tail and the free right neighbour become one listed free block.
        assert_eq!(realloc(&mut a, p, 100), p);
        let at = hdr(&a, p);
        assert_eq!(blocks(&a)[..2], [(at, B100, true), (at + B100, 896 + B100, false)]);
        assert_eq!(listed(&a), [at + B100]);
        // A shrink that would leave less than a block changes nothing.
        assert_eq!(realloc(&mut a, p, 90), p);
        assert_eq!(blocks(&a)[0], (at, B100, true));
    }
}

#[test]
fn realloc_grows_into_a_free_right_neighbour() {
    for order in FreeListOrder::ALL {
        let (mut a, ps) = row(order, 4);
        free(&mut a, ps[2]);
        free(&mut a, ps[0]);
        free(&mut a, ps[3]);
        let heap = a.heap.heap_size();
        let before = listed(&a);
        assert_eq!(realloc(&mut a, ps[1], 150), ps[1]);
        assert_eq!(a.heap.heap_size(), heap);
        // Block 1 took 48 bytes of the merged 2+3; the rest is listed where it was.
        let rest = hdr(&a, ps[2]) + 48;
        assert_eq!(blocks(&a)[2], (rest, 2 * B100 - 48, false));
        let expected: Vec<usize> =
            before.iter().map(|&b| if b == hdr(&a, ps[2]) { rest } else { b }).collect();
        assert_eq!(listed(&a), expected, "{order}");
    }
}

#[test]
fn realloc_grows_the_last_block_by_the_shortfall_only() {
    let mut a = allocator(A8, LIFO);
    let p = malloc(&mut a, 100);
    let heap = a.heap.heap_size();
    assert_eq!(realloc(&mut a, p, 1000), p);
    assert_eq!(a.heap.heap_size(), heap + 1016 - B100);
    // Last block followed by a free last block: use it, extend by the rest.
    let q = malloc(&mut a, 200);
    let heap = a.heap.heap_size();
    free(&mut a, q);
    assert_eq!(realloc(&mut a, p, 3000), p);
    assert_eq!(a.heap.heap_size(), heap + 3016 - 1016 - 216);
    assert_eq!(listed(&a), []);
}

#[test]
fn realloc_slides_into_a_free_left_neighbour_when_the_right_is_not_enough() {
    for order in FreeListOrder::ALL {
        let (mut a, ps) = row(order, 4);
        free(&mut a, ps[0]);
        free(&mut a, ps[2]);
        // SAFETY: `ps[1]` has 100 usable bytes.
        unsafe { ps[1].as_ptr().write_bytes(0x5a, 100) };
        let heap = a.heap.heap_size();
        // 0 + 1 + 2 hold 360 bytes: the block slides down to 0 and keeps its data.
        let p = realloc(&mut a, ps[1], 250);
        assert_eq!(p, ps[0], "{order}");
        // SAFETY: `p` holds at least 250 bytes, the first 100 slid from `ps[1]`.
        let data = unsafe { std::slice::from_raw_parts(p.as_ptr(), 100) };
        assert!(data.iter().all(|&b| b == 0x5a), "{order}");
        assert_eq!(a.heap.heap_size(), heap, "{order}");
        assert_eq!(listed(&a), [hdr(&a, ps[0]) + 272], "{order}");
    }
    // The last block, with a free left neighbour: slide down, then extend by the rest.
    let mut a = allocator(A8, LIFO);
    let p = malloc(&mut a, 100);
    let q = malloc(&mut a, 100);
    free(&mut a, p);
    let heap = a.heap.heap_size();
    assert_eq!(realloc(&mut a, q, 400), p);
    assert_eq!(a.heap.heap_size(), heap + 416 - 2 * B100);
    assert_eq!(listed(&a), []);
}

#[test]
fn realloc_moves_when_boxed_in_and_keeps_the_data() {
    let mut a = allocator(A8, LIFO);
    let p = malloc(&mut a, 100);
    let _fence = malloc(&mut a, 8);
    // SAFETY: `p` has 100 usable bytes.
    unsafe { p.as_ptr().write_bytes(0x5a, 100) };
    let q = realloc(&mut a, p, 1000);
    assert_ne!(q, p);
    // SAFETY: `q` holds at least 1000 bytes, the first 100 copied from `p`.
    let data = unsafe { std::slice::from_raw_parts(q.as_ptr(), 100) };
    assert!(data.iter().all(|&b| b == 0x5a));
    assert_eq!(listed(&a), [hdr(&a, p)]);
}

#[test]
fn before_init_a_wild_free_is_refused_and_init_starts_over() {
    // The rest of the rule for before `init` is the conformance kit's `before_init`.
    let mut a = Explicit::new(MemLib::new(4096).unwrap(), ExplicitConfig::default());
    let wild = NonNull::new(0x1000 as *mut u8).unwrap();
    assert_eq!(a.check_neighbourhood(wild), Ok(()));
    // SAFETY: deliberately misused: nothing is allocated, so `free` must refuse it.
    unsafe { a.free(wild) };
    assert!(matches!(a.take_misuse(), Some(mm_core::Misuse::InvalidPointer { .. })));
    assert_eq!(a.describe(), "explicit free list, LIFO, first fit, boundary tags, immediate coalescing");
    assert_eq!(ExplicitConfig::default(), ExplicitConfig::new(Align::MIN, LIFO));
    assert_eq!(ADDR.to_string(), "address-ordered");
    // The one constructor shape: a bare alignment is the default policy.
    let b = Explicit::new(MemLib::new(4096).unwrap(), Align::SIXTEEN);
    assert_eq!(b.config(), ExplicitConfig::new(Align::SIXTEEN, LIFO));
    a.init().unwrap();
    let p = malloc(&mut a, 100);
    malloc(&mut a, 100);
    free(&mut a, p);
    a.init().unwrap();
    assert_eq!((a.list.head, a.list.tail, a.list.len, a.fit_bound), (None, None, 0, 0));
    a.check_heap().unwrap();
}

// --- the checker catches damage -----------------------------------------------------

/// Blocks 1, 3 and 5 of a row of 7 free (listed 5, 3, 1), and their header offsets.
fn holes(order: FreeListOrder) -> (Explicit, Vec<NonNull<u8>>, [usize; 3]) {
    let (mut a, ps) = row(order, 7);
    for i in [1, 3, 5] {
        free(&mut a, ps[i]);
    }
    let h = [hdr(&a, ps[1]), hdr(&a, ps[3]), hdr(&a, ps[5])];
    (a, ps, h)
}

/// The list rule `check_heap` reports, typed, with the heap offset it names.
pub(crate) fn list_rule<A: Allocator>(a: &A) -> (usize, ExplicitRule) {
    let err = a.check_heap().expect_err("the check should fail");
    match err.invariant.rule::<ExplicitRule>() {
        Some(rule) => (err.offset, *rule),
        None => panic!("expected a free-list rule, got {err}"),
    }
}

#[test]
fn a_next_link_to_a_block_that_is_not_free_is_caught_before_it_is_followed() {
    let (mut a, ps, [h1, h3, h5]) = holes(LIFO);
    assert_eq!(listed(&a), [h5, h3, h1]);
    let allocated = hdr(&a, ps[2]) as u32;
    for (bad, what) in
        [(allocated, "an allocated block"), (allocated + 8, "mid-block"), (0xdead_bee8, "far away")]
    {
        a.heap.write::<u32>(next_link_offset(Block::at(h5)), bad);
        let rule = ExplicitRule::LinkToNonFree { holder: Some(h5), link: bad as usize };
        assert_eq!(list_rule(&a), (h5, rule), "{what}");
    }
}

#[test]
fn a_cycle_a_broken_prev_link_and_a_dropped_block_are_caught() {
    // A cycle: the last block links back to the first.
    let (mut a, _, [h1, _, h5]) = holes(LIFO);
    a.heap.write::<u32>(next_link_offset(Block::at(h1)), h5 as u32);
    assert_eq!(list_rule(&a), (h5, ExplicitRule::ListedTwice));

    // next.prev != self.
    let (mut a, _, [h1, h3, h5]) = holes(LIFO);
    a.heap.write::<u32>(next_link_offset(Block::at(h3)) + 4, h1 as u32);
    assert_eq!(list_rule(&a), (h3, ExplicitRule::PrevMismatch { prev: Some(h1), expected: Some(h5) }));

    // The list cut short: block 1 is free but no longer listed.
    let (mut a, _, [h1, h3, _]) = holes(LIFO);
    a.heap.write::<u32>(next_link_offset(Block::at(h3)), NIL);
    assert_eq!(list_rule(&a), (h1, ExplicitRule::Unlisted));
}

#[test]
fn a_free_block_off_the_list_and_a_listed_allocated_block_are_caught() {
    // Mark an allocated block free behind the list's back.
    let (mut a, ps) = row(LIFO, 5);
    free(&mut a, ps[1]);
    let lone = block_of(&a, ps[3]);
    lone.set(&mut a.heap, Tag::free(B100));
    assert_eq!(list_rule(&a), (lone.offset(), ExplicitRule::Unlisted));

    // Mark the head allocated without taking it off the list.
    let (mut a, _, [_, _, h5]) = holes(LIFO);
    Block::at(h5).set(&mut a.heap, Tag::allocated(B100));
    assert_eq!(list_rule(&a), (h5, ExplicitRule::LinkToNonFree { holder: None, link: h5 }));
}

#[test]
fn an_unsorted_address_ordered_list_is_caught() {
    // A LIFO list read as address-ordered: 5 comes before 3.
    let (mut a, _, [_, h3, h5]) = holes(LIFO);
    a.config.order = ADDR;
    assert_eq!(list_rule(&a), (h3, ExplicitRule::Unsorted { block: h3, before: h5 }));
}

#[test]
fn the_tail_the_wilderness_and_the_fit_bound_are_checked() {
    let (mut a, _, [h1, _, _]) = holes(LIFO);
    a.list.tail = None;
    assert_eq!(list_rule(&a), (h1, ExplicitRule::TailMismatch { end: Some(h1), tail: None }));

    let (mut a, _, [_, _, h5]) = holes(LIFO);
    a.fit_bound = 64;
    assert_eq!(list_rule(&a), (h5, ExplicitRule::AboveFitBound { size: B100, fit_bound: 64 }));

    // A free last block moved to the front of the list.
    let mut a = allocator(A8, LIFO);
    let ps: Vec<_> = (0..3).map(|_| malloc(&mut a, 100)).collect();
    free(&mut a, ps[0]);
    free(&mut a, ps[2]);
    let wilderness = block_of(&a, ps[2]);
    a.unlink(wilderness);
    let front = a.list.front();
    a.link(wilderness, front);
    assert_eq!(list_rule(&a), (wilderness.offset(), ExplicitRule::WildernessNotLast));
}

#[test]
fn each_list_rule_has_its_number_and_says_what_is_wrong() {
    let cases: [(ExplicitRule, u32, &str); 10] = [
        (
            ExplicitRule::HeapPastLinks { heap_size: 1 << 32 },
            8,
            "the heap is 0x100000000 bytes, past the 0xffffffff links reach",
        ),
        (
            ExplicitRule::LinkToNonFree { holder: None, link: 0x40 },
            9,
            "the list head is 0x40, which is not a free block",
        ),
        (
            ExplicitRule::LinkToNonFree { holder: Some(0x18), link: 0x40 },
            9,
            "the next link of 0x18 is 0x40, which is not a free block",
        ),
        (ExplicitRule::ListedTwice, 10, "the block is listed twice (the list has a cycle)"),
        (
            ExplicitRule::PrevMismatch { prev: None, expected: Some(0x18) },
            11,
            "the prev link is none, but the block before it in the list is 0x18",
        ),
        (ExplicitRule::Unlisted, 12, "the free block is not on the free list"),
        (
            ExplicitRule::TailMismatch { end: Some(0x18), tail: None },
            13,
            "the list ends at 0x18, but its recorded tail is none",
        ),
        (
            ExplicitRule::Unsorted { block: 0x18, before: 0x40 },
            14,
            "the address-ordered list is not sorted: 0x18 comes after 0x40",
        ),
        (
            ExplicitRule::WildernessNotLast,
            15,
            "the free last block of the heap is not at the back of the list",
        ),
        (
            ExplicitRule::AboveFitBound { size: 120, fit_bound: 64 },
            16,
            "the block is 120 bytes, more than the fit bound 64",
        ),
    ];
    for (rule, number, message) in cases {
        assert_eq!((rule.number(), rule.to_string().as_str()), (number, message));
        let err = HeapCheckError::new(0x18, Invariant::rule_of(rule));
        assert_eq!(err.invariant.rule::<ExplicitRule>(), Some(&rule));
        assert_eq!(
            err.to_string(),
            format!("heap check: block at heap offset 0x18: rule {number}: {message}")
        );
    }
}

#[test]
fn the_heap_walk_still_checks_the_tags() {
    let (mut a, ps, [h1, _, _]) = holes(LIFO);
    // The classic bug: writing one word past the end of a payload.
    let at = hdr(&a, ps[2]);
    a.heap.write::<usize>(at + B100 - 8, 0xdead_beef);
    assert_eq!(
        a.check_heap().unwrap_err(),
        HeapCheckError::new(at, Invariant::HeaderFooterMismatch { header: B100 | 1, footer: 0xdead_beef })
    );
    // Two free neighbours.
    let (mut a, ps, _) = holes(LIFO);
    block_of(&a, ps[2]).set(&mut a.heap, Tag::free(B100));
    assert_eq!(a.check_heap().unwrap_err(), HeapCheckError::new(h1, Invariant::Uncoalesced));
    // A damaged prologue.
    let (mut a, _, _) = holes(LIFO);
    a.heap.write::<usize>(a.layout.prologue + WORD, 0);
    assert_eq!(a.check_heap().unwrap_err(), HeapCheckError::new(a.layout.prologue, Invariant::BadPrologue));
    // A block too small to hold the links.
    let (mut a, ps, _) = holes(LIFO);
    let at = hdr(&a, ps[0]);
    a.heap.write::<usize>(at, Tag::allocated(16).word());
    assert_eq!(
        a.check_heap().unwrap_err(),
        HeapCheckError::new(at, Invariant::TooSmall { size: 16, min: 24 })
    );
}

// --- limits: the link width ---------------------------------------------------------------

const GIB: usize = 1 << 30;

#[test]
fn the_heap_stops_at_what_a_link_can_name() {
    // Links are 32-bit heap offsets: the heap stops at MAX_HEAP (4 GiB - 1), however
    // large the reservation. Blocks are taken up to the limit, then freed in an order
    // that links blocks near it to blocks far below, and merged back.
    let mut a = Explicit::new(MemLib::reserve(8 * GIB).unwrap(), ExplicitConfig::new(Align::SIXTEEN, LIFO));
    a.init().unwrap();
    let mut live = vec![malloc(&mut a, 3 * GIB)];
    assert_eq!(a.malloc(GIB + 1), None, "past the heap a link can reach");
    let heap = a.heap.heap_size();
    for size in [GIB / 2, GIB / 4, GIB / 8, GIB / 16, 1 << 20, 4096, 64] {
        while let Some(p) = a.malloc(size) {
            live.push(p);
            assert!(a.heap.heap_size() <= MAX_HEAP);
        }
    }
    assert!(a.heap.heap_size() > heap && MAX_HEAP - a.heap.heap_size() < 128, "used up to the limit");
    a.check_heap().unwrap();
    for p in live.iter().step_by(2) {
        free(&mut a, *p);
    }
    for p in live.iter().skip(1).step_by(2) {
        free(&mut a, *p);
    }
    assert_eq!(blocks(&a).len(), 1, "everything merged into one free block");
    assert!(a.malloc(3 * GIB + GIB / 2).is_some(), "and it is found through the list");
}

// --- misuse the default build catches -----------------------------------------------------

use mm_testkit::{ALIGNMENTS, misuse};

fn factory(order: FreeListOrder) -> impl Fn(MemLib, Align) -> Explicit {
    move |heap, align| Explicit::new(heap, ExplicitConfig::new(align, order))
}

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    for order in FreeListOrder::ALL {
        for align in ALIGNMENTS {
            misuse::double_free(factory(order), align);
        }
    }
}

#[test]
fn a_pointer_freed_after_realloc_slid_its_block_down_is_seen_as_freed() {
    let (mut a, ps) = row(LIFO, 3);
    free(&mut a, ps[0]);
    let q = realloc(&mut a, ps[1], 200);
    assert_eq!(q, ps[0], "slid down into the free left neighbour");
    // SAFETY: deliberately misused: `ps[1]` was given up to realloc, and its old header
    // lies past the bytes the slide copied.
    unsafe { a.free(ps[1]) };
    assert!(matches!(a.take_misuse(), Some(mm_core::Misuse::DoubleFree { .. })));
    a.check_heap().unwrap();
}

#[test]
fn pointers_that_are_not_payloads_are_refused() {
    for order in FreeListOrder::ALL {
        for align in ALIGNMENTS {
            misuse::wild_pointers(factory(order), align);
        }
    }
}

#[test]
fn an_overflow_never_makes_the_default_build_write_outside_the_heap() {
    for order in FreeListOrder::ALL {
        misuse::overflows_stay_inside_the_heap(factory(order));
    }
}

#[test]
fn hardened_catches_an_overflow_when_either_neighbour_is_freed() {
    for order in FreeListOrder::ALL {
        // As on the implicit list: one byte of 0x41 writes what the footer holds.
        assert_eq!(misuse::hardened_catches_overflows(factory(order)), 141, "{order}");
    }
}

#[test]
fn a_write_into_a_freed_block_never_leads_outside_the_heap() {
    // free(q), then the program writes over q's links, then mallocs of q's size or more
    // and the free of q's neighbour: an unchecked unlink writes where the links point.
    type Forge = fn(&Explicit, u32, u32) -> [u32; 2];
    let forgeries: [(&str, Forge); 7] = [
        ("next past the break", |a, _, _| [a.heap.heap_size() as u32 + 4096, NIL]),
        ("next far past the break", |_, _, _| [0x7fff_0000, NIL]),
        ("prev past the break", |a, _, _| [NIL, a.heap.heap_size() as u32 + 4096]),
        ("next at an allocated block", |_, _, allocated| [allocated, NIL]),
        ("next at itself", |_, me, _| [me, NIL]),
        ("prev at itself", |_, me, _| [NIL, me]),
        ("next at an odd offset", |_, me, _| [me + 3, NIL]),
    ];
    for order in FreeListOrder::ALL {
        for (what, forge) in forgeries {
            for request in [100, 500] {
                let (mut a, ps) = row(order, 5);
                free(&mut a, ps[1]);
                free(&mut a, ps[3]);
                let q = ps[3];
                let words = forge(&a, hdr(&a, q) as u32, hdr(&a, ps[2]) as u32);
                // SAFETY: the 8 bytes at `q` are the freed block's links, inside the heap.
                unsafe { q.as_ptr().cast::<[u32; 2]>().write_unaligned(words) };
                let what = format!("{order}, {what}, malloc({request})");
                misuse::stops_inside_the_heap(&mut a, &what, "corrupted double-linked list", |a| {
                    a.malloc(request);
                    a.malloc(request);
                    a.malloc(request);
                    // A request above every free block takes no walk: the links are
                    // used when q's neighbour is freed and merges with it.
                    // SAFETY: `ps[2]` is live.
                    unsafe { a.free(ps[2]) };
                });
            }
        }
    }
}

#[test]
fn a_forged_free_header_is_not_merged_with() {
    // An overflow that rewrites the right neighbour's header as a free one (with a
    // matching footer further on): freeing the block must not unlink it.
    let (mut a, ps) = row(LIFO, 3);
    let next = hdr(&a, ps[1]);
    a.heap.write::<usize>(next, Tag::free(B100).word());
    a.heap.write::<usize>(next + B100 - WORD, Tag::free(B100).word());
    misuse::stops_inside_the_heap(&mut a, "a forged free header", "corrupted double-linked list", |a| {
        // SAFETY: `ps[0]` is live.
        unsafe { a.free(ps[0]) };
    });
}

#[test]
fn a_smashed_footer_stops_free_before_it_merges() {
    let (mut a, ps) = row(LIFO, 3);
    free(&mut a, ps[2]);
    // SAFETY: the word after the usable bytes is the block's footer, inside the heap.
    unsafe { ps[1].as_ptr().add(a.usable_size(ps[1])).cast::<u64>().write_unaligned(0x41) };
    misuse::stops_inside_the_heap(&mut a, "a smashed footer", "header and footer disagree", |a| {
        // SAFETY: `ps[1]` is live.
        unsafe { a.free(ps[1]) };
    });
}
