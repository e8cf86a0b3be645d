//! `linked-list`: linked_list_allocator 0.10, the allocator of many Rust kernels,
//! initialised over the first `sbrk` and extended over every later one.
//!
//! The design is the textbook explicit free list with no headers at all: one singly
//! linked list of *holes*, kept in address order, each hole holding its size and the
//! next link in its first two words. `allocate_first_fit` walks the list for the first
//! hole that fits (after aligning, leaving any front padding as a hole of its own) and
//! splits it; `deallocate` walks the list to the freed block's place and merges it with
//! the holes on either side. Both are O(number of holes), like our implicit list's
//! first fit. Blocks are at least two words (a hole must fit when freed) and rounded up
//! to a word.
//!
//! **Memory source.** The crate has no growth callback: a failed allocation `sbrk`s
//! the pages one block of the request needs (its rounded size, the alignment and room
//! for a front hole), initialises the heap over the first region (`Heap::init`) and
//! `extend`s it over every later one, which turns the new pages into a hole merged with
//! the hole at the top, then retries.
//!
//! **Layouts.** With no header, `deallocate` needs the layout: it comes from the
//! [side table](crate::side_table). **Realloc**: the crate has none, so the trait's
//! default allocates, copies and frees. **`check_heap`** checks the side table
//! (aligned, inside the heap, disjoint) and reconciles it with the crate's own
//! accounting: the heap spans exactly `[heap_lo, brk)`, and the bytes the crate counts
//! as used are the live blocks' rounded sizes. The hole list itself is private.

use std::alloc::Layout;
use std::ptr::NonNull;

use ::linked_list_allocator::Heap;
use ::linked_list_allocator::hole::HoleList;
use mm_core::{Align, Allocator, HeapCheckError, InitError, Invariant, MemLib};

use crate::side_table::SideTable;
use crate::{request, whole_pages};

/// linked_list_allocator over the simulated heap.
pub struct LinkedListPeer {
    heap: MemLib,
    list: Heap,
    table: SideTable,
    align: Align,
    /// Whether `init` has run: before it nothing is allocated (the contract's rule).
    ready: bool,
}

impl LinkedListPeer {
    /// linked_list_allocator over `heap`, serving payloads aligned to `align`; call
    /// `init` before use.
    pub fn new(heap: MemLib, align: Align) -> LinkedListPeer {
        LinkedListPeer { heap, list: Heap::empty(), table: SideTable::new(), align, ready: false }
    }

    /// The bytes the crate takes for `layout` (`HoleList::align_layout`).
    fn block_size(layout: Layout) -> usize {
        HoleList::align_layout(layout).map_or(layout.size(), |l| l.size())
    }

    /// Grows the heap by the pages one block of `layout` needs; `None`, with nothing
    /// changed, when the heap cannot grow.
    fn grow_for(&mut self, layout: Layout) -> Option<()> {
        let need = Self::block_size(layout).checked_add(layout.align())?.checked_add(HoleList::min_size())?;
        let bytes = whole_pages(need)?;
        let initialised = !self.list.bottom().is_null();
        if initialised && self.list.top() != self.heap.brk().as_ptr() {
            // `extend` only grows the heap at its top; something else moved the break.
            return None;
        }
        let base = self.heap.extend(bytes).ok()?;
        if initialised {
            // SAFETY: the `bytes` bytes after the heap's top were just handed out by
            // `sbrk`; nothing else uses them, and the simulated heap keeps them
            // allocated for as long as `self` (and so the list) lives.
            unsafe { self.list.extend(bytes) };
        } else {
            // SAFETY: as above, for the first region; `self.list` was made empty by
            // `init` (or `new`) and is initialised once.
            unsafe { self.list.init(base.as_ptr(), bytes) };
        }
        Some(())
    }
}

impl Allocator for LinkedListPeer {
    fn describe(&self) -> String {
        "linked_list_allocator 0.10: one address-ordered hole list, first fit, no headers; layouts from a side table"
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
        self.list = Heap::empty();
        self.table.clear();
        self.ready = true;
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let layout = request(&self.heap, size, self.align, self.ready)?;
        let ptr = match self.list.allocate_first_fit(layout) {
            Ok(ptr) => ptr,
            Err(()) => {
                self.grow_for(layout)?;
                self.list.allocate_first_fit(layout).ok()?
            }
        };
        self.table.insert(ptr, layout);
        Some(ptr)
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        if let Some(layout) = self.table.remove(ptr) {
            // SAFETY: the table holds exactly the list's live blocks with the layout
            // each was allocated with.
            unsafe { self.list.deallocate(ptr, layout) }
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.table.get(ptr).map_or(0, |layout| layout.size())
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        let heap = &self.heap;
        self.table.check(heap, self.align)?;
        let other = |at: *const u8, what: String| {
            Err(HeapCheckError::new(heap.offset_of(at), Invariant::Other(what)))
        };
        if self.list.bottom().is_null() {
            return match self.table.sorted().first() {
                Some(&(addr, _)) => {
                    other(addr as *const u8, "a block is live, but the list has no heap".to_owned())
                }
                None => Ok(()),
            };
        }
        if self.list.bottom() != heap.heap_lo() || self.list.top() != heap.brk().as_ptr() {
            return other(
                self.list.bottom(),
                format!(
                    "the list's heap is [{:#x}, {:#x}), not the heap in use [0, {:#x})",
                    heap.offset_of(self.list.bottom()),
                    heap.offset_of(self.list.top()),
                    heap.heap_size()
                ),
            );
        }
        let used: usize = self.table.sorted().into_iter().map(|(_, layout)| Self::block_size(layout)).sum();
        if used != self.list.used() {
            return other(
                heap.heap_lo(),
                format!("the list counts {} bytes used, but the live blocks take {used}", self.list.used()),
            );
        }
        Ok(())
    }
}
