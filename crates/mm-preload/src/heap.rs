//! The strategy backend: the chosen mmlab strategy over a heap reserved from the OS.
//!
//! The heap is [`MemLib::reserve`]: one `mmap(MAP_NORESERVE)` range of
//! [`facade::DEFAULT_RESERVE`] bytes that the OS commits page by page as the strategy's
//! `sbrk` reaches it, so nothing here comes from another allocator. The strategy is
//! built on the first call. Every entry point takes the library's one lock
//! ([`facade::lock`], shared with the `mm` crate and `libmm`).
//!
//! Small blocks go through per-thread caches ([`facade::cache`]) before the lock:
//! most `malloc`s and `free`s of a threaded program take no lock at all. Blocks in
//! caches are allocated as far as the strategy knows (its heap checker counts them as
//! in use); `malloc_trim` gives the calling thread's back, and an exited thread's are
//! given back by the next call that takes the lock.
//!
//! How it fails: misuse the strategy refuses (`free(): double free detected`), a panic
//! of the strategy (`heap corrupted: free(): ...`) and re-entry from a signal handler
//! each stop the program with a message ([`facade::fatal`]). While a panic is being
//! reported, this thread's allocations come from the [emergency
//! reserve](facade::emergency), never from the heap.

use std::num::NonZeroUsize;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

use facade::cache::{Backend, Push, ThreadCaches};
use facade::lock::{Locked, Reentered};
use facade::text::Line;
use facade::{Allocator, DefaultAllocator, MemLib, emergency, fatal};

use crate::aligned::AlignedTable;

/// How the library's messages start.
const WHO: &str = "mmlab preload:";

struct Heap {
    /// The strategy; `None` until first use, or for good if it could not be built.
    strategy: Option<DefaultAllocator>,
    /// Building failed once: do not retry on every call.
    failed: bool,
    aligned: AlignedTable,
}

static HEAP: Locked<Heap> =
    Locked::new(WHO, Heap { strategy: None, failed: false, aligned: AlignedTable::new() });

/// The threads' caches of small free blocks, in front of `HEAP`.
static CACHES: ThreadCaches = ThreadCaches::new(!facade::HARDENED);

/// Set by the library's constructor. Before it runs, a pointer that is not in our heap
/// can be one of the blocks the dynamic loader allocated from its own arena before our
/// `malloc` was bound; after, a hardened build refuses it.
static STARTED: AtomicBool = AtomicBool::new(false);

/// No request larger than the reservation can succeed; refusing it up front also keeps
/// sizes near `usize::MAX` away from the strategy's size arithmetic.
const MAX_REQUEST: usize = facade::DEFAULT_RESERVE;

/// The smallest reservation tried when the full one is refused.
const MIN_RESERVE: usize = 64 << 20;

/// `calloc` blocks at least this large are zeroed by giving their whole pages back to
/// the kernel (which refills them with zeros on first touch) instead of writing zeros,
/// so that a large sparse table costs only the pages the program uses.
const CALLOC_RELEASE: usize = 128 << 10;

impl Heap {
    fn strategy(&mut self) -> Option<&mut DefaultAllocator> {
        if self.strategy.is_none() && !self.failed {
            self.failed = true;
            // Under `ulimit -v` or strict overcommit the full reservation can fail:
            // settle for less rather than fail every allocation.
            let mut reserve = facade::DEFAULT_RESERVE;
            let memory = loop {
                match MemLib::reserve(reserve) {
                    Ok(memory) => break Some(memory),
                    Err(_) if reserve > MIN_RESERVE => reserve /= 2,
                    Err(_) => break None,
                }
            };
            if let Some(memory) = memory {
                let mut strategy = facade::default_allocator(memory);
                if strategy.init().is_ok() {
                    self.strategy = Some(strategy);
                    self.failed = false;
                }
            }
        }
        self.strategy.as_mut()
    }

