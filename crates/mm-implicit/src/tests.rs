//! White-box tests: the block layout after each policy decision, and a checker that
//! notices when the heap is damaged. The conformance kit (tests/conformance.rs) covers
//! the contract.

use std::ptr::NonNull;

use mm_core::{Align, Allocator, Invariant, MemLib};

use super::*;
use mm_tags::{read_word, walk, write_word};
use mm_testkit::checked::{free, malloc, realloc};

const A8: Align = Align::MIN;

fn allocator(align: Align, placement: Placement) -> Implicit {
    let mut a = Implicit::new(MemLib::new(1 << 20).unwrap(), ImplicitConfig::new(align, placement));
    a.init().unwrap();
    a
}

fn first_fit() -> Implicit {
    allocator(A8, Placement::FirstFit)
}

/// Every block as (heap offset of its header, size, allocated).
fn blocks(a: &Implicit) -> Vec<(usize, usize, bool)> {
    walk(&a.heap, a.layout.first).map(|(b, t)| (b.offset(), t.size(), t.is_allocated())).collect()
}

fn block_of(a: &Implicit, p: NonNull<u8>) -> Block {
    a.layout.payload_block(&a.heap, p).unwrap()
}

fn off(a: &Implicit, p: NonNull<u8>) -> usize {
    a.heap.offset_of(p.as_ptr())
}

/// A block of 100 payload bytes is 120 bytes at alignment 8 (16 of tags, rounded).
const B100: usize = 120;

#[test]
fn layout_puts_the_first_payload_on_the_alignment() {
    for bytes in [8, 16, 32, 64, 4096] {
        let align = Align::new(bytes).unwrap();
        let mut a = allocator(align, Placement::FirstFit);
        assert_eq!(a.heap.heap_size(), a.layout.initial_heap);
        assert_eq!(a.layout.initial_heap, bytes.max(24).next_multiple_of(bytes));
        let p = malloc(&mut a, 1);
        assert!(align.is_aligned(p.as_ptr() as usize), "alignment {bytes}");
        assert_eq!(off(&a, p), a.layout.initial_heap);
        let q = malloc(&mut a, 3 * bytes);
        assert!(align.is_aligned(q.as_ptr() as usize));
        free(&mut a, p);
        free(&mut a, q);
        assert_eq!(blocks(&a).len(), 1);
    }
}

#[test]
fn the_heap_grows_by_exactly_what_is_missing() {
    let mut a = first_fit();
    let base = a.heap.heap_size();
    let p = malloc(&mut a, 100);
    assert_eq!(a.heap.heap_size(), base + B100);
    let q = malloc(&mut a, 1000);
    assert_eq!(a.heap.heap_size(), base + B100 + 1016);
    // The free last block is reused and topped up by the difference only.
    free(&mut a, q);
    let r = malloc(&mut a, 2000);
    assert_eq!(off(&a, r), off(&a, q));
    assert_eq!(a.heap.heap_size(), base + B100 + 2016);
    free(&mut a, p);
    free(&mut a, r);
    assert_eq!(blocks(&a), vec![(a.layout.first.offset(), B100 + 2016, false)]);
}

/// Four allocated blocks a b c d; the test frees some, then `b`.
fn coalesce_case(free_first: &[usize]) -> Vec<(usize, usize, bool)> {
    let mut a = first_fit();
    let ps: Vec<_> = (0..4).map(|_| malloc(&mut a, 100)).collect();
    for &i in free_first {
        free(&mut a, ps[i]);
    }
    free(&mut a, ps[1]);
    let first = a.layout.first.offset();
    blocks(&a).into_iter().map(|(o, s, f)| ((o - first) / B100, s / B100, f)).collect()
}

#[test]
fn coalescing_covers_all_four_boundary_tag_cases() {
    // (block index, size in blocks, allocated)
    assert_eq!(coalesce_case(&[]), [(0, 1, true), (1, 1, false), (2, 1, true), (3, 1, true)]);
    assert_eq!(coalesce_case(&[2]), [(0, 1, true), (1, 2, false), (3, 1, true)]);
    assert_eq!(coalesce_case(&[0]), [(0, 2, false), (2, 1, true), (3, 1, true)]);
    assert_eq!(coalesce_case(&[0, 2]), [(0, 3, false), (3, 1, true)]);
}

