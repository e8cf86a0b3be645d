//! Unit tests: reuse and merging, growth a page at a time, the checker's rules matched
//! by value, and each misuse scenario of `mm_testkit::misuse`.

use mm_core::allocator::Rule;
use mm_core::{Align, Allocator, HeapCheckError, Invariant, MemLib, PAGE_SIZE};

use crate::{BASE, KAndR, KAndRRule, WORD};

fn kr() -> KAndR {
    let mut kr = KAndR::new(MemLib::new(1 << 20).unwrap(), Align::SIXTEEN);
    kr.init().unwrap();
    kr
}

#[test]
fn a_freed_block_is_reused_and_neighbours_merge() {
    let mut kr = kr();
    let a = kr.malloc(100).unwrap();
    let b = kr.malloc(100).unwrap();
    let c = kr.malloc(100).unwrap();
    let heap_after_three = kr.heap().heap_size();
    // SAFETY: each block is live and freed once.
    unsafe {
        kr.free(a);
        kr.free(c);
        kr.free(b);
    }
    kr.check_heap().unwrap();
    // The three merged with each other and with the rest of the page: one free
    // block spans everything after the sentinel.
    assert_eq!(kr.next(BASE), kr.unit);
    assert_eq!(kr.size(kr.unit), kr.heap().heap_size() - kr.unit);
    let big = kr.malloc(300).unwrap();
    assert_eq!(kr.heap().heap_size(), heap_after_three, "the merged space was reused");
    // SAFETY: `big` is live.
    assert!(unsafe { kr.usable_size(big) } >= 300);
}

#[test]
fn the_heap_grows_a_page_at_a_time_and_only_when_full() {
    let mut kr = kr();
    let mut growths = 0;
    for _ in 0..300 {
        let before = kr.heap().heap_size();
        // 224-byte blocks do not divide a page: each page leaves a small free
        // block behind, which the search must not mistake for a reason to grow again.
        kr.malloc(200).unwrap();
        let grown = kr.heap().heap_size() - before;
        // One page when the free memory ran out, never two in one call.
        assert!(grown == 0 || grown == PAGE_SIZE, "grew by {grown}");
        growths += usize::from(grown > 0);
    }
    // A page holds 18 such blocks.
    assert_eq!(growths, 300usize.div_ceil(18));
    kr.check_heap().unwrap();
}

#[test]
fn the_checker_catches_an_unmerged_pair() {
    let mut kr = kr();
    let a = kr.malloc(16).unwrap();
    let b = kr.malloc(16).unwrap();
    let _keep = kr.malloc(16).unwrap();
    // SAFETY: `a` is live and freed once.
    unsafe { kr.free(a) };
    kr.check_heap().unwrap();
    // Blocks are carved from the tails of free blocks, so `b` sits just below `a`,
    // and the list is: sentinel, the rest of the page, `a`. Link `b` in between by
    // hand, in address order but without merging: what a buggy free would do.
    let (block_a, block_b) = (kr.payload_block(a).unwrap(), kr.payload_block(b).unwrap());
    assert_eq!(block_b + kr.size(block_b), block_a);
    let rest = kr.next(BASE);
    assert_eq!(kr.next(rest), block_a);
    kr.set_next(rest, block_b);
    kr.set_next(block_b, block_a);
    assert_eq!(kr.check_heap(), Err(HeapCheckError::new(block_b, Invariant::Uncoalesced)));
}

#[test]
fn blocks_of_gigabytes_are_sized_in_whole_words() {
    // Sizes and links are whole words: blocks of more than 4 GiB are served, merged
    // and reused; a request past the reservation fails. Payloads are never touched.
    const GIB: usize = 1 << 30;
    let mut kr = KAndR::new(MemLib::reserve(16 * GIB).unwrap(), Align::SIXTEEN);
    kr.init().unwrap();
    let p = kr.malloc(5 * GIB).unwrap();
    let q = kr.malloc(6 * GIB).unwrap();
    let _keep = kr.malloc(64).unwrap();
    // SAFETY: `p` and `q` are live and freed once.
    unsafe {
        assert!(kr.usable_size(p) >= 5 * GIB);
        kr.free(p);
        kr.free(q);
    }
    kr.check_heap().unwrap();
    let heap = kr.heap().heap_size();
    assert!(kr.malloc(11 * GIB).is_some(), "the two merged");
    assert_eq!(kr.heap().heap_size(), heap, "without growing");
    assert_eq!(kr.malloc(8 * GIB), None, "past the reservation");
    kr.check_heap().unwrap();
}