    /// True when `ptr` is in our heap. Pointers from elsewhere (the dynamic loader's
    /// start-up allocator hands a few out before any `malloc` is ours) are not ours to
    /// free.
    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.strategy.as_ref().is_some_and(|s| s.heap().contains(ptr.as_ptr(), 1))
    }

    fn malloc(&mut self, size: usize) -> *mut u8 {
        if size > MAX_REQUEST || self.strategy().is_none() {
            return ptr::null_mut();
        }
        CACHES.malloc_locked(self, size, WHO).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    /// The block to give back to the strategy for `ptr`, forgetting it if it was an
    /// over-aligned payload.
    fn block_of(&mut self, ptr: NonNull<u8>) -> NonNull<u8> {
        match self.aligned.remove(ptr.as_ptr() as usize) {
            Some(block) => at_address(ptr, block),
            None => ptr,
        }
    }

    /// # Safety
    /// `ptr` is null, foreign, or a live pointer returned by this heap.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if !self.owns(ptr) {
            // The loader's early blocks are left alone. Once the program runs, a hardened
            // build treats a pointer from elsewhere (the stack, a global, an `mmap`) as
            // glibc does: the program has a bug, and it stops here.
            if facade::HARDENED && STARTED.load(Ordering::Relaxed) {
                not_ours(b"free", ptr);
            }
            return;
        }
        let block = self.block_of(ptr);
        if let Some(s) = self.strategy.as_mut() {
            // SAFETY: `block` is the live block behind `ptr` (caller's contract). Misuse
            // the strategy catches instead of trusting it (a hardened one catches every
            // pointer it did not return) comes back through `take_misuse`.
            unsafe { s.free(block) };
            abort_on_misuse("free", s);
        }
    }

    /// # Safety
    /// As for `free`.
    unsafe fn usable_size(&mut self, ptr: NonNull<u8>) -> usize {
        if !self.owns(ptr) {
            return 0;
        }
        let addr = ptr.as_ptr() as usize;
        let (block, offset) = match self.aligned.get(addr) {
            Some(block) => (at_address(ptr, block), addr - block),
            None => (ptr, 0),
        };
        let Some(s) = self.strategy.as_ref() else { return 0 };
        // SAFETY: `block` is a live block of this strategy (caller's contract).
        unsafe { s.usable_size(block) - offset }
    }

    /// # Safety
    /// `ptr` is a live pointer returned by this heap; `size > 0`.
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // Not even the loader's early blocks: their size is unknown, so there is no
            // telling how many bytes to copy.
            not_ours(b"realloc", ptr);
        }
        if size > MAX_REQUEST {
            return ptr::null_mut();
        }
        if self.aligned.get(ptr.as_ptr() as usize).is_none() {
            if self.strategy.is_none() {
                return ptr::null_mut();
            }
            CACHES.before_realloc(self, ptr, WHO);
            let Some(s) = self.strategy.as_mut() else { return ptr::null_mut() };
            // SAFETY: `ptr` is a live block of the strategy and `size > 0`: a resize.
            let moved = unsafe { s.realloc(Some(ptr), size) };
            abort_on_misuse("realloc", s);
            return moved.map_or(ptr::null_mut(), NonNull::as_ptr);
        }
        // An over-aligned payload: C's realloc promises only malloc's alignment, so
        // move it to an ordinary block.
        // SAFETY: `ptr` is live (caller's contract).
        let old_size = unsafe { self.usable_size(ptr) };
        let new = self.malloc(size);
        if !new.is_null() {
            // SAFETY: both are live and distinct; `new` holds `size` bytes and `ptr`
            // `old_size`; the old payload is freed once.
            unsafe {
                ptr::copy_nonoverlapping(ptr.as_ptr(), new, old_size.min(size));
                self.free(ptr);
            }
        }
        new
    }

    fn aligned(&mut self, align: usize, size: usize) -> *mut u8 {
        let Some(strategy) = self.strategy() else { return ptr::null_mut() };
        if align <= strategy.alignment().get() {
            return self.malloc(size);
        }
        let Heap { strategy: Some(strategy), aligned: table, .. } = self else { return ptr::null_mut() };
        let Some(total) = size.checked_add(align).filter(|&n| n <= MAX_REQUEST) else {
            return ptr::null_mut();
        };
        let Some(block) = strategy.malloc(total) else { return ptr::null_mut() };
        let start = block.as_ptr() as usize;
        let payload = start.next_multiple_of(align);
        if payload != start && !table.insert(strategy, payload, start) {
            // SAFETY: `block` was just allocated and is handed out nowhere.
            unsafe { strategy.free(block) };
            return ptr::null_mut();
        }
        // `payload + size <= start + total`: the payload lies inside the block.
        block.as_ptr().wrapping_add(payload - start)
    }
}

