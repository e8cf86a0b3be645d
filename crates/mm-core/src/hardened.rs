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
//! freed memory; double frees of those blocks then go unnoticed). Costs: a table probe per operation, 11 to 21
//! bytes of table per distinct block address ever used (counted in the heap, so
//! utilization drops too), and the strategy's `usable_size` on every free. The driver's
//! `--hardened` flag measures both (docs/reliability.md).

use std::ptr::NonNull;

use crate::align::Align;
use crate::allocator::{Allocator, HeapSpan};
pub use crate::error::Misuse;
use crate::error::{Corruption, HeapCheckError, InitError, Invariant};
use crate::memlib::MemLib;

/// An entry is two 32-bit words: the key, `payload offset / KEY_GRANULE + 1` (see
/// [`BlockTable::key`]), with [`FREED`] set once the block is freed; and the block's
/// usable size as the strategy reported it, truncated to 32 bits (an overwritten header
/// changes it by far less than 4 GiB).
const ENTRY: usize = 2 * size_of::<u32>();
/// Where an entry's usable-size word starts: after its key word.
const SIZE_WORD: usize = size_of::<u32>();
/// The key of an empty slot: real keys start at 1.
const EMPTY: u32 = 0;
/// The bit of a key that marks its block freed (the top bit of the 32-bit key word).
const FREED: u32 = 1 << 31;
/// The largest key: every bit below [`FREED`].
const MAX_KEY: u32 = FREED - 1;
/// Keys count payload offsets in units of 8 bytes: every strategy's payloads are at
/// least 8-byte aligned, so `offset / KEY_GRANULE` loses nothing and a 31-bit key
/// reaches 16 GiB into the heap instead of 2 GiB.
const KEY_GRANULE: usize = 8;
/// The first table's slots (4 KiB of heap); each growth doubles it, so the capacity
/// stays a power of two, which [`BlockTable::home`] and the probe's wrap-around rely on.
const MIN_CAPACITY: usize = 512;
/// The table is grown before it gets fuller than `MAX_LOAD_NUM / MAX_LOAD_DEN` (3/4),
/// which keeps linear probe runs short. Just after doubling it is 3/8 full, so it costs
/// from `ENTRY * 4/3` to `ENTRY * 8/3` bytes (11 to 21) per distinct block address.
const MAX_LOAD_NUM: usize = 3;
/// See [`MAX_LOAD_NUM`].
const MAX_LOAD_DEN: usize = 4;
/// Fibonacci hashing's multiplier, 2^64 divided by the golden ratio (rounded to odd):
/// multiplying by it spreads consecutive keys (neighbouring blocks) over the whole
/// table, and the product's top bits are the slot (see [`BlockTable::home`]).
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// The largest payload offset a key can hold (just under 16 GiB).
const MAX_OFFSET: usize = BlockTable::offset(MAX_KEY);

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
    /// The key of a payload offset: `offset / KEY_GRANULE`, plus one so that no key is
    /// [`EMPTY`]. Only called for offsets up to [`MAX_OFFSET`], whose keys fit below
    /// [`FREED`].
    fn key(offset: usize) -> u32 {
        (offset / KEY_GRANULE + 1) as u32
    }

    /// The payload offset a key (without its [`FREED`] bit) stands for.
    const fn offset(key: u32) -> usize {
        (key as usize - 1) * KEY_GRANULE
    }

    /// The slot where `key`'s probe starts: the top `log2(capacity)` bits of its
    /// Fibonacci hash (the mask changes nothing, since the shift leaves that many bits; it
    /// keeps the slot in the table on its face).
    fn home(&self, key: u32) -> usize {
        let bits = self.capacity.trailing_zeros();
        ((u64::from(key).wrapping_mul(FIBONACCI) >> (u64::BITS - bits)) as usize) & (self.capacity - 1)
    }

    /// The heap offset of `slot`'s key word.
    fn slot_at(&self, slot: usize) -> usize {
        self.at + slot * ENTRY
    }

    fn key_at(&self, heap: &MemLib, slot: usize) -> u32 {
        heap.read(self.slot_at(slot))
    }

    fn size_at(&self, heap: &MemLib, slot: usize) -> u32 {
        heap.read(self.slot_at(slot) + SIZE_WORD)
    }

    /// True when `used` occupied slots are within the load limit.
    fn within_load(used: usize, capacity: usize) -> bool {
        MAX_LOAD_DEN * used <= MAX_LOAD_NUM * capacity
    }

    /// The slot holding `key` (freed or not), or the empty slot where it would go.
    fn slot(&self, heap: &MemLib, key: u32) -> usize {
        let mask = self.capacity - 1;
        let mut slot = self.home(key);
        loop {
            let found = self.key_at(heap, slot);
            if found & !FREED == key || found == EMPTY {
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
            EMPTY => None,
            key if key & FREED != 0 => Some(Entry::Freed),
            _ => Some(Entry::Live(self.size_at(heap, slot))),
        }
    }

    /// Records `offset` as `entry`; the table must have room (see [`BlockTable::reserve`]).
    fn set(&mut self, heap: &mut MemLib, offset: usize, entry: Entry) {
        let key = Self::key(offset);
        let slot = self.slot(heap, key);
        let at = self.slot_at(slot);
        match self.key_at(heap, slot) {
            EMPTY => self.used += 1,
            old if old & FREED != 0 => self.freed -= 1,
            _ => {}
        }
        match entry {
            Entry::Live(usable) => {
                heap.write(at, key);
                heap.write(at + SIZE_WORD, usable);
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
                if key == EMPTY {
                    break;
                }
                let home = self.home(key & !FREED);
                let stays =
                    if hole <= next { hole < home && home <= next } else { hole < home || home <= next };
                if !stays {
                    let value = self.size_at(heap, next);
                    heap.write(self.slot_at(hole), key);
                    heap.write(self.slot_at(hole) + SIZE_WORD, value);
                    hole = next;
                }
                next = (next + 1) & mask;
            }
            heap.write(self.slot_at(hole), EMPTY);
            self.used -= 1;
            self.freed -= 1;
            // Re-examine `slot`: an entry may have moved into it.
        }
    }

    /// True when one more entry would still leave an empty slot: a probe for a key
    /// that is not there stops only at an empty slot, so one must always remain.
    fn has_slot(&self) -> bool {
        self.used + 1 < self.capacity
    }

    /// Makes room for one more entry (the table stays at most 3/4 full), growing it
    /// inside `strategy`'s heap. False when the heap has no room for a bigger table.
    fn reserve<A: Allocator + ?Sized>(&mut self, strategy: &mut A) -> bool {
        if Self::within_load(self.used + 1, self.capacity) {
            return true;
        }
        // Doubled, so that the capacity stays a power of two.
        let capacity = (self.capacity * 2).max(MIN_CAPACITY);
        let Some(block) = strategy.malloc(capacity * ENTRY) else {
            if self.freed > 0 {
                self.purge_freed(strategy.heap_mut());
                return Self::within_load(self.used + 1, self.capacity);
            }
            return false;
        };
        let heap = strategy.heap_mut();
        let at = heap.offset_of(block.as_ptr());
        for slot in 0..capacity {
            heap.write(at + slot * ENTRY, EMPTY);
        }
        let old = std::mem::replace(self, BlockTable { at, capacity, used: 0, freed: 0 });
        for slot in 0..old.capacity {
            let key = old.key_at(heap, slot);
            if key != EMPTY {
                let offset = Self::offset(key & !FREED);
                let entry =
                    if key & FREED != 0 { Entry::Freed } else { Entry::Live(old.size_at(heap, slot)) };
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

    /// Everything `free` checks: the table, the header, the neighbourhood.
    fn check_free(&self, ptr: NonNull<u8>) -> Result<(), Misuse> {
        self.validate(ptr).map(|_| ())
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
            if key == EMPTY || key & FREED != 0 {
                continue;
            }
            let offset = BlockTable::offset(key);
            if let Err(misuse) = self.validate(heap.ptr_at(offset)) {
                return Err(HeapCheckError::new(offset, Invariant::Other(misuse.to_string())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_every_granule_up_to_max_offset_and_none_is_empty_or_freed() {
        for offset in [0, KEY_GRANULE, 4096, 1 << 32, MAX_OFFSET] {
            let key = BlockTable::key(offset);
            assert_ne!(key, EMPTY, "{offset:#x}");
            assert_eq!(key & FREED, 0, "{offset:#x}");
            assert_eq!(BlockTable::offset(key), offset);
        }
        assert_eq!(BlockTable::key(MAX_OFFSET), MAX_KEY);
        assert_eq!(MAX_OFFSET, (16 << 30) - 2 * KEY_GRANULE, "just under 16 GiB");
    }

    #[test]
    fn the_load_limit_is_three_quarters_and_homes_stay_in_the_table() {
        assert!(BlockTable::within_load(384, MIN_CAPACITY));
        assert!(!BlockTable::within_load(385, MIN_CAPACITY));
        let table = BlockTable { at: 0, capacity: MIN_CAPACITY, used: 0, freed: 0 };
        let homes: std::collections::HashSet<usize> = (1..=64).map(|key| table.home(key)).collect();
        assert!(homes.iter().all(|&slot| slot < MIN_CAPACITY));
        assert_eq!(homes.len(), 64, "consecutive keys spread over distinct slots");
    }
}
