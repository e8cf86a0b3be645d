//! Hardened mode catches misuse at `free` and `realloc` for every strategy, reports it as
//! a typed error, and leaves the heap as it was: the heap checker passes and every live
//! block keeps its bytes.

use std::ptr::NonNull;

use mdriver::registry;
use mm_core::hardened::{Hardened, Misuse};
use mm_core::{Align, Allocator, MemLib};
use mm_shadow::pattern;
use mm_testkit::misuse;

fn hardened(strategy: &str) -> Hardened<Box<dyn Allocator>> {
    let info = registry::find(strategy).unwrap();
    let mut a = Hardened::new((info.build)(MemLib::new(4 << 20).unwrap(), Align::SIXTEEN));
    a.init().unwrap();
    a
}

/// Fills a live block with the shadow model's pattern keyed `seed`.
fn fill(p: NonNull<u8>, len: usize, seed: u8) {
    // SAFETY: `p` is live and holds `len` bytes.
    unsafe { pattern::fill_block(p.as_ptr(), len, seed.into(), 0) };
}

fn intact(p: NonNull<u8>, len: usize, seed: u8) -> bool {
    // SAFETY: as in `fill`.
    unsafe { pattern::check_block(p.as_ptr(), len, seed.into()) }.is_ok()
}

/// Live blocks around the misuse, to check that nothing else was touched.
fn neighbours(a: &mut Hardened<Box<dyn Allocator>>) -> Vec<(NonNull<u8>, usize, u8)> {
    (0..20u8)
        .map(|i| {
            let size = 24 + 40 * i as usize;
            let p = a.malloc(size).unwrap();
            fill(p, size, i);
            (p, size, i)
        })
        .collect()
}

fn still_fine(
    strategy: &str,
    a: &mut Hardened<Box<dyn Allocator>>,
    live: &[(NonNull<u8>, usize, u8)],
    what: &str,
) {
    a.check_heap().unwrap_or_else(|e| panic!("{strategy}: {what}: {e}"));
    for &(p, size, seed) in live {
        assert!(intact(p, size, seed), "{strategy}: {what}: a live block changed");
    }
    // And the allocator still works.
    let p = a.malloc(100).unwrap();
    a.try_free(p).unwrap();
}

fn ours() -> impl Iterator<Item = &'static str> {
    registry::all_names().into_iter().filter(|&s| s != registry::LIBC)
}

#[test]
fn double_frees_are_caught_for_every_strategy() {
    for strategy in ours() {
        let mut a = hardened(strategy);
        let live = neighbours(&mut a);
        let victim = a.malloc(64).unwrap();
        let offset = a.heap().offset_of(victim.as_ptr());
        a.try_free(victim).unwrap();
        assert_eq!(a.try_free(victim), Err(Misuse::DoubleFree { offset }), "{strategy}");
        assert_eq!(a.try_realloc(Some(victim), 10), Err(Misuse::DoubleFree { offset }), "{strategy}");
        // Through the trait, the misuse is kept for the caller.
        // SAFETY: a deliberate double free; the hardened wrapper checks it.
        unsafe { a.free(victim) };
        assert_eq!(a.take_misuse(), Some(Misuse::DoubleFree { offset }), "{strategy}");
        still_fine(strategy, &mut a, &live, "double free");
    }
}

#[test]
fn pointers_never_returned_are_caught_for_every_strategy() {
    for strategy in ours() {
        let mut a = hardened(strategy);
        let live = neighbours(&mut a);
        let (block, _, _) = live[5];
        let mut outside = [0u64; 4];
        let candidates = [
            block.as_ptr().wrapping_add(16),          // inside a block, aligned
            block.as_ptr().wrapping_add(3),           // misaligned
            block.as_ptr().wrapping_sub(16),          // just below a block
            outside.as_mut_ptr().cast::<u8>(),        // not in the heap at all
            a.heap().heap_lo().wrapping_add(1 << 21), // in the reservation, past the break
        ];
        for ptr in candidates {
            let ptr = NonNull::new(ptr).unwrap();
            let result = a.try_free(ptr);
            assert!(matches!(result, Err(Misuse::InvalidPointer { .. })), "{strategy}: {ptr:p}: {result:?}");
        }
        still_fine(strategy, &mut a, &live, "invalid free");
    }
}

#[test]
fn overwritten_headers_are_caught_for_our_strategies() {
    // The words just below a payload are where each of our strategies keeps its block
    // header; an overflow out of the block below writes there. (Peers may keep no
    // header at all; for them the table alone vouches for the pointer.)
    for strategy in ["implicit", "explicit", "segregated", "buddy"] {
        // (Not buddy-bitmap: the bytes below its payload are the block below's.)
        let mut a = hardened(strategy);
        let live = neighbours(&mut a);
        let victim = a.malloc(200).unwrap();
        let offset = a.heap().offset_of(victim.as_ptr());
        let header = offset - 8;
        let saved: u64 = a.heap().read(header);
        a.heap_mut().write::<u64>(header, saved ^ 0x0301_0070_0007_0070);
        let result = a.try_free(victim);
        assert!(
            matches!(result, Err(Misuse::CorruptedHeader { offset: o, .. }) if o == offset),
            "{strategy}: {result:?}"
        );
        // Zeroed, as an overflowing memset leaves it: still reported, never a panic.
        a.heap_mut().write::<u64>(header, 0);
        let result = a.try_free(victim);
        assert!(matches!(result, Err(Misuse::CorruptedHeader { .. })), "{strategy}: zeroed: {result:?}");
        // Repair the header: the block is freed normally, nothing was lost.
        a.heap_mut().write::<u64>(header, saved);
        a.try_free(victim).unwrap();
        still_fine(strategy, &mut a, &live, "overwritten header");
    }
}

