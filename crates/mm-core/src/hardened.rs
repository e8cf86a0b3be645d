//! # Hardened mode: misuse caught at `free`, for any strategy
//!
//! C's `free(p)` trusts `p`. Given a pointer it never returned, or one already freed,
//! a textbook allocator reads a "header" that is really program data or a free block's
//! links, and corrupts its own structures, often far from the bug. glibc checks what it
//! cheaply can and aborts with `free(): double free detected` or `free(): invalid
//! pointer`. [`Hardened`] does the same for any [`Allocator`], exactly rather than
//! heuristically:
//!
//! * it keeps a table of every block it handed out, keyed by payload address, with the
//!   block's usable size as the strategy reported it at allocation time;
//! * `free` and `realloc` look the pointer up first. Not there: **invalid free** (a
//!   pointer this allocator never returned, an interior pointer, a pointer outside the
//!   heap). Marked freed: **double free**. There, but the strategy now reports another
//!   usable size for it: the block's **header was overwritten** (typically by an
//!   overflow out of the block below), and freeing it would hand the strategy a lie;
//! * then the strategy checks the neighbourhood it is about to use
//!   ([`Allocator::check_neighbourhood`]): the block's neighbours' headers, footers and
//!   list links. An overflow out of the block, or a write into a free neighbour, is
//!   caught here, before the strategy merges or unlinks on its word;
//! * on misuse the call does nothing to the heap, and the error is returned
//!   ([`Hardened::try_free`], [`Hardened::try_realloc`]) or kept for
//!   [`Allocator::take_misuse`] when the call came through the [`Allocator`] trait, whose
//!   `free` returns nothing. The C library and the preload library abort with a message,
//!   as glibc does.
//!
//! The table lives in the strategy's own heap (a block of it, grown by doubling), so the
//! wrapper needs no memory from anywhere else: it works as a global allocator and inside
//! `LD_PRELOAD`. It is an open-addressing hash table with linear probing, at most 3/4
//! full, of 8-byte entries; an entry is marked freed, not removed, and comes back to life when the
//! strategy hands the same address out again. Only when the heap has no room for a
//! bigger table are the freed entries dropped (so that the program can still reuse its
//! freed memory; double frees of those blocks then go unnoticed). Costs: a table probe per operation, 8 to 16
//! bytes of table per distinct block address ever used (counted in the heap, so
//! utilization drops too), and the strategy's `usable_size` on every free. The driver's
//! `--hardened` flag measures both (docs/reliability.md).

use std::ptr::NonNull;

use crate::align::Align;
use crate::allocator::{Allocator, HeapSpan};
pub use crate::error::Misuse;
use crate::error::{Corruption, HeapCheckError, InitError, Invariant};
use crate::memlib::MemLib;

/// An entry is two 32-bit words: the key, `payload offset / 8 + 1` (0 marks an empty
/// slot; payloads are at least 8-byte aligned), with [`FREED`] set once the block is
/// freed; and the block's usable size as the strategy reported it, truncated to 32 bits
/// (an overwritten header changes it by far less than 4 GiB).
const ENTRY: usize = 8;
const FREED: u32 = 1 << 31;
const MIN_CAPACITY: usize = 512;

/// The largest payload offset a key can hold.
const MAX_OFFSET: usize = ((FREED - 2) as usize) * 8;

/// Payload offset → usable size, in a block of the strategy's heap.
#[derive(Debug, Default)]
struct BlockTable {
    /// Heap offset of the table's block (a payload of the strategy); meaningless while
    /// `capacity == 0`.
    at: usize,
    capacity: usize,
    /// Occupied slots (live or freed).
    used: usize,
    /// Occupied slots marked freed.
    freed: usize,
}

/// What the table knows of a payload offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Live(u32),
    Freed,
}

impl BlockTable {
    fn key(offset: usize) -> u32 {
        (offset / 8 + 1) as u32
    }