#[test]
fn fits_are_split_only_when_the_rest_can_be_a_block() {
    let mut a = first_fit();
    let p = malloc(&mut a, 1000);
    let _fence = malloc(&mut a, 8);
    free(&mut a, p);
    // 1016-byte hole, 120-byte request: split, 896 left free.
    let q = malloc(&mut a, 100);
    assert_eq!(off(&a, q), off(&a, p));
    assert_eq!(blocks(&a)[..2], [(off(&a, q) - 8, B100, true), (off(&a, q) - 8 + B100, 896, false)]);
    // 896-byte hole, 888-byte request: 8 bytes cannot be a block, the request gets all.
    let r = malloc(&mut a, 872);
    // SAFETY: `r` is live.
    assert_eq!(unsafe { a.usable_size(r) }, 896 - OVERHEAD);
    assert_eq!(blocks(&a).iter().filter(|b| !b.2).count(), 0);
}

#[test]
fn next_fit_resumes_at_the_rover_and_first_fit_does_not() {
    fn run(placement: Placement) -> usize {
        let mut a = allocator(A8, placement);
        let ps: Vec<_> = (0..7).map(|_| malloc(&mut a, 100)).collect();
        // Holes at 1, 3 and 5.
        for i in [1, 3, 5] {
            free(&mut a, ps[i]);
        }
        let m1 = malloc(&mut a, 100);
        assert_eq!(m1, ps[1]);
        let m2 = malloc(&mut a, 100);
        assert_eq!(m2, ps[3]);
        free(&mut a, m1);
        let m3 = malloc(&mut a, 100);
        ps.iter().position(|&p| p == m3).unwrap()
    }
    assert_eq!(run(Placement::FirstFit), 1);
    assert_eq!(run(Placement::NextFit), 5);
    assert_eq!(run(Placement::BestFit), 1);
}

#[test]
fn next_fit_wraps_around_to_the_start() {
    let mut a = allocator(A8, Placement::NextFit);
    let ps: Vec<_> = (0..4).map(|_| malloc(&mut a, 100)).collect();
    free(&mut a, ps[0]);
    // The rover is at the last block; the only hole is behind it.
    assert_eq!(malloc(&mut a, 100), ps[0]);
}

#[test]
fn the_rover_moves_when_its_block_is_merged_away() {
    let mut a = allocator(A8, Placement::NextFit);
    let ps: Vec<_> = (0..4).map(|_| malloc(&mut a, 100)).collect();
    let q = malloc(&mut a, 100);
    assert_eq!(a.rover, Some(block_of(&a, q)));
    free(&mut a, ps[3]);
    // Freeing the rover's block merges it into the free block on its left.
    free(&mut a, q);
    assert_eq!(a.rover, Some(block_of(&a, ps[3])));
    // Growing into a free right neighbour swallows a rover parked there.
    let ps2 = malloc(&mut a, 100);
    assert_eq!(a.rover, Some(block_of(&a, ps2)));
    free(&mut a, ps2);
    let b = block_of(&a, ps[2]);
    a.rover = Some(b.next(&a.heap));
    realloc(&mut a, ps[2], 200);
    assert_eq!(a.rover, Some(b));
}

#[test]
fn a_rover_off_a_block_boundary_fails_the_check() {
    let mut a = allocator(A8, Placement::NextFit);
    let p = malloc(&mut a, 100);
    let inside = block_of(&a, p).offset() + 8;
    a.rover = Some(Block::at(inside));
    let err = a.check_heap().unwrap_err();
    assert_eq!(err.offset, inside);
    assert_eq!(err.invariant.rule::<ImplicitRule>(), Some(&ImplicitRule::RoverOffBoundary { rover: inside }));
    assert_eq!(err.invariant.rule::<TagRule>(), None);
    assert_eq!(
        err.to_string(),
        format!(
            "heap check: block at heap offset {inside:#x}: rule 8: the next-fit rover (heap offset {inside:#x}) is not at a block boundary"
        )
    );
    // The epilogue is a boundary too: a rover there (after a wrap) is sound.
    a.rover = Some(a.layout.epilogue(&a.heap));
    a.check_heap().unwrap();
}

