//! memlib: the simulated heap every strategy lives in.
//!
//! This is the Rust twin of the classic lab's `memlib.c`. It reserves its whole maximum
//! size once, up front, and then hands that memory out only through [`MemLib::sbrk`],
//! which moves a *break* pointer forward. Nothing is ever given back except by
//! [`MemLib::reset_brk`], which the driver calls before each trace so that the strategy
//! can be re-initialised on an empty heap.
//!
//! ```text
//!  heap_lo()                     brk()                     heap_lo() + max_size()
//!  |<------ heap_size() -------->|<------- still reservable ------->|
//!  [ memory the allocator owns  ][ not yet handed out by sbrk      ]
//!                              ^ heap_hi() = brk() - 1 (the last byte in use)
//! ```
//!
//! Because the break only moves forward, the break's high-water mark *is* the heap
//! footprint, and utilization is measured against it.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use thiserror::Error;

/// The classic `MAX_HEAP`: 20 MiB.
pub const DEFAULT_MAX_HEAP: usize = 20 * (1 << 20);

/// The page size the simulated heap reports and aligns its start to.
pub const PAGE_SIZE: usize = 4096;

/// Why the heap could not be created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemError {
    /// The requested maximum size is zero or too large to describe as a layout.
    #[error("invalid maximum heap size {0} bytes")]
    InvalidSize(usize),
    /// The host could not reserve the memory.
    #[error("could not reserve {0} bytes for the simulated heap")]
    ReserveFailed(usize),
}

/// Why `sbrk` refused to move the break. On either error the break is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SbrkError {
    /// The heap only grows; shrinking is done by `reset_brk` alone.
    #[error("sbrk: negative increment {0} (the heap only grows)")]
    Negative(isize),
    /// The increment would take the break past the heap's maximum size.
    #[error("sbrk: ran out of memory: asked for {requested} bytes, {available} of {max} left")]
    OutOfMemory {
        /// The increment that was asked for.
        requested: usize,
        /// Bytes left between the break and the end of the reservation.
        available: usize,
        /// The heap's maximum size.
        max: usize,
    },
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
    impl Sealed for usize {}
}

/// A plain integer a strategy may store in the heap as metadata (a header, a footer, a
/// link): any bit pattern is a valid value.
pub trait HeapWord: Copy + sealed::Sealed {}
impl HeapWord for u16 {}
impl HeapWord for u32 {}
impl HeapWord for u64 {}
impl HeapWord for usize {}

/// Where a heap's memory came from, to give it back the same way.
#[derive(Debug, Clone, Copy)]
enum Backing {
    /// From the Rust global allocator, zero-filled, with this layout.
    Allocated(Layout),
    /// A virtual range mapped from the OS, committed page by page as it is touched.
    Mapped,
}

/// A contiguous, real, writable region that only grows through [`MemLib::sbrk`].
pub struct MemLib {
    /// Start of the reservation; page aligned; valid for `max` bytes.
    start: NonNull<u8>,
    /// Bytes handed out so far. Invariant: `brk <= max`.
    brk: usize,
    /// Size of the reservation.
    max: usize,
    /// How the reservation was made, to give it back on drop.
    backing: Backing,
}

// SAFETY: `MemLib` exclusively owns its reservation (nothing else holds `start`), so
// moving it to another thread moves the ownership with it.
unsafe impl Send for MemLib {}