    fn home(&self, key: u32) -> usize {
        let bits = self.capacity.trailing_zeros();
        ((key as usize).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - bits)) & (self.capacity - 1)
    }

    fn key_at(&self, heap: &MemLib, slot: usize) -> u32 {
        heap.read(self.at + slot * ENTRY)
    }

    /// The slot holding `key` (freed or not), or the empty slot where it would go.
    fn slot(&self, heap: &MemLib, key: u32) -> usize {
        let mask = self.capacity - 1;
        let mut slot = self.home(key);
        loop {
            let found = self.key_at(heap, slot);
            if found & !FREED == key || found == 0 {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
    }

    fn get(&self, heap: &MemLib, offset: usize) -> Option<Entry> {
        if self.capacity == 0 || offset > MAX_OFFSET {
            return None;
        }
        let slot = self.slot(heap, Self::key(offset));
        match self.key_at(heap, slot) {
            0 => None,
            key if key & FREED != 0 => Some(Entry::Freed),
            _ => Some(Entry::Live(heap.read(self.at + slot * ENTRY + 4))),
        }
    }

    /// Records `offset` as `entry`; the table must have room (see [`BlockTable::reserve`]).
    fn set(&mut self, heap: &mut MemLib, offset: usize, entry: Entry) {
        let key = Self::key(offset);
        let slot = self.slot(heap, key);
        let at = self.at + slot * ENTRY;
        match self.key_at(heap, slot) {
            0 => self.used += 1,
            old if old & FREED != 0 => self.freed -= 1,
            _ => {}
        }
        match entry {
            Entry::Live(usable) => {
                heap.write(at, key);
                heap.write(at + 4, usable);
            }
            Entry::Freed => {
                heap.write(at, key | FREED);
                self.freed += 1;
            }
        }
    }

    /// Forgets every freed entry, in place (backward-shift deletion: later entries of a
    /// probe run move back into the hole, so all stay reachable). Used when the heap has
    /// no room for a bigger table: double frees of those blocks go undetected, but the
    /// program's freed memory can be reused.
    fn purge_freed(&mut self, heap: &mut MemLib) {
        let mask = self.capacity - 1;
        let mut slot = 0;
        while slot < self.capacity && self.freed > 0 {
            if self.key_at(heap, slot) & FREED == 0 {
                slot += 1;
                continue;
            }
            let mut hole = slot;
            let mut next = (hole + 1) & mask;
            loop {
                let key = self.key_at(heap, next);
                if key == 0 {
                    break;
                }
                let home = self.home(key & !FREED);
                let stays =
                    if hole <= next { hole < home && home <= next } else { hole < home || home <= next };
                if !stays {
                    let value: u32 = heap.read(self.at + next * ENTRY + 4);
                    heap.write(self.at + hole * ENTRY, key);
                    heap.write(self.at + hole * ENTRY + 4, value);
                    hole = next;
                }
                next = (next + 1) & mask;
            }
            heap.write::<u32>(self.at + hole * ENTRY, 0);
            self.used -= 1;
            self.freed -= 1;
            // Re-examine `slot`: an entry may have moved into it.
        }
    }

    /// True when one more entry would still leave an empty slot (probing needs one).
    fn has_slot(&self) -> bool {
        self.used + 2 <= self.capacity
    }

    /// Makes room for one more entry (the table stays at most 3/4 full), growing it
    /// inside `strategy`'s heap. False when the heap has no room for a bigger table.
    fn reserve<A: Allocator + ?Sized>(&mut self, strategy: &mut A) -> bool {
        if 4 * (self.used + 1) <= 3 * self.capacity {
            return true;
        }
        let capacity = (self.capacity * 2).max(MIN_CAPACITY);
        let Some(block) = strategy.malloc(capacity * ENTRY) else {
            if self.freed > 0 {
                self.purge_freed(strategy.heap_mut());
                return 4 * (self.used + 1) <= 3 * self.capacity;
            }
            return false;
        };
        let heap = strategy.heap_mut();
        let at = heap.offset_of(block.as_ptr());
        for slot in 0..capacity {
            heap.write::<u32>(at + slot * ENTRY, 0);
        }
        let old = std::mem::replace(self, BlockTable { at, capacity, used: 0, freed: 0 });
        for slot in 0..old.capacity {
            let key = old.key_at(heap, slot);
            if key != 0 {
                let offset = ((key & !FREED) as usize - 1) * 8;
                let entry = if key & FREED != 0 {
                    Entry::Freed
                } else {
                    Entry::Live(heap.read(old.at + slot * ENTRY + 4))
                };
                self.set(heap, offset, entry);
            }
        }
        if old.capacity > 0 {
            let old_block = strategy.heap().ptr_at(old.at);
            // SAFETY: the old table was a live block of this strategy, now unused.
            unsafe { strategy.free(old_block) };
        }
        true
    }
}

/// Any strategy, with double frees, invalid frees and overwritten headers caught at
/// `free` and `realloc` (see the module documentation).
#[derive(Debug)]
pub struct Hardened<A> {
    inner: A,
    table: BlockTable,
    misuse: Option<Misuse>,
}

impl<A: Allocator> Hardened<A> {
    /// The usable size of a block `validate` accepted.
    fn inner_usable(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: only called for pointers `validate` found live in the table.
        unsafe { self.inner.usable_size(ptr) }
    }

    /// Wraps `inner` (un-initialised; [`Allocator::init`] initialises both).
    pub fn new(inner: A) -> Self {
        Hardened { inner, table: BlockTable::default(), misuse: None }
    }

    /// The wrapped strategy.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Checks that `ptr` is a live block this allocator returned, with its header as it
    /// was; returns its offset.
    fn validate(&self, ptr: NonNull<u8>) -> Result<usize, Misuse> {
        let heap = self.inner.heap();
        let offset = heap.offset_of(ptr.as_ptr());
        if !heap.contains(ptr.as_ptr(), 1) || !self.inner.alignment().is_aligned(offset) {
            return Err(Misuse::InvalidPointer { offset });
        }
        match self.table.get(heap, offset) {
            None => Err(Misuse::InvalidPointer { offset }),
            Some(Entry::Freed) => Err(Misuse::DoubleFree { offset }),
            Some(Entry::Live(recorded)) => {
                // SAFETY: the table says `ptr` is a live block of the strategy.
                let found = unsafe { self.inner.usable_size(ptr) };
                if found as u32 != recorded {
                    return Err(Misuse::CorruptedHeader { offset, recorded: recorded as usize, found });
                }
                // The neighbours the strategy is about to read, merge or unlink.
                self.inner.check_neighbourhood(ptr).map_err(Misuse::Corrupted)?;
                Ok(offset)
            }
        }
    }

    /// Records a block just returned by the strategy; gives it back and fails when the
    /// table cannot grow.
    fn track(&mut self, block: NonNull<u8>) -> Option<NonNull<u8>> {
        let offset = self.inner.heap().offset_of(block.as_ptr());
        if offset > MAX_OFFSET {
            // Past what a key can name (16 GiB into the heap): refuse rather than guess.
            // SAFETY: `block` was just allocated and is handed out nowhere.
            unsafe { self.inner.free(block) };
            return None;
        }
        // An address used before has its (freed) entry already: no room needed, so a
        // full heap can still reuse freed memory.
        let known = self.table.get(self.inner.heap(), offset).is_some();
        if !known && !self.table.reserve(&mut self.inner) {
            // SAFETY: `block` was just allocated and is handed out nowhere.
            unsafe { self.inner.free(block) };
            return None;
        }
        // SAFETY: `block` is a live block of the strategy.
        let usable = unsafe { self.inner.usable_size(block) };
        self.table.set(self.inner.heap_mut(), offset, Entry::Live(usable as u32));
        Some(block)
    }

    /// Frees `ptr` if it is a live block of this allocator; otherwise reports why not
    /// and leaves the heap untouched. Safe: every pointer is checked.
    pub fn try_free(&mut self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        let offset = self.validate(ptr)?;
        self.table.set(self.inner.heap_mut(), offset, Entry::Freed);
        // SAFETY: `validate` found `ptr` live in the table: returned by the strategy and
        // not freed since.
        unsafe { self.inner.free(ptr) };
        Ok(())
    }

    /// C's `realloc`, with `ptr` checked as by [`Hardened::try_free`]. `Ok(None)` is a
    /// failed allocation (or `size == 0`, which frees).
    pub fn try_realloc(
        &mut self,
        ptr: Option<NonNull<u8>>,
        size: usize,
    ) -> Result<Option<NonNull<u8>>, Misuse> {
        let Some(ptr) = ptr else { return Ok(self.malloc(size)) };
        if size == 0 {
            return self.try_free(ptr).map(|()| None);
        }
        let offset = self.validate(ptr)?;
        // Room for the new entry first, so that a moved block can always be recorded.
        // A shrink usually stays in place and needs none: it goes ahead even when the
        // table cannot grow, as long as one more entry would leave a slot empty.
        let shrinks_with_room = size <= self.inner_usable(ptr) && self.table.has_slot();
        if !shrinks_with_room && !self.table.reserve(&mut self.inner) {
            return Ok(None);
        }
        // SAFETY: `validate` found `ptr` live; `size > 0`.
        let Some(moved) = (unsafe { self.inner.realloc(Some(ptr), size) }) else { return Ok(None) };
        self.table.set(self.inner.heap_mut(), offset, Entry::Freed);
        // SAFETY: `moved` is a live block of the strategy.
        let usable = unsafe { self.inner.usable_size(moved) };
        let new_offset = self.inner.heap().offset_of(moved.as_ptr());
        self.table.set(self.inner.heap_mut(), new_offset, Entry::Live(usable as u32));
        Ok(Some(moved))
    }
}

impl<A: Allocator> Allocator for Hardened<A> {
    fn describe(&self) -> String {
        format!("{} (hardened)", self.inner.describe())
    }

    fn heap(&self) -> &MemLib {
        self.inner.heap()
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        self.inner.heap_mut()
    }

    fn alignment(&self) -> Align {
        self.inner.alignment()
    }

    fn init(&mut self) -> Result<(), InitError> {
        self.table = BlockTable::default();
        self.misuse = None;
        self.inner.init()?;
        // The first table is taken now, so that it sits below the program's blocks
        // instead of between them, where it would keep their space from merging. On a
        // heap too small for it, it is taken later, when needed.
        self.table.reserve(&mut self.inner);
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let block = self.inner.malloc(size)?;
        self.track(block)
    }

    /// Frees `ptr`, or, if it is not a live block of this allocator, records the
    /// misuse for [`Allocator::take_misuse`] and does nothing.
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Err(misuse) = self.try_free(ptr) {
            self.misuse = Some(misuse);
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: the caller guarantees `ptr` is live.
        unsafe { self.inner.usable_size(ptr) }
    }

    unsafe fn resize(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        match self.try_realloc(Some(ptr), size) {
            Ok(moved) => moved,
            Err(misuse) => {
                self.misuse = Some(misuse);
                None
            }
        }
    }

    /// The misuse caught by the last `free` or `realloc` made through this trait (by
    /// the wrapper, or by the strategy's own checks).
    fn take_misuse(&mut self) -> Option<Misuse> {
        self.misuse.take().or_else(|| self.inner.take_misuse())
    }

    fn check_neighbourhood(&self, ptr: NonNull<u8>) -> Result<(), Corruption> {
        self.inner.check_neighbourhood(ptr)
    }

    /// Not reported: the table is one of the strategy's allocated blocks, which its
    /// spans would show as program payload.
    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        None
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        self.inner.check_heap()?;
        // Every live entry names a block whose header still reports its usable size.
        let heap = self.inner.heap();
        for slot in 0..self.table.capacity {
            let key = self.table.key_at(heap, slot);
            if key == 0 || key & FREED != 0 {
                continue;
            }
            let offset = (key as usize - 1) * 8;
            if let Err(misuse) = self.validate(heap.ptr_at(offset)) {
                return Err(HeapCheckError::new(offset, Invariant::Other(misuse.to_string())));
            }
        }
        Ok(())
    }
}
