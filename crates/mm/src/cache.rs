//! Per-thread caches of small free blocks, in front of a locked strategy.
//!
//! The strategies are single-threaded, so every deployment puts its strategy behind one
//! [lock](crate::lock). A program whose threads all allocate then spends its time
//! queueing on that lock and moving its cache line between cores. The remedy every
//! general-purpose `malloc` uses (glibc's tcache, jemalloc's and tcmalloc's thread
//! caches) is to keep a few free blocks per thread, so that most `malloc`s and `free`s
//! touch only the calling thread's memory. [`ThreadCaches`] is that layer, for any
//! [`Allocator`]: `LockedAllocator` and the preload library both use it.
//!
//! ## The policy
//!
//! * **What is cached.** Blocks that can serve requests of up to [`MAX_CACHED`] bytes,
//!   sorted into classes of [`GRANULE`] bytes by the strategy's own `usable_size`: class
//!   `k` holds blocks of at least `16k + offset` usable bytes and serves requests of at
//!   most that, so a cached block is only ever reused for a request it can hold
//!   (`offset` is the strategy's usable sizes modulo 16, 8 for 8-byte headers, so that
//!   class sizes are sizes the strategy cuts anyway). A request that misses is served by
//!   the strategy at its class's full size, so that the block fits its whole class when
//!   it comes back. Over-aligned blocks never enter
//!   (the deployments keep them out), nor do blocks too large for the last class.
//! * **How much.** At most [`PER_CLASS`] blocks per class and [`THREAD_CAP`] bytes per
//!   thread (counted at their class size, a lower bound of their usable size); beyond
//!   that a freed block goes back to the strategy. [`ThreadCaches::held_bytes`] sums
//!   what all threads hold; it is never more than [`THREADS`] times the cap.
//! * **Frees are deferred, then sorted under the lock.** `free(p)` does not know the
//!   block's size, and only the strategy does, which may be read only under the lock.
//!   So a free appends `p` to the thread's *pending* list (no lock, no size); when the
//!   list is full, or the thread next takes the lock anyway (a `malloc` that missed),
//!   the whole list is sorted under one acquisition: each block is checked as the
//!   strategy's `free` would check it ([`Allocator::check_free`]: a hardened build's
//!   table lookup, header and neighbourhood checks), and then cached or freed. Up to
//!   [`PENDING`] freed blocks per thread wait for that moment.
//! * **Blocks belong to no thread.** It is one heap: a block allocated by one thread
//!   and freed by another goes into the freeing thread's cache, and from there to
//!   whichever thread asks for its class, or back to the strategy, which any thread may
//!   do under the lock. Blocks that cross threads go back correctly by construction.
//! * **Thread exit.** Each thread gets a small number (one of [`THREADS`]; threads
//!   beyond that go to the lock on every call) and uses slot `number` of every
//!   allocator's slot array. When a thread exits, a `pthread` key destructor marks its
//!   number free and bumps the number's generation; the exiting thread does not know
//!   every allocator it used, and an allocator may already be gone, so it frees nothing
//!   itself. The next call of any thread that takes an allocator's lock sees that a
//!   thread exited, and returns every stale slot's blocks to the strategy
//!   ([`ThreadCaches::reap`]). A thread that is given a recycled number returns its
//!   predecessor's blocks the same way before it uses the slot.
//! * **Trim.** [`ThreadCaches::flush_mine`] returns the calling thread's blocks (and
//!   exited threads'); the preload library's `malloc_trim` calls it. Other live threads'
//!   caches are theirs to touch, without a lock: they stay.
//! * **`fork`.** The child has one thread; [`after_fork_child`] marks every other
//!   thread's number exited, so their slots are reaped in the child.
//!
//! ## What is checked, and when
//!
//! A block entering a class is stamped with a per-process random word (the *key*, as
//! glibc's tcache does) in its first 8 bytes, and cleared when it leaves. `free` of a
//! block whose first word is the key is a double free: caught at once in every build,
//! whichever thread's cache holds the block (a key in program data is a 2^-64 chance).
//! A block freed twice in a row is caught at once too (the last pending entry is
//! compared); twice further apart within one pending list, when the list is sorted
//! (the first copy is stamped, or freed, by then). A hardened build checks every sorted
//! block with the table of [`Allocator::check_free`], so it also catches a block freed
//! again after the cache gave it back to the strategy, and an invalid pointer; and it
//! does not defer frees at all (`ThreadCaches::new(false)`): every `free` is checked
//! under the lock at the call, so misuse stops the program where it happens, as before
//! the caches. A default build checks a pending pointer's alignment and then asks the
//! strategy's [`Allocator::check_free`] (every strategy of ours answers it from the
//! block's header, as its `free` would: a payload position of the heap, marked
//! allocated): a block freed again after it went back to the strategy, or a pointer
//! that is no block's payload, goes to the strategy's `free`, which reports it as it
//! always did. A strategy that does not answer (`check_free` checks nothing by
//! default: the peers) has its headers trusted, as glibc's tcache trusts a chunk's
//! size field.
//!
//! Heap checkers see cached blocks as allocated: as far as the strategy knows, they
//! are. A heap check therefore passes with blocks in caches, and reports their space
//! as in use.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use mm_core::{Allocator, Misuse};