#[test]
fn best_fit_takes_the_tightest_hole() {
    let mut a = allocator(A8, Placement::BestFit);
    let mut holes = Vec::new();
    for size in [300, 100, 200] {
        holes.push(malloc(&mut a, size));
        malloc(&mut a, 8);
    }
    holes.iter().for_each(|&p| free(&mut a, p));
    assert_eq!(malloc(&mut a, 90), holes[1]);
    assert_eq!(malloc(&mut a, 150), holes[2]);
    // An exact fit wins even with a loose one before it.
    assert_eq!(malloc(&mut a, 300), holes[0]);
}

#[test]
fn realloc_shrinks_in_place_and_frees_the_tail() {
    let mut a = first_fit();
    let p = malloc(&mut a, 1000);
    let next = malloc(&mut a, 100);
    let _fence = malloc(&mut a, 8);
    free(&mut a, next);
    // The tail and the free right neighbour become one free block.
    assert_eq!(realloc(&mut a, p, 100), p);
    let at = off(&a, p) - 8;
    assert_eq!(blocks(&a)[..2], [(at, B100, true), (at + B100, 896 + B100, false)]);
    // A shrink that would leave less than a block changes nothing.
    assert_eq!(realloc(&mut a, p, 96), p);
    assert_eq!(blocks(&a)[0], (at, B100, true));
}

#[test]
fn realloc_grows_into_a_free_right_neighbour() {
    let mut a = first_fit();
    let p = malloc(&mut a, 100);
    let q = malloc(&mut a, 1000);
    let _fence = malloc(&mut a, 8);
    free(&mut a, q);
    let heap = a.heap.heap_size();
    assert_eq!(realloc(&mut a, p, 500), p);
    let at = off(&a, p) - 8;
    assert_eq!(blocks(&a)[..2], [(at, 520, true), (at + 520, B100 + 1016 - 520, false)]);
    assert_eq!(a.heap.heap_size(), heap);
}

#[test]
fn realloc_grows_the_last_block_by_the_shortfall_only() {
    let mut a = first_fit();
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
}

#[test]
fn realloc_moves_when_boxed_in_and_keeps_the_data() {
    let mut a = first_fit();
    let p = malloc(&mut a, 100);
    let _fence = malloc(&mut a, 8);
    // SAFETY: `p` has 100 usable bytes.
    unsafe { p.as_ptr().write_bytes(0x5a, 100) };
    let q = realloc(&mut a, p, 1000);
    assert_ne!(q, p);
    // SAFETY: `q` holds at least 1000 bytes, the first 100 copied from `p`.
    let data = unsafe { std::slice::from_raw_parts(q.as_ptr(), 100) };
    assert!(data.iter().all(|&b| b == 0x5a));
}

#[test]
fn before_init_a_wild_free_is_refused_and_new_takes_a_bare_alignment() {
    // The rest of the rule for before `init` is the conformance kit's `before_init`.
    let mut a = Implicit::new(MemLib::new(4096).unwrap(), ImplicitConfig::default());
    let wild = NonNull::new(0x1000 as *mut u8).unwrap();
    assert_eq!(a.check_neighbourhood(wild), Ok(()));
    // SAFETY: deliberately misused: nothing is allocated, so `free` must refuse it.
    unsafe { a.free(wild) };
    assert!(matches!(a.take_misuse(), Some(mm_core::Misuse::InvalidPointer { .. })));
    assert_eq!(a.describe(), "implicit free list, first fit, boundary tags, immediate coalescing");
    assert_eq!(Placement::BestFit.to_string(), "best fit");
    // The one constructor shape: a bare alignment is the default policy.
    let b = Implicit::new(MemLib::new(4096).unwrap(), Align::SIXTEEN);
    assert_eq!(b.config(), ImplicitConfig::new(Align::SIXTEEN, Placement::FirstFit));
}

// --- the checker catches damage -------------------------------------------------------

