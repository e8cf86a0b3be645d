//! Everything `unsafe` that racing C allocators needs, in one module, so that it can be
//! read in one sitting:
//!
//! * **memlib for the C code**: `mem_sbrk`, `mem_heap_lo`, ... exported from the driver
//!   binary (`build.rs` lists them in its dynamic symbol table), so that a loaded `mm.c`
//!   resolves its calls to them. They work on the heap of the one [`CSubject`] of this
//!   process.
//! * **the allocator itself**: `dlopen` of its shared object, its `mm_*` functions and
//!   `team`, and [`CSubject`], the [`Subject`] the replay engine drives.
//! * **the isolation's primitives**: `fork`, redirecting the child's output, waiting for
//!   it, killing it, and the page of memory the child reports its progress in.
//!
//! The rest of [`crate::c`] is safe code built on these.

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use mm_core::{HeapCheckError, InitError, Invariant, MemLib, SbrkError};

use crate::subject::Subject;

// ---------------------------------------------------------------------------------------
// memlib, as the C code sees it
// ---------------------------------------------------------------------------------------

/// The heap of this process's [`CSubject`] (the inside of its `UnsafeCell`), or null
/// when there is none.
static HEAP: AtomicPtr<MemLib> = AtomicPtr::new(ptr::null_mut());

/// Set while `mm_checkheap` runs: it is called through `&self`, so the heap may be
/// borrowed shared at the time, and memlib must not move the break under that borrow.
static CHECKING: AtomicBool = AtomicBool::new(false);

/// Runs `f` on the current heap, shared; `None` when there is no heap.
fn heap_ref<R>(f: impl FnOnce(&MemLib) -> R) -> Option<R> {
    let heap = NonNull::new(HEAP.load(Ordering::Acquire))?;
    // SAFETY: a non-null `HEAP` points into the `UnsafeCell` of the live `CSubject` that
    // stored it (it clears it before it is dropped). Exclusive access to the heap is
    // taken only by `heap_mut` below and by `CSubject::start` (through `&mut self`,
    // before it calls C), never while C code runs this, and this reference ends with
    // the call; the process runs one thread.
    Some(f(unsafe { heap.as_ref() }))
}

/// Runs `f` on the current heap, exclusively; `None` when there is no heap or while
/// `mm_checkheap` runs.
fn heap_mut<R>(f: impl FnOnce(&mut MemLib) -> R) -> Option<R> {
    let mut heap = NonNull::new(HEAP.load(Ordering::Acquire))?;
    if CHECKING.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: as in `heap_ref`, the pointer is to the live `CSubject`'s heap. The C code
    // calls memlib only from inside a call the `CSubject` makes: through `&mut self`
    // (the borrow checker then rules out any other reference to the heap), or through
    // `&self` in `check_heap`, which sets `CHECKING` and so never gets here.
    Some(f(unsafe { heap.as_mut() }))
}

fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno, which is always valid.
    unsafe { *libc::__errno_location() = value };
}

/// `memlib.h`: a no-op; the driver makes the heap (the classic driver calls it first).
#[unsafe(no_mangle)]
pub extern "C" fn mem_init() {}

/// `memlib.h`: a no-op; the driver frees the heap.
#[unsafe(no_mangle)]
pub extern "C" fn mem_deinit() {}

/// `memlib.h`: grows the heap by `incr` bytes and returns the old break, or `(void *)-1`
/// with `errno = ENOMEM` when `incr` is negative or the heap is full (`--max-heap`).
#[unsafe(no_mangle)]
pub extern "C" fn mem_sbrk(incr: c_int) -> *mut c_void {
    match heap_mut(|heap| heap.sbrk(incr as isize)) {
        Some(Ok(old_brk)) => old_brk.as_ptr().cast(),
        _ => {
            set_errno(libc::ENOMEM);
            usize::MAX as *mut c_void
        }
    }
}