impl Backend for Heap {
    type Strategy = DefaultAllocator;

    fn strategy(&mut self) -> &mut DefaultAllocator {
        // The caches are only called once the strategy is built (`malloc` builds it;
        // a `free` before that goes the uncached way).
        self.strategy.as_mut().expect("the strategy is built before the caches are used")
    }

    fn is_plain(&mut self, ptr: NonNull<u8>) -> bool {
        self.owns(ptr) && self.aligned.get(ptr.as_ptr() as usize).is_none()
    }

    unsafe fn free_uncached(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller's contract is `free`'s.
        unsafe { self.free(ptr) }
    }
}

/// Stops the program when the strategy refused the last call's pointer, as glibc does:
/// `mmlab preload: free(): double free detected (heap offset 0x1230)`.
fn abort_on_misuse(call: &str, strategy: &mut DefaultAllocator) {
    if let Some(misuse) = strategy.take_misuse() {
        fatal::misuse(WHO, call, &misuse);
    }
}

/// Stops the program for a pointer `call` was given that is not in our heap:
/// `mmlab preload: free(): invalid pointer (0x7ffc1230 is outside the heap)`.
fn not_ours(call: &[u8], ptr: NonNull<u8>) -> ! {
    let mut address = Line::<24>::new();
    address.push(b"0x").hex(ptr.as_ptr() as usize);
    fatal::fatal(WHO, &[call, b"(): invalid pointer (", address.as_bytes(), b" is outside the heap)"])
}

/// `ptr` moved to address `addr` in the same heap (keeping its provenance). The table
/// never records address 0; were it to, `ptr` itself is the safe answer.
fn at_address(ptr: NonNull<u8>, addr: usize) -> NonNull<u8> {
    NonZeroUsize::new(addr).map_or(ptr, |addr| ptr.with_addr(addr))
}

/// The alignment of the reserve's blocks: the same as the heap's.
const RESERVE_ALIGN: usize = 16;

/// The alignment `malloc` promises (x86-64's `max_align_t`): what a cached block must
/// have.
const MALLOC_ALIGN: usize = 16;

pub fn malloc(size: usize) -> *mut u8 {
    if let Some(block) = CACHES.pop(size, MALLOC_ALIGN) {
        return block.as_ptr();
    }
    HEAP.with("malloc", |heap| heap.malloc(size))
        .unwrap_or_else(|Reentered| emergency::alloc(size, RESERVE_ALIGN))
}

pub fn calloc(count: usize, size: usize) -> *mut u8 {
    let bytes = count.saturating_mul(size);
    if let Some(block) = CACHES.pop(bytes, MALLOC_ALIGN) {
        // A cached block is dirty.
        zero(block.as_ptr(), bytes);
        return block.as_ptr();
    }
    HEAP.with("calloc", |heap| {
        let block = heap.malloc(bytes);
        if !block.is_null() {
            zero(block, bytes);
        }
        block
    })
    // The reserve's pages are fresh and never reused: already zero.
    .unwrap_or_else(|Reentered| emergency::alloc(bytes, RESERVE_ALIGN))
}

