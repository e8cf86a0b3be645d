//! Over-aligned blocks without a layout on `free`.
//!
//! `memalign(4096, n)` must return a 4096-aligned pointer that a later plain `free(p)`
//! (or `realloc`, or `malloc_usable_size`) accepts — with no layout, unlike Rust's
//! `dealloc`. The strategies serve 16-byte alignment. So an over-aligned request takes
//! a block of `size + align` bytes from the strategy and hands out the first aligned
//! address inside it; when that is the block itself nothing more is needed, otherwise
//! this table remembers *payload → block*, and `free` looks the pointer up before giving
//! it to the strategy.
//!
//! Why a side table and not a tag just below the payload: a tag could only be told from
//! an ordinary block's header by a magic value, and program data can hold any value.
//! The table is exact, and costs nothing while it is empty, which is the usual case:
//! most programs never ask for more than 16 bytes of alignment.
//!
//! The table is an open-addressing hash table with linear probing and backward-shift
//! deletion (no tombstones), kept at most half full. Its slots are themselves a block
//! of the strategy's heap, so the preload library needs no memory from anywhere else.

use std::ptr::NonNull;

use facade::Allocator;

/// One entry; `payload == 0` marks an empty slot (no payload lives at address 0).
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    payload: usize,
    block: usize,
}

const MIN_CAPACITY: usize = 64;

/// Payload → block for the live over-aligned payloads that do not start their block.
pub struct AlignedTable {
    /// `capacity` slots in the strategy's heap; dangling while `capacity == 0`.
    slots: NonNull<Slot>,
    capacity: usize,
    len: usize,
}

// SAFETY: the table owns its slots (a block of the strategy's heap, which is
// process-wide memory); it is used under the preload library's lock.
unsafe impl Send for AlignedTable {}

impl AlignedTable {
    pub const fn new() -> Self {
        AlignedTable { slots: NonNull::dangling(), capacity: 0, len: 0 }
    }

    fn slots(&mut self) -> &mut [Slot] {
        // SAFETY: `slots` points at `capacity` initialised slots (written in `grow`)
        // that only this table uses; for capacity 0 an empty slice of a dangling,
        // aligned pointer is valid.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_ptr(), self.capacity) }
    }

    /// The home slot of `payload`: Fibonacci hashing of the address without its
    /// always-zero low bits.
    fn home(&self, payload: usize) -> usize {
        let bits = self.capacity.trailing_zeros();
        ((payload >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - bits)) & (self.capacity - 1)
    }