/// Three allocated blocks of 100 bytes, and the heap offset of the middle one's header.
fn three_blocks() -> (Implicit, [NonNull<u8>; 3], usize) {
    let mut a = first_fit();
    let ps = [malloc(&mut a, 100), malloc(&mut a, 100), malloc(&mut a, 100)];
    let middle = off(&a, ps[1]) - 8;
    (a, ps, middle)
}

#[test]
fn an_overflow_into_the_footer_is_a_header_footer_mismatch() {
    let (a, ps, middle) = three_blocks();
    // The classic bug: writing one word past the end of the payload.
    // SAFETY: the word after the usable bytes is the block's footer, inside the heap.
    unsafe {
        let usable = a.usable_size(ps[1]);
        ps[1].as_ptr().add(usable).cast::<usize>().write_unaligned(0xdead_beef);
    }
    let err = a.check_heap().unwrap_err();
    assert_eq!(err.offset, middle);
    assert_eq!(err.invariant, Invariant::HeaderFooterMismatch { header: B100 | 1, footer: 0xdead_beef });
    // The message names the block and both words.
    assert_eq!(
        err.to_string(),
        format!("heap check: block at heap offset {middle:#x}: header says 0x79, footer says 0xdeadbeef")
    );
}

#[test]
fn the_checker_names_each_broken_invariant() {
    /// Damages the allocator's heap around the middle block's header offset.
    type Damage = fn(&mut Implicit, usize);
    let cases: [(&str, Damage, Invariant); 6] = [
        (
            "two free neighbours",
            |a, m| {
                write_word(&mut a.heap, m, Tag::free(B100).word());
                write_word(&mut a.heap, m + B100 - 8, Tag::free(B100).word());
                write_word(&mut a.heap, m + B100, Tag::free(B100).word());
                write_word(&mut a.heap, m + 2 * B100 - 8, Tag::free(B100).word());
            },
            Invariant::Uncoalesced,
        ),
        (
            "a size that is not a multiple of 8",
            |a, m| write_word(&mut a.heap, m, Tag::allocated(B100).word() - 4),
            Invariant::rule_of(TagRule::UnknownFlags {
                header: Tag::from_word(Tag::allocated(B100).word() - 4),
            }),
        ),
        ("too small", |a, m| write_word(&mut a.heap, m, Tag::allocated(8).word()), {
            Invariant::TooSmall { size: 8, min: 16 }
        }),
        ("past the end", |a, m| write_word(&mut a.heap, m, Tag::allocated(1 << 16).word()), {
            Invariant::PastHeapEnd { size: 1 << 16 }
        }),
        (
            "a zero size mid-heap",
            |a, m| write_word(&mut a.heap, m, Tag::EPILOGUE.word()),
            Invariant::BadEpilogue,
        ),
        ("stray flag", |a, m| write_word(&mut a.heap, m, Tag::allocated(B100).word() | 0b10), {
            Invariant::rule_of(TagRule::UnknownFlags {
                header: Tag::from_word(Tag::allocated(B100).word() | 0b10),
            })
        }),
    ];
    for (what, damage, invariant) in cases {
        let (mut a, _, middle) = three_blocks();
        damage(&mut a, middle);
        let err = a.check_heap().unwrap_err();
        assert_eq!(err.invariant.rule::<TagRule>(), invariant.rule::<TagRule>(), "{what}");
        assert_eq!((err.offset, err.invariant), (middle, invariant), "{what}");
    }
}

#[test]
fn the_checker_guards_alignment_and_the_sentinels() {
    let mut a = allocator(Align::SIXTEEN, Placement::FirstFit);
    let p = malloc(&mut a, 100);
    let at = off(&a, p) - 8;
    let size = block_of(&a, p).size(&a.heap);
    // A size that is a multiple of 8 but not of 16.
    write_word(&mut a.heap, at, Tag::allocated(size - 8).word());
    assert_eq!(
        a.check_heap().unwrap_err().invariant,
        Invariant::SizeNotAligned { size: size - 8, align: 16 }
    );
    write_word(&mut a.heap, at, Tag::allocated(size).word());
    a.check_heap().unwrap();

    let epilogue = a.heap.heap_size() - 8;
    write_word(&mut a.heap, epilogue, Tag::free(0).word());
    assert_eq!(a.check_heap().unwrap_err().offset, epilogue);
    assert_eq!(a.check_heap().unwrap_err().invariant, Invariant::BadEpilogue);
    write_word(&mut a.heap, epilogue, Tag::EPILOGUE.word());

    let prologue = a.layout.prologue;
    assert_eq!(read_word(&a.heap, prologue + 8), Tag::allocated(16).word());
    write_word(&mut a.heap, prologue + 8, 0);
    assert_eq!(a.check_heap().unwrap_err().invariant, Invariant::BadPrologue);
}