/// Zeroes `bytes` bytes at `block`, a live block of at least that size.
fn zero(block: *mut u8, bytes: usize) {
    let start = block as usize;
    let first_page = start.next_multiple_of(PAGE);
    let last_page = (start + bytes) / PAGE * PAGE;
    if bytes < CALLOC_RELEASE || last_page <= first_page {
        // SAFETY: the block holds at least `bytes` writable bytes.
        unsafe { block.write_bytes(0, bytes) };
        return;
    }
    // SAFETY: the head `[start, first_page)` and tail `[last_page, start + bytes)` lie
    // inside the block. The whole pages between lie inside it too, belong to no other
    // block and hold none of the strategy's metadata (which sits outside the payload);
    // the heap is a private anonymous mapping, so MADV_DONTNEED makes them read as zeros.
    unsafe {
        block.write_bytes(0, first_page - start);
        block.add(last_page - start).write_bytes(0, start + bytes - last_page);
        let middle = block.add(first_page - start);
        if libc::madvise(middle.cast(), last_page - first_page, libc::MADV_DONTNEED) != 0 {
            middle.write_bytes(0, last_page - first_page);
        }
    }
}

/// The page size `zero` releases by (the kernel's; 4 KiB on x86-64, checked by a test).
const PAGE: usize = facade::PAGE_SIZE;

/// # Safety
/// `ptr` was returned by this library's allocation functions and is not yet freed (or is
/// foreign, and is then left alone).
pub unsafe fn free(ptr: NonNull<u8>) {
    if emergency::contains(ptr.as_ptr()) {
        return; // never reused
    }
    let pending = match CACHES.push(ptr) {
        Push::Done => return,
        Push::DoubleFree { offset } => fatal::misuse(WHO, "free", &facade::Misuse::DoubleFree { offset }),
        Push::Sort => None,
        Push::Locked => Some(ptr),
    };
    // `Err(Reentered)`: this thread is reporting a corrupted heap, which it must not
    // touch; the block is simply not freed.
    let _ = HEAP.with("free", |heap| {
        if heap.strategy.is_none() {
            // SAFETY: the caller's contract (nothing was pending: no cache yet).
            return unsafe { heap.free(ptr) };
        }
        // SAFETY: the caller's contract.
        unsafe { CACHES.free_locked(heap, pending, WHO) }
    });
}

/// # Safety
/// `ptr` is live and was returned by this library; `size > 0`.
pub unsafe fn realloc(ptr: NonNull<u8>, size: usize) -> *mut u8 {
    if emergency::contains(ptr.as_ptr()) {
        // Only a thread reporting a corrupted heap has reserve blocks, and it stays
        // away from the heap.
        // SAFETY: `ptr` is a block of the reserve.
        return unsafe { emergency::realloc(ptr.as_ptr(), size, RESERVE_ALIGN) };
    }
    // SAFETY: the caller's contract.
    HEAP.with("realloc", |heap| unsafe { heap.realloc(ptr, size) }).unwrap_or_else(|Reentered| {
        // The heap is in use further up this thread's stack, so the block's size cannot
        // be read; the panic being reported will not get its message out.
        fatal::fatal(
            WHO,
            &[b"realloc(): a heap block was resized while the heap was being reported corrupted"],
        )
    })
}

/// `align` is a power of two.
pub fn aligned(align: usize, size: usize) -> *mut u8 {
    HEAP.with("memalign", |heap| heap.aligned(align, size))
        .unwrap_or_else(|Reentered| emergency::alloc(size, align))
}

/// # Safety
/// As for [`free`].
pub unsafe fn usable_size(ptr: NonNull<u8>) -> usize {
    if emergency::contains(ptr.as_ptr()) {
        // SAFETY: `ptr` is a block of the reserve.
        return unsafe { emergency::size_of_block(ptr.as_ptr()) };
    }
    // SAFETY: the caller's contract.
    HEAP.with("malloc_usable_size", |heap| unsafe { heap.usable_size(ptr) }).unwrap_or(0)
}

