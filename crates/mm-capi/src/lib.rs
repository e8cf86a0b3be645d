//! # mm-capi: the classic malloc-lab C interface
//!
//! `libmm.a` / `libmm.so` export the functions of the lab's `mm.h` (`mm_init`,
//! `mm_malloc`, `mm_free`, `mm_realloc`) and `memlib.h` (`mem_init`, `mem_deinit`,
//! `mem_sbrk`, `mem_reset_brk`, `mem_heap_lo`, `mem_heap_hi`, `mem_heapsize`,
//! `mem_pagesize`) with their classic C signatures, over the strategy chosen by cargo
//! feature (as in the `mm` crate). A C driver written against `include/mm.h` and
//! `include/memlib.h` links it unchanged in place of `mm.c` and `memlib.c`; it also
//! defines the `team` every `mm.c` defines, which the classic driver prints, so that
//! driver links with no file of its own.
//!
//! The strategy owns the simulated heap, so the `mem_*` functions act on the strategy's
//! heap: `mem_init` creates both (a 20 MiB heap, the classic `MAX_HEAP`), `mem_reset_brk`
//! empties the heap, `mm_init` lays the strategy out on it again.
//!
//! Everything is behind one lock ([`facade::lock`], the one `LockedAllocator` and the
//! preload library use), so the library is thread safe. It stops the program with a
//! message, as glibc does, in three cases:
//!
//! * misuse the strategy refuses: `mmlab libmm: mm_free(): double free detected (heap
//!   offset 0x40)`, `mm_free(): invalid pointer`;
//! * a panic of the strategy, which found its heap inconsistent (a panic cannot unwind
//!   into C): `mmlab libmm: heap corrupted: mm_malloc(): <the panic's message>`;
//! * a call from a signal handler that interrupted a call on the same thread:
//!   `mmlab libmm: malloc was re-entered on a thread already inside it: ...`.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::{self, NonNull};

use facade::lock::{Locked, Reentered};
use facade::{Allocator, DefaultAllocator, MemLib, emergency, fatal};

/// `mm.h`'s `team_t`: who wrote the allocator, as five C strings.
#[repr(C)]
pub struct Team {
    /// The team's name.
    pub teamname: *const c_char,
    /// The first member's full name.
    pub name1: *const c_char,
    /// The first member's login.
    pub id1: *const c_char,
    /// The second member's full name ("" for none).
    pub name2: *const c_char,
    /// The second member's login ("" for none).
    pub id2: *const c_char,
}

// SAFETY: the pointers of `team` are to C string literals, which live as long as the
// program and are never written: reading them from any thread is sound.
unsafe impl Sync for Team {}

/// `mm.h`: `extern team_t team;`. Every classic `mm.c` defines it, and the classic C
/// driver prints it (and insists that the team's name and its first member are filled
/// in): defined here, that driver links against `libmm.a` with no `mm.c`.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static team: Team = Team {
    teamname: c"mmlab".as_ptr(),
    name1: c"mmlab libmm".as_ptr(),
    id1: c"mmlab".as_ptr(),
    name2: c"".as_ptr(),
    id2: c"".as_ptr(),
};

/// How the library's messages start.
const WHO: &str = "mmlab libmm:";

/// The strategy and its heap; `None` before `mem_init` and after `mem_deinit`.
static STATE: Locked<Option<DefaultAllocator>> = Locked::new(WHO, None);

/// Runs `f` on the state under the lock (`call` names it in messages).
///
/// `otherwise` answers a call that re-entered the lock while this thread panics inside
/// it. That cannot come from C, and Rust's panic machinery allocates from the C
/// library's `malloc`, not from `mm_malloc`; it is answered without touching the heap all
/// the same.
fn with_state<R>(
    call: &str,
    f: impl FnOnce(&mut Option<DefaultAllocator>) -> R,
    otherwise: impl FnOnce() -> R,
) -> R {
    STATE.with(call, f).unwrap_or_else(|Reentered| otherwise())
}

/// Creates the heap and the strategy if there are none (a driver that forgets
/// `mem_init` still works). False when the heap cannot be had.
fn ensure(state: &mut Option<DefaultAllocator>) -> bool {
    if state.is_none()
        && let Ok(heap) = MemLib::with_default_size()
    {
        *state = Some(facade::default_allocator(heap));
    }
    state.is_some()
}

fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() = value };
}

/// `memlib.h`: creates the simulated heap (20 MiB).
#[unsafe(no_mangle)]
pub extern "C" fn mem_init() {
    with_state("mem_init", ensure, || false);
}

/// `memlib.h`: frees the simulated heap.
#[unsafe(no_mangle)]
pub extern "C" fn mem_deinit() {
    with_state("mem_deinit", |state| *state = None, || ());
}