// --- misuse ---------------------------------------------------------------------

use mm_testkit::{ALIGNMENTS, misuse};

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    // K&R's own free walks the list for ever on a double free.
    for align in ALIGNMENTS {
        misuse::double_free(KAndR::new, align);
    }
}

#[test]
fn pointers_that_are_not_payloads_are_refused() {
    for align in ALIGNMENTS {
        misuse::wild_pointers(KAndR::new, align);
    }
}

#[test]
fn an_overflow_never_makes_the_default_build_write_outside_the_heap() {
    misuse::overflows_stay_inside_the_heap(KAndR::new);
}

#[test]
fn hardened_catches_an_overflow_when_either_neighbour_is_freed() {
    // Every overflow changes the low byte of the neighbour's size, the first thing
    // past a block: the one check K&R's design allows on the right is enough.
    assert_eq!(misuse::hardened_catches_overflows(KAndR::new), 144);
}

#[test]
fn a_free_blocks_link_overwritten_stops_the_walk() {
    // The only metadata of a free block is its header, which an overflow out of the
    // block below it reaches: its link, forged, must not be followed.
    type Forge = fn(&KAndR, usize) -> usize;
    let forgeries: [(&str, Forge); 5] = [
        ("past the break", |kr, _| kr.heap().heap_size() + 4096),
        ("far past the break", |_, _| 1 << 40),
        ("down the heap", |kr, _| kr.unit),
        ("at itself", |_, me| me),
        ("mid-unit", |_, me| me + WORD + 64),
    ];
    for (what, forge) in forgeries {
        let mut kr = kr();
        let blocks = misuse::neighbours(&mut kr, 5);
        // SAFETY: each block is live and freed once.
        unsafe {
            kr.free(blocks[1]);
            kr.free(blocks[3]);
        }
        kr.check_heap().unwrap();
        let free_block = kr.payload_block(blocks[3]).unwrap();
        let link = forge(&kr, free_block);
        kr.set_next(free_block, link);
        misuse::stops_inside_the_heap(&mut kr, what, "corrupted free list", |kr| {
            for _ in 0..4 {
                kr.malloc(40);
                kr.malloc(5000);
            }
        });
    }
}

#[test]
fn a_link_that_skips_the_rover_stops_the_search() {
    // Links that go up and stay in the heap, but skip the block the search started
    // from: without a bound, the search would go round for ever.
    let mut kr = kr();
    let blocks = misuse::neighbours(&mut kr, 5);
    // SAFETY: each block is live and freed once.
    unsafe {
        kr.free(blocks[1]);
        kr.free(blocks[3]);
    }
    let (b1, b3) = (kr.payload_block(blocks[1]).unwrap(), kr.payload_block(blocks[3]).unwrap());
    assert_eq!(kr.rover, b1);
    let rest = kr.next(BASE);
    assert_eq!(kr.next(rest), b1, "the list: sentinel, the rest of the page, b1, b3");
    kr.set_next(rest, b3);
    misuse::stops_inside_the_heap(&mut kr, "skipping the rover", "corrupted free list", |kr| {
        kr.malloc(5000);
    });
}

#[test]
fn a_free_blocks_size_overwritten_is_not_cut_from() {
    let mut kr = kr();
    let blocks = misuse::neighbours(&mut kr, 3);
    // SAFETY: the block is live and freed once.
    unsafe { kr.free(blocks[1]) };
    let free_block = kr.payload_block(blocks[1]).unwrap();
    kr.set_size(free_block, 1 << 40);
    misuse::stops_inside_the_heap(&mut kr, "a huge size", "corrupted free block size", |kr| {
        kr.rover = BASE;
        kr.malloc(4000);
    });
}