use crate::fatal;

/// The largest request served from a cache.
pub const MAX_CACHED: usize = 1024;
/// The width of a size class.
pub const GRANULE: usize = 16;
/// Class `k` (1 to 64) holds blocks of at least `k * GRANULE + offset` usable bytes (see
/// [`ThreadCaches`]'s `offset`); 0 is unused.
const CLASSES: usize = MAX_CACHED / GRANULE + 1;
/// Blocks per class per thread.
pub const PER_CLASS: usize = 16;
/// Frees a thread defers before sorting them under the lock.
pub const PENDING: usize = 32;
/// Bytes a thread's classes may hold (at class size).
pub const THREAD_CAP: usize = 128 << 10;
/// Threads with a cache at once; more are served through the lock.
pub const THREADS: usize = 128;

/// A thread's cache in one allocator. Zero bytes are an empty, unowned slot. Aligned
/// to two cache lines (what adjacent-line prefetchers pull in together), so that no two
/// threads' slots share one.
#[repr(C, align(128))]
struct Slot {
    /// The generation of the thread using it (odd), 0 for none. Written under the lock.
    owner: AtomicU32,
    /// `data.held`, readable by other threads.
    held: AtomicUsize,
    /// Touched without the lock only by the owner; by others only under the lock, and
    /// only when the owner has exited.
    data: UnsafeCell<SlotData>,
}

struct SlotData {
    counts: [u8; CLASSES],
    pending_len: usize,
    /// Bytes held in classes, at class size.
    held: usize,
    blocks: [[*mut u8; PER_CLASS]; CLASSES],
    pending: [*mut u8; PENDING],
}

/// The caches of one allocator: one slot per thread number, in an anonymous mapping
/// made on first use (the OS commits the pages of the slots that are used). Its fields
/// are read on every call and written almost never: aligned so that no other data
/// written often (the lock next to it, say) shares their cache line.
#[repr(C, align(128))]
pub struct ThreadCaches {
    slots: AtomicPtr<Slot>,
    /// The heap's reservation, `[lo, hi)`: a freed pointer outside it is not read.
    lo: AtomicUsize,
    hi: AtomicUsize,
    /// The strategy's alignment, which every cached block has.
    align: AtomicUsize,
    /// The strategy's usable sizes modulo [`GRANULE`] (8 for a strategy with 8-byte
    /// headers and 16-byte alignment: 24, 40, 56...), found on a probe block when the
    /// slots are mapped. Class boundaries sit on it, so that a block the strategy cuts
    /// for a request is exactly its class's size: with boundaries at multiples of 16, a
    /// 40-byte request would be asked for as 48 and get a 64-byte block.
    offset: AtomicUsize,
    /// [`EXITS`] when stale slots were last reaped. Written under the lock.
    seen_exits: AtomicU32,
    /// Frees wait in the pending list; when false, each is sorted at once.
    defer_frees: bool,
}

