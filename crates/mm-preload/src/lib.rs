//! # mm-preload: an mmlab strategy as the `malloc` of unmodified programs
//!
//! `cargo build --release -p mm-preload` writes `target/release/libmm_preload.so`;
//! `LD_PRELOAD=target/release/libmm_preload.so python3 ...` then runs Python with every
//! `malloc`, `free`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc` and `malloc_usable_size` — its own,
//! its libraries', and libc's internal ones — served by an mmlab strategy. The strategy
//! is a cargo feature of the `mm` crate, forwarded and chosen by its rule: segregated
//! fits by default, `--no-default-features --features buddy` (or another of `mm`'s
//! strategy features) for another.
//!
//! With `--no-default-features --features record` the same library is a *recorder*:
//! it forwards every call to glibc's malloc and logs it (see `recorder`), for
//! `mdriver record` to turn into a `.rep` trace. `record` wins over any strategy
//! feature that is also on (`--all-features` builds the recorder).
//!
//! ## What a real `malloc` must do that the lab's does not
//! * **The C contract in full** (`exports`): 16-byte alignment (x86-64's
//!   `max_align_t`); `errno = ENOMEM` on failure; `calloc` and `reallocarray` check
//!   `count * size` for overflow and fail rather than return a short block; the
//!   aligned functions validate their alignment (`EINVAL`) and return pointers that a
//!   plain `free` accepts (`aligned`).
//! * **Threads**: one futex lock around the strategy (`facade::lock`, shared with the
//!   `mm` crate's `LockedAllocator` and with `libmm`), which a single-threaded process
//!   passes without atomics; in front of it, per-thread caches of small free blocks
//!   (`facade::cache`), so that most calls of a threaded program take no lock.
//!   `malloc_trim` returns the calling thread's cached blocks to the strategy.
//! * **`fork`**: a child process starts with one thread, a copy of the heap, and the
//!   lock in whatever state another thread left it. The lock is taken before `fork`
//!   (a `pthread_atfork` prepare handler) and released afterwards in the parent and the
//!   child, so the child's heap is always consistent. Other libraries' fork handlers
//!   may run while we hold it (prepare handlers run in reverse order of registration,
//!   and a library's constructor can register before ours runs) and may allocate: the
//!   forking thread is let through the lock until our parent/child handler releases it.
//! * **`errno`** is set on failure only: `free` and successful calls preserve it, even
//!   when a contended lock sleeps in the kernel.
//! * **No allocation inside `malloc`**: the strategy's heap comes from `mmap`, the
//!   library keeps its state in statics and formats with stack buffers.
//! * **A corrupted heap**: the strategies panic when they find their metadata
//!   inconsistent (a bounds check meeting a smashed header). Every call runs under
//!   `catch_unwind`, and a panic stops the program with `mmlab preload: heap corrupted:
//!   malloc(): <the panic's message>`. Rust's panic machinery allocates meanwhile, on
//!   the same thread, through our `malloc`: the lock sees its owner re-entering while
//!   panicking and serves those calls from an emergency reserve, never the heap. Any
//!   other re-entry (a signal handler that allocates) stops the program with a message
//!   instead of deadlocking.
//! * **Misuse**: a double free or an invalid pointer the strategy refuses stops the
//!   program, as glibc does: `mmlab preload: free(): double free detected (heap offset
//!   0x1070)`.
//! * **Foreign pointers**: before the library is relocated, the dynamic loader serves
//!   a few allocations from its own arena; `free` ignores pointers outside our heap.
//!   Built with `hardened`, it does so only until the library's constructor has run:
//!   after that, `free` of a pointer into the stack, a global or an `mmap`ed page stops
//!   the program with `free(): invalid pointer`.
//!
//! The heap is an 8 GiB `mmap(MAP_NORESERVE)` reservation the OS commits as it is
//! touched (halved down to 64 MiB if the OS refuses that much); it is the process's
//! whole heap, and explicit and segregated fits, whose links are 32-bit, use at most
//! 4 GiB of it. Freed memory is reused by the strategy but not returned to the OS,
//! except that a large `calloc` gives its whole pages back to the kernel to be
//! zero-filled on demand, so a sparse table costs only the pages it touches.

// The C symbols are left out of unit-test builds, where they would become the test
// harness's own malloc.
#[cfg(not(test))]
mod exports;

#[cfg(feature = "record")]
pub mod recorder;
#[cfg(all(feature = "record", not(test)))]
use recorder as backend;

#[cfg(not(feature = "record"))]
mod aligned;
#[cfg(not(feature = "record"))]
mod heap;
#[cfg(all(not(feature = "record"), not(test)))]
use heap as backend;