#[test]
fn a_write_into_a_freed_blocks_payload_changes_nothing_the_allocator_reads() {
    let mut kr = kr();
    let blocks = misuse::neighbours(&mut kr, 3);
    // SAFETY: the block is live and freed once; then its payload bytes, inside the
    // heap, are overwritten.
    unsafe {
        kr.free(blocks[1]);
        blocks[1].as_ptr().write_bytes(0xFF, 48);
    }
    kr.check_heap().unwrap();
    let p = kr.malloc(40).unwrap();
    // SAFETY: each block is live and freed once.
    unsafe {
        kr.free(blocks[0]);
        kr.free(p);
    }
    assert_eq!(kr.take_misuse(), None);
    kr.check_heap().unwrap();
}

// --- the checker's rules -------------------------------------------------------------

/// A heap whose list is: sentinel, the rest of the first page, a freed block `b1`,
/// a freed block `b3` (five neighbours, the second and fourth freed). Returns the
/// allocator and the offsets of `b1` and `b3`.
fn two_free_blocks() -> (KAndR, usize, usize) {
    let mut kr = kr();
    let blocks = misuse::neighbours(&mut kr, 5);
    // SAFETY: each block is live and freed once.
    unsafe {
        kr.free(blocks[1]);
        kr.free(blocks[3]);
    }
    kr.check_heap().unwrap();
    let (b1, b3) = (kr.payload_block(blocks[1]).unwrap(), kr.payload_block(blocks[3]).unwrap());
    let rest = kr.next(BASE);
    assert_eq!((kr.next(rest), kr.next(b1), kr.next(b3)), (b1, b3, BASE));
    (kr, b1, b3)
}

fn rule(err: &HeapCheckError) -> Option<KAndRRule> {
    err.invariant.rule::<KAndRRule>().copied()
}

#[test]
fn the_checker_names_each_broken_list_rule() {
    // A link into the middle of a block.
    let (mut kr, b1, _) = two_free_blocks();
    kr.set_next(b1, b1 + kr.unit);
    let err = kr.check_heap().unwrap_err();
    assert_eq!((err.offset, rule(&err)), (b1, Some(KAndRRule::NotABlock { from: b1, link: b1 + kr.unit })));
    assert_eq!(err.invariant.rule::<KAndRRule>().map(Rule::number), Some(3));

    // A link that goes down.
    let (mut kr, b1, b3) = two_free_blocks();
    kr.set_next(b3, b1);
    let err = kr.check_heap().unwrap_err();
    assert_eq!((err.offset, rule(&err)), (b1, Some(KAndRRule::NotInAddressOrder { from: b3, link: b1 })));

    // The rover on a block the list no longer holds.
    let (mut kr, b1, b3) = two_free_blocks();
    kr.set_next(b1, BASE);
    kr.rover = b3;
    let err = kr.check_heap().unwrap_err();
    assert_eq!((err.offset, rule(&err)), (b3, Some(KAndRRule::RoverOffList { rover: b3 })));
    assert_eq!(
        err.to_string(),
        format!("heap check: block at heap offset {b3:#x}: rule 7: the rover {b3:#x} is not on the list")
    );

    // The sentinel's size, and a block's.
    let (mut kr, b1, _) = two_free_blocks();
    kr.set_size(BASE, 16);
    assert_eq!(kr.check_heap().unwrap_err().invariant, Invariant::BadPrologue);
    kr.set_size(BASE, 0);
    kr.set_size(b1, kr.unit + WORD);
    let err = kr.check_heap().unwrap_err();
    assert_eq!(
        (err.offset, err.invariant),
        (b1, Invariant::SizeNotAligned { size: kr.unit + WORD, align: 16 })
    );
}

#[test]
fn describe_is_the_line_the_docs_quote() {
    assert_eq!(kr().describe(), "K&R: circular address-ordered free list, next fit, merging on free");
}
