//! The one lock of the preload library, and how it dies.
//!
//! `std::sync::Mutex` would do for threads, but not for `fork`: the library must hold
//! its lock across `fork` and release it in both processes afterwards, from
//! `pthread_atfork` handlers, which a guard-based mutex cannot express. So this is the
//! classic three-state futex lock (Drepper, "Futexes Are Tricky"): 0 free, 1 held,
//! 2 held with waiters; an uncontended lock and unlock are one atomic each, and a waiter
//! sleeps in the kernel instead of spinning on two cores.
//!
//! The lock also remembers its owner (`pthread_self`), so that a thread that calls
//! `malloc` while already inside it — from a signal handler, or because something on the
//! allocation path itself allocated — is caught and stopped with a message instead of
//! deadlocking silently.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

const FREE: u32 = 0;
const HELD: u32 = 1;
const CONTENDED: u32 = 2;

/// Spins before sleeping: a holder usually leaves within a few hundred nanoseconds.
const SPINS: u32 = 100;

/// A value behind the lock.
pub struct Locked<T> {
    state: AtomicU32,
    /// `pthread_self()` of the holder, 0 when free.
    owner: AtomicUsize,
    /// `pthread_self()` of a thread holding the lock across `fork` (between the prepare
    /// handler and the parent or child handler), 0 otherwise. That thread may still use
    /// the value: other libraries' fork handlers run while we hold the lock, and may
    /// allocate.
    forking: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through `with`, which holds the lock, so one thread
// at a time uses it; `T` is moved between threads only by that hand-over.
unsafe impl<T: Send> Sync for Locked<T> {}

fn this_thread() -> usize {
    // SAFETY: `pthread_self` has no preconditions; its result is non-zero on Linux.
    unsafe { libc::pthread_self() as usize }
}

impl<T> Locked<T> {
    pub const fn new(value: T) -> Self {
        Locked {
            state: AtomicU32::new(FREE),
            owner: AtomicUsize::new(0),
            forking: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the value, holding the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let me = this_thread();
        if self.owner.load(Ordering::Relaxed) == me && self.forking.load(Ordering::Relaxed) == me {
            // Inside `fork`, between our prepare handler and our parent/child handler:
            // this thread already holds the lock (see `hold_for_fork`).
            // SAFETY: the lock is held by this thread, and no reference to the value is
            // alive: the holder is `fork` itself, called by the program, not from inside
            // one of our calls.
            return f(unsafe { &mut *self.value.get() });
        }
        self.acquire_as(me);
        // SAFETY: the lock is held, so no other reference to the value exists; this one
        // ends before `release`.
        let result = f(unsafe { &mut *self.value.get() });
        self.release();
        result
    }

    /// `pthread_atfork` prepare: takes the lock and keeps it across `fork`, letting this
    /// thread through meanwhile (for other libraries' fork handlers that allocate).
    pub fn hold_for_fork(&self) {
        let me = this_thread();
        self.acquire_as(me);
        self.forking.store(me, Ordering::Relaxed);
    }

    /// `pthread_atfork` parent and child: the end of [`Locked::hold_for_fork`].
    pub fn release_after_fork(&self) {
        self.forking.store(0, Ordering::Relaxed);
        self.release();
    }

    /// Takes the lock for thread `me` (`pthread_self`, found once by the caller);
    /// aborts if `me` already holds it (re-entry).
    fn acquire_as(&self, me: usize) {
        if self.owner.load(Ordering::Relaxed) == me {
            fatal(b"malloc was re-entered on a thread already inside it: a signal handler called malloc, or the allocator panicked (heap corruption: a buffer overflow, double free or invalid free in the program, or a bug here)");
        }
        if self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.acquire_contended();
        }
        self.owner.store(me, Ordering::Relaxed);
    }

    #[cold]
    fn acquire_contended(&self) {
        for _ in 0..SPINS {
            if self.state.load(Ordering::Relaxed) == FREE
                && self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return;
            }
            std::hint::spin_loop();
        }
        // Announce a waiter (state 2) and sleep until the holder's release wakes us.
        while self.state.swap(CONTENDED, Ordering::Acquire) != FREE {
            futex(&self.state, libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, CONTENDED);
        }
    }

    /// Releases the lock taken by [`Locked::acquire_as`] (or inherited across `fork`).
    fn release(&self) {
        self.owner.store(0, Ordering::Relaxed);
        if self.state.swap(FREE, Ordering::Release) == CONTENDED {
            futex(&self.state, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }
}

fn futex(word: &AtomicU32, op: libc::c_int, value: u32) {
    // `free` must leave errno alone (POSIX.1-2024, glibc 2.33+), and a successful
    // `malloc` should: keep the caller's errno across the syscall.
    let saved = errno::get();
    // SAFETY: `word` is a live, aligned 32-bit atomic for the duration of the call; a
    // null timeout means wait without one. Errors (EAGAIN when the word has changed,
    // EINTR) only mean "look again", which both callers do.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), op, value, std::ptr::null::<libc::timespec>());
    }
    errno::set(saved);
}

/// This thread's `errno`.
pub mod errno {
    pub fn get() -> libc::c_int {
        // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
        unsafe { *libc::__errno_location() }
    }

    pub fn set(value: libc::c_int) {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = value };
    }
}

/// [`fatal`] with a message in parts followed by ` (heap offset 0x…)`.
#[cfg_attr(not(feature = "hardened"), allow(dead_code))]
pub fn fatal_with(parts: &[&[u8]], offset: usize) -> ! {
    let mut message = crate::text::Line::<160>::new();
    for part in parts {
        message.push(part);
    }
    message.push(b" (heap offset 0x").hex(offset).push(b")");
    fatal(message.as_bytes())
}

/// Writes `mmlab preload: <message>` to standard error and aborts, as glibc does on heap
/// corruption. Nothing here allocates.
pub fn fatal(message: &[u8]) -> ! {
    let parts: [&[u8]; 3] = [b"mmlab preload: ", message, b"\n"];
    for part in parts {
        // SAFETY: `part` is a valid buffer of `part.len()` bytes; a short or failed
        // write to stderr loses only the message.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: `abort` has no preconditions.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_lock_excludes_other_threads() {
        let counter = Arc::new(Locked::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        // A non-atomic read-modify-write: lost updates if two threads
                        // were ever inside at once.
                        counter.with(|c| {
                            let seen = *c;
                            std::hint::black_box(());
                            *c = seen + 1;
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.with(|c| *c), 80_000);
    }

    #[test]
    fn acquire_and_release_pair_up_across_calls() {
        let lock = Locked::new(5);
        lock.acquire_as(this_thread());
        assert_eq!(lock.state.load(Ordering::Relaxed), HELD);
        lock.release();
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);
        assert_eq!(lock.with(|v| *v), 5);
    }
}
