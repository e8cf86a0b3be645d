//! Unit tests: the bitmaps against the blocks, growth of the bitmaps, realloc, misuse.

use std::ptr::NonNull;

use mm_core::{Align, Allocator, MemLib, Misuse};
use mm_testkit::{ALIGNMENTS, misuse};

use crate::BuddyBitmap;

fn bitmap_buddy() -> BuddyBitmap {
    let mut a = BuddyBitmap::new(MemLib::new(20 << 20).unwrap(), Align::SIXTEEN);
    a.init().unwrap();
    a
}

fn malloc(a: &mut BuddyBitmap, size: usize) -> NonNull<u8> {
    let p = a.malloc(size).unwrap();
    a.check_heap().unwrap();
    p
}

fn free(a: &mut BuddyBitmap, p: NonNull<u8>) {
    // SAFETY: the tests free each live block once.
    unsafe { a.free(p) };
    assert_eq!(a.take_misuse(), None);
    a.check_heap().unwrap();
}

#[test]
fn a_power_of_two_request_takes_a_block_of_its_own_size() {
    let mut a = bitmap_buddy();
    for size in [16, 64, 4096, 1 << 16] {
        let p = malloc(&mut a, size);
        // SAFETY: `p` is live.
        assert_eq!(unsafe { a.usable_size(p) }, size);
        assert!(a.heap().offset_of(p.as_ptr()).is_multiple_of(16));
    }
    assert_eq!(a.block_size_for(4097), Some(8192));
    assert_eq!(a.block_size_for(0), Some(16));
}

#[test]
fn buddies_merge_and_the_frontier_retreats_to_the_bitmaps() {
    let mut a = bitmap_buddy();
    let empty = a.heap().heap_size();
    let blocks: Vec<_> = (0..50).map(|i| malloc(&mut a, 16 << (i % 5))).collect();
    for p in blocks {
        free(&mut a, p);
    }
    let stats = a.stats();
    assert_eq!((stats.allocated_blocks, stats.free_blocks), (0, stats.free_blocks));
    assert!(stats.free_bytes + stats.bitmap_bytes + stats.control_bytes <= stats.heap_bytes);
    assert!(a.heap().heap_size() >= empty);
}

#[test]
fn the_bitmaps_grow_with_the_heap_and_cost_a_sixty_fourth_of_the_tree() {
    let mut a = bitmap_buddy();
    assert_eq!(a.stats().coverage_order, 10);
    let blocks: Vec<_> = (0..4096).map(|_| malloc(&mut a, 256)).collect();
    let stats = a.stats();
    // 1 MiB of blocks: a tree of 2 MiB at most, bitmaps of 32 KiB at most.
    assert!(stats.coverage_order <= 21, "{stats:?}");
    assert_eq!(stats.bitmap_bytes, 1 << (stats.coverage_order - 6));
    assert!(stats.bitmap_bytes * 30 <= stats.heap_bytes, "{stats:?}");
    for p in blocks {
        free(&mut a, p);
    }
}

#[test]
fn the_old_bitmaps_merge_with_the_gap_below_the_new_ones() {
    let mut a = bitmap_buddy();
    let base = 208; // the control area, rounded up to the alignment
    // 2 KiB does not fit the first 1 KiB tree: the bitmaps move above 4 KiB (a tree of
    // 8 KiB), the gap below them and the old 16 bytes at 0 merge into 4 KiB, and the
    // request takes its bottom half.
    let big = malloc(&mut a, 2048);
    assert_eq!(a.heap().offset_of(big.as_ptr()), base);
    let stats = a.stats();
    assert_eq!((stats.coverage_order, stats.bitmap_bytes, stats.free_bytes), (13, 128, 2048));
    let small = malloc(&mut a, 16);
    assert_eq!(a.heap().offset_of(small.as_ptr()), base + 2048);
    free(&mut a, small);
    free(&mut a, big);
}

#[test]
fn realloc_grows_in_place_into_the_tail_and_free_buddies() {
    let mut a = bitmap_buddy();
    let p = malloc(&mut a, 1000);
    let mut q = p;
    for size in [2000, 4000, 100_000, 1 << 20] {
        // SAFETY: `q` is live.
        q = unsafe { a.realloc(Some(q), size) }.unwrap();
        a.check_heap().unwrap();
    }
    free(&mut a, q);
}

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    for align in ALIGNMENTS {
        misuse::double_free(BuddyBitmap::new, align);
    }
}

#[test]
fn pointers_that_are_not_payloads_are_refused() {
    for align in ALIGNMENTS {
        misuse::wild_pointers(BuddyBitmap::new, align);
    }
}

