//! The one lock of every deployment: [`LockedAllocator`](crate::LockedAllocator),
//! `libmm` and `libmm_preload.so` put their strategy behind a [`Locked`].
//!
//! The strategies are single-threaded (`&mut self`), so each deployment serialises its
//! calls. `std::sync::Mutex` would do for threads, but a lock *inside the allocator*
//! must also answer three questions a mutex does not:
//!
//! * **Who holds it?** A thread that calls the allocator while already inside it would
//!   wait for itself for ever. The lock records its owner (`pthread_self`) and so tells
//!   re-entry from contention. A re-entry is let through, or served elsewhere, or stops
//!   the program, by its cause (see [`Locked::with`]).
//! * **What if the strategy panics?** Strategies panic when they find their own metadata
//!   inconsistent: the heap is corrupted. Unwinding out of `malloc` into C is undefined,
//!   and going on in Rust would use the damaged heap again. Every call runs under
//!   `catch_unwind`; a caught panic stops the program with the panic's own message
//!   ([`fatal::heap_corrupted`]). While the panic is
//!   being formatted, its allocations re-enter the lock and are served from the
//!   [emergency reserve](crate::emergency).
//! * **What about `fork`?** The preload library must hold the lock across `fork` and
//!   release it in both processes afterwards, from `pthread_atfork` handlers, which a
//!   guard-based mutex cannot express ([`Locked::hold_for_fork`]).
//!
//! It is the classic three-state futex lock (Drepper, "Futexes Are Tricky"): 0 free,
//! 1 held, 2 held with waiters; an uncontended lock and unlock are one atomic each, and
//! a waiter sleeps in the kernel instead of spinning on two cores.
//!
//! ## Single-threaded programs skip the atomics
//!
//! Most programs never start a second thread, and glibc does not make them pay for
//! locking. Neither does this lock: the first thread to use it becomes its *single
//! thread*, and while no other thread has come, that thread goes in with plain loads and
//! stores (it marks itself `inside`, checks the mode, runs, unmarks), no read-modify-write
//! and no fence the CPU sees. The owner is still recorded, so re-entry is caught exactly
//! as before.
//!
//! The hard part is the moment a second thread arrives while the first is inside. The
//! newcomer switches the lock to *shared* mode and must then wait until the first thread
//! is out; the first thread, on its next entry, must see the switch and take the real
//! lock. That is Dekker's pattern (each side writes its flag, then reads the other's),
//! which needs a store-load fence on *both* sides, the cost we set out to avoid. The
//! fence is made asymmetric instead: the first thread's side is only a compiler fence,
//! and the newcomer's side is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, a system
//! call that runs a full memory barrier on every CPU currently running a thread of this
//! process (the Linux man page's own example). Either the newcomer then sees `inside`
//! set and waits for the first thread to leave (its release store, acquired by the
//! newcomer, publishes everything it did), or the first thread's check of the mode
//! sees the switch and it takes the lock. The switch happens once per lock per process;
//! afterwards every call takes the futex. Where the kernel refuses `membarrier`
//! (older than 4.14, or a seccomp filter), the lock starts shared and never elides.
//!
//! `fork` gives a child one thread: [`Locked::release_after_fork_in_child`] makes the
//! forking thread the child's single thread again, as glibc does with its own flag.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering, compiler_fence};

use crate::fatal;

const FREE: u32 = 0;
const HELD: u32 = 1;
const CONTENDED: u32 = 2;

/// Spins before sleeping: a holder usually leaves within a few hundred nanoseconds.
const SPINS: u32 = 100;

/// The lock's modes (see the module's doc): not used yet; being claimed by its first
/// thread; that thread alone, without atomics; being switched to shared; shared (the
/// futex on every call).
const UNUSED: u8 = 0;
const CLAIMING: u8 = 1;
const SINGLE: u8 = 2;
const SWITCHING: u8 = 3;
const SHARED: u8 = 4;

/// How a thread got in: alone (single mode), or holding the futex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Alone,
    Held,
}

/// What a thread that re-enters the allocator for no good reason is told.
const REENTERED: &[u8] =
    b"malloc was re-entered on a thread already inside it: a signal handler called malloc";

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
    /// `pthread_self()` of a thread inside [`Locked::with_allocating`], whose nested
    /// calls are served from the emergency reserve; 0 otherwise.
    allocating: AtomicUsize,
    /// [`UNUSED`], [`CLAIMING`], [`SINGLE`], [`SWITCHING`] or [`SHARED`].
    mode: AtomicU8,
    /// `pthread_self()` of the single thread (meaningful from [`SINGLE`] on).
    single: AtomicUsize,
    /// 1 while the single thread is inside without the futex; written only by that
    /// thread (plain stores), read by the thread switching the lock to shared.
    inside: AtomicU32,
    /// How the thread holding the lock across `fork` got in.
    fork_entry: AtomicU8,
    /// The deployment's name, which starts every message (`mmlab preload:`).
    who: &'static str,
    value: UnsafeCell<T>,
}

