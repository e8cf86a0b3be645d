//! The thread caches in front of `LockedAllocator` (`mm::cache`): what they hold is
//! bounded and counted, goes back to the strategy when its thread exits, moves between
//! threads in both directions, and a program that starts its threads late (after the
//! lock ran in single-thread mode) stays correct. Every test ends with the strategy's
//! heap checker.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::{Arc, Barrier, mpsc};

use mm::cache::{MAX_CACHED, THREAD_CAP};
use mm::{Align, LockedAllocator, MemLib};
use mm_segregated::{Segregated, SegregatedConfig};

/// Virtual memory each allocator reserves (committed only as used).
const RESERVE: usize = 1 << 30;

fn segregated() -> LockedAllocator<Segregated> {
    LockedAllocator::with_reserve(
        |heap: MemLib| Segregated::new(heap, SegregatedConfig { align: Align::SIXTEEN }),
        RESERVE,
    )
}

/// A block and the byte its pattern starts with.
struct Block {
    ptr: *mut u8,
    size: usize,
    tag: u8,
}

// SAFETY: a block is owned by one thread at a time (it moves through a channel).
unsafe impl Send for Block {}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 16).unwrap()
}

fn alloc(a: &LockedAllocator<Segregated>, size: usize, tag: u8) -> Block {
    // SAFETY: non-zero size.
    let ptr = unsafe { a.alloc(layout(size)) };
    assert!(!ptr.is_null() && (ptr as usize).is_multiple_of(16));
    for i in 0..size {
        // SAFETY: `ptr` holds `size` bytes.
        unsafe { ptr.add(i).write(tag.wrapping_add(i as u8)) };
    }
    Block { ptr, size, tag }
}

fn free(a: &LockedAllocator<Segregated>, block: Block) {
    for i in 0..block.size {
        // SAFETY: the block is live and holds `size` bytes.
        let byte = unsafe { block.ptr.add(i).read() };
        assert_eq!(byte, block.tag.wrapping_add(i as u8), "a block was overwritten while live");
    }
    // SAFETY: live, allocated with this layout, freed once.
    unsafe { a.dealloc(block.ptr, layout(block.size)) };
}

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn threads_that_exit_holding_cached_blocks_give_them_back() {
    let a = Arc::new(segregated());
    let (freed, exit) = (Arc::new(Barrier::new(5)), Arc::new(Barrier::new(5)));
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let (a, freed, exit) = (Arc::clone(&a), Arc::clone(&freed), Arc::clone(&exit));
            std::thread::spawn(move || {
                let mut random = xorshift(u64::from(t) + 7);
                let blocks: Vec<_> =
                    (0..300).map(|i| alloc(&a, 1 + random() as usize % MAX_CACHED, i as u8 ^ t)).collect();
                for block in blocks {
                    free(&a, block);
                }
                freed.wait(); // holding what its cache kept
                exit.wait();
            })
        })
        .collect();
    freed.wait();
    let held = a.cached_bytes();
    assert!(held > 0, "the exiting threads hold cached blocks");
    assert!(held <= 4 * THREAD_CAP, "{held} bytes held by 4 threads");
    a.check_heap().expect("cached blocks are allocated blocks to the checker");
    exit.wait();
    for t in threads {
        t.join().unwrap(); // returns after the thread's key destructors ran
    }
    assert_eq!(a.cached_bytes(), 0, "every exited thread's cache went back to the strategy");
    a.check_heap().unwrap();
    // The strategy has the space again: the same demand from another thread fits.
    let blocks: Vec<_> = (0..1200).map(|i| alloc(&a, 1 + i % MAX_CACHED, i as u8)).collect();
    for block in blocks {
        free(&a, block);
    }
    a.flush_thread_cache();
    assert_eq!(a.cached_bytes(), 0);
    a.check_heap().unwrap();
}

#[test]
fn a_thread_never_holds_more_than_its_cap() {
    let a = segregated();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Many more blocks of every cached size than the cap holds, freed in one go.
            let blocks: Vec<_> = (0..20 * THREAD_CAP / MAX_CACHED)
                .map(|i| alloc(&a, 1 + (i * 37) % MAX_CACHED, i as u8))
                .collect();
            for block in blocks {
                free(&a, block);
                assert!(a.cached_bytes() <= THREAD_CAP, "over the cap: {}", a.cached_bytes());
            }
            assert!(a.cached_bytes() > THREAD_CAP / 2, "the cache fills up to near its cap");
            assert!(a.flush_thread_cache() > 0);
            assert_eq!(a.cached_bytes(), 0, "flushed");
        });
    });
    a.check_heap().unwrap();
}