impl MemLib {
    /// Reserves a heap of `max_size` bytes (rounded up to a whole page), zero-filled.
    pub fn new(max_size: usize) -> Result<Self, MemError> {
        let rounded = max_size
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|&n| n > 0)
            .ok_or(MemError::InvalidSize(max_size))?;
        let layout =
            Layout::from_size_align(rounded, PAGE_SIZE).map_err(|_| MemError::InvalidSize(max_size))?;
        // SAFETY: `layout` has a non-zero size (checked above).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let start = NonNull::new(raw).ok_or(MemError::ReserveFailed(rounded))?;
        Ok(MemLib { start, brk: 0, max: rounded, backing: Backing::Allocated(layout) })
    }

    /// Reserves a heap of `max_size` bytes of *virtual* memory straight from the OS
    /// (`mmap` with `MAP_NORESERVE`): the OS commits a page only when it is first
    /// touched, so a heap can be reserved far larger than it will grow (many GiB), and
    /// nothing goes through the Rust global allocator, which a heap that *is* the
    /// global allocator's must not do.
    #[cfg(unix)]
    pub fn reserve(max_size: usize) -> Result<Self, MemError> {
        let rounded = max_size
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|&n| n > 0 && n <= isize::MAX as usize)
            .ok_or(MemError::InvalidSize(max_size))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // aliases no existing memory; the arguments are valid for `mmap`.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                rounded,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(MemError::ReserveFailed(rounded));
        }
        let start = NonNull::new(raw.cast::<u8>()).ok_or(MemError::ReserveFailed(rounded))?;
        Ok(MemLib { start, brk: 0, max: rounded, backing: Backing::Mapped })
    }

    /// A heap of the classic 20 MiB.
    pub fn with_default_size() -> Result<Self, MemError> {
        Self::new(DEFAULT_MAX_HEAP)
    }

    /// Moves the break forward by `incr` bytes and returns the *old* break, which is the
    /// start of the newly usable area. Negative or too-large increments fail with a typed
    /// error and change nothing.
    pub fn sbrk(&mut self, incr: isize) -> Result<NonNull<u8>, SbrkError> {
        let bytes = usize::try_from(incr).map_err(|_| SbrkError::Negative(incr))?;
        self.extend(bytes)
    }

    /// `sbrk` for callers that already hold an unsigned size: grows by `bytes`.
    pub fn extend(&mut self, bytes: usize) -> Result<NonNull<u8>, SbrkError> {
        let available = self.max - self.brk;
        if bytes > available {
            return Err(SbrkError::OutOfMemory { requested: bytes, available, max: self.max });
        }
        let old = self.brk_ptr();
        self.brk += bytes;
        Ok(old)
    }

    /// Empties the heap: the break returns to the start. The memory keeps its contents.
    pub fn reset_brk(&mut self) {
        self.brk = 0;
    }

    /// The first byte of the heap.
    pub fn heap_lo(&self) -> *mut u8 {
        self.start.as_ptr()
    }

    /// The last byte in use (`heap_lo() - 1` when the heap is empty, as in `memlib.c`).
    pub fn heap_hi(&self) -> *mut u8 {
        self.start.as_ptr().wrapping_add(self.brk).wrapping_sub(1)
    }

    /// The current break: one past the last byte in use, where the next `sbrk` starts.
    pub fn brk(&self) -> NonNull<u8> {
        self.brk_ptr()
    }

    /// Bytes between `heap_lo` and the break.
    pub fn heap_size(&self) -> usize {
        self.brk
    }

    /// The most the heap can ever grow to.
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// The page size (the simulated heap's start is aligned to it).
    pub fn page_size(&self) -> usize {
        PAGE_SIZE
    }

    /// True when `[ptr, ptr + len)` lies wholly inside the bytes in use.
    pub fn contains(&self, ptr: *const u8, len: usize) -> bool {
        let lo = self.start.as_ptr() as usize;
        let addr = ptr as usize;
        addr >= lo && len <= self.brk && addr - lo <= self.brk - len
    }

    /// The offset of `ptr` from `heap_lo`, for messages (wraps for pointers below it).
    pub fn offset_of(&self, ptr: *const u8) -> usize {
        (ptr as usize).wrapping_sub(self.start.as_ptr() as usize)
    }

    /// True when a `W` at heap offset `at` is aligned for `W` and lies wholly inside the
    /// bytes in use.
    #[inline]
    pub fn is_word_slot<W: HeapWord>(&self, at: usize) -> bool {
        let size = size_of::<W>();
        at.is_multiple_of(align_of::<W>()) && self.brk >= size && at <= self.brk - size
    }

    /// Reads the allocator-metadata word at heap offset `at`.
    ///
    /// Strategies keep their headers, footers and links in the heap itself; these
    /// accessors are the one place that turns an offset into memory, so a strategy can
    /// name blocks by offset and stay in safe code.
    ///
    /// # Panics
    /// When `at` is not an aligned `W` slot inside the bytes in use (a corrupted heap or
    /// a bug): a damaged heap makes the allocator panic, never touch memory outside it.
    #[inline]
    #[track_caller]
    pub fn read<W: HeapWord>(&self, at: usize) -> W {
        if !self.is_word_slot::<W>(at) {
            self.no_word_at(at);
        }
        // SAFETY: the slot is in bounds and aligned (checked above).
        unsafe { self.read_unchecked(at) }
    }

    /// [`MemLib::read`] that answers `None` where it would panic: for a strategy that
    /// follows a link a program may have overwritten, and must say so rather than stop
    /// on the bounds check.
    #[inline]
    pub fn get<W: HeapWord>(&self, at: usize) -> Option<W> {
        // SAFETY: the slot is in bounds and aligned (checked first).
        self.is_word_slot::<W>(at).then(|| unsafe { self.read_unchecked(at) })
    }

    /// Writes the allocator-metadata word at heap offset `at`.
    ///
    /// # Panics
    /// As [`MemLib::read`].
    #[inline]
    #[track_caller]
    pub fn write<W: HeapWord>(&mut self, at: usize, word: W) {
        if !self.is_word_slot::<W>(at) {
            self.no_word_at(at);
        }
        // SAFETY: the slot is in bounds and aligned (checked above).
        unsafe { self.write_unchecked(at, word) }
    }

    /// The `N` bytes at heap offset `at`, after one bounds check: for a strategy that
    /// reads several neighbouring words of one block at once (a free block's header and
    /// links), where a [`MemLib::read`] per word would check the bounds once per word.
    ///
    /// # Panics
    /// When the bytes do not all lie inside the bytes in use, as [`MemLib::read`].
    #[inline]
    #[track_caller]
    pub fn read_bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        if self.brk < N || at > self.brk - N {
            self.no_word_at(at);
        }
        // SAFETY: `[at, at + N)` is inside the bytes in use (checked above), which the
        // reservation keeps allocated while `self` lives; a byte array needs no alignment.
        unsafe { self.start.as_ptr().add(at).cast::<[u8; N]>().read() }
    }

    /// Writes `bytes` at heap offset `at` after one bounds check, as
    /// [`MemLib::read_bytes`] reads them. Like [`MemLib::write`], it is for allocator
    /// metadata, never a live payload.
    ///
    /// # Panics
    /// As [`MemLib::read_bytes`].
    #[inline]
    #[track_caller]
    pub fn write_bytes<const N: usize>(&mut self, at: usize, bytes: [u8; N]) {
        if self.brk < N || at > self.brk - N {
            self.no_word_at(at);
        }
        // SAFETY: `[at, at + N)` is inside the bytes in use (checked above), which the
        // reservation keeps allocated while `self` lives; `&mut self` makes this the only
        // access; a byte array needs no alignment.
        unsafe { self.start.as_ptr().add(at).cast::<[u8; N]>().write(bytes) }
    }

    /// The failure of [`MemLib::read`], [`MemLib::write`], [`MemLib::read_bytes`] and
    /// [`MemLib::write_bytes`], out of line: the check they make inline is then one
    /// comparison and a branch never taken. (The byte-run check is written out in both
    /// rather than shared through a helper, which changed how their callers compiled
    /// and cost the buddy systems' `malloc` and `free` instructions under callgrind.)
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn no_word_at(&self, at: usize) -> ! {
        panic!("no heap word at offset {at:#x} (heap is {:#x} bytes)", self.brk)
    }

    /// [`MemLib::read`] without the bounds check, for hot paths that prove their offsets
    /// in bounds another way (checked in debug builds).
    ///
    /// # Safety
    /// `at + size_of::<W>() <= heap_size()`. Alignment is not required.
    #[inline]
    pub unsafe fn read_unchecked<W: HeapWord>(&self, at: usize) -> W {
        debug_assert!(
            self.is_word_slot::<W>(at),
            "no heap word at offset {at:#x} (heap is {:#x} bytes)",
            self.brk
        );
        // SAFETY: the caller guarantees `[at, at + size_of::<W>())` is inside the bytes
        // in use, which the reservation keeps allocated while `self` lives;
        // `read_unaligned` needs no alignment, and every bit pattern is a valid `W`.
        unsafe { self.start.as_ptr().add(at).cast::<W>().read_unaligned() }
    }

    /// [`MemLib::write`] without the bounds check.
    ///
    /// # Safety
    /// As for [`MemLib::read_unchecked`], and the word is allocator metadata, not part of
    /// a live payload.
    #[inline]
    pub unsafe fn write_unchecked<W: HeapWord>(&mut self, at: usize, word: W) {
        debug_assert!(
            self.is_word_slot::<W>(at),
            "no heap word at offset {at:#x} (heap is {:#x} bytes)",
            self.brk
        );
        // SAFETY: in bounds as for `read_unchecked`; `&mut self` means the strategy that
        // owns the heap is the one writing.
        unsafe { self.start.as_ptr().add(at).cast::<W>().write_unaligned(word) }
    }

    /// Copies `len` bytes from heap offset `src` to heap offset `dst` (the ranges may
    /// overlap, as `memmove`). Strategies use it to slide a payload when `realloc` grows a
    /// block into its left neighbour.
    ///
    /// # Panics
    /// When either range is not inside the bytes in use.
    pub fn copy_within(&mut self, src: usize, dst: usize, len: usize) {
        let fits = |at: usize| len <= self.brk && at <= self.brk - len;
        assert!(fits(src) && fits(dst), "copy of {len} bytes {src:#x} -> {dst:#x} leaves the heap");
        // SAFETY: both ranges are inside the bytes in use (checked above); `ptr::copy`
        // allows them to overlap.
        unsafe { std::ptr::copy(self.start.as_ptr().add(src), self.start.as_ptr().add(dst), len) }
    }

    /// The heap address of offset `at`, as a payload pointer for the caller of `malloc`.
    ///
    /// # Panics
    /// When `at` is past the break.
    #[inline]
    pub fn ptr_at(&self, at: usize) -> NonNull<u8> {
        assert!(at <= self.brk, "offset {at:#x} is past the break ({:#x})", self.brk);
        // SAFETY: `at <= brk <= max`: inside the reservation or one past it, never null.
        unsafe { self.start.add(at) }
    }

    fn brk_ptr(&self) -> NonNull<u8> {
        // SAFETY: `brk <= max`, so the result is inside the reservation or one past its
        // end, which is a valid place for a pointer to point; it is never null because
        // `start` is not and the reservation does not wrap around the address space.
        unsafe { self.start.add(self.brk) }
    }
}