/// The strategies of this workspace (the peers keep metadata of their own design, or
/// none: for them the hardened table alone vouches for a pointer).
const OURS: [&str; 10] = [
    "implicit",
    "implicit-nextfit",
    "implicit-bestfit",
    "explicit",
    "explicit-addr",
    "explicit-textbook",
    "segregated",
    "buddy",
    "buddy-bitmap",
    "kr",
];

/// Ours with a header (or boundary tags) in front of every payload: all but the
/// header-free buddy system.
fn with_headers() -> impl Iterator<Item = &'static str> {
    OURS.into_iter().filter(|&s| s != "buddy-bitmap")
}

#[test]
fn every_overflow_of_up_to_16_bytes_is_caught_for_our_strategies() {
    // 1 to 16 bytes of 0x00, 0x41 and 0xFF past a block, into a free or an allocated
    // neighbour: reported by try_free at the latest when the block or its neighbour is
    // freed, never acted upon (mm_testkit::misuse).
    for strategy in with_headers() {
        let build = registry::find(strategy).unwrap().build;
        let caught = misuse::hardened_catches_overflows(build);
        assert!(caught >= 141, "{strategy}: only {caught} of the 144 runs changed a byte");
    }
}

#[test]
fn every_overflow_into_a_free_neighbour_is_caught_without_headers() {
    // buddy-bitmap keeps nothing between two allocated blocks, so an overflow into an
    // allocated neighbour changes only the neighbour's data; into a free one it changes
    // the neighbour's links, and that is caught.
    let build = registry::find("buddy-bitmap").unwrap().build;
    let caught = misuse::hardened_catches_overflows_into_free_neighbours(build);
    assert!(caught >= 40, "buddy-bitmap: only {caught} of the 48 runs changed a byte");
}

#[test]
fn check_neighbourhood_answers_on_any_damaged_heap_for_our_strategies() {
    // What the hardened mode asks before every free must itself read nothing outside the
    // heap and never panic, whatever the program wrote.
    for strategy in OURS {
        let build = registry::find(strategy).unwrap().build;
        let reported = misuse::neighbourhood_never_panics(build, 300);
        assert!(reported > 300, "{strategy}: only {reported} of 1200 checks saw the damage");
    }
}

#[test]
fn our_strategies_refuse_double_and_invalid_frees_without_hardening() {
    for strategy in OURS {
        let build = registry::find(strategy).unwrap().build;
        for align in [Align::MIN, Align::SIXTEEN] {
            misuse::double_free(build, align);
            misuse::wild_pointers(build, align);
        }
        misuse::overflows_stay_inside_the_heap(build);
    }
}

/// The whole conformance suite through the hardened wrapper: hardening changes nothing
/// for a correct program.
fn hardened_factory(strategy: &'static str) -> impl Fn(MemLib, Align) -> Hardened<Box<dyn Allocator>> {
    move |heap, align| Hardened::new((registry::find(strategy).unwrap().build)(heap, align))
}

mm_testkit::conformance_tests!(conformance_implicit, hardened_factory("implicit"));
mm_testkit::conformance_tests!(conformance_explicit, hardened_factory("explicit"));
mm_testkit::conformance_tests!(conformance_explicit_textbook, hardened_factory("explicit-textbook"));
mm_testkit::conformance_tests!(conformance_segregated, hardened_factory("segregated"));
mm_testkit::conformance_tests!(conformance_kr, hardened_factory("kr"));
// The buddy systems run every scenario but `coalescing` and `exhaustion`: the hardened
// table is a live block of the heap, and in a buddy system one live block keeps its
// buddies from merging, so the one large block those scenarios ask for after freeing
// everything (32 KiB; a quarter of a small heap) does not fit where they require it to.
fn every_scenario_but_coalescing_and_exhaustion(name: &'static str) {
    use mm_testkit::{self as testkit, ALIGNMENTS};
    let factory = hardened_factory(name);
    for align in ALIGNMENTS {
        testkit::short1(&factory, align);
        testkit::short2(&factory, align);
        testkit::realloc_shrink(&factory, align);
        testkit::realloc_grow(&factory, align);
        testkit::realloc_into_free_neighbour(&factory, align);
        testkit::realloc_null_is_malloc(&factory, align);
        testkit::realloc_zero_frees(&factory, align);
        testkit::malloc_zero(&factory, align);
        testkit::calloc(&factory, align);
        testkit::huge_requests(&factory, align);
        testkit::reinit(&factory, align);
        testkit::random_mixed(&factory, align);
        testkit::random_realloc(&factory, align);
    }
}

#[test]
fn conformance_buddy_every_scenario_but_coalescing_and_exhaustion() {
    every_scenario_but_coalescing_and_exhaustion("buddy");
}

#[test]
fn conformance_buddy_bitmap_every_scenario_but_coalescing_and_exhaustion() {
    every_scenario_but_coalescing_and_exhaustion("buddy-bitmap");
}
