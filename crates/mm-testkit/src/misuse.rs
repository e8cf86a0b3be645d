//! # Misuse scenarios: what a strategy does with a program that breaks the contract
//!
//! The conformance kit holds a strategy to the contract; these scenarios give it a
//! program that breaks it, the ways C programs do, and check what every strategy of
//! ours promises (docs/reliability.md):
//!
//! * [`double_free`]: a block freed twice, also after it merged with free neighbours,
//!   is refused and reported ([`Misuse::DoubleFree`]), in every build, and the heap
//!   stays sound: the next two `malloc`s do not return the same block; `check_free`
//!   and `check_free_sized` (free's checks, asked by a thread cache) say the same, and
//!   a size the latter gives is `usable_size`'s;
//! * [`wild_pointers`]: pointers that are no payload of the heap (misaligned, below the
//!   first payload, past the break, outside the heap) are refused and reported
//!   ([`Misuse::InvalidPointer`]), by `check_free` and `check_free_sized` too;
//!   `usable_size` says 0 for them
//!   and reads nothing outside the heap;
//! * [`overflows_stay_inside_the_heap`]: every overflow of 1 to 16 bytes of `0x00`,
//!   `0x41` or `0xFF` past the end of a block, into a free or an allocated neighbour,
//!   followed by more `malloc`s and `free`s: the strategy may stop with a panic (a
//!   [`Corruption`](mm_core::Corruption)), but it never writes past the break;
//! * [`hardened_catches_overflows`]: the same overflows under
//!   [`Hardened`]: each is reported by `try_free` at the latest when the
//!   block or its neighbour is freed, and the strategy never panics.
//!
//! Each builds the strategy over a zero-filled [`MemLib::new`] heap, so that "nothing
//! was written past the break" is a check that the bytes there are still zero
//! ([`untouched_past_the_break`]).

use std::ptr::NonNull;

use mm_core::hardened::Hardened;
use mm_core::{Align, Allocator, MemLib, Misuse};

use crate::panic_message;

/// The heap every scenario runs in.
const HEAP: usize = 1 << 20;

/// The request size of the blocks the scenarios misuse.
const SIZE: usize = 40;

fn build<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: &F, align: Align) -> A {
    let mut a = factory(MemLib::new(HEAP).expect("a 1 MiB heap"), align);
    a.init().expect("init");
    a
}

/// The most bytes between one block's usable end and the next block's payload when
/// nothing lies between them: its metadata (a footer and a header, at most 16 bytes for
/// every strategy of ours). A free block between them would add at least 16 more.
const MAX_OVERHEAD: usize = 16;

/// Returns `count` live blocks of 40 bytes (`SIZE`) in address order, each the right
/// neighbour of the one before it, with nothing between them but metadata.
///
/// Consecutive requests do not always land side by side (a strategy may carve each
/// from a fresh chunk, leaving a remainder between, until its heap is large enough), so
/// it allocates until `count` of its blocks are neighbours; the others stay allocated.
///
/// # Panics
/// When 1000 blocks hold no such run.
pub fn neighbours<A: Allocator + ?Sized>(a: &mut A, count: usize) -> Vec<NonNull<u8>> {
    let mut blocks: Vec<NonNull<u8>> = Vec::new();
    for _ in 0..1000 {
        blocks.push(a.malloc(SIZE).expect("malloc"));
        blocks.sort();
        let touching = |pair: &[NonNull<u8>]| {
            // SAFETY: `pair[0]` is live.
            let end = pair[0].as_ptr() as usize + unsafe { a.usable_size(pair[0]) };
            (pair[1].as_ptr() as usize).checked_sub(end).is_some_and(|gap| gap <= MAX_OVERHEAD)
        };
        if blocks.len() >= count
            && let Some(start) =
                (0..=blocks.len() - count).find(|&i| blocks[i..i + count].windows(2).all(touching))
        {
            return blocks[start..start + count].to_vec();
        }
    }
    panic!("{}: no {count} blocks of {SIZE} bytes side by side among 1000", a.describe());
}

/// True when every byte between the break and the end of the reservation is still zero
/// (as [`MemLib::new`] leaves it): nothing was written past the break.
pub fn untouched_past_the_break(heap: &MemLib) -> bool {
    // SAFETY: the whole reservation is readable: `MemLib::new` allocates it, zero-filled.
    let beyond = unsafe {
        std::slice::from_raw_parts(heap.heap_lo().add(heap.heap_size()), heap.max_size() - heap.heap_size())
    };
    beyond.iter().all(|&b| b == 0)
}