/// The library's constructor ran: the program has started.
#[cfg_attr(test, allow(dead_code))]
pub fn at_load() {
    STARTED.store(true, Ordering::Relaxed);
}

pub fn before_fork() {
    HEAP.hold_for_fork();
}

pub fn after_fork_parent() {
    HEAP.release_after_fork();
}

pub fn after_fork_child() {
    facade::cache::after_fork_child();
    HEAP.release_after_fork_in_child();
}

#[cfg_attr(test, allow(dead_code))]
/// `malloc_trim`: gives the calling thread's cached blocks (and exited threads') back
/// to the strategy. 1 when there were any, else 0. The strategy keeps its heap; pages
/// go back to the OS only through a large `calloc` (see the crate's doc).
pub fn trim(_pad: usize) -> libc::c_int {
    let flushed = HEAP
        .with("malloc_trim", |heap| if heap.strategy.is_some() { CACHES.flush_mine(heap, WHO) } else { 0 });
    libc::c_int::from(flushed.unwrap_or(0) > 0)
}

/// Bytes held in all threads' caches, after exited threads' are given back.
#[cfg_attr(test, allow(dead_code))]
pub fn cache_held_bytes() -> usize {
    let _ = HEAP.with("cache_held_bytes", |heap| {
        if heap.strategy.is_some() {
            CACHES.reap(heap, WHO);
        }
    });
    CACHES.held_bytes()
}

/// Nothing to write out at exit: the heap dies with the process.
#[cfg_attr(test, allow(dead_code))]
pub fn at_exit() {}

#[cfg(test)]
mod tests {
    //! The backend as the C functions use it (the symbols themselves are left out of
    //! test builds). The tests share one heap, as threads of a program do.
    use super::*;

    fn fill(ptr: *mut u8, len: usize, seed: u8) {
        for i in 0..len {
            // SAFETY: the caller passes a live block of at least `len` bytes.
            unsafe { ptr.add(i).write(seed.wrapping_add(i as u8)) };
        }
    }

    fn holds(ptr: *const u8, len: usize, seed: u8) -> bool {
        // SAFETY: as in `fill`.
        (0..len).all(|i| unsafe { ptr.add(i).read() } == seed.wrapping_add(i as u8))
    }

