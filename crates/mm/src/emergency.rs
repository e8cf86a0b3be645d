//! The emergency reserve: memory for a thread that must allocate while it is inside the
//! allocator, when the heap cannot be used.
//!
//! Two moments need it. When a strategy panics inside the lock (it found its metadata
//! inconsistent), Rust's panic machinery allocates to format and box the message: on the
//! same thread, through the same allocator, whose lock that thread holds and whose heap
//! is corrupted. And a heap checker run on the global allocator builds its error report
//! with `String`s, on a heap it is in the middle of reading. Neither may touch the
//! strategy's heap, and neither should hang; both are served from here.
//!
//! The reserve is a range of address space that is not the strategy's heap: one
//! anonymous `mmap(MAP_NORESERVE)`, made on first need (the OS commits only the pages
//! touched), handed out by bumping an offset, 16-byte aligned or more, **never reused**.
//! Each block records its size in the word below it, so that a `realloc` can copy it;
//! a `free` of a reserve block is ignored (the wrappers check [`contains`] first). It is
//! meant for the few allocations of a program on its way to `abort`, or of one failed
//! heap check, not to run on.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// The reservations tried, largest first: address space is cheap, but `ulimit -v` or
/// strict overcommit may refuse a large one.
const SIZES: [usize; 3] = [256 << 20, 16 << 20, 1 << 20];

/// Room below each block for its size word, keeping payloads 16-byte aligned.
const HEADER: usize = 16;

const UNMAPPED: u8 = 0;
const MAPPING: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;

/// Where the mapping stands; `BASE` and `LEN` are valid once it is `READY`.
static STATE: AtomicU8 = AtomicU8::new(UNMAPPED);
static BASE: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the reserve handed out (headers and alignment padding included).
static USED: AtomicUsize = AtomicUsize::new(0);

/// The reserve's start and length, mapping it on first use; `None` if the OS refused.
fn mapping() -> Option<(*mut u8, usize)> {
    loop {
        match STATE.load(Ordering::Acquire) {
            READY => return Some((BASE.load(Ordering::Relaxed), LEN.load(Ordering::Relaxed))),
            FAILED => return None,
            UNMAPPED
                if STATE
                    .compare_exchange(UNMAPPED, MAPPING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok() =>
            {
                let mapped = SIZES.iter().find_map(|&len| map(len).map(|base| (base, len)));
                if let Some((base, len)) = mapped {
                    BASE.store(base, Ordering::Relaxed);
                    LEN.store(len, Ordering::Relaxed);
                }
                STATE.store(if mapped.is_some() { READY } else { FAILED }, Ordering::Release);
            }
            // Another thread is mapping it (two threads failing at once): wait for it.
            _ => std::thread::yield_now(),
        }
    }
}

/// `len` bytes of fresh, private, zero-filled address space, committed as touched.
fn map(len: usize) -> Option<*mut u8> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing has no
    // preconditions and touches no existing memory.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (base != libc::MAP_FAILED).then_some(base.cast())
}

/// True when `ptr` is a block of the reserve (which must not be given to a strategy).
#[inline]
pub fn contains(ptr: *const u8) -> bool {
    STATE.load(Ordering::Acquire) == READY
        && (ptr as usize).wrapping_sub(BASE.load(Ordering::Relaxed) as usize) < LEN.load(Ordering::Relaxed)
}

/// A block of at least `size` bytes aligned to `align` (a power of two; at least 16 is
/// served), or null when the reserve cannot be mapped or is used up.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let Some((base, len)) = mapping() else { return ptr::null_mut() };
    let align = align.max(HEADER);
    let start = base as usize;
    let mut used = USED.load(Ordering::Relaxed);
    let payload = loop {
        // The first aligned offset with room for the size word below it.
        let Some(payload) = (start + used + HEADER).checked_next_multiple_of(align).map(|p| p - start) else {
            return ptr::null_mut();
        };
        let Some(end) = payload.checked_add(size).filter(|&end| end <= len) else { return ptr::null_mut() };
        match USED.compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break payload,
            Err(now) => used = now,
        }
    };
    let block = base.wrapping_add(payload);
    // SAFETY: `[payload - HEADER, payload + size)` lies inside the mapping and was just
    // claimed by this thread alone (the exchange above); the size word is 8-aligned
    // because `payload` is 16-aligned.
    unsafe { block.sub(size_of::<usize>()).cast::<usize>().write(size) };
    block
}

/// The size a reserve block was allocated with.
///
/// # Safety
/// `block` was returned by [`alloc`].
pub unsafe fn size_of_block(block: *const u8) -> usize {
    // SAFETY: `alloc` wrote the size in the word below every block it returned.
    unsafe { block.sub(size_of::<usize>()).cast::<usize>().read() }
}

/// `realloc` of a reserve block: a new reserve block holding the old one's first
/// `min(old, size)` bytes (the old one is left as it is, never reused); null if the
/// reserve is used up.
///
/// # Safety
/// `block` was returned by [`alloc`].
pub unsafe fn realloc(block: *mut u8, size: usize, align: usize) -> *mut u8 {
    let new = alloc(size, align);
    if !new.is_null() {
        // SAFETY: both are reserve blocks, distinct (the reserve never hands out a byte
        // twice), the old one `size_of_block` bytes long and the new one `size`.
        unsafe { ptr::copy_nonoverlapping(block, new, size_of_block(block).min(size)) };
    }
    new
}

/// Bytes of the reserve handed out so far: 0 in a healthy program (tests use it to show
/// that a heap check allocated nothing).
pub fn used() -> usize {
    USED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_remember_their_size() {
        let mut blocks = Vec::new();
        for (i, align) in [1, 16, 64, 4096, 8].into_iter().enumerate() {
            let size = 10 + 100 * i;
            let block = alloc(size, align);
            assert!(!block.is_null());
            assert!(contains(block));
            assert_eq!(block as usize % align.max(16), 0);
            // SAFETY: the block was just returned by `alloc`.
            assert_eq!(unsafe { size_of_block(block) }, size);
            // SAFETY: the block holds `size` bytes.
            unsafe { block.write_bytes(i as u8 + 1, size) };
            blocks.push((block, size, i as u8 + 1));
        }
        for &(block, size, fill) in &blocks {
            // SAFETY: as above; the blocks are still intact if none overlaps another.
            assert!((0..size).all(|k| unsafe { block.add(k).read() } == fill));
        }
        let (first, size, fill) = blocks[0];
        // SAFETY: `first` is a reserve block.
        let moved = unsafe { realloc(first, 3 * size, 16) };
        // SAFETY: `moved` holds at least `size` bytes copied from `first`.
        assert!((0..size).all(|k| unsafe { moved.add(k).read() } == fill));
        assert!(!contains(blocks.as_ptr().cast()), "a pointer elsewhere is not the reserve's");
        assert!(alloc(usize::MAX - 64, 16).is_null(), "an impossible size is refused");
        assert!(used() > 0);
    }
}