/// `memlib.h`: empties the heap (the break goes back to its start).
#[unsafe(no_mangle)]
pub extern "C" fn mem_reset_brk() {
    heap_mut(MemLib::reset_brk);
}

/// `memlib.h`: the first byte of the heap.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heap_lo() -> *mut c_void {
    heap_ref(|heap| heap.heap_lo().cast()).unwrap_or(ptr::null_mut())
}

/// `memlib.h`: the last byte in use (`mem_heap_lo() - 1` when the heap is empty).
#[unsafe(no_mangle)]
pub extern "C" fn mem_heap_hi() -> *mut c_void {
    heap_ref(|heap| heap.heap_hi().cast()).unwrap_or(ptr::null_mut())
}

/// `memlib.h`: the heap's size in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn mem_heapsize() -> usize {
    heap_ref(MemLib::heap_size).unwrap_or(0)
}

/// `memlib.h`: the page size.
#[unsafe(no_mangle)]
pub extern "C" fn mem_pagesize() -> usize {
    mm_core::memlib::PAGE_SIZE
}

/// The memlib functions above, by name: what `build.rs` exports, and what a test checks.
pub const MEMLIB_EXPORTS: [&str; 8] = [
    "mem_init",
    "mem_deinit",
    "mem_sbrk",
    "mem_reset_brk",
    "mem_heap_lo",
    "mem_heap_hi",
    "mem_heapsize",
    "mem_pagesize",
];

// ---------------------------------------------------------------------------------------
// The C allocator
// ---------------------------------------------------------------------------------------

/// A shared object opened with `dlopen`. It is never closed: the process that opens one
/// is a child of the race that exits when its run is done.
pub struct Library(NonNull<c_void>);

/// The last `dlerror` message.
fn dlerror() -> String {
    // SAFETY: `dlerror` returns null or a NUL-terminated string valid until the next
    // `dl*` call on this thread; it is copied at once.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "(no message)".to_owned()
    } else {
        // SAFETY: non-null, so a NUL-terminated string (see above).
        unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
    }
}

impl Library {
    /// Loads the shared object at `path` (a path with a `/`, so nothing is searched),
    /// resolving every symbol now: a symbol it uses and nobody defines is an error here,
    /// not a crash later.
    pub fn open(path: &Path) -> Result<Library, String> {
        let name =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| "a path with a NUL byte".to_owned())?;
        // SAFETY: `name` is a NUL-terminated path. Loading runs the object's
        // constructors, which may do anything: this runs in a child process of the race
        // that exists to absorb that.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        NonNull::new(handle).map(Library).ok_or_else(dlerror)
    }

    /// The address of the symbol `name` defined by the object (or what it links), if any.
    fn symbol(&self, name: &CStr) -> Option<NonNull<c_void>> {
        // SAFETY: the handle is a live `dlopen` handle and `name` is NUL-terminated.
        NonNull::new(unsafe { libc::dlsym(self.0.as_ptr(), name.as_ptr()) })
    }
}

type InitFn = unsafe extern "C" fn() -> c_int;
type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type CheckheapFn = unsafe extern "C" fn(c_int) -> c_int;

/// The functions of `mm.h`, as the loaded object defines them.
pub struct MmFunctions {
    init: InitFn,
    malloc: MallocFn,
    free: FreeFn,
    realloc: ReallocFn,
    checkheap: Option<CheckheapFn>,
}

/// The functions an allocator must define.
pub const REQUIRED: [&str; 4] = ["mm_init", "mm_malloc", "mm_free", "mm_realloc"];