/// A call that re-entered the lock on a thread inside it, while that thread panics (or
/// runs [`Locked::with_allocating`]): the value is in use further up this thread's
/// stack, so the caller must do without it: serve an allocation from the
/// [emergency reserve](crate::emergency), ignore a free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reentered;

// SAFETY: `value` is only reached while holding the lock (or by its holder, in the fork
// window), so one thread at a time uses it; `T` is moved between threads only by that
// hand-over. "Holding" includes the single thread's entry without the futex, which the
// switch to shared mode waits out (see the module's doc and `Locked::switch_to_shared`).
unsafe impl<T: Send> Sync for Locked<T> {}

fn this_thread() -> usize {
    // SAFETY: `pthread_self` has no preconditions; its result is non-zero on Linux.
    unsafe { libc::pthread_self() as usize }
}

impl<T> Locked<T> {
    /// `value` behind a free lock; messages start with `who` (`"mmlab preload:"`).
    pub const fn new(who: &'static str, value: T) -> Self {
        Locked {
            state: AtomicU32::new(FREE),
            owner: AtomicUsize::new(0),
            forking: AtomicUsize::new(0),
            allocating: AtomicUsize::new(0),
            mode: AtomicU8::new(UNUSED),
            single: AtomicUsize::new(0),
            inside: AtomicU32::new(0),
            fork_entry: AtomicU8::new(0),
            who,
            value: UnsafeCell::new(value),
        }
    }