    #[test]
    fn aligned_payloads_are_aligned_sized_and_freed_by_plain_free() {
        let mut live = Vec::new();
        for (i, align) in [8, 16, 32, 64, 256, 4096, 65536].into_iter().cycle().take(70).enumerate() {
            let size = 1 + i * 37;
            let p = aligned(align, size);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "align {align}");
            // SAFETY: `p` is live.
            assert!(unsafe { usable_size(NonNull::new(p).unwrap()) } >= size);
            fill(p, size, i as u8);
            live.push((p, size, i as u8));
        }
        for &(p, size, seed) in &live {
            assert!(holds(p, size, seed), "a neighbour overwrote a block");
        }
        for (p, _, _) in live {
            // SAFETY: each is live and freed once.
            unsafe { free(NonNull::new(p).unwrap()) };
        }
        HEAP.with("check", |heap| heap.strategy.as_ref().unwrap().check_heap()).unwrap().unwrap();
    }

    #[test]
    fn realloc_of_an_aligned_payload_keeps_its_bytes() {
        let p = aligned(4096, 100);
        fill(p, 100, 7);
        // SAFETY: `p` is live; it is resized once and the result freed once.
        unsafe {
            let q = realloc(NonNull::new(p).unwrap(), 10_000);
            assert!(!q.is_null());
            assert_eq!(q as usize % 16, 0);
            assert!(holds(q, 100, 7));
            free(NonNull::new(q).unwrap());
        }
    }

    #[test]
    fn calloc_zeroes_reused_memory_and_foreign_frees_are_ignored() {
        let p = malloc(512);
        fill(p, 512, 0xA5);
        // SAFETY: `p` is live and freed once.
        unsafe { free(NonNull::new(p).unwrap()) };
        let q = calloc(64, 8);
        // SAFETY: `q` holds 512 bytes.
        assert!((0..512).all(|i| unsafe { q.add(i).read() } == 0));
        let mut foreign = [0u8; 64];
        // SAFETY: not ours: must be left alone (the loader's early blocks are like this).
        unsafe { free(NonNull::new(foreign.as_mut_ptr()).unwrap()) };
        // SAFETY: a foreign pointer is answered 0 without being read.
        let foreign_size = unsafe { usable_size(NonNull::new(foreign.as_mut_ptr()).unwrap()) };
        assert_eq!(foreign_size, 0);
        // SAFETY: `q` is live and freed once.
        unsafe { free(NonNull::new(q).unwrap()) };
        assert!(malloc(MAX_REQUEST + 1).is_null());
    }

    #[test]
    fn fork_with_the_handlers_leaves_a_usable_heap_in_both_processes() {
        // Other tests run on other threads meanwhile: the prepare handler is what keeps
        // the child's copy of the heap from being caught half-updated.
        for round in 0..20 {
            let keep = malloc(1000);
            fill(keep, 1000, round);
            before_fork();
            // SAFETY: the child only calls this heap (its lock released by the child
            // handler) and `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                after_fork_child();
                let p = malloc(5000);
                let ok = !p.is_null()
                    && holds(keep, 1000, round)
                    && HEAP.with("check", |heap| heap.strategy.as_ref().unwrap().check_heap().is_ok())
                        == Ok(true);
                // SAFETY: leaving the child without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            after_fork_parent();
            assert!(pid > 0, "fork");
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child {round} failed");
            // SAFETY: `keep` is live and freed once.
            unsafe { free(NonNull::new(keep).unwrap()) };
        }
    }

    #[test]
    fn a_large_calloc_reads_as_zeros_after_its_pages_are_released() {
        // SAFETY: `sysconf` has no preconditions.
        assert_eq!(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize, PAGE);
        let dirty = malloc(3 * CALLOC_RELEASE);
        fill(dirty, 3 * CALLOC_RELEASE, 0xEE);
        // SAFETY: `dirty` is live and freed once.
        unsafe { free(NonNull::new(dirty).unwrap()) };
        for bytes in [CALLOC_RELEASE, CALLOC_RELEASE + 12_345, 2 * CALLOC_RELEASE + 1] {
            let z = calloc(1, bytes);
            // SAFETY: `z` holds `bytes` bytes.
            assert!((0..bytes).all(|i| unsafe { z.add(i).read() } == 0), "calloc({bytes})");
            fill(z, bytes, 3);
            // SAFETY: `z` is live and freed once.
            unsafe { free(NonNull::new(z).unwrap()) };
        }
        HEAP.with("check", |heap| heap.strategy.as_ref().unwrap().check_heap()).unwrap().unwrap();
    }

    #[test]
    fn threads_share_the_heap_without_losing_data() {
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut live: Vec<(usize, usize, u8)> = Vec::new();
                    for i in 0..4000usize {
                        let size = 1 + (i * 131 + t as usize * 17) % 700;
                        let p = malloc(size);
                        assert!(!p.is_null());
                        let seed = (i as u8).wrapping_add(t);
                        fill(p, size, seed);
                        live.push((p as usize, size, seed));
                        if i % 3 == 0 {
                            let (p, size, seed) = live.swap_remove(i % live.len());
                            assert!(holds(p as *const u8, size, seed));
                            // SAFETY: `p` is live and freed once.
                            unsafe { free(NonNull::new(p as *mut u8).unwrap()) };
                        }
                    }
                    for (p, size, seed) in live {
                        assert!(holds(p as *const u8, size, seed));
                        // SAFETY: as above.
                        unsafe { free(NonNull::new(p as *mut u8).unwrap()) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        HEAP.with("check", |heap| heap.strategy.as_ref().unwrap().check_heap()).unwrap().unwrap();
    }
}
