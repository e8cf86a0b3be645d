//! The C symbols, with the C library's contract on top of the backend: null pointers,
//! zero sizes, overflow checks, alignment rules, `errno`, and the `fork` handlers.
//!
//! Behaviour follows glibc where C leaves a choice: `malloc(0)` returns a unique
//! pointer; `realloc(p, 0)` frees `p` and returns null; `memalign` rounds an alignment
//! that is not a power of two up to one; `aligned_alloc` and `posix_memalign` reject it
//! (`EINVAL`); `pvalloc` rounds the size up to whole pages.

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::backend;

fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() = value };
}

/// `ptr`, or null with `errno = ENOMEM`.
fn or_enomem(ptr: *mut u8) -> *mut c_void {
    if ptr.is_null() {
        set_errno(libc::ENOMEM);
    }
    ptr.cast()
}

fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

// ---- fork ----------------------------------------------------------------------------

const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;
static FORK_HANDLERS: AtomicU8 = AtomicU8::new(UNREGISTERED);

extern "C" fn before_fork() {
    backend::before_fork();
}
extern "C" fn after_fork_parent() {
    backend::after_fork_parent();
}
extern "C" fn after_fork_child() {
    backend::after_fork_child();
}

/// Registers the `fork` handlers, once, on the first call into the library. Outside
/// the lock: should `pthread_atfork` itself allocate, that nested call passes through
/// here (the state is no longer `UNREGISTERED`) and allocates normally.
#[inline]
fn ensure_fork_handlers() {
    if FORK_HANDLERS.load(Ordering::Acquire) == UNREGISTERED
        && FORK_HANDLERS
            .compare_exchange(UNREGISTERED, REGISTERING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        // SAFETY: three `extern "C" fn()` handlers that live as long as the process.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_parent), Some(after_fork_child)) };
        FORK_HANDLERS.store(REGISTERED, Ordering::Release);
    }
}

/// Runs when the library is loaded (before the program's own constructors and `main`):
/// registers the fork handlers, in case nothing allocates before the first `fork`, and
/// tells the backend that the program has started.
extern "C" fn on_load() {
    ensure_fork_handlers();
    backend::at_load();
}

/// Runs at exit: the recorder writes out its last lines.
extern "C" fn on_unload() {
    backend::at_exit();
}

#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn() = on_load;

#[used]
#[unsafe(link_section = ".fini_array")]
static ON_UNLOAD: extern "C" fn() = on_unload;

// ---- the allocation functions ----------------------------------------------------------

/// `void *malloc(size_t size)`
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    ensure_fork_handlers();
    or_enomem(backend::malloc(size))
}

/// `void free(void *ptr)`
///
/// # Safety
/// `ptr` is null or a live pointer from this library's allocation functions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if let Some(ptr) = NonNull::new(ptr.cast::<u8>()) {
        // SAFETY: the caller's contract.
        unsafe { backend::free(ptr) };
    }
}

/// `void *calloc(size_t count, size_t size)`: null and `ENOMEM` if `count * size`
/// overflows.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    ensure_fork_handlers();
    if count.checked_mul(size).is_none() {
        return or_enomem(ptr::null_mut());
    }
    or_enomem(backend::calloc(count, size))
}

/// `void *realloc(void *ptr, size_t size)`
///
/// # Safety
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    ensure_fork_handlers();
    let Some(old) = NonNull::new(ptr.cast::<u8>()) else { return or_enomem(backend::malloc(size)) };
    if size == 0 {
        // SAFETY: the caller's contract.
        unsafe { backend::free(old) };
        return ptr::null_mut();
    }
    // SAFETY: the caller's contract; `size > 0`.
    or_enomem(unsafe { backend::realloc(old, size) })
}

/// `void *reallocarray(void *ptr, size_t count, size_t size)`: `realloc` with the
/// product checked; on overflow null, `ENOMEM`, and `ptr` untouched.
///
/// # Safety
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size) {
        // SAFETY: the caller's contract.
        Some(bytes) => unsafe { realloc(ptr, bytes) },
        None => or_enomem(ptr::null_mut()),
    }
}

/// `int posix_memalign(void **out, size_t align, size_t size)`: 0, `EINVAL` (alignment
/// not a power of two multiple of `sizeof(void *)`), or `ENOMEM`; `*out` is written
/// only on success, and `errno` is left alone, as POSIX asks.
///
/// # Safety
/// `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    ensure_fork_handlers();
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let ptr = backend::aligned(align, size);
    if ptr.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { out.write(ptr.cast()) };
    0
}

/// `void *aligned_alloc(size_t align, size_t size)`: `EINVAL` unless `align` is a power
/// of two (C17, and glibc since 2.38).
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    ensure_fork_handlers();
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    or_enomem(backend::aligned(align, size))
}

/// `void *memalign(size_t align, size_t size)`: an alignment that is not a power of two
/// is rounded up to one, as glibc does; one too large to round is `EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    ensure_fork_handlers();
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    or_enomem(backend::aligned(align, size))
}

/// `void *valloc(size_t size)`: page-aligned.
#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    ensure_fork_handlers();
    or_enomem(backend::aligned(page_size(), size))
}

/// `void *pvalloc(size_t size)`: page-aligned, the size rounded up to whole pages
/// (one page for 0).
#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    ensure_fork_handlers();
    let page = page_size();
    match size.max(1).checked_next_multiple_of(page) {
        Some(rounded) => or_enomem(backend::aligned(page, rounded)),
        None => or_enomem(ptr::null_mut()),
    }
}

/// `size_t malloc_usable_size(void *ptr)`: the bytes the block can hold (0 for null).
///
/// # Safety
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    match NonNull::new(ptr.cast::<u8>()) {
        // SAFETY: the caller's contract.
        Some(ptr) => unsafe { backend::usable_size(ptr) },
        None => 0,
    }
}

/// `int malloc_trim(size_t pad)`: gives the calling thread's cached free blocks back to
/// the strategy; 1 if there were any, else 0 (glibc: 1 if memory was released).
#[unsafe(no_mangle)]
pub extern "C" fn malloc_trim(pad: usize) -> c_int {
    backend::trim(pad)
}

/// `size_t mmlab_cache_held_bytes(void)`: bytes held in all threads' caches of small
/// free blocks (at class size), after exited threads' were given back. An mmlab
/// extension, for tests and curious programs (`dlsym(RTLD_DEFAULT, ...)`).
#[unsafe(no_mangle)]
pub extern "C" fn mmlab_cache_held_bytes() -> usize {
    backend::cache_held_bytes()
}