    /// The deployment's name, as given to [`Locked::new`].
    pub fn who(&self) -> &'static str {
        self.who
    }

    /// Runs `f` with the value, holding the lock; `call` names the operation in
    /// messages. Should `f` panic, the program stops: the heap is corrupted.
    ///
    /// A thread that already holds the lock is one of three cases:
    /// 1. it is inside `fork`, between our prepare and parent/child handlers, and another
    ///    library's fork handler allocates: `f` runs (the holder is `fork`, not one of
    ///    our calls);
    /// 2. it is panicking (the strategy panicked further up, and the panic machinery
    ///    allocates), or it is inside [`Locked::with_allocating`]: `Err(Reentered)`, and
    ///    the caller serves the call without the value;
    /// 3. otherwise a signal handler called the allocator in the middle of a call, or the
    ///    allocator called itself: the program stops with a message, since waiting
    ///    would wait for ever and going on would use the value twice.
    #[inline]
    pub fn with<R>(&self, call: &str, f: impl FnOnce(&mut T) -> R) -> Result<R, Reentered> {
        let me = this_thread();
        if self.owner.load(Ordering::Relaxed) == me {
            return self.reenter(me, call, f);
        }
        let entry = self.enter(me);
        // SAFETY: the lock is held (or this is the single thread, alone), so no other
        // reference to the value exists.
        let result = unsafe { self.run(call, f) };
        self.leave(entry);
        Ok(result)
    }

    /// Gets thread `me` (which does not hold the lock) in: alone, when it is the single
    /// thread and no other has come; else through the futex.
    #[inline]
    fn enter(&self, me: usize) -> Entry {
        if self.mode.load(Ordering::Relaxed) == SINGLE && self.single.load(Ordering::Relaxed) == me {
            self.inside.store(1, Ordering::Relaxed);
            // The light half of the asymmetric fence: the compiler may not move the mode's
            // load above the store of `inside`; the CPU's reordering of the two is undone by
            // the newcomer's `membarrier` (see `switch_to_shared`).
            compiler_fence(Ordering::SeqCst);
            if self.mode.load(Ordering::Relaxed) == SINGLE {
                self.owner.store(me, Ordering::Relaxed);
                return Entry::Alone;
            }
            // Another thread is switching the lock: step out and queue on the futex.
            self.inside.store(0, Ordering::Release);
        }
        if self.mode.load(Ordering::Acquire) != SHARED {
            return self.enter_cold(me);
        }
        self.acquire_as(me);
        Entry::Held
    }

    /// The end of [`Locked::enter`].
    #[inline]
    fn leave(&self, entry: Entry) {
        match entry {
            Entry::Alone => {
                self.owner.store(0, Ordering::Relaxed);
                // Publishes everything done inside to a thread switching the lock.
                self.inside.store(0, Ordering::Release);
            }
            Entry::Held => self.release(),
        }
    }

    /// The first use of the lock (its caller becomes the single thread), or a second
    /// thread arriving (the lock becomes shared).
    #[cold]
    fn enter_cold(&self, me: usize) -> Entry {
        loop {
            match self.mode.load(Ordering::Acquire) {
                UNUSED => {
                    if self
                        .mode
                        .compare_exchange(UNUSED, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        let alone = membarrier::available();
                        self.single.store(me, Ordering::Relaxed);
                        self.mode.store(if alone { SINGLE } else { SHARED }, Ordering::Release);
                        if alone {
                            // Nobody else can be inside: nobody else has seen `SINGLE` as theirs.
                            self.inside.store(1, Ordering::Relaxed);
                            self.owner.store(me, Ordering::Relaxed);
                            return Entry::Alone;
                        }
                    }
                }
                SINGLE if self.single.load(Ordering::Relaxed) == me => {
                    // The single thread, which saw `SWITCHING` a moment ago and now sees
                    // `SINGLE`: impossible, the switch is one-way; go round again.
                    return self.enter(me);
                }
                SINGLE => self.switch_to_shared(),
                SHARED => {
                    self.acquire_as(me);
                    return Entry::Held;
                }
                // Another thread is claiming or switching the lock: a short wait.
                _ => std::thread::yield_now(),
            }
        }
    }

    /// Moves the lock from single to shared mode, called by a thread that is not the
    /// single one; returns when the single thread is not inside without the futex, and
    /// never will be again.
    #[cold]
    fn switch_to_shared(&self) {
        if self.mode.compare_exchange(SINGLE, SWITCHING, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return; // someone else switches it; the caller looks again
        }
        // The heavy half of the asymmetric fence: after it, the single thread either had
        // stored `inside = 1` where we see it, or will see `SWITCHING` when it next checks.
        membarrier::everywhere();
        while self.inside.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
        self.mode.store(SHARED, Ordering::Release);
    }

    /// [`Locked::with`], for an `f` that may itself allocate through this lock: a heap
    /// checker that builds its error report. Those nested calls get `Err(Reentered)`,
    /// and are served from the emergency reserve instead of touching the heap `f` is
    /// reading.
    pub fn with_allocating<R>(&self, call: &str, f: impl FnOnce(&mut T) -> R) -> Result<R, Reentered> {
        self.with(call, |value| {
            self.allocating.store(this_thread(), Ordering::Relaxed);
            let result = f(value);
            self.allocating.store(0, Ordering::Relaxed);
            result
        })
    }

    /// The three cases of re-entry (see [`Locked::with`]).
    #[cold]
    fn reenter<R>(&self, me: usize, call: &str, f: impl FnOnce(&mut T) -> R) -> Result<R, Reentered> {
        if self.forking.load(Ordering::Relaxed) == me {
            // SAFETY: this thread holds the lock, and no reference to the value is alive:
            // the holder is `fork` itself, called by the program, not one of our calls.
            return Ok(unsafe { self.run(call, f) });
        }
        if std::thread::panicking() || self.allocating.load(Ordering::Relaxed) == me {
            return Err(Reentered);
        }
        fatal::fatal(self.who, &[REENTERED])
    }

    /// Runs `f` on the value, stopping the program if it panics.
    ///
    /// # Safety
    /// The calling thread holds the lock, and no other reference to the value is alive.
    #[inline]
    unsafe fn run<R>(&self, call: &str, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller's contract; the reference ends with this call.
        let value = unsafe { &mut *self.value.get() };
        // Unwind safety does not matter: a panic never returns to the caller.
        match catch_unwind(AssertUnwindSafe(|| f(value))) {
            Ok(result) => result,
            Err(payload) => fatal::heap_corrupted(self.who, call, &*payload),
        }
    }

    /// `pthread_atfork` prepare: takes the lock and keeps it across `fork`, letting this
    /// thread through meanwhile (for other libraries' fork handlers that allocate).
    pub fn hold_for_fork(&self) {
        let me = this_thread();
        if self.owner.load(Ordering::Relaxed) == me {
            fatal::fatal(self.who, &[REENTERED]);
        }
        let entry = self.enter(me);
        self.fork_entry.store(entry as u8, Ordering::Relaxed);
        self.forking.store(me, Ordering::Relaxed);
    }

    /// `pthread_atfork` parent (and child): the end of [`Locked::hold_for_fork`].
    pub fn release_after_fork(&self) {
        self.forking.store(0, Ordering::Relaxed);
        let entry = if self.fork_entry.load(Ordering::Relaxed) == Entry::Alone as u8 {
            Entry::Alone
        } else {
            Entry::Held
        };
        self.leave(entry);
    }

    /// `pthread_atfork` child: the end of [`Locked::hold_for_fork`], and the child's one
    /// thread (the one that forked) becomes the lock's single thread: no other thread
    /// exists in the child to be inside or to arrive unseen.
    ///
    /// Whatever state the parent's other threads left the lock in is reset, not just
    /// `SHARED`: a thread may have been switching it to shared mode (waiting for the
    /// forking thread, which held it alone, to leave) when `fork` copied it, and that
    /// thread does not exist in the child to finish the switch.
    pub fn release_after_fork_in_child(&self) {
        self.release_after_fork();
        self.owner.store(0, Ordering::Relaxed);
        self.inside.store(0, Ordering::Relaxed);
        // The forking thread held the lock alone or through the futex, so nobody else
        // holds the futex: the child's lock is free.
        self.state.store(FREE, Ordering::Relaxed);
        if membarrier::available() {
            self.single.store(this_thread(), Ordering::Relaxed);
            self.mode.store(SINGLE, Ordering::Release);
        } else {
            self.mode.store(SHARED, Ordering::Release);
        }
    }

    /// Takes the lock for thread `me` (`pthread_self`, found once by the caller), which
    /// does not hold it.
    #[inline]
    fn acquire_as(&self, me: usize) {
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
    #[inline]
    fn release(&self) {
        self.owner.store(0, Ordering::Relaxed);
        if self.state.swap(FREE, Ordering::Release) == CONTENDED {
            futex(&self.state, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }
}

/// `membarrier(2)`, which the libc crate does not name.
mod membarrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static AVAILABLE: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn call(cmd: libc::c_int) -> bool {
        let saved = super::errno::get();
        // SAFETY: `membarrier` takes a command and two integer arguments and touches no
        // memory of ours; an unknown or refused command fails with an error code.
        let ok = unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) } == 0;
        super::errno::set(saved);
        ok
    }

    /// True when the process is registered for expedited private barriers (registering
    /// it on the first question).
    pub fn available() -> bool {
        match AVAILABLE.load(Ordering::Relaxed) {
            YES => true,
            NO => false,
            _ => {
                let yes = call(CMD_REGISTER_PRIVATE_EXPEDITED);
                AVAILABLE.store(if yes { YES } else { NO }, Ordering::Relaxed);
                yes
            }
        }
    }

    /// A full memory barrier on every CPU running a thread of this process.
    pub fn everywhere() {
        if !call(CMD_PRIVATE_EXPEDITED) {
            // Registered, so it cannot fail; were it to, there is no safe way on.
            crate::fatal::fatal("mmlab:", &[b"membarrier failed while switching the lock to shared mode"]);
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
    /// Reads it.
    pub fn get() -> libc::c_int {
        // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
        unsafe { *libc::__errno_location() }
    }

    /// Sets it.
    pub fn set(value: libc::c_int) {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = value };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_lock_excludes_other_threads() {
        let counter = Arc::new(Locked::new("test:", 0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        // A non-atomic read-modify-write: lost updates if two threads
                        // were ever inside at once.
                        counter
                            .with("add", |c| {
                                let seen = *c;
                                std::hint::black_box(());
                                *c = seen + 1;
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.with("read", |c| *c), Ok(80_000));
    }

    #[test]
    fn a_single_thread_goes_in_alone_until_others_arrive_and_then_nobody_is_let_in_twice() {
        // The first thread uses the lock alone (no futex), keeps going while four more
        // threads arrive mid-way: the switch must not let two threads in at once.
        let counter = Arc::new(Locked::new("test:", 0u64));
        for _ in 0..1000 {
            counter.with("add", |c| *c += 1).unwrap();
        }
        assert_eq!(counter.mode.load(Ordering::Relaxed), SINGLE, "one thread: no futex");
        assert_eq!(counter.state.load(Ordering::Relaxed), FREE, "the futex was never taken");
        let go = Arc::new(std::sync::Barrier::new(5));
        let others: Vec<_> = (0..4)
            .map(|_| {
                let (counter, go) = (Arc::clone(&counter), Arc::clone(&go));
                std::thread::spawn(move || {
                    go.wait();
                    for _ in 0..20_000 {
                        counter
                            .with("add", |c| {
                                let seen = *c;
                                std::hint::black_box(());
                                *c = seen + 1;
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        go.wait();
        for _ in 0..20_000 {
            counter
                .with("add", |c| {
                    let seen = *c;
                    std::hint::black_box(());
                    *c = seen + 1;
                })
                .unwrap();
        }
        for t in others {
            t.join().unwrap();
        }
        assert_eq!(counter.mode.load(Ordering::Relaxed), SHARED);
        assert_eq!(counter.with("read", |c| *c), Ok(1000 + 5 * 20_000));
    }

    #[test]
    fn a_forked_child_is_single_threaded_again() {
        let lock = Arc::new(Locked::new("test:", 0u32));
        let other = Arc::clone(&lock);
        std::thread::spawn(move || other.with("add", |c| *c += 1).unwrap()).join().unwrap();
        lock.with("add", |c| *c += 1).unwrap();
        assert_eq!(lock.mode.load(Ordering::Relaxed), SHARED);
        lock.hold_for_fork();
        // SAFETY: the child touches only the lock and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            lock.release_after_fork_in_child();
            let ok = lock.mode.load(Ordering::Relaxed) == SINGLE
                && lock.with("add", |c| *c + 1) == Ok(3)
                && lock.state.load(Ordering::Relaxed) == FREE;
            // SAFETY: leaving the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        lock.release_after_fork();
        assert!(pid > 0);
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child");
        assert_eq!(lock.mode.load(Ordering::Relaxed), SHARED, "the parent stays shared");
    }

    #[test]
    fn a_child_forked_while_another_thread_switches_the_lock_is_not_stuck() {
        let lock = Arc::new(Locked::new("test:", 0u32));
        lock.with("add", |c| *c += 1).unwrap();
        assert_eq!(lock.mode.load(Ordering::Relaxed), SINGLE, "this thread is the single one");
        lock.hold_for_fork();
        // A second thread arrives while this one holds the lock alone for `fork`: it
        // starts the switch to shared mode and waits for us to leave.
        let other = Arc::clone(&lock);
        let arriving = std::thread::spawn(move || other.with("add", |c| *c += 1).unwrap());
        while lock.mode.load(Ordering::Acquire) != SWITCHING {
            std::thread::yield_now();
        }
        // SAFETY: the child touches only the lock and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // Were the half-done switch left in place, `with` would wait for ever: the
            // alarm turns that into a failed test.
            // SAFETY: `alarm` only schedules a signal.
            unsafe { libc::alarm(10) };
            lock.release_after_fork_in_child();
            let ok = lock.with("add", |c| *c + 1) == Ok(2) && lock.mode.load(Ordering::Relaxed) == SINGLE;
            // SAFETY: leaving the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        lock.release_after_fork();
        arriving.join().unwrap();
        assert!(pid > 0);
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child: status {status:#x}");
        assert_eq!(lock.with("read", |c| *c), Ok(2), "the parent's lock is shared and whole");
    }

    #[test]
    fn acquire_and_release_pair_up_across_calls() {
        let lock = Locked::new("test:", 5);
        lock.acquire_as(this_thread());
        assert_eq!(lock.state.load(Ordering::Relaxed), HELD);
        lock.release();
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);
        assert_eq!(lock.with("read", |v| *v), Ok(5));
    }

    #[test]
    fn the_forking_thread_is_let_through_and_a_checker_gets_the_reserve() {
        let lock = Locked::new("test:", 1);
        lock.hold_for_fork();
        assert_eq!(lock.with("inside fork", |v| *v), Ok(1), "another library's fork handler");
        lock.release_after_fork();
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);

        let nested = lock.with_allocating("check", |v| {
            *v = 2;
            lock.with("nested", |_| unreachable!("the value is in use"))
        });
        assert_eq!(nested, Ok(Err(Reentered)));
        assert_eq!(lock.with("read", |v| *v), Ok(2), "and the lock was released");
    }

    #[test]
    fn a_panicking_thread_that_re_enters_is_told_so() {
        struct ReentersWhileUnwinding<'a>(&'a Locked<u8>, &'a mut Option<Result<(), Reentered>>);
        impl Drop for ReentersWhileUnwinding<'_> {
            fn drop(&mut self) {
                // Runs during the unwinding below, with the lock held by this thread.
                *self.1 = Some(self.0.with("nested", |_| ()));
            }
        }
        let lock = Locked::new("test:", 0u8);
        let mut seen = None;
        // SAFETY (of the test): `run` is bypassed so that the panic unwinds to here
        // instead of stopping the process.
        lock.acquire_as(this_thread());
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let _guard = ReentersWhileUnwinding(&lock, &mut seen);
            panic!("the strategy found its heap inconsistent");
        }));
        lock.release();
        assert!(caught.is_err());
        assert_eq!(seen, Some(Err(Reentered)));
    }
}
