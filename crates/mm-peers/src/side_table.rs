//! The side table: the layout of every live block, kept outside the simulated heap.
//!
//! A Rust program hands its allocator the [`Layout`] again on `dealloc` and `realloc`;
//! our contract is C's, where `free` gets only the pointer. For the peers that need the
//! layout back, the adapter remembers it here, keyed by address. The table lives in the
//! process heap, not in the simulated one, so it costs the peer nothing in utilization,
//! as the compiler's knowledge of every layout costs a Rust program nothing. It does cost
//! time: one hash-table insert per allocation and one lookup per `free` or `realloc`.
//! To keep that small, the keys are hashed by one multiplication (addresses are already
//! distinct; they only need spreading), not by the default SipHash.
//!
//! The table also gives every adapter the same minimum heap check, whatever its peer
//! exposes: [`SideTable::check`] verifies that the live blocks are aligned, lie inside
//! the heap, and do not overlap.

use std::alloc::Layout;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;

use mm_core::{Align, HeapCheckError, Invariant, MemLib};

/// The layouts of the live blocks, by address.
#[derive(Debug, Default)]
pub struct SideTable {
    blocks: HashMap<usize, Layout, BuildHasherDefault<AddressHasher>>,
}

impl SideTable {
    /// An empty table.
    pub fn new() -> SideTable {
        SideTable::default()
    }

    /// Forgets every block (the heap was reset), keeping the table's capacity.
    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// Records a new live block.
    pub fn insert(&mut self, ptr: NonNull<u8>, layout: Layout) {
        self.blocks.insert(ptr.as_ptr() as usize, layout);
    }

    /// The layout `ptr` was allocated with, if it is live.
    pub fn get(&self, ptr: NonNull<u8>) -> Option<Layout> {
        self.blocks.get(&(ptr.as_ptr() as usize)).copied()
    }

    /// Forgets `ptr`, returning the layout it was allocated with, if it was live.
    pub fn remove(&mut self, ptr: NonNull<u8>) -> Option<Layout> {
        self.blocks.remove(&(ptr.as_ptr() as usize))
    }

    /// The number of live blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when no block is live.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The live blocks as `(address, layout)`, in address order.
    pub fn sorted(&self) -> Vec<(usize, Layout)> {
        let mut blocks: Vec<(usize, Layout)> = self.blocks.iter().map(|(&a, &l)| (a, l)).collect();
        blocks.sort_unstable_by_key(|&(a, _)| a);
        blocks
    }

    /// Every live block is aligned to `align`, lies wholly inside the bytes of `heap`
    /// in use, and overlaps no other live block.
    pub fn check(&self, heap: &MemLib, align: Align) -> Result<(), HeapCheckError> {
        let mut prev_end: Option<usize> = None;
        for (addr, layout) in self.sorted() {
            let offset = heap.offset_of(addr as *const u8);
            if !align.is_aligned(addr) {
                return Err(HeapCheckError::new(offset, Invariant::PayloadMisaligned { align: align.get() }));
            }
            if !heap.contains(addr as *const u8, layout.size()) {
                return Err(HeapCheckError::new(offset, Invariant::PastHeapEnd { size: layout.size() }));
            }
            if let Some(end) = prev_end.filter(|&end| end > addr) {
                return Err(HeapCheckError::new(
                    offset,
                    Invariant::Other(format!(
                        "live block of {} bytes overlaps the live block before it, which ends at heap offset {:#x}",
                        layout.size(),
                        heap.offset_of(end as *const u8)
                    )),
                ));
            }
            prev_end = Some(addr + layout.size());
        }
        Ok(())
    }
}

/// Hashes an address by one 128-bit multiplication by 2^64 / φ, folding the high half
/// into the low one, so that both the low bits (the bucket index) and the high bits
/// (the table's tag byte) depend on every bit of the address, including the middle bits
/// where block addresses differ.
#[derive(Debug, Default, Clone, Copy)]
pub struct AddressHasher(u64);

impl AddressHasher {
    const K: u128 = 0x9e37_79b9_7f4a_7c15;

    fn mix(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * Self::K;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn blocks_are_remembered_and_forgotten() {
        let mut heap = MemLib::new(4096).unwrap();
        let base = heap.extend(256).unwrap();
        let mut table = SideTable::new();
        table.insert(base, layout(16));
        let second = heap.ptr_at(64);
        table.insert(second, layout(100));
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(second), Some(layout(100)));
        assert_eq!(table.remove(base), Some(layout(16)));
        assert_eq!(table.remove(base), None);
        assert_eq!(table.sorted(), vec![(second.as_ptr() as usize, layout(100))]);
        table.clear();
        assert!(table.is_empty());
    }

    #[test]
    fn the_check_finds_overlap_misalignment_and_escapes() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.extend(256).unwrap();
        let align = Align::SIXTEEN;
        let mut table = SideTable::new();
        table.insert(heap.ptr_at(0), layout(32));
        table.insert(heap.ptr_at(32), layout(32));
        assert_eq!(table.check(&heap, align), Ok(()));

        table.insert(heap.ptr_at(48), layout(8));
        let err = table.check(&heap, align).unwrap_err();
        assert_eq!(err.offset, 48);
        assert!(err.to_string().contains("overlaps"), "{err}");
        table.remove(heap.ptr_at(48));

        table.insert(heap.ptr_at(72), layout(8));
        let err = table.check(&heap, align).unwrap_err();
        assert_eq!(err.invariant, Invariant::PayloadMisaligned { align: 16 });
        table.remove(heap.ptr_at(72));

        table.insert(heap.ptr_at(224), layout(64));
        let err = table.check(&heap, align).unwrap_err();
        assert_eq!(err.invariant, Invariant::PastHeapEnd { size: 64 });
    }

    #[test]
    fn nearby_addresses_spread_over_the_low_bits() {
        let buckets: std::collections::HashSet<u64> = (0..256u64)
            .map(|i| {
                let mut h = AddressHasher::default();
                h.write_usize(0x7f00_0000_0000 + 16 * i as usize);
                h.finish() & 255
            })
            .collect();
        assert!(buckets.len() > 128, "only {} of 256 buckets used", buckets.len());
    }
}