// SAFETY: slots are reached by their owning thread (lock-free, only its own) or under the
// deployment's lock (another thread's only after that thread exited); blocks are plain
// addresses in the strategy's heap.
unsafe impl Sync for ThreadCaches {}
// SAFETY: as above; the mapping is owned by the value.
unsafe impl Send for ThreadCaches {}

/// What the free fast path did with a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Deferred in this thread's pending list.
    Done,
    /// Deferred, and the list is full: call [`ThreadCaches::free_locked`] with `None`.
    Sort,
    /// Not taken: call [`ThreadCaches::free_locked`] with the block.
    Locked,
    /// A double free: the block is in a cache already.
    DoubleFree {
        /// Its heap offset.
        offset: usize,
    },
}

/// The deployment, as the cache sees it under the lock.
pub trait Backend {
    /// The strategy type.
    type Strategy: Allocator;
    /// The strategy (built: the deployment calls the cache only once it is).
    fn strategy(&mut self) -> &mut Self::Strategy;
    /// True when `ptr` is a block exactly as the strategy returned it: in its heap, not
    /// an over-aligned payload inside a block.
    fn is_plain(&mut self, ptr: NonNull<u8>) -> bool;
    /// The deployment's own, uncached `free` (foreign pointers, over-aligned payloads,
    /// threads without a cache), misuse checks included.
    ///
    /// # Safety
    /// `ptr` was given to `free` by the program.
    unsafe fn free_uncached(&mut self, ptr: NonNull<u8>);
}

// ---- thread numbers --------------------------------------------------------------------

/// Numbers in use, one bit each.
static TAKEN: [AtomicU64; THREADS / 64] = [const { AtomicU64::new(0) }; THREADS / 64];
/// Each number's generation: odd while a thread has it, even when free.
static GENS: [AtomicU32; THREADS] = [const { AtomicU32::new(0) }; THREADS];
/// Bumped whenever a thread with a number exits.
static EXITS: AtomicU32 = AtomicU32::new(0);
/// The per-process key stamped into cached blocks.
static KEY: AtomicU64 = AtomicU64::new(0);

const KEY_NONE: u8 = 0;
const KEY_MAKING: u8 = 1;
const KEY_READY: u8 = 2;
const KEY_FAILED: u8 = 3;
static KEY_STATE: AtomicU8 = AtomicU8::new(KEY_NONE);
/// The `pthread` key whose destructor tells us a thread exited.
static EXIT_KEY: AtomicU32 = AtomicU32::new(0);

/// Not asked for a number yet.
const UNASSIGNED: u64 = 0;
/// No cache: no number free, or the thread is exiting, or it is inside the cache's
/// locked code (whose nested calls, from a panic, must not touch the slot).
const NO_CACHE: u64 = u64::MAX;

thread_local! {
    /// This thread's number (low half) and generation (high half), or one of the above.
    /// Const-initialised and without a destructor: reading it never allocates.
    static ME: Cell<u64> = const { Cell::new(UNASSIGNED) };
}

/// This thread's number and generation, assigning them on first use.
#[inline]
fn me() -> Option<(usize, u32)> {
    match ME.get() {
        NO_CACHE => None,
        UNASSIGNED => assign(),
        me => Some((me as u32 as usize, (me >> 32) as u32)),
    }
}

#[cold]
fn assign() -> Option<(usize, u32)> {
    // Meanwhile this thread's allocations (pthread_setspecific may allocate) go through
    // the lock.
    ME.set(NO_CACHE);
    if !exit_key_ready() {
        ME.set(UNASSIGNED); // perhaps another thread is making it: ask again next time
        return None;
    }
    for (word, bits) in TAKEN.iter().enumerate() {
        let mut seen = bits.load(Ordering::Relaxed);
        while seen != u64::MAX {
            let bit = (!seen).trailing_zeros() as usize;
            match bits.compare_exchange_weak(seen, seen | 1 << bit, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    let number = word * 64 + bit;
                    let generation = GENS[number].fetch_add(1, Ordering::AcqRel).wrapping_add(1);
                    // SAFETY: the key was created; the value is a non-null integer cast,
                    // never dereferenced.
                    let set = unsafe {
                        libc::pthread_setspecific(
                            EXIT_KEY.load(Ordering::Relaxed),
                            (number + 1) as *const c_void,
                        )
                    };
                    if set != 0 {
                        release_number(number);
                        return None;
                    }
                    ME.set(u64::from(generation) << 32 | number as u64);
                    return Some((number, generation));
                }
                Err(now) => seen = now,
            }
        }
    }
    None // all numbers taken: this thread goes through the lock
}