// --- limits: sizes are whole words ------------------------------------------------------

const GIB: usize = 1 << 30;

#[test]
fn blocks_of_gigabytes_are_sized_in_whole_words() {
    // Tags are full words: no size a heap can hold is truncated. Blocks of more than
    // 4 GiB (what a 32-bit size field would hold) are served, merged and freed; a
    // request past the reservation fails, changing nothing. Their payloads are never
    // touched, so they cost only the pages of their tags.
    let mut a = Implicit::new(
        MemLib::reserve(24 * GIB).unwrap(),
        ImplicitConfig::new(Align::SIXTEEN, Placement::FirstFit),
    );
    a.init().unwrap();
    let p = malloc(&mut a, 5 * GIB);
    let q = malloc(&mut a, 6 * GIB);
    let _guard = malloc(&mut a, 64);
    // SAFETY: `p` is live.
    assert!(unsafe { a.usable_size(p) } >= 5 * GIB);
    free(&mut a, p);
    free(&mut a, q);
    assert_eq!(blocks(&a)[0].1, 11 * GIB + 2 * OVERHEAD, "one free block of 11 GiB");
    let r = malloc(&mut a, 11 * GIB);
    assert_eq!(r, p, "the merged 11 GiB are reused whole");
    let heap = a.heap.heap_size();
    assert_eq!(a.malloc(13 * GIB), None, "past the reservation");
    // SAFETY: `r` is live.
    assert_eq!(unsafe { a.realloc(Some(r), 24 * GIB) }, None);
    assert_eq!(a.heap.heap_size(), heap);
    a.check_heap().unwrap();
}

#[test]
fn a_tag_never_takes_a_size_that_would_become_flags() {
    assert!(std::panic::catch_unwind(|| Tag::allocated(49)).is_err());
    assert!(std::panic::catch_unwind(|| Tag::free(52)).is_err());
}

// --- misuse the default build catches ---------------------------------------------------

use mm_testkit::{ALIGNMENTS, misuse};

fn factory(placement: Placement) -> impl Fn(MemLib, Align) -> Implicit {
    move |heap, align| Implicit::new(heap, ImplicitConfig::new(align, placement))
}

#[test]
fn a_double_free_is_refused_and_reported_even_after_merging() {
    for placement in Placement::ALL {
        for align in ALIGNMENTS {
            misuse::double_free(factory(placement), align);
        }
    }
}

#[test]
fn pointers_that_are_not_payloads_are_refused() {
    for align in ALIGNMENTS {
        misuse::wild_pointers(factory(Placement::FirstFit), align);
    }
}

#[test]
fn an_overflow_never_makes_the_default_build_write_outside_the_heap() {
    misuse::overflows_stay_inside_the_heap(factory(Placement::FirstFit));
}

#[test]
fn hardened_catches_an_overflow_when_either_neighbour_is_freed() {
    // The first 8 bytes past a block are its own footer, the next 8 its neighbour's
    // header: every overflow that changes a byte is caught.
    let caught = misuse::hardened_catches_overflows(factory(Placement::FirstFit));
    assert_eq!(caught, 141, "one byte of 0x41 writes the footer's own low byte: 3 runs change nothing");
}