#[test]
fn blocks_cross_threads_in_both_directions_at_a_high_rate() {
    const BLOCKS: usize = 60_000;
    let a = segregated();
    let (to_b, from_a) = mpsc::sync_channel::<Block>(256);
    let (to_a, from_b) = mpsc::sync_channel::<Block>(256);
    let side = |out: mpsc::SyncSender<Block>, inbox: mpsc::Receiver<Block>, seed: u64| {
        let a = &a;
        move || {
            let mut random = xorshift(seed);
            for i in 0..BLOCKS {
                let r = random();
                let size = 1 + r as usize % (MAX_CACHED + 200);
                if r.is_multiple_of(5) {
                    // A dirty cached block must come back zeroed.
                    // SAFETY: non-zero size.
                    let z = unsafe { a.alloc_zeroed(layout(size)) };
                    // SAFETY: `z` holds `size` bytes.
                    assert!((0..size).all(|i| unsafe { z.add(i).read() } == 0), "alloc_zeroed({size})");
                    // SAFETY: live, freed once.
                    unsafe { a.dealloc(z, layout(size)) };
                }
                let block = alloc(a, size, (i as u8) ^ (seed as u8));
                // Every block goes to the other thread, which frees it: frees of
                // blocks allocated elsewhere, all the time, both ways.
                out.send(block).unwrap();
                while let Ok(block) = inbox.try_recv() {
                    if random().is_multiple_of(3) {
                        // Resize a block from the other thread's cache.
                        let new_size = 1 + random() as usize % (2 * MAX_CACHED);
                        // SAFETY: live with this layout; `new_size > 0`.
                        let ptr = unsafe { a.realloc(block.ptr, layout(block.size), new_size) };
                        assert!(!ptr.is_null());
                        let kept = new_size.min(block.size);
                        for i in 0..kept {
                            // SAFETY: `ptr` holds at least `kept` bytes.
                            assert_eq!(unsafe { ptr.add(i).read() }, block.tag.wrapping_add(i as u8));
                        }
                        // SAFETY: live with the new layout.
                        unsafe { a.dealloc(ptr, layout(new_size)) };
                        continue;
                    }
                    free(a, block);
                }
            }
            drop(out);
            for block in inbox {
                free(a, block);
            }
        }
    };
    std::thread::scope(|scope| {
        let x = scope.spawn(side(to_b, from_b, 1));
        let y = scope.spawn(side(to_a, from_a, 2));
        x.join().unwrap();
        y.join().unwrap();
    });
    a.check_heap().unwrap();
}

#[test]
fn a_program_that_starts_its_threads_late_stays_correct() {
    let a = segregated();
    // Alone first: the lock runs in single-thread mode, the caches fill.
    let mut mine: Vec<_> = (0..5000).map(|i| alloc(&a, 1 + (i * 13) % 2000, i as u8)).collect();
    for block in mine.drain(..2500) {
        free(&a, block);
    }
    // Then three more threads, while this one keeps going: the lock switches to shared
    // mode with this thread possibly inside it.
    std::thread::scope(|scope| {
        let others: Vec<_> = (0..3u64)
            .map(|t| {
                let a = &a;
                scope.spawn(move || {
                    let mut random = xorshift(t + 100);
                    let mut live = Vec::new();
                    for i in 0..20_000 {
                        live.push(alloc(a, 1 + random() as usize % 1500, i as u8));
                        if random().is_multiple_of(2) {
                            let k = random() as usize % live.len();
                            free(a, live.swap_remove(k));
                        }
                    }
                    for block in live {
                        free(a, block);
                    }
                })
            })
            .collect();
        let mut random = xorshift(99);
        for i in 0..20_000 {
            mine.push(alloc(&a, 1 + random() as usize % 1500, i as u8));
            let k = random() as usize % mine.len();
            free(&a, mine.swap_remove(k));
        }
        // Joined, not only finished: a thread's caches are marked exited by its key
        // destructor, which runs after its closure returns (and the scope's end waits
        // only for the closures).
        for t in others {
            t.join().unwrap();
        }
    });
    for block in mine {
        free(&a, block);
    }
    a.flush_thread_cache();
    assert_eq!(a.cached_bytes(), 0);
    a.check_heap().unwrap();
}