impl MmFunctions {
    /// Looks the functions up; the names of the required ones missing on failure.
    pub fn resolve(library: &Library) -> Result<MmFunctions, Vec<&'static str>> {
        let missing: Vec<&'static str> = REQUIRED
            .into_iter()
            .filter(|name| library.symbol(&CString::new(*name).expect("no NUL in a name")).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let get = |name: &CStr| library.symbol(name).expect("checked above").as_ptr();
        // SAFETY: each symbol is a function of the object, which `mm.h` declares with
        // exactly these signatures (`mm_checkheap` as `int mm_checkheap(int)`, see
        // docs/c-allocators.md). An object that defines them otherwise breaks the C
        // contract; what that does happens in the child process this runs in.
        unsafe {
            Ok(MmFunctions {
                init: std::mem::transmute::<*mut c_void, InitFn>(get(c"mm_init")),
                malloc: std::mem::transmute::<*mut c_void, MallocFn>(get(c"mm_malloc")),
                free: std::mem::transmute::<*mut c_void, FreeFn>(get(c"mm_free")),
                realloc: std::mem::transmute::<*mut c_void, ReallocFn>(get(c"mm_realloc")),
                checkheap: library
                    .symbol(c"mm_checkheap")
                    .map(|f| std::mem::transmute::<*mut c_void, CheckheapFn>(f.as_ptr())),
            })
        }
    }

    /// Whether the object defines `mm_checkheap`.
    pub fn has_checkheap(&self) -> bool {
        self.checkheap.is_some()
    }
}

/// The classic `team_t` of `mm.h`: five strings.
#[repr(C)]
struct TeamT {
    teamname: *const c_char,
    name1: *const c_char,
    id1: *const c_char,
    name2: *const c_char,
    id2: *const c_char,
}

/// The five strings of the object's `team` (teamname, name1, id1, name2, id2; a null
/// pointer reads as ""), if it defines one.
pub fn team(library: &Library) -> Option<[String; 5]> {
    let team = library.symbol(c"team")?.cast::<TeamT>();
    let text = |s: *const c_char| {
        if s.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null `char *` of a `team_t` points to a NUL-terminated
            // string (a C string literal in the classic `mm.c`); one that does not is
            // out of contract, and this runs in a child process.
            unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
        }
    };
    // SAFETY: `team` is the object's `team_t team`, as `mm.h` declares it: five
    // pointers, read once; see above for a `team` of another type.
    let t = unsafe { team.as_ptr().read_unaligned() };
    Some([text(t.teamname), text(t.name1), text(t.id1), text(t.name2), text(t.id2)])
}

/// Which function of the allocator is running, for [`Progress::call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Call {
    /// None: the driver's own code.
    None = 0,
    /// `dlopen` (the object's constructors).
    Load = 1,
    /// `mm_init`.
    Init = 2,
    /// `mm_malloc`.
    Malloc = 3,
    /// `mm_free`.
    Free = 4,
    /// `mm_realloc`.
    Realloc = 5,
    /// `mm_checkheap`.
    Checkheap = 6,
}

impl Call {
    /// The code stored in [`Progress::call`], back.
    pub fn from_code(code: u32) -> Call {
        [Call::None, Call::Load, Call::Init, Call::Malloc, Call::Free, Call::Realloc, Call::Checkheap]
            .into_iter()
            .find(|c| *c as u32 == code)
            .unwrap_or(Call::None)
    }
}

/// Where a child is, kept in memory shared with its parent, which reads it after the
/// child died or was killed.
#[repr(C)]
pub struct Progress {
    /// Replays started (`mm_init` calls): 1 is the checked replay.
    pub replay: AtomicU32,
    /// The [`Call`] running now.
    pub call: AtomicU32,
    /// Operations started in this replay: the one running is number `ops - 1`.
    pub ops: AtomicU64,
}

impl Progress {
    fn enter(&self, call: Call) {
        self.call.store(call as u32, Ordering::Relaxed);
    }