/// `memlib.h`: grows the heap by `incr` bytes and returns the old break, or
/// `(void *)-1` with `errno = ENOMEM` when `incr` is negative or the heap is full.
#[unsafe(no_mangle)]
pub extern "C" fn mem_sbrk(incr: c_int) -> *mut c_void {
    let grow = |state: &mut Option<DefaultAllocator>| {
        if !ensure(state) {
            return None;
        }
        state.as_mut().and_then(|s| s.heap_mut().sbrk(incr as isize).ok())
    };
    match with_state("mem_sbrk", grow, || None) {
        Some(old_brk) => old_brk.as_ptr().cast(),
        None => {
            set_errno(libc::ENOMEM);
            usize::MAX as *mut c_void
        }
    }
}

/// `memlib.h`: empties the heap (the break goes back to its start).
#[unsafe(no_mangle)]
pub extern "C" fn mem_reset_brk() {
    let reset = |state: &mut Option<DefaultAllocator>| {
        if let Some(s) = state.as_mut() {
            s.heap_mut().reset_brk();
        }
    };
    with_state("mem_reset_brk", reset, || ());
}

/// `memlib.h`: the first byte of the heap.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heap_lo() -> *mut c_void {
    with_state(
        "mem_heap_lo",
        |state| state.as_ref().map_or(ptr::null_mut(), |s| s.heap().heap_lo().cast()),
        ptr::null_mut,
    )
}

/// `memlib.h`: the last byte in use.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heap_hi() -> *mut c_void {
    with_state(
        "mem_heap_hi",
        |state| state.as_ref().map_or(ptr::null_mut(), |s| s.heap().heap_hi().cast()),
        ptr::null_mut,
    )
}

/// `memlib.h`: the heap's size in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heapsize() -> usize {
    with_state("mem_heapsize", |state| state.as_ref().map_or(0, |s| s.heap().heap_size()), || 0)
}

/// `memlib.h`: the page size.
#[unsafe(no_mangle)]
pub extern "C" fn mem_pagesize() -> usize {
    facade::PAGE_SIZE
}

/// `mm.h`: (re)initialises the allocator on the heap; 0 on success, -1 on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mm_init() -> c_int {
    let init = |state: &mut Option<DefaultAllocator>| {
        if !ensure(state) {
            return -1;
        }
        match state.as_mut().map(|s| s.init()) {
            Some(Ok(())) => 0,
            _ => -1,
        }
    };
    with_state("mm_init", init, || -1)
}

/// `mm.h`: allocates `size` bytes (16-byte aligned), or returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mm_malloc(size: usize) -> *mut c_void {
    with_state(
        "mm_malloc",
        |state| state.as_mut().and_then(|s| s.malloc(size)).map_or(ptr::null_mut(), |p| p.as_ptr().cast()),
        || emergency::alloc(size, 16).cast(),
    )
}

/// `mm.h`: frees a block from `mm_malloc` or `mm_realloc` (NULL is ignored).
///
/// # Safety
/// `ptr` is NULL or a live block of this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mm_free(ptr: *mut c_void) {
    let Some(p) = NonNull::new(ptr.cast::<u8>()) else { return };
    if emergency::contains(p.as_ptr()) {
        return; // never reused
    }
    let free = |state: &mut Option<DefaultAllocator>| {
        if let Some(s) = state.as_mut() {
            // SAFETY: the caller guarantees `ptr` is a live block of this allocator.
            // Misuse the strategy catches instead of trusting it (a hardened one catches
            // every pointer it did not return) comes back through `take_misuse`.
            unsafe { s.free(p) };
            abort_on_misuse("mm_free", s);
        }
    };
    with_state("mm_free", free, || ());
}

/// Stops the program when the strategy refused the last call's pointer, as glibc does:
/// `mmlab libmm: mm_free(): double free detected (heap offset 0x40)`.
fn abort_on_misuse(call: &str, allocator: &mut DefaultAllocator) {
    if let Some(misuse) = allocator.take_misuse() {
        fatal::misuse(WHO, call, &misuse);
    }
}

/// `mm.h`: C's `realloc`: NULL is `mm_malloc(size)`, size 0 is `mm_free(ptr)`.
///
/// # Safety
/// `ptr` is NULL or a live block of this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mm_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if emergency::contains(ptr.cast()) {
        // SAFETY: `ptr` is a block of the reserve.
        return unsafe { emergency::realloc(ptr.cast(), size, 16) }.cast();
    }
    let resize = |state: &mut Option<DefaultAllocator>| {
        let Some(s) = state.as_mut() else { return ptr::null_mut() };
        // SAFETY: the caller guarantees `ptr` is NULL or a live block of this allocator.
        let moved = unsafe { s.realloc(NonNull::new(ptr.cast::<u8>()), size) };
        abort_on_misuse("mm_realloc", s);
        moved.map_or(ptr::null_mut(), |p| p.as_ptr().cast())
    };
    with_state("mm_realloc", resize, || {
        fatal::fatal(
            WHO,
            &[b"mm_realloc(): called from inside the library while it reports a corrupted heap"],
        )
    })
}