    /// The block `payload` was carved from, if it is an over-aligned payload.
    pub fn get(&mut self, payload: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut at = self.home(payload);
        let slots = self.slots();
        loop {
            match slots[at] {
                Slot { payload: 0, .. } => return None,
                Slot { payload: p, block } if p == payload => return Some(block),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Forgets `payload`, returning its block.
    pub fn remove(&mut self, payload: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut hole = self.home(payload);
        let block = loop {
            let slot = self.slots()[hole];
            if slot.payload == 0 {
                return None;
            }
            if slot.payload == payload {
                break slot.block;
            }
            hole = (hole + 1) & mask;
        };
        // Backward shift: pull later entries of the same probe run into the hole, so
        // that every entry stays reachable from its home without tombstones.
        let mut next = (hole + 1) & mask;
        loop {
            let slot = self.slots()[next];
            if slot.payload == 0 {
                break;
            }
            let home = self.home(slot.payload);
            // The entry may move to `hole` unless its home lies cyclically in (hole, next].
            let stays = if hole <= next { hole < home && home <= next } else { hole < home || home <= next };
            if !stays {
                self.slots()[hole] = slot;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots()[hole] = Slot::default();
        self.len -= 1;
        Some(block)
    }

    /// Records `payload → block`, growing the table from `strategy` when it is half
    /// full. False when the strategy has no memory for a bigger table.
    pub fn insert<A: Allocator>(&mut self, strategy: &mut A, payload: usize, block: usize) -> bool {
        if 2 * (self.len + 1) > self.capacity && !self.grow(strategy) {
            return false;
        }
        let mask = self.capacity - 1;
        let mut at = self.home(payload);
        let slots = self.slots();
        while slots[at].payload != 0 {
            at = (at + 1) & mask;
        }
        slots[at] = Slot { payload, block };
        self.len += 1;
        true
    }

    fn grow<A: Allocator>(&mut self, strategy: &mut A) -> bool {
        let capacity = (self.capacity * 2).max(MIN_CAPACITY);
        let Some(memory) = strategy.malloc(capacity * size_of::<Slot>()) else { return false };
        let new_slots = memory.cast::<Slot>();
        // SAFETY: the block holds `capacity` slots and is 16-aligned (the strategy's
        // alignment), enough for `Slot`; writing every slot initialises it.
        unsafe {
            for i in 0..capacity {
                new_slots.as_ptr().add(i).write(Slot::default());
            }
        }
        let old = std::mem::replace(self, AlignedTable { slots: new_slots, capacity, len: 0 });
        let mut old = old;
        for slot in old.slots().iter().copied().filter(|s| s.payload != 0) {
            let mask = self.capacity - 1;
            let mut at = self.home(slot.payload);
            let slots = self.slots();
            while slots[at].payload != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = slot;
            self.len += 1;
        }
        if old.capacity > 0 {
            // SAFETY: the old slots were a block of this strategy, now unused.
            unsafe { strategy.free(old.slots.cast()) };
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facade::MemLib;

    /// Entries not in their home slot: the probing and backward-shift paths.
    fn displaced(table: &mut AlignedTable) -> usize {
        let slots: Vec<Slot> = table.slots().to_vec();
        (0..slots.len()).filter(|&i| slots[i].payload != 0 && table.home(slots[i].payload) != i).count()
    }

    #[test]
    fn random_inserts_and_removals_agree_with_a_hash_map() {
        let mut strategy = facade::default_allocator(MemLib::new(1 << 22).unwrap());
        strategy.init().unwrap();
        let mut table = AlignedTable::new();
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut most_displaced = 0;
        for step in 0..40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct 16-byte-aligned addresses, so inserts and removals collide.
            let key = ((x % 3000) as usize + 1) * 16;
            if model.contains_key(&key) && x % 5 < 3 {
                assert_eq!(table.remove(key), model.remove(&key), "step {step}");
            } else if !model.contains_key(&key) && model.len() < 1500 {
                assert!(table.insert(&mut strategy, key, key + 1));
                model.insert(key, key + 1);
            }
            if step % 997 == 0 {
                most_displaced = most_displaced.max(displaced(&mut table));
                for k in (1..=3000).map(|k| k * 16) {
                    assert_eq!(table.get(k), model.get(&k).copied(), "step {step}, key {k:#x}");
                }
            }
        }
        assert_eq!(table.len, model.len());
        assert!(most_displaced > 50, "the keys never collided ({most_displaced} displaced)");
        strategy.check_heap().unwrap();
    }

    #[test]
    fn entries_survive_growth_and_removal_in_any_order() {
        let mut strategy = facade::default_allocator(MemLib::new(1 << 22).unwrap());
        strategy.init().unwrap();
        let mut table = AlignedTable::new();
        let keys: Vec<usize> = (1..=1000).map(|i| i * 4096).collect();
        for &k in &keys {
            assert!(table.insert(&mut strategy, k, k - 16));
        }
        assert!(table.capacity >= 2000);
        for &k in &keys {
            assert_eq!(table.get(k), Some(k - 16));
        }
        assert_eq!(table.get(12345 * 4096), None);
        // Remove every third, then check the rest are still found.
        for &k in keys.iter().step_by(3) {
            assert_eq!(table.remove(k), Some(k - 16));
            assert_eq!(table.get(k), None);
        }
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(table.get(k), if i % 3 == 0 { None } else { Some(k - 16) });
        }
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(table.remove(k).is_some(), i % 3 != 0);
        }
        assert_eq!(table.len, 0);
        strategy.check_heap().unwrap();
    }
}