#[test]
fn an_interior_pointer_of_a_live_block_is_invalid() {
    let mut a = bitmap_buddy();
    let p = malloc(&mut a, 64);
    let inside = NonNull::new(p.as_ptr().wrapping_add(16)).unwrap();
    let offset = a.heap().offset_of(inside.as_ptr());
    assert_eq!(a.check_free(inside), Err(Misuse::InvalidPointer { offset }));
    // SAFETY: deliberately misused: the strategy must refuse it.
    unsafe { a.free(inside) };
    assert_eq!(a.take_misuse(), Some(Misuse::InvalidPointer { offset }));
    a.check_heap().unwrap();
}

#[test]
fn an_overflow_never_makes_the_default_build_write_outside_the_heap() {
    misuse::overflows_stay_inside_the_heap(BuddyBitmap::new);
}

#[test]
fn hardened_catches_every_overflow_into_a_free_neighbour() {
    // The neighbour's first 16 bytes are its two links: every overflow that changes a
    // byte changes a link. An allocated neighbour has no metadata to smash.
    let caught = misuse::hardened_catches_overflows_into_free_neighbours(BuddyBitmap::new);
    assert!(caught >= 40, "{caught}");
}

#[test]
fn check_neighbourhood_answers_on_any_damaged_heap() {
    assert!(misuse::neighbourhood_never_panics(BuddyBitmap::new, 300) > 300);
}

#[test]
fn check_heap_reports_smashed_bitmaps_and_links_by_rule() {
    use crate::BitmapRule;
    use crate::tree::Bits;
    let rule = |a: &BuddyBitmap| {
        let error = a.check_heap().expect_err("the damage passes the check");
        *error.invariant.rule::<BitmapRule>().unwrap_or_else(|| panic!("not a bitmap rule: {error}"))
    };
    let mut a = bitmap_buddy();
    let blocks: Vec<_> = (0..8).map(|_| malloc(&mut a, 48)).collect();
    free(&mut a, blocks[2]);
    let maps = a.tree().bitmaps();
    // An allocated bit at the first unit that starts no block: rule 5.
    let word_at = maps.word_at(Bits::Allocated, 0);
    let saved: u64 = a.heap().read(word_at);
    let start: u64 = a.heap().read(maps.word_at(Bits::Start, 0));
    let inside = (!start).trailing_zeros();
    a.heap_mut().write(word_at, saved | 1 << inside);
    assert!(matches!(rule(&a), BitmapRule::AllocatedInside { .. }));
    a.heap_mut().write(word_at, saved);
    // A start bit past the frontier: rule 4.
    let frontier_unit = a.tree().unit_of(a.tree().frontier());
    let tail_at = maps.word_at(Bits::Start, frontier_unit / 64);
    let tail_word: u64 = a.heap().read(tail_at);
    a.heap_mut().write(tail_at, tail_word | 1 << (frontier_unit % 64));
    assert!(matches!(rule(&a), BitmapRule::TailBit { allocated: false, .. }));
    a.heap_mut().write(tail_at, tail_word);
    // A freed block's next link overwritten: its list no longer holds it (rule 10 or 13).
    let freed = a.heap().offset_of(blocks[2].as_ptr());
    let link: u64 = a.heap().read(freed);
    a.heap_mut().write(freed, 0u64);
    assert!(matches!(rule(&a), BitmapRule::NotAFreeBlock { .. } | BitmapRule::Unlisted { .. }));
    a.heap_mut().write(freed, link);
    a.check_heap().unwrap();
}

#[test]
fn a_block_moved_by_realloc_while_the_bitmaps_grow_keeps_its_bytes() {
    // Each case puts a live block right after the one to move, so that it cannot grow
    // in place, then asks for more than the bitmaps cover: the new block lies past
    // their coverage, so `malloc` moves the bitmaps between the checks and the copy.
    for (first, grown) in [(48, 3000), (200, 20_000), (1000, 70_000), (4096, 1 << 20), (100, 5 << 20)] {
        let mut a = bitmap_buddy();
        let p = malloc(&mut a, first);
        let _after = malloc(&mut a, first);
        for i in 0..first {
            // SAFETY: `p` holds `first` bytes.
            unsafe { p.as_ptr().add(i).write(i as u8 ^ 0x5A) };
        }
        let coverage = a.stats().coverage_order;
        // SAFETY: `p` is live.
        let q = unsafe { a.resize(p, grown) }.expect("the heap has room");
        assert_eq!(a.take_misuse(), None);
        a.check_heap().unwrap();
        assert!(a.stats().coverage_order > coverage, "the bitmaps grew for {grown} bytes");
        assert_ne!(q, p, "a block with a live buddy moves");
        for i in 0..first {
            // SAFETY: `q` holds at least `first` bytes.
            assert_eq!(unsafe { q.as_ptr().add(i).read() }, i as u8 ^ 0x5A, "byte {i} of {first}");
        }
        // SAFETY: the old pointer was freed by the move: freeing it again is refused.
        unsafe { a.free(p) };
        assert!(matches!(a.take_misuse(), Some(Misuse::DoubleFree { .. })));
        free(&mut a, q);
    }
}