#[test]
fn a_smashed_footer_stops_free_before_it_merges() {
    // An overflow of one word: the block's footer no longer matches its header.
    for neighbour_free in [false, true] {
        let (mut a, ps, _) = three_blocks();
        if neighbour_free {
            free(&mut a, ps[2]);
        }
        // SAFETY: the word after the usable bytes is the block's footer, inside the heap.
        unsafe { ps[1].as_ptr().add(a.usable_size(ps[1])).cast::<u64>().write_unaligned(0x41) };
        misuse::stops_inside_the_heap(&mut a, "implicit", "header and footer disagree", |a| {
            // SAFETY: `ps[1]` is live.
            unsafe { a.free(ps[1]) };
        });
    }
}

#[test]
fn a_free_neighbour_whose_tags_disagree_is_not_merged() {
    // The left neighbour freed, then its footer overwritten (a write past the end of a
    // freed block): freeing the block must not merge on that footer's word.
    for footer in [0, 0x41_4140, 48, 1 << 40] {
        let (mut a, ps, middle) = three_blocks();
        free(&mut a, ps[0]);
        write_word(&mut a.heap, middle - 8, footer);
        misuse::stops_inside_the_heap(&mut a, "implicit", "corrupted size vs. prev_size", |a| {
            // SAFETY: `ps[1]` is live.
            unsafe { a.free(ps[1]) };
        });
    }
}

#[test]
fn a_size_smashed_past_the_heap_stops_the_search() {
    for size in [1 << 40, 0, 8] {
        let (mut a, ps, middle) = three_blocks();
        free(&mut a, ps[0]);
        write_word(&mut a.heap, middle, Tag::allocated(size).word());
        let expect = if size == 8 { "invalid" } else { "invalid block size" };
        misuse::stops_inside_the_heap(&mut a, "implicit", expect, |a| {
            a.malloc(1000);
            a.malloc(1000);
        });
    }
}

#[test]
fn a_write_into_a_freed_block_changes_nothing_the_allocator_reads() {
    // A free block keeps nothing in its payload: a use after free corrupts no metadata.
    let (mut a, ps, _) = three_blocks();
    free(&mut a, ps[1]);
    // SAFETY: the freed block's payload bytes (between its tags) are inside the heap.
    unsafe { ps[1].as_ptr().write_bytes(0xFF, B100 - OVERHEAD) };
    a.check_heap().unwrap();
    let p = malloc(&mut a, 40);
    free(&mut a, ps[0]);
    free(&mut a, p);
    a.check_heap().unwrap();
}

// --- heap spans: the boundary-tag layer's reading of this heap ---------------------------

use mm_core::{HeapSpan, SpanKind};

fn spans_allocator(align: usize) -> Implicit {
    let config = ImplicitConfig::new(Align::new(align).unwrap(), Placement::FirstFit);
    Implicit::new(MemLib::new(1 << 16).unwrap(), config)
}

#[test]
fn an_implicit_heap_reads_as_tags_and_payloads() {
    let mut a = spans_allocator(8);
    assert_eq!(a.heap_spans(), None, "not initialised");
    a.init().unwrap();
    // The prologue and the epilogue, merged; at alignment 8 there is no padding.
    assert_eq!(a.heap_spans().unwrap(), [HeapSpan::new(0, 24, SpanKind::Metadata)]);
    let p = a.malloc(20).unwrap(); // a 40-byte block: 24 usable bytes
    a.malloc(100).unwrap(); // 120 bytes: 104 usable
    assert_eq!(a.heap().offset_of(p.as_ptr()), 24);
    assert_eq!(
        a.heap_spans().unwrap(),
        [
            HeapSpan::new(0, 24, SpanKind::Metadata),
            HeapSpan::new(24, 24, SpanKind::Payload),
            HeapSpan::new(48, 16, SpanKind::Metadata),
            HeapSpan::new(64, 104, SpanKind::Payload),
            HeapSpan::new(168, 16, SpanKind::Metadata),
        ]
    );
    assert_eq!(a.heap().heap_size(), 184);
}

#[test]
fn the_padding_that_aligns_the_first_payload_is_padding() {
    let mut a = spans_allocator(16);
    a.init().unwrap();
    assert_eq!(
        a.heap_spans().unwrap(),
        [HeapSpan::new(0, 8, SpanKind::Padding), HeapSpan::new(8, 24, SpanKind::Metadata)]
    );
}