    fn enter_op(&self, call: Call) {
        self.ops.store(self.ops.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.enter(call);
    }

    fn leave(&self) {
        self.call.store(Call::None as u32, Ordering::Relaxed);
    }

    /// Notes that the object is being loaded.
    pub fn loading(&self) {
        self.enter(Call::Load);
    }

    /// Notes that loading is done.
    pub fn loaded(&self) {
        self.leave();
    }
}

/// A C allocator loaded in this process, over its own [`MemLib`] heap, as the replay
/// engine drives it. At most one exists per process: memlib serves its heap.
pub struct CSubject<'p> {
    api: MmFunctions,
    /// Shared with the C code through `HEAP`.
    heap: Box<UnsafeCell<MemLib>>,
    align: usize,
    progress: &'p Progress,
    /// Why the last `start` or `check_heap` failed, in words (`check_heap` takes
    /// `&self`).
    failure: RefCell<Option<String>>,
}

impl<'p> CSubject<'p> {
    /// Drives `api` over `heap`, requiring payloads aligned to `align`, and noting each
    /// call in `progress`.
    ///
    /// # Panics
    /// If another `CSubject` is alive in this process.
    pub fn new(api: MmFunctions, heap: MemLib, align: usize, progress: &'p Progress) -> Self {
        let heap = Box::new(UnsafeCell::new(heap));
        let installed =
            HEAP.compare_exchange(ptr::null_mut(), heap.get(), Ordering::AcqRel, Ordering::Acquire);
        assert!(installed.is_ok(), "one C allocator per process");
        CSubject { api, heap, align, progress, failure: RefCell::new(None) }
    }

    /// Why the last `start` or `check_heap` failed, said the way C says it.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failure.get_mut().take()
    }
}

impl Drop for CSubject<'_> {
    fn drop(&mut self) {
        HEAP.store(ptr::null_mut(), Ordering::Release);
    }
}