/// Runs `f` on `a`, which must stop with a panic whose message contains `expect` (a
/// corruption check firing), and then checks that nothing past the break was written.
/// `what` names the case in the failure messages.
pub fn stops_inside_the_heap<A: Allocator>(a: &mut A, what: &str, expect: &str, f: impl FnOnce(&mut A)) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(a)));
    let message = match outcome {
        Ok(()) => panic!("{what}: the corruption went unnoticed"),
        Err(payload) => panic_message(&*payload).to_owned(),
    };
    assert!(message.contains(expect), "{what}: panicked with {message:?}, expected {expect:?}");
    assert!(untouched_past_the_break(a.heap()), "{what}: something was written past the break");
}

/// A block freed twice is refused and reported, whichever of its neighbours were free
/// when it was first freed (so also after it merged with them), through `free` and
/// through `realloc`; the heap stays sound and hands the block out once.
pub fn double_free<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    for free_neighbours in [&[][..], &[0], &[2], &[0, 2]] {
        let mut a = build(&factory, align);
        let blocks = neighbours(&mut a, 4);
        let p = blocks[1];
        let what = format!("{} (align {align}), free neighbours {free_neighbours:?}", a.describe());
        for &i in free_neighbours {
            // SAFETY: each neighbour is live and freed once.
            unsafe { a.free(blocks[i]) };
        }
        // SAFETY: `p` is live and freed once here.
        unsafe { a.free(p) };
        assert_eq!(a.take_misuse(), None, "{what}: a correct free was refused");
        a.check_heap().unwrap_or_else(|e| panic!("{what}: {e}"));
        let offset = a.heap().offset_of(p.as_ptr());
        // `check_free` (what a thread cache asks before keeping a block) agrees with
        // `free`: the live neighbour passes, the freed block is a double free.
        assert_eq!(a.check_free(blocks[3]), Ok(()), "{what}: check_free of a live block");
        assert_eq!(a.check_free(p), Err(Misuse::DoubleFree { offset }), "{what}: check_free");
        // `check_free_sized` says the same, and a size it gives is `usable_size`'s.
        // SAFETY: `blocks[3]` is live.
        let usable = unsafe { a.usable_size(blocks[3]) };
        assert!(
            matches!(a.check_free_sized(blocks[3]), Ok(None))
                || a.check_free_sized(blocks[3]) == Ok(Some(usable)),
            "{what}: check_free_sized of a live block: {:?}, usable_size {usable}",
            a.check_free_sized(blocks[3])
        );
        assert_eq!(a.check_free_sized(p), Err(Misuse::DoubleFree { offset }), "{what}: check_free_sized");
        // SAFETY: deliberately misused: `p` was freed. The strategy must refuse it.
        unsafe { a.free(p) };
        assert_eq!(a.take_misuse(), Some(Misuse::DoubleFree { offset }), "{what}: free");
        a.check_heap().unwrap_or_else(|e| panic!("{what}: after the double free: {e}"));
        // SAFETY: as above, through realloc.
        assert_eq!(unsafe { a.realloc(Some(p), 10) }, None, "{what}: realloc of a freed block");
        assert_eq!(a.take_misuse(), Some(Misuse::DoubleFree { offset }), "{what}: realloc");
        let (x, y) = (a.malloc(SIZE).unwrap(), a.malloc(SIZE).unwrap());
        assert_ne!(x, y, "{what}: two mallocs returned the same block");
        a.check_heap().unwrap_or_else(|e| panic!("{what}: at the end: {e}"));
    }
}

