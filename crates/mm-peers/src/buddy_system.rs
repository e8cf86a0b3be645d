//! `buddy-system`: buddy_system_allocator 0.13 (the rCore kernels' heap), fed aligned
//! ranges with `add_to_heap`.
//!
//! A binary buddy system like our `buddy`, with two differences that matter here.
//! Blocks are aligned to their size *as absolute addresses* (the buddy of the block at
//! address `a` of size `2^k` is `a XOR 2^k`), not as offsets into an arena. And blocks
//! have no header: a request of `n` bytes takes a block of `max(n.next_power_of_two(),
//! align, 8)` bytes, found from the layout again on free, so a request of exactly a
//! power of two is not doubled as it is under a header. There is a singly linked free
//! list per order, kept in the free blocks; `alloc` splits the smallest larger free
//! block, and `dealloc` merges with the buddy while the buddy is free, finding it by
//! walking that order's list (O(list length) per merge step).
//!
//! **Memory source.** The crate's rescue hook (`LockedHeapWithRescue`) leaves growth
//! to the caller, who adds ranges with `add_to_heap`, which carves a range into the
//! largest address-aligned power-of-two blocks that tile it. Blocks of separate ranges
//! are never merged when added (only when freed), so a request is fed the way the
//! buddy system needs it: when `alloc` fails for a block of size `B`, `sbrk` up to the
//! end of the first `B`-aligned `B`-byte block past the break (at least one page), and
//! add the whole range. The alignment gap before that block goes onto the free lists
//! as smaller blocks, usable by small requests. Because alignment is absolute, where a
//! large block lands depends on the address the simulated heap was given, so a trace's
//! heap footprint can differ slightly from one process to the next. Orders run up to
//! 2^31 bytes (`ORDER = 32`).
//!
//! **Layouts.** `dealloc` needs the layout to know the block's order: it comes from
//! the [side table](crate::side_table). **Realloc**: the crate has none, so the trait's
//! default allocates, copies and frees. **`check_heap`** checks the side table
//! (aligned, inside the heap, disjoint), that every live block's buddy block sits at a
//! multiple of its size, and reconciles the table with the crate's statistics: the
//! bytes requested and the bytes in blocks are the live blocks' totals, and the bytes
//! added are the whole heap. The free lists themselves are private.

use std::alloc::Layout;
use std::ptr::NonNull;

use ::buddy_system_allocator::Heap;
use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib};

use crate::side_table::SideTable;
use crate::{PAGE, request};

/// Orders `0..ORDER`: the largest block is `2^(ORDER - 1)` bytes.
const ORDER: usize = 32;

/// buddy_system_allocator over the simulated heap.
pub struct BuddySystemPeer {
    heap: MemLib,
    buddy: Heap<ORDER>,
    table: SideTable,
    align: Align,
    /// Whether `init` has run: before it nothing is allocated (the contract's rule).
    ready: bool,
}

impl BuddySystemPeer {
    /// buddy_system_allocator over `heap`, serving payloads aligned to `align`; call
    /// `init` before use.
    pub fn new(heap: MemLib, align: Align) -> BuddySystemPeer {
        BuddySystemPeer { heap, buddy: Heap::new(), table: SideTable::new(), align, ready: false }
    }

    /// The block the crate takes for `layout` (its own rule); `None` past the largest
    /// order.
    fn block_size(layout: Layout) -> Option<usize> {
        let block = layout.size().checked_next_power_of_two()?.max(layout.align()).max(size_of::<usize>());
        (block <= 1 << (ORDER - 1)).then_some(block)
    }

    /// Adds `[brk, end of the first block-aligned block past brk)` to the heap; `None`,
    /// with nothing changed, when the heap cannot grow.
    fn grow_for(&mut self, block: usize) -> Option<()> {
        let brk = self.heap.brk().as_ptr() as usize;
        let end = brk.checked_next_multiple_of(block)?.checked_add(block)?.checked_next_multiple_of(PAGE)?;
        let base = self.heap.extend(end - brk).ok()?;
        // SAFETY: `[brk, end)` was just handed out by `sbrk`; nothing else uses it, it
        // overlaps nothing added before (all of that lies below the old break), and the
        // simulated heap keeps it allocated for as long as `self` (and so the buddy
        // heap) lives.
        unsafe { self.buddy.add_to_heap(base.as_ptr() as usize, end) };
        Some(())
    }
}

impl Allocator for BuddySystemPeer {
    fn describe(&self) -> String {
        "buddy_system_allocator 0.13: binary buddies on absolute addresses, no headers, list per order; side table"
            .to_owned()
    }

    fn heap(&self) -> &MemLib {
        &self.heap
    }

    fn heap_mut(&mut self) -> &mut MemLib {
        &mut self.heap
    }

    fn alignment(&self) -> Align {
        self.align
    }

    fn init(&mut self) -> Result<(), InitError> {
        self.buddy = Heap::new();
        self.table.clear();
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let layout = request(&self.heap, size, self.align, self.ready)?;
        let block = Self::block_size(layout)?;
        let ptr = match self.buddy.alloc(layout) {
            Ok(ptr) => ptr,
            Err(()) => {
                self.grow_for(block)?;
                self.buddy.alloc(layout).ok()?
            }
        };
        self.table.insert(ptr, layout);
        Some(ptr)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some(layout) = self.table.remove(ptr) {
            // SAFETY: the table holds exactly the buddy heap's live blocks with the
            // layout each was allocated with.
            unsafe { self.buddy.dealloc(ptr, layout) }
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.table.get(ptr).map_or(0, |layout| layout.size())
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        let heap = &self.heap;
        self.table.check(heap, self.align)?;
        let other = |at: usize, what: String| Err(HeapCheckError::new(at, Invariant::Other(what)));
        let (mut user, mut blocks) = (0, 0);
        for (addr, layout) in self.table.sorted() {
            let offset = heap.offset_of(addr as *const u8);
            let Some(block) = Self::block_size(layout) else {
                return other(
                    offset,
                    format!("a live block of {} bytes is larger than any order", layout.size()),
                );
            };
            if !addr.is_multiple_of(block) || !heap.contains(addr as *const u8, block) {
                return other(
                    offset,
                    format!("its {block}-byte buddy block is misaligned or leaves the heap"),
                );
            }
            user += layout.size();
            blocks += block;
        }
        let stats = [
            ("requested", self.buddy.stats_alloc_user(), user),
            ("in allocated blocks", self.buddy.stats_alloc_actual(), blocks),
            ("added to the heap", self.buddy.stats_total_bytes(), heap.heap_size()),
        ];
        for (what, counted, expected) in stats {
            if counted != expected {
                return other(
                    0,
                    format!("the buddy heap counts {counted} bytes {what}, but there are {expected}"),
                );
            }
        }
        Ok(())
    }
}
