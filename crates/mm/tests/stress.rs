//! `LockedAllocator` under concurrency, for every strategy: 8 threads allocate blocks
//! of random sizes and alignments, fill them with a pattern naming their owner, and pass
//! half of them to the next thread in a ring, which checks the pattern, sometimes grows
//! or shrinks the block with `realloc` (checking the kept prefix), and frees it. At the
//! end every block allocated has been freed exactly once with its bytes intact, and the
//! strategy's heap checker passes.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use mm::{Align, Allocator, LockedAllocator, MemLib};

const THREADS: usize = 8;
const BLOCKS_PER_THREAD: usize = 6000;
/// Virtual memory each allocator reserves (committed only as used).
const RESERVE: usize = 1 << 30;

/// A block in flight between threads.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    tag: u8,
}

// SAFETY: a `Block` is owned by exactly one thread at a time (it moves through a
// channel); the memory it names is not touched by the sender after sending.
unsafe impl Send for Block {}

fn fill(block: &Block) {
    for i in 0..block.layout.size() {
        // SAFETY: the block is live and `layout.size()` bytes long.
        unsafe { block.ptr.add(i).write(block.tag.wrapping_add(i as u8)) };
    }
}

fn intact(block: &Block, len: usize) -> bool {
    // SAFETY: as in `fill`, for the first `len <= size` bytes.
    (0..len).all(|i| unsafe { block.ptr.add(i).read() } == block.tag.wrapping_add(i as u8))
}

struct Counts {
    allocated: AtomicUsize,
    freed: AtomicUsize,
    reallocated: AtomicUsize,
}

fn stress<A: Allocator + Send>(name: &str, allocator: &LockedAllocator<A>) {
    let counts = Counts {
        allocated: AtomicUsize::new(0),
        freed: AtomicUsize::new(0),
        reallocated: AtomicUsize::new(0),
    };
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel::<Block>()).unzip();
    std::thread::scope(|scope| {
        for (t, inbox) in receivers.into_iter().enumerate() {
            let next = senders[(t + 1) % THREADS].clone();
            let counts = &counts;
            scope.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut random = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let release = |block: Block, counts: &Counts| {
                    assert!(intact(&block, block.layout.size()), "{name}: a block was corrupted");
                    // SAFETY: the block is live, with this layout, and freed once.
                    unsafe { allocator.dealloc(block.ptr, block.layout) };
                    counts.freed.fetch_add(1, Ordering::Relaxed);
                };
                for i in 0..BLOCKS_PER_THREAD {
                    let r = random();
                    let size = 1 + (r % 3000) as usize;
                    let align = match r % 97 {
                        0 => 4096,
                        1..=8 => 64,
                        _ => 16,
                    };
                    let layout = Layout::from_size_align(size, align).unwrap();
                    // SAFETY: `layout` has a non-zero size.
                    let ptr = unsafe { allocator.alloc(layout) };
                    assert!(
                        !ptr.is_null() && (ptr as usize).is_multiple_of(align),
                        "{name}: alloc({layout:?})"
                    );
                    counts.allocated.fetch_add(1, Ordering::Relaxed);
                    let block = Block { ptr, layout, tag: (t * 31 + i) as u8 };
                    fill(&block);
                    if r % 2 == 0 {
                        next.send(block).unwrap();
                    } else {
                        release(block, counts);
                    }
                    // Take what the previous thread passed on: resize some, free all.
                    while let Ok(mut block) = inbox.try_recv() {
                        if random() % 4 == 0 {
                            let new_size = 1 + (random() % 6000) as usize;
                            let kept = new_size.min(block.layout.size());
                            // SAFETY: the block is live with this layout; `new_size > 0`.
                            let ptr = unsafe { allocator.realloc(block.ptr, block.layout, new_size) };
                            assert!(!ptr.is_null(), "{name}: realloc");
                            block.ptr = ptr;
                            assert!(intact(&block, kept), "{name}: realloc lost the prefix");
                            block.layout = Layout::from_size_align(new_size, block.layout.align()).unwrap();
                            fill(&block);
                            counts.reallocated.fetch_add(1, Ordering::Relaxed);
                        }
                        release(block, counts);
                    }
                }
                drop(next);
                // Blocks still arriving after this thread's last allocation.
                for block in inbox {
                    release(block, counts);
                }
            });
        }
        drop(senders);
    });
    let (allocated, freed) = (counts.allocated.into_inner(), counts.freed.into_inner());
    assert_eq!(allocated, THREADS * BLOCKS_PER_THREAD, "{name}");
    assert_eq!(freed, allocated, "{name}: blocks lost");
    allocator.check_heap().unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "{name}: {THREADS} threads, {allocated} blocks allocated and freed, {} passed between threads and resized",
        counts.reallocated.into_inner()
    );
}

#[test]
fn eight_threads_pass_blocks_around_every_strategy() {
    let implicit = LockedAllocator::with_reserve(
        |heap: MemLib| {
            mm_implicit::Implicit::new(
                heap,
                mm_implicit::ImplicitConfig { align: Align::SIXTEEN, ..Default::default() },
            )
        },
        RESERVE,
    );
    let explicit = LockedAllocator::with_reserve(
        |heap: MemLib| {
            mm_explicit::Explicit::new(
                heap,
                mm_explicit::ExplicitConfig { align: Align::SIXTEEN, ..Default::default() },
            )
        },
        RESERVE,
    );
    let segregated = LockedAllocator::with_reserve(
        |heap: MemLib| {
            mm_segregated::Segregated::new(heap, mm_segregated::SegregatedConfig { align: Align::SIXTEEN })
        },
        RESERVE,
    );
    let buddy = LockedAllocator::with_reserve(
        |heap: MemLib| mm_buddy::Buddy::new(heap, mm_buddy::BuddyConfig::new(Align::SIXTEEN)),
        RESERVE,
    );
    stress("implicit", &implicit);
    stress("explicit", &explicit);
    stress("segregated", &segregated);
    stress("buddy", &buddy);
    let buddy_bitmap = LockedAllocator::with_reserve(
        |heap: MemLib| mm_buddy_bitmap::BuddyBitmap::new(heap, Align::SIXTEEN),
        RESERVE,
    );
    stress("buddy-bitmap", &buddy_bitmap);
}