/// Pointers that are no payload of the heap are refused by `free` and `realloc` and
/// reported; `usable_size` says 0 for them. Nothing changes.
pub fn wild_pointers<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F, align: Align) {
    let mut a = build(&factory, align);
    let p = a.malloc(100).unwrap();
    let mut outside = [0u64; 4];
    let lo = a.heap().heap_lo();
    let wild = [
        p.as_ptr().wrapping_add(1),
        p.as_ptr().wrapping_add(align.get() / 2),
        lo,
        lo.wrapping_add(a.heap().heap_size()),
        lo.wrapping_add(HEAP / 2),
        lo.wrapping_sub(16),
        outside.as_mut_ptr().cast::<u8>(),
    ];
    let what = format!("{} (align {align})", a.describe());
    for ptr in wild {
        let ptr = NonNull::new(ptr).unwrap();
        assert!(
            matches!(a.check_free(ptr), Err(Misuse::InvalidPointer { .. })),
            "{what}: check_free({ptr:p})"
        );
        assert!(
            matches!(a.check_free_sized(ptr), Err(Misuse::InvalidPointer { .. })),
            "{what}: check_free_sized({ptr:p})"
        );
        // SAFETY: deliberately misused: none of these is a live block; the strategy must
        // refuse each without touching anything.
        unsafe {
            assert_eq!(a.usable_size(ptr), 0, "{what}: usable_size({ptr:p})");
            a.free(ptr);
            assert!(matches!(a.take_misuse(), Some(Misuse::InvalidPointer { .. })), "{what}: free({ptr:p})");
            assert_eq!(a.realloc(Some(ptr), 10), None, "{what}: realloc({ptr:p})");
            assert!(
                matches!(a.take_misuse(), Some(Misuse::InvalidPointer { .. })),
                "{what}: realloc({ptr:p})"
            );
        }
        a.check_heap().unwrap_or_else(|e| panic!("{what}: {ptr:p}: {e}"));
    }
    // SAFETY: `p` is live.
    unsafe { a.free(p) };
    assert_eq!(a.take_misuse(), None);
}

/// Every overflow of 1 to 16 bytes past a block, of three byte values, into a free or an
/// allocated neighbour: `(len, byte, neighbour free)`.
pub fn overflows() -> impl Iterator<Item = (usize, u8, bool)> {
    (1..=16)
        .flat_map(|len| [0x00u8, 0x41, 0xFF].into_iter().flat_map(move |b| [(len, b, true), (len, b, false)]))
}

/// A block `p`, its right neighbour `n` (freed when `neighbour_free`) and a block after
/// them, so that `n` is not the last block.
fn overflow_setup<A: Allocator + ?Sized>(a: &mut A, neighbour_free: bool) -> (NonNull<u8>, NonNull<u8>) {
    let blocks = neighbours(a, 3);
    if neighbour_free {
        // SAFETY: `blocks[1]` is live and freed once.
        unsafe { a.free(blocks[1]) };
    }
    (blocks[0], blocks[1])
}

/// Writes `len` bytes of `byte` just past `p`'s usable size (inside the heap: a
/// neighbour follows); true when that changed any byte.
fn overflow<A: Allocator + ?Sized>(a: &A, p: NonNull<u8>, len: usize, byte: u8) -> bool {
    // SAFETY: `p` is live; the `len` bytes past its usable size belong to the blocks
    // after it, inside the heap (`neighbours` checked that one follows).
    unsafe {
        let at = p.as_ptr().add(a.usable_size(p));
        let changed = (0..len).any(|i| at.add(i).read() != byte);
        at.write_bytes(byte, len);
        changed
    }
}

/// Every overflow of [`overflows`], followed by two `malloc`s and the frees of the
/// block and its neighbour: whatever the strategy does (it may stop with a panic), it
/// writes nothing past the break.
pub fn overflows_stay_inside_the_heap<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F) {
    for (len, byte, neighbour_free) in overflows() {
        let mut a = build(&factory, Align::SIXTEEN);
        let (p, n) = overflow_setup(&mut a, neighbour_free);
        overflow(&a, p, len, byte);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            a.malloc(SIZE);
            a.malloc(SIZE);
            // SAFETY: `p` is live (and `n` too unless it was freed); the strategy may
            // refuse them, which is what is being tested.
            unsafe {
                a.free(p);
                if !neighbour_free {
                    a.free(n);
                }
            }
            a.malloc(SIZE);
        }));
        assert!(
            untouched_past_the_break(a.heap()),
            "{}: {len} x {byte:#x} into a {} neighbour: written past the break",
            a.describe(),
            if neighbour_free { "free" } else { "allocated" }
        );
    }
}

/// Every overflow of [`overflows`] under [`Hardened`]: freeing the overflowing block or
/// its neighbour (in either order, when both are allocated) reports it, at the latest
/// at the second free, and the strategy never panics. Returns how many overflows were
/// caught (those that wrote the bytes already there change nothing and are skipped).
///
/// # Panics
/// At the first overflow that is not caught, or that makes the strategy panic.
pub fn hardened_catches_overflows<A: Allocator, F: Fn(MemLib, Align) -> A>(factory: F) -> usize {
    hardened_catches(factory, |_| true)
}