impl Drop for MemLib {
    fn drop(&mut self) {
        match self.backing {
            // SAFETY: `start` was returned by `alloc_zeroed(layout)` and is freed once.
            Backing::Allocated(layout) => unsafe { alloc::dealloc(self.start.as_ptr(), layout) },
            Backing::Mapped => {
                // SAFETY: `[start, start + max)` is the mapping `reserve` made, unmapped
                // once; nothing refers to it after the heap is gone.
                #[cfg(unix)]
                unsafe {
                    libc::munmap(self.start.as_ptr().cast(), self.max)
                };
            }
        }
    }
}

impl std::fmt::Debug for MemLib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemLib")
            .field("heap_lo", &self.start)
            .field("heap_size", &self.brk)
            .field("max_size", &self.max)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbrk_grows_and_returns_the_old_break() {
        let mut heap = MemLib::new(8192).unwrap();
        assert_eq!(heap.heap_size(), 0);
        assert_eq!(heap.heap_hi(), heap.heap_lo().wrapping_sub(1));
        let first = heap.sbrk(100).unwrap();
        assert_eq!(first.as_ptr(), heap.heap_lo());
        let second = heap.sbrk(28).unwrap();
        assert_eq!(second.as_ptr(), heap.heap_lo().wrapping_add(100));
        assert_eq!(heap.heap_size(), 128);
        assert_eq!(heap.heap_hi(), heap.heap_lo().wrapping_add(127));
        assert_eq!(heap.heap_lo() as usize % PAGE_SIZE, 0);
    }

    #[test]
    fn failed_sbrk_changes_nothing() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.sbrk(96).unwrap();
        assert_eq!(heap.sbrk(-8), Err(SbrkError::Negative(-8)));
        assert_eq!(
            heap.sbrk(4001),
            Err(SbrkError::OutOfMemory { requested: 4001, available: 4000, max: 4096 })
        );
        assert_eq!(heap.heap_size(), 96);
        heap.sbrk(4000).unwrap();
        assert_eq!(heap.heap_size(), 4096);
        assert!(heap.extend(1).is_err());
    }

    #[test]
    fn reset_empties_and_memory_is_writable() {
        let mut heap = MemLib::new(1 << 16).unwrap();
        let p = heap.sbrk(4096).unwrap();
        // SAFETY: the 4096 bytes at `p` were just handed out by sbrk.
        unsafe { p.as_ptr().write_bytes(0xAB, 4096) };
        heap.reset_brk();
        assert_eq!(heap.heap_size(), 0);
        assert_eq!(heap.sbrk(0).unwrap().as_ptr(), heap.heap_lo());
    }

    #[test]
    fn contains_checks_whole_intervals() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.sbrk(64).unwrap();
        let lo = heap.heap_lo();
        assert!(heap.contains(lo, 64));
        assert!(heap.contains(lo.wrapping_add(60), 4));
        assert!(!heap.contains(lo.wrapping_add(60), 5));
        assert!(!heap.contains(lo.wrapping_sub(1), 1));
        assert!(!heap.contains(lo.wrapping_add(64), 1));
        assert!(heap.contains(lo.wrapping_add(64), 0));
    }

    #[test]
    fn metadata_words_are_bounds_checked() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.extend(64).unwrap();
        heap.write::<usize>(56, 7);
        heap.write::<u32>(4, 0xDEAD_BEEF);
        assert_eq!(heap.read::<usize>(56), 7);
        assert_eq!(heap.get::<usize>(56), Some(7));
        assert_eq!(heap.get::<usize>(60), None, "misaligned");
        assert_eq!(heap.get::<u32>(64), None, "past the break");
        assert_eq!(heap.get::<u32>(usize::MAX - 1), None);
        assert_eq!(heap.read::<u32>(4), 0xDEAD_BEEF);
        for at in [52, 57, 64, usize::MAX - 7] {
            let r = std::panic::catch_unwind(|| heap.read::<usize>(at));
            assert!(r.is_err(), "offset {at:#x} should be refused");
        }
        assert!(std::panic::catch_unwind(|| heap.read::<u32>(62)).is_err(), "misaligned u32");
        assert_eq!(heap.ptr_at(64).as_ptr(), heap.heap_lo().wrapping_add(64));
    }

    #[test]
    fn byte_runs_are_bounds_checked_once_for_the_whole_run() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.extend(64).unwrap();
        heap.write_bytes(54, [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(heap.read_bytes::<10>(54), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(heap.read::<u16>(54), u16::from_ne_bytes([1, 2]), "the same bytes as words");
        heap.write::<u32>(56, 0xA0B0_C0D0);
        assert_eq!(heap.read_bytes::<4>(56), 0xA0B0_C0D0u32.to_ne_bytes());
        for at in [55, 63, 64, usize::MAX - 9] {
            let r = std::panic::catch_unwind(|| heap.read_bytes::<10>(at));
            assert!(r.is_err(), "a run from {at:#x} crosses the break");
        }
        let r = std::panic::catch_unwind(move || heap.write_bytes(60, [0u8; 8]));
        assert!(r.is_err(), "a write crossing the break");
    }

    #[test]
    fn copy_within_moves_overlapping_ranges() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.extend(64).unwrap();
        for i in 0..8u16 {
            heap.write::<u16>(2 * i as usize, i);
        }
        heap.copy_within(0, 4, 12);
        let moved: Vec<u16> = (0..8).map(|i| heap.read::<u16>(2 * i)).collect();
        assert_eq!(moved, [0, 1, 0, 1, 2, 3, 4, 5]);
        assert!(std::panic::catch_unwind(move || heap.copy_within(0, 60, 8)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_reserved_heap_can_be_far_larger_than_it_grows() {
        let mut heap = MemLib::reserve(64 << 30).expect("64 GiB of address space");
        assert_eq!(heap.max_size(), 64 << 30);
        let p = heap.extend(1 << 20).unwrap();
        // SAFETY: the first MiB was just handed out by sbrk.
        unsafe { p.as_ptr().write_bytes(0x5A, 1 << 20) };
        heap.write::<u64>(8, 42);
        assert_eq!(heap.read::<u64>(8), 42);
        assert_eq!(heap.heap_lo() as usize % PAGE_SIZE, 0);
        assert_eq!(MemLib::reserve(0).unwrap_err(), MemError::InvalidSize(0));
    }

    #[test]
    fn sizes_are_validated() {
        assert_eq!(MemLib::new(0).unwrap_err(), MemError::InvalidSize(0));
        assert_eq!(MemLib::new(usize::MAX).unwrap_err(), MemError::InvalidSize(usize::MAX));
        assert_eq!(MemLib::new(1).unwrap().max_size(), PAGE_SIZE);
    }
}