impl Subject for CSubject<'_> {
    fn alignment(&self) -> usize {
        self.align
    }

    fn start(&mut self) -> Result<(), InitError> {
        self.heap.get_mut().reset_brk();
        self.progress.replay.store(self.progress.replay.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.progress.ops.store(0, Ordering::Relaxed);
        self.progress.enter(Call::Init);
        // SAFETY: `mm_init` takes nothing; whatever it does to memory happens in this
        // child process, and the driver checks the blocks it hands out.
        let status = unsafe { (self.api.init)() };
        self.progress.leave();
        if status < 0 {
            *self.failure.get_mut() =
                Some(format!("mm_init returned {status}: the allocator could not start"));
            return Err(InitError::Heap(SbrkError::Negative(status as isize)));
        }
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> *mut u8 {
        self.progress.enter_op(Call::Malloc);
        // SAFETY: `mm_malloc(size_t)` has no precondition.
        let ptr = unsafe { (self.api.malloc)(size) };
        self.progress.leave();
        ptr.cast()
    }

    unsafe fn free(&mut self, ptr: *mut u8) {
        self.progress.enter_op(Call::Free);
        // SAFETY: the caller guarantees `ptr` is null or a live block of this allocator;
        // C's `free` accepts both.
        unsafe { (self.api.free)(ptr.cast()) };
        self.progress.leave();
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> *mut u8 {
        self.progress.enter_op(Call::Realloc);
        // SAFETY: the caller guarantees `ptr` is null or a live block of this allocator.
        let moved = unsafe { (self.api.realloc)(ptr.cast(), size) };
        self.progress.leave();
        moved.cast()
    }

    unsafe fn finish(&mut self, _live: &[*mut u8]) {
        // The next `start` resets the heap, which releases everything at once.
    }

    fn heap(&self) -> Option<&MemLib> {
        // SAFETY: the heap is only mutated through `&mut self` (`start`, or memlib during
        // a call made through `&mut self`): not while this shared borrow of `self` lives.
        Some(unsafe { &*self.heap.get() })
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        let Some(checkheap) = self.api.checkheap else { return Ok(()) };
        self.progress.enter(Call::Checkheap);
        CHECKING.store(true, Ordering::Release);
        // SAFETY: `mm_checkheap(int)` has no precondition; memlib will not move the break
        // while it runs (`CHECKING`).
        let status = unsafe { checkheap(0) };
        CHECKING.store(false, Ordering::Release);
        self.progress.leave();
        if status != 0 {
            *self.failure.borrow_mut() = Some(format!("mm_checkheap(0) returned {status}"));
            return Err(HeapCheckError::new(
                0,
                Invariant::Other(format!("mm_checkheap(0) returned {status}")),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// A page of memory shared with the children forked after it was made, holding a
/// [`Progress`].
pub struct SharedProgress(NonNull<Progress>);

impl SharedProgress {
    /// A fresh, zeroed one.
    pub fn new() -> io::Result<SharedProgress> {
        // SAFETY: an anonymous shared mapping at an address of the kernel's choosing
        // aliases nothing; the arguments are valid for `mmap`.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                size_of::<Progress>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(raw.cast::<Progress>())
            .map(SharedProgress)
            .ok_or_else(|| io::Error::other("mmap gave null"))
    }
}

impl std::ops::Deref for SharedProgress {
    type Target = Progress;

    fn deref(&self) -> &Progress {
        // SAFETY: the mapping is page aligned, at least as large as a `Progress`, zeroed
        // (a valid `Progress`: three atomics at zero) and lives as long as `self`; it is
        // only ever accessed through atomics, from this process and its children.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for SharedProgress {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` made, unmapped once; no reference to it outlives `self`.
        unsafe { libc::munmap(self.0.as_ptr().cast(), size_of::<Progress>()) };
    }
}

/// Which side of a `fork` this is.
pub enum Forked {
    /// The new process.
    Child,
    /// The process that forked, with the child's pid.
    Parent(libc::pid_t),
}

/// Forks this process.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: `fork` has no memory-safety precondition of its own. The child carries on
    // with a copy of this thread only: the driver races on one thread, so no lock of
    // ours is held by a thread the child lacks, and glibc's `malloc` resets its own
    // locks in the child.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// In a child: sends its standard output and error to `fd` (whatever the C code prints
/// must not end up in the race's report), and has it killed if the race dies first.
pub fn become_child(fd: RawFd) {
    // SAFETY: `dup2` onto the standard descriptors of this process, whose previous
    // files nothing in the child uses any more; `prctl(PR_SET_PDEATHSIG)` only sets a
    // signal for this process.
    unsafe {
        libc::dup2(fd, libc::STDOUT_FILENO);
        libc::dup2(fd, libc::STDERR_FILENO);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}

/// Ends this process at once with `code`, running no destructor and flushing nothing:
/// a child of the race must not flush buffers it copied from its parent.
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

/// Waits until one of `fds` can be read (or has hung up) or `timeout` passes; returns
/// which ones can.
pub fn poll_readable(fds: &[RawFd], timeout: Duration) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let millis = c_int::try_from(timeout.as_millis().max(1)).unwrap_or(c_int::MAX);
    // SAFETY: `polled` is a valid array of `polled.len()` pollfds, alive for the call.
    let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        return if error.kind() == io::ErrorKind::Interrupted {
            Ok(vec![false; fds.len()])
        } else {
            Err(error)
        };
    }
    Ok(polled.iter().map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0).collect())
}

/// The child's status if it has ended (and is reaped by this call), else `None`.
pub fn try_wait(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is a child of this process.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some(ExitStatus::from_raw(status))),
    }
}

/// Kills the child with SIGKILL and reaps it.
pub fn kill_and_wait(pid: libc::pid_t) -> io::Result<ExitStatus> {
    // SAFETY: `pid` is a child of this process that has not been reaped, so the pid is
    // still its own.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut status = 0;
    loop {
        // SAFETY: as in `try_wait`.
        match unsafe { libc::waitpid(pid, &mut status, 0) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            -1 => return Err(io::Error::last_os_error()),
            _ => return Ok(ExitStatus::from_raw(status)),
        }
    }
}