/// [`hardened_catches_overflows`] for the overflows into a *free* neighbour alone: what a
/// strategy with no metadata between two allocated blocks (a header-free buddy system)
/// can catch, since an overflow into an allocated neighbour there changes only that
/// neighbour's data. Returns how many were caught (of 48).
///
/// # Panics
/// At the first such overflow that is not caught, or that makes the strategy panic.
pub fn hardened_catches_overflows_into_free_neighbours<A: Allocator, F: Fn(MemLib, Align) -> A>(
    factory: F,
) -> usize {
    hardened_catches(factory, |neighbour_free| neighbour_free)
}

/// The body of [`hardened_catches_overflows`], over the overflows whose neighbour state
/// `which` accepts.
fn hardened_catches<A: Allocator, F: Fn(MemLib, Align) -> A>(
    factory: F,
    which: impl Fn(bool) -> bool,
) -> usize {
    let mut caught = 0;
    for (len, byte, neighbour_free) in overflows().filter(|&(_, _, free)| which(free)) {
        for p_first in [true, false] {
            if neighbour_free && !p_first {
                continue; // the neighbour is free already: only the block is left to free
            }
            let mut a = Hardened::new(factory(MemLib::new(HEAP).expect("a 1 MiB heap"), Align::SIXTEEN));
            a.init().expect("init");
            let (p, n) = overflow_setup(&mut a, neighbour_free);
            if !overflow(&a, p, len, byte) {
                continue;
            }
            let order = if p_first { [p, n] } else { [n, p] };
            let frees = if neighbour_free { 1 } else { 2 };
            let what = format!(
                "{}: {len} x {byte:#x} into a {} neighbour, {} freed first",
                a.describe(),
                if neighbour_free { "free" } else { "allocated" },
                if p_first { "the block" } else { "the neighbour" }
            );
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                order.into_iter().take(frees).map(|q| a.try_free(q)).find(Result::is_err)
            }));
            match outcome {
                Ok(Some(Err(_))) => caught += 1,
                Ok(_) => panic!("{what}: not caught"),
                Err(payload) => {
                    panic!("{what}: the strategy acted on it and panicked: {}", panic_message(&*payload))
                }
            }
            assert!(untouched_past_the_break(a.heap()), "{what}: written past the break");
        }
    }
    caught
}

/// [`Allocator::check_neighbourhood`] and `usable_size` on heaps damaged at random
/// around a block and its neighbours (random bytes over a few random spans of the 256
/// bytes around them, inside the heap), and on pointers into them: they may answer
/// anything, but they must answer, never panic. Returns how many of the checks
/// reported a corruption.
///
/// # Panics
/// When either panics.
pub fn neighbourhood_never_panics<A: Allocator, F: Fn(MemLib, Align) -> A>(
    factory: F,
    rounds: usize,
) -> usize {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6e16_4b0b);
    let mut reported = 0;
    for round in 0..rounds {
        let mut a = build(&factory, Align::SIXTEEN);
        let blocks = neighbours(&mut a, 4);
        // SAFETY: each freed block is live and freed once.
        unsafe {
            a.free(blocks[0]);
            a.free(blocks[2]);
        }
        let (p, n) = (blocks[1], blocks[3]);
        // The bytes around the blocks, inside the heap.
        let heap_lo = a.heap().heap_lo() as usize;
        let lo = (p.as_ptr() as usize - 96).max(heap_lo);
        let hi = (p.as_ptr() as usize + 160).min(heap_lo + a.heap().heap_size());
        for _ in 0..rng.random_range(1..=4) {
            let start = rng.random_range(lo..hi);
            let len = rng.random_range(1..=24usize).min(hi - start);
            for i in 0..len {
                // SAFETY: `[lo, hi)` lies inside the heap.
                unsafe { a.heap().heap_lo().add(start - heap_lo + i).write(rng.random()) };
            }
        }
        let wild = NonNull::new(a.heap().heap_lo().wrapping_add(rng.random_range(lo..hi) - heap_lo)).unwrap();
        let inside = NonNull::new(p.as_ptr().wrapping_add(16)).unwrap();
        for q in [p, n, inside, wild] {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // SAFETY: deliberately handed a damaged or wild block: both must only
                // read inside the heap, and answer.
                let _ = unsafe { a.usable_size(q) };
                a.check_neighbourhood(q)
            }));
            match outcome {
                Ok(result) => reported += usize::from(result.is_err()),
                Err(payload) => panic!(
                    "{}: round {round}: check_neighbourhood({q:p}) panicked: {}",
                    a.describe(),
                    panic_message(&*payload)
                ),
            }
        }
    }
    reported
}
