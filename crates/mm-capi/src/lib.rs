//! # mm-capi: the classic malloc-lab C interface
//!
//! `libmm.a` / `libmm.so` export the functions of the lab's `mm.h` (`mm_init`,
//! `mm_malloc`, `mm_free`, `mm_realloc`) and `memlib.h` (`mem_init`, `mem_deinit`,
//! `mem_sbrk`, `mem_reset_brk`, `mem_heap_lo`, `mem_heap_hi`, `mem_heapsize`,
//! `mem_pagesize`) with their classic C signatures, over the strategy chosen by cargo
//! feature (as in the `mm` crate). A C driver written against `include/mm.h` and
//! `include/memlib.h` links it unchanged in place of `mm.c` and `memlib.c`.
//!
//! The strategy owns the simulated heap, so the `mem_*` functions act on the strategy's
//! heap: `mem_init` creates both (a 20 MiB heap, the classic `MAX_HEAP`), `mem_reset_brk`
//! empties the heap, `mm_init` lays the strategy out on it again. Everything is behind
//! one lock, so the library is thread safe; a panic inside a strategy aborts the process
//! (it cannot unwind into C).

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard};

use facade::{Allocator, DefaultAllocator, MemLib};

/// The strategy and its heap; `None` before `mem_init` and after `mem_deinit`.
static STATE: Mutex<Option<DefaultAllocator>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<DefaultAllocator>> {
    STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    ensure(&mut state());
}

/// `memlib.h`: frees the simulated heap.
#[unsafe(no_mangle)]
pub extern "C" fn mem_deinit() {
    *state() = None;
}

/// `memlib.h`: grows the heap by `incr` bytes and returns the old break, or
/// `(void *)-1` with `errno = ENOMEM` when `incr` is negative or the heap is full.
#[unsafe(no_mangle)]
pub extern "C" fn mem_sbrk(incr: c_int) -> *mut c_void {
    let mut state = state();
    let grown = if ensure(&mut state) {
        state.as_mut().and_then(|s| s.heap_mut().sbrk(incr as isize).ok())
    } else {
        None
    };
    match grown {
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
    if let Some(s) = state().as_mut() {
        s.heap_mut().reset_brk();
    }
}

/// `memlib.h`: the first byte of the heap.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heap_lo() -> *mut c_void {
    state().as_ref().map_or(ptr::null_mut(), |s| s.heap().heap_lo().cast())
}

/// `memlib.h`: the last byte in use.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heap_hi() -> *mut c_void {
    state().as_ref().map_or(ptr::null_mut(), |s| s.heap().heap_hi().cast())
}

/// `memlib.h`: the heap's size in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heapsize() -> usize {
    state().as_ref().map_or(0, |s| s.heap().heap_size())
}

/// `memlib.h`: the page size.
#[unsafe(no_mangle)]
pub extern "C" fn mem_pagesize() -> usize {
    facade::PAGE_SIZE
}

/// `mm.h`: (re)initialises the allocator on the heap; 0 on success, -1 on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mm_init() -> c_int {
    let mut state = state();
    if !ensure(&mut state) {
        return -1;
    }
    match state.as_mut().map(|s| s.init()) {
        Some(Ok(())) => 0,
        _ => -1,
    }
}

/// `mm.h`: allocates `size` bytes (16-byte aligned), or returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mm_malloc(size: usize) -> *mut c_void {
    state().as_mut().and_then(|s| s.malloc(size)).map_or(ptr::null_mut(), |p| p.as_ptr().cast())
}

/// `mm.h`: frees a block from `mm_malloc` or `mm_realloc` (NULL is ignored).
///
/// # Safety
/// `ptr` is NULL or a live block of this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mm_free(ptr: *mut c_void) {
    if let (Some(p), Some(s)) = (NonNull::new(ptr.cast::<u8>()), state().as_mut()) {
        // SAFETY: the caller guarantees `ptr` is a live block of this allocator (and in
        // a hardened build, a pointer that is not is caught instead of trusted).
        unsafe { s.free(p) };
        abort_on_misuse("mm_free", s);
    }
}

/// In a hardened build (`--features hardened`), stops the program when the last call
/// caught a misuse, as glibc does: `mm_free(): double free detected (heap offset 0x40)`.
#[cfg_attr(not(feature = "hardened"), allow(unused_variables))]
fn abort_on_misuse(call: &str, allocator: &mut DefaultAllocator) {
    #[cfg(feature = "hardened")]
    if let Some(misuse) = allocator.take_misuse() {
        eprintln!("{call}(): {} (heap offset {:#x}): {misuse}", misuse.short(), misuse.offset());
        std::process::abort();
    }
}

/// `mm.h`: C's `realloc`: NULL is `mm_malloc(size)`, size 0 is `mm_free(ptr)`.
///
/// # Safety
/// `ptr` is NULL or a live block of this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mm_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    let mut state = state();
    let Some(s) = state.as_mut() else { return ptr::null_mut() };
    // SAFETY: the caller guarantees `ptr` is NULL or a live block of this allocator.
    let moved = unsafe { s.realloc(NonNull::new(ptr.cast::<u8>()), size) };
    abort_on_misuse("mm_realloc", s);
    moved.map_or(ptr::null_mut(), |p| p.as_ptr().cast())
}