fn release_number(number: usize) {
    GENS[number].fetch_add(1, Ordering::Release);
    TAKEN[number / 64].fetch_and(!(1 << (number % 64)), Ordering::Release);
    EXITS.fetch_add(1, Ordering::Release);
}

/// The `pthread` key destructor: runs as the thread exits, before its TLS is freed.
extern "C" fn thread_exits(value: *mut c_void) {
    // Later destructors may still allocate on this thread: through the lock.
    ME.set(NO_CACHE);
    release_number(value as usize - 1);
}

/// Creates the exit key and the stamp, once.
fn exit_key_ready() -> bool {
    match KEY_STATE.load(Ordering::Acquire) {
        KEY_READY => return true,
        KEY_FAILED | KEY_MAKING => return false,
        _ => {}
    }
    if KEY_STATE.compare_exchange(KEY_NONE, KEY_MAKING, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return KEY_STATE.load(Ordering::Acquire) == KEY_READY;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is writable; the destructor is an `extern "C" fn` that lives as long
    // as the process.
    let made = unsafe { libc::pthread_key_create(&mut key, Some(thread_exits)) } == 0;
    EXIT_KEY.store(key, Ordering::Relaxed);
    KEY.store(random_word() | 1, Ordering::Relaxed);
    KEY_STATE.store(if made { KEY_READY } else { KEY_FAILED }, Ordering::Release);
    made
}

/// 64 random bits from the kernel's `AT_RANDOM` (no system call, no allocation).
fn random_word() -> u64 {
    // SAFETY: `getauxval` has no preconditions; `AT_RANDOM` is the address of 16 random
    // bytes the kernel placed on the initial stack, valid for the process's life.
    let at = unsafe { libc::getauxval(libc::AT_RANDOM) } as *const u64;
    if at.is_null() {
        return 0x9E37_79B9_7F4A_7C15 ^ (&KEY as *const _ as u64);
    }
    // SAFETY: as above; unaligned because the kernel promises no alignment.
    unsafe { at.add(1).read_unaligned() }
}

/// `pthread_atfork` child handler (the deployment calls it): the child's only thread is
/// the one that forked, so every other number is free, and its slots stale.
pub fn after_fork_child() {
    let mine = match ME.get() {
        UNASSIGNED | NO_CACHE => usize::MAX,
        me => me as u32 as usize,
    };
    for number in 0..THREADS {
        let taken = TAKEN[number / 64].load(Ordering::Relaxed) & 1 << (number % 64) != 0;
        if taken && number != mine {
            release_number(number);
        }
    }
}

/// Runs `f` with this thread's cache out of use: its allocations take the lock. For
/// code that holds the lock and must not be served from the heap it reads (a heap
/// checker building its report: its allocations then come from the emergency reserve).
pub fn without_cache<R>(f: impl FnOnce() -> R) -> R {
    let _busy = Busy::enter();
    f()
}

/// Marks this thread as inside the cache's locked code until the guard drops.
struct Busy(u64);

impl Busy {
    fn enter() -> Busy {
        Busy(ME.replace(NO_CACHE))
    }
    fn me(&self) -> Option<(usize, u32)> {
        match self.0 {
            UNASSIGNED | NO_CACHE => None,
            me => Some((me as u32 as usize, (me >> 32) as u32)),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        ME.set(self.0);
    }
}

// ---- classes ---------------------------------------------------------------------------

/// The class that serves a request of `size <= MAX_CACHED` bytes.
#[inline]
fn request_class(size: usize, offset: usize) -> usize {
    size.saturating_sub(offset).div_ceil(GRANULE).max(1)
}

/// The bytes class `class` serves, and asks the strategy for.
#[inline]
fn class_bytes(class: usize, offset: usize) -> usize {
    class * GRANULE + offset
}

/// The class a block of `usable` bytes can serve, if any.
#[inline]
fn block_class(usable: usize, offset: usize) -> Option<usize> {
    let class = usable.checked_sub(offset)? / GRANULE;
    (1..CLASSES).contains(&class).then_some(class)
}

/// The strategy's `free`, stopping the program on misuse it caught.
///
/// # Safety
/// `ptr` is a live block of `strategy`.
unsafe fn free_to<A: Allocator>(strategy: &mut A, ptr: *mut u8, who: &str, call: &str) {
    // SAFETY: the caller's contract; blocks in caches are never null.
    unsafe { strategy.free(NonNull::new_unchecked(ptr)) };
    if let Some(misuse) = strategy.take_misuse() {
        fatal::misuse(who, call, &misuse);
    }
}

impl ThreadCaches {
    /// No caches yet: the slots are mapped when the first thread claims one. With
    /// `defer_frees` false (hardened builds), every `free` is checked and sorted under
    /// the lock at once, so that misuse stops the program at the call that commits it;
    /// only `malloc` then skips the lock.
    pub const fn new(defer_frees: bool) -> Self {
        ThreadCaches {
            defer_frees,
            slots: AtomicPtr::new(ptr::null_mut()),
            lo: AtomicUsize::new(0),
            hi: AtomicUsize::new(0),
            align: AtomicUsize::new(0),
            offset: AtomicUsize::new(0),
            seen_exits: AtomicU32::new(0),
        }
    }

    /// The alignment cached blocks have (0 before the first cache exists).
    #[inline]
    pub fn alignment(&self) -> usize {
        self.align.load(Ordering::Relaxed)
    }

    /// This thread's slot, if it has claimed one here.
    #[inline]
    fn mine(&self) -> Option<&Slot> {
        let (number, generation) = me()?;
        let slots = self.slots.load(Ordering::Acquire);
        if slots.is_null() {
            return None;
        }
        // SAFETY: `number < THREADS`, the mapping's length in slots.
        let slot = unsafe { &*slots.add(number) };
        (slot.owner.load(Ordering::Relaxed) == generation).then_some(slot)
    }

    /// The fast path of `malloc`: a cached block for `size` bytes aligned to `align`,
    /// without the lock. (The first call of a thread also gives it its number, which
    /// may allocate, and so is never done under the lock.)
    #[inline]
    pub fn pop(&self, size: usize, align: usize) -> Option<NonNull<u8>> {
        if size > MAX_CACHED {
            return None;
        }
        let slot = self.mine()?;
        if align > self.alignment() {
            return None;
        }
        // SAFETY: this thread owns the slot and is not inside the cache's locked code.
        let data = unsafe { &mut *slot.data.get() };
        let offset = self.offset.load(Ordering::Relaxed);
        let class = request_class(size, offset);
        let count = data.counts[class] as usize;
        if count == 0 {
            return None;
        }
        let block = data.blocks[class][count - 1];
        data.counts[class] = count as u8 - 1;
        data.held -= class_bytes(class, offset);
        slot.held.store(data.held, Ordering::Relaxed);
        // SAFETY: a cached block is a live block of at least 16 bytes, aligned to the
        // strategy's alignment (8 or more); its first word holds the stamp, which must
        // not outlive its stay in the cache.
        unsafe { block.cast::<u64>().write(0) };
        NonNull::new(block)
    }

    /// The fast path of `free`: defers `ptr` in this thread's pending list.
    #[inline]
    pub fn push(&self, ptr: NonNull<u8>) -> Push {
        let Some(slot) = self.mine() else { return Push::Locked };
        let addr = ptr.as_ptr() as usize;
        let lo = self.lo.load(Ordering::Relaxed);
        if addr < lo || addr >= self.hi.load(Ordering::Relaxed) || !addr.is_multiple_of(size_of::<u64>()) {
            return Push::Locked; // not the heap's: the deployment decides
        }
        // SAFETY: `ptr` is 8-aligned inside the heap's mapping, which is readable.
        if unsafe { ptr.as_ptr().cast::<u64>().read() } == KEY.load(Ordering::Relaxed) {
            return Push::DoubleFree { offset: addr - lo };
        }
        // SAFETY: this thread owns the slot and is not inside the cache's locked code.
        let data = unsafe { &mut *slot.data.get() };
        // A double free while the first is still pending is caught when the list is
        // sorted (the first copy is stamped, or freed, by then); the commonest, twice in
        // a row, is caught here at the cost of one comparison.
        if data.pending_len > 0 && data.pending[data.pending_len - 1] == ptr.as_ptr() {
            return Push::DoubleFree { offset: addr - lo };
        }
        data.pending[data.pending_len] = ptr.as_ptr();
        data.pending_len += 1;
        if data.pending_len == PENDING || !self.defer_frees { Push::Sort } else { Push::Done }
    }

    /// Bytes held in all threads' classes (at class size), as last published by each.
    pub fn held_bytes(&self) -> usize {
        let slots = self.slots.load(Ordering::Acquire);
        if slots.is_null() {
            return 0;
        }
        // SAFETY: `slots` is the mapping of `THREADS` slots; `held` is atomic.
        (0..THREADS).map(|n| unsafe { &*slots.add(n) }.held.load(Ordering::Relaxed)).sum()
    }

    /// `malloc` under the lock: after the fast path missed (or for a thread without a
    /// cache). Sorts this thread's pending frees and tries its class again, else asks
    /// the strategy (for a whole class's worth when the request is small).
    pub fn malloc_locked<B: Backend>(&self, backend: &mut B, size: usize, who: &str) -> Option<NonNull<u8>> {
        let busy = Busy::enter();
        self.reap(backend, who);
        // Sorted first, whatever the size: no thread asks the strategy for memory while
        // its own deferred frees could serve it.
        let slot = self.claim(backend, &busy, who);
        if let Some(slot) = slot {
            self.sort(backend, slot, who);
        }
        if size > MAX_CACHED {
            return backend.strategy().malloc(size);
        }
        let offset = self.offset.load(Ordering::Relaxed);
        let class = request_class(size, offset);
        if let Some(slot) = slot {
            // SAFETY: this thread owns the slot; `sort` has returned.
            let data = unsafe { &mut *slot.data.get() };
            let count = data.counts[class] as usize;
            if count > 0 {
                let block = data.blocks[class][count - 1];
                data.counts[class] = count as u8 - 1;
                data.held -= class_bytes(class, offset);
                slot.held.store(data.held, Ordering::Relaxed);
                // SAFETY: as in `pop`.
                unsafe { block.cast::<u64>().write(0) };
                return NonNull::new(block);
            }
        }
        backend.strategy().malloc(class_bytes(class, offset))
    }

    /// `free` under the lock: `ptr` is a block the fast path did not take
    /// ([`Push::Locked`]), or `None` after [`Push::Sort`].
    ///
    /// # Safety
    /// `ptr` was given to `free` by the program.
    pub unsafe fn free_locked<B: Backend>(&self, backend: &mut B, ptr: Option<NonNull<u8>>, who: &str) {
        let busy = Busy::enter();
        self.reap(backend, who);
        let Some(slot) = self.claim(backend, &busy, who) else {
            if let Some(ptr) = ptr {
                // SAFETY: the caller's contract.
                unsafe { backend.free_uncached(ptr) };
            }
            return;
        };
        self.sort(backend, slot, who);
        if let Some(ptr) = ptr {
            // SAFETY: this thread owns the slot; the list was just emptied.
            let data = unsafe { &mut *slot.data.get() };
            data.pending[0] = ptr.as_ptr();
            data.pending_len = 1;
            self.sort(backend, slot, who);
        }
    }

    /// Under the lock, before `realloc(ptr)`: sorts this thread's pending frees, so that
    /// a `ptr` freed already is stamped, and reports it as a double free if so.
    pub fn before_realloc<B: Backend>(&self, backend: &mut B, ptr: NonNull<u8>, who: &str) {
        let busy = Busy::enter();
        if let Some(slot) = self.claim(backend, &busy, who) {
            self.sort(backend, slot, who);
        }
        if backend.is_plain(ptr) && self.stamped(ptr.as_ptr()) {
            let offset = ptr.as_ptr() as usize - self.lo.load(Ordering::Relaxed);
            fatal::misuse(who, "realloc", &Misuse::DoubleFree { offset });
        }
    }

    /// Under the lock: gives this thread's cached and pending blocks, and exited
    /// threads', back to the strategy; returns the bytes freed from classes.
    pub fn flush_mine<B: Backend>(&self, backend: &mut B, who: &str) -> usize {
        let busy = Busy::enter();
        self.reap(backend, who);
        self.claim(backend, &busy, who).map_or(0, |slot| self.empty(backend, slot, who))
    }

    /// Under the lock: returns the blocks of threads that exited to the strategy, if
    /// any thread exited since the last look.
    pub fn reap<B: Backend>(&self, backend: &mut B, who: &str) {
        let exits = EXITS.load(Ordering::Acquire);
        if exits == self.seen_exits.load(Ordering::Relaxed) {
            return;
        }
        self.seen_exits.store(exits, Ordering::Relaxed);
        let slots = self.slots.load(Ordering::Acquire);
        if slots.is_null() {
            return;
        }
        for (number, generation) in GENS.iter().enumerate() {
            // SAFETY: `number < THREADS`.
            let slot = unsafe { &*slots.add(number) };
            let owner = slot.owner.load(Ordering::Relaxed);
            // Acquire: the exited owner's last writes to the slot are visible.
            if owner != 0 && owner != generation.load(Ordering::Acquire) {
                self.empty(backend, slot, who);
                slot.owner.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Under the lock: this thread's slot, claimed (mapping the slots first if need be,
    /// and emptying a predecessor's leftovers); `None` for a thread without a number.
    fn claim<B: Backend>(&self, backend: &mut B, busy: &Busy, who: &str) -> Option<&Slot> {
        let (number, generation) = busy.me()?;
        let slots = self.slots_or_map(backend)?;
        // SAFETY: `number < THREADS`.
        let slot = unsafe { &*slots.add(number) };
        let owner = slot.owner.load(Ordering::Relaxed);
        if owner != generation {
            if owner != 0 {
                self.empty(backend, slot, who); // a previous thread with this number
            }
            slot.owner.store(generation, Ordering::Relaxed);
        }
        Some(slot)
    }

    fn slots_or_map<B: Backend>(&self, backend: &mut B) -> Option<*mut Slot> {
        let slots = self.slots.load(Ordering::Acquire);
        if !slots.is_null() {
            return Some(slots);
        }
        let bytes = THREADS * size_of::<Slot>();
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory; zero bytes are valid empty slots.
        let mapped = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return None;
        }
        let strategy = backend.strategy();
        if let Some(probe) = strategy.malloc(1) {
            // SAFETY: `probe` was just allocated; it is freed once, here.
            unsafe {
                self.offset.store(strategy.usable_size(probe) % GRANULE, Ordering::Relaxed);
                strategy.free(probe);
            }
        }
        let heap = strategy.heap();
        self.lo.store(heap.heap_lo() as usize, Ordering::Relaxed);
        self.hi.store(heap.heap_lo() as usize + heap.max_size(), Ordering::Relaxed);
        self.align.store(strategy.alignment().get(), Ordering::Relaxed);
        self.slots.store(mapped.cast(), Ordering::Release);
        Some(mapped.cast())
    }

    fn stamped(&self, block: *mut u8) -> bool {
        // Before the key exists nothing was stamped (and 0 is no key).
        let key = KEY.load(Ordering::Relaxed);
        // SAFETY: only called for plain blocks of the strategy (aligned, in its heap).
        key != 0 && unsafe { block.cast::<u64>().read() } == key
    }

    /// Under the lock: sorts `slot`'s pending frees into its classes, or frees them.
    fn sort<B: Backend>(&self, backend: &mut B, slot: &Slot, who: &str) {
        // SAFETY: under the lock, and the slot is this thread's (or its owner exited).
        let data = unsafe { &mut *slot.data.get() };
        for i in 0..data.pending_len {
            let block = data.pending[i];
            // SAFETY: pending blocks are non-null.
            let ptr = unsafe { NonNull::new_unchecked(block) };
            if !backend.is_plain(ptr) {
                // SAFETY: the program freed it.
                unsafe { backend.free_uncached(ptr) };
                continue;
            }
            if self.stamped(block) {
                let offset = block as usize - self.lo.load(Ordering::Relaxed);
                fatal::misuse(who, "free", &Misuse::DoubleFree { offset });
            }
            let strategy = backend.strategy();
            // Only a block the strategy's checks accept is kept (its `usable_size` is
            // then to be trusted); anything else gets the strategy's `free`, which
            // reports it as it always did. A default build checks the alignment only
            // plus the strategy's `check_free_sized` (its `free`'s checks of the header: ours
            // answer it; the peers check nothing, and their headers are trusted, as
            // glibc's tcache trusts a chunk's).
            let aligned = strategy.alignment().is_aligned(block as usize - self.lo.load(Ordering::Relaxed));
            let usable = match aligned.then(|| strategy.check_free_sized(ptr)) {
                Some(Ok(Some(usable))) => usable,
                // SAFETY: a plain block the strategy's checks accept as live.
                Some(Ok(None)) => unsafe { strategy.usable_size(ptr) },
                None | Some(Err(_)) => {
                    // SAFETY: the program freed it.
                    unsafe { backend.free_uncached(ptr) };
                    continue;
                }
            };
            let offset = self.offset.load(Ordering::Relaxed);
            match block_class(usable, offset) {
                Some(class)
                    if (data.counts[class] as usize) < PER_CLASS
                        && data.held + class_bytes(class, offset) <= THREAD_CAP =>
                {
                    // SAFETY: a live block of at least 16 bytes, aligned: ours to stamp.
                    unsafe { block.cast::<u64>().write(KEY.load(Ordering::Relaxed)) };
                    data.blocks[class][data.counts[class] as usize] = block;
                    data.counts[class] += 1;
                    data.held += class_bytes(class, offset);
                }
                // SAFETY: a live block of the strategy, freed once.
                _ => unsafe { free_to(strategy, block, who, "free") },
            }
        }
        data.pending_len = 0;
        slot.held.store(data.held, Ordering::Relaxed);
    }

    /// Under the lock: returns everything in `slot` to the strategy; the bytes its
    /// classes held.
    fn empty<B: Backend>(&self, backend: &mut B, slot: &Slot, who: &str) -> usize {
        // Pending blocks are sorted first (so that they are checked), into classes that
        // are then emptied.
        self.sort(backend, slot, who);
        // SAFETY: as in `sort`.
        let data = unsafe { &mut *slot.data.get() };
        let strategy = backend.strategy();
        for class in 1..CLASSES {
            for &block in &data.blocks[class][..data.counts[class] as usize] {
                // SAFETY: a cached block: live, stamped by us; cleared, then freed once.
                unsafe {
                    block.cast::<u64>().write(0);
                    free_to(strategy, block, who, "free");
                }
            }
            data.counts[class] = 0;
        }
        slot.held.store(0, Ordering::Relaxed);
        std::mem::take(&mut data.held)
    }
}

impl Drop for ThreadCaches {
    fn drop(&mut self) {
        let slots = *self.slots.get_mut();
        if !slots.is_null() {
            // SAFETY: the mapping made in `slots_or_map`, unmapped once; the blocks in it
            // belong to the strategy's heap, which goes with the deployment.
            unsafe { libc::munmap(slots.cast(), THREADS * size_of::<Slot>()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_serves_only_requests_it_can_hold() {
        for offset in [0, 8, 15] {
            for usable in 0..3000 {
                if let Some(class) = block_class(usable, offset) {
                    for size in 0..=MAX_CACHED {
                        if request_class(size, offset) == class {
                            assert!(size <= usable, "usable {usable}, request {size}, offset {offset}");
                        }
                    }
                }
            }
            assert_eq!(request_class(0, offset), 1);
            assert_eq!(request_class(MAX_CACHED, offset), CLASSES - 1);
            assert_eq!(
                block_class(class_bytes(CLASSES, offset), offset),
                None,
                "too large for the last class"
            );
            for class in 1..CLASSES {
                // A block cut exactly for its class goes back to that class.
                assert_eq!(block_class(class_bytes(class, offset), offset), Some(class));
                assert_eq!(request_class(class_bytes(class, offset), offset), class);
            }
        }
    }
}
