//! # mm-peers: the best Rust heap allocators, raced in our harness
//!
//! Five published allocators, each behind [`mm_core::Allocator`] so that the driver
//! measures their utilization (peak live payload / heap high-water mark) and throughput
//! with exactly the code that measures ours:
//!
//! | strategy | crate | design |
//! |---|---|---|
//! | `talc` | talc 5 | binned boundary-tag allocator, dlmalloc-like, O(1) free and in-place realloc |
//! | `rlsf` | rlsf 0.2 | TLSF: two-level segregated fit, constant-time malloc and free |
//! | `dlmalloc` | dlmalloc 0.2 | Doug Lea's malloc: exact small bins, bitwise tries for large chunks, a top chunk |
//! | `linked-list` | linked_list_allocator 0.10 | one address-ordered list of holes, first fit |
//! | `buddy-system` | buddy_system_allocator 0.13 | binary buddies on absolute addresses, a free list per order |
//!
//! `docs/peers.md` describes each one and measures them against ours.
//!
//! ## One heap, fed the peer's own way
//!
//! A peer is never handed a big arena up front. It starts with nothing, and every byte
//! it ever manages comes from the [`MemLib`] it was built over, through
//! `sbrk`, by the peer's own memory-source or heap-extension API: talc's
//! [`Source`](::talc::source::Source) callback that claims and then extends its heap,
//! rlsf's pool insertion and append, dlmalloc's system-allocator trait (called by
//! dlmalloc's own `sys_alloc`), linked_list_allocator's `init` then `extend`, and
//! buddy_system_allocator's `add_to_heap`. So the heap's high-water mark is what the
//! peer really asked for, and utilization means for them what it means for ours.
//!
//! **Growth policy.** The heap grows in whole pages of the simulated heap
//! ([`PAGE`], 4 KiB, the granularity a real `sbrk` or `mmap` works in), by the
//! amount the *peer's own* growth code would ask for the request that failed, never by
//! a tuned constant: talc's `WasmGrowAndExtend` source (the request's chunk plus one
//! chunk unit), rlsf's `FlexTlsf` (a pool guaranteed to hold the request), dlmalloc's
//! `sys_alloc` (it computes the size itself, with its granularity set to the page, as C
//! dlmalloc's is over `sbrk`), and for the two crates without a growth routine, what
//! one block of the request needs (linked list) or one aligned block of its power of
//! two (buddy). Each module documents its rule. Growing by bigger chunks would only
//! raise the high-water mark; growing by less than the request would only cost extra
//! `sbrk` calls.
//!
//! ## What a Rust program gives an allocator: the layout
//!
//! Rust's `GlobalAlloc` passes the [`Layout`] to `dealloc` and
//! `realloc`, and talc, linked_list_allocator and buddy_system_allocator rely on it: they
//! keep no size in the heap. Our contract is C's (`free(p)`), so those adapters keep a
//! [side table](side_table::SideTable) from address to layout, *outside* the simulated
//! heap. That mirrors how a Rust program calls them (the compiler knows every layout, so
//! the allocator is not charged for a size header), and it is why they can beat the
//! header-carrying designs on utilization by up to a word per block: it is not a
//! like-for-like comparison with a C `malloc`, and `docs/peers.md` says so beside the
//! numbers. dlmalloc keeps a size header of its own, but its Rust API takes the layout
//! too (and checks it), and it cannot report a block's usable size, so its adapter keeps
//! the table as well, which costs it time but no space. The table costs a hash update
//! per operation, charged to the peer's throughput. rlsf needs only the alignment, which
//! is fixed, so it has no table.
//!
//! The peers' control blocks live where the crate puts them: talc's bin array in the
//! heap (counted), rlsf's and dlmalloc's bin heads and the list heads of the other two in
//! the adapter (not counted, as a static allocator object would not be in a real
//! program either).
//!
//! ## Other common rules
//!
//! * **`init` rebuilds the peer from nothing** over the reset heap; the side table is
//!   emptied. The heap is not grown by `init`: the first `malloc` does that.
//! * **Zero-size requests** are served as one-byte requests (the Rust allocators do not
//!   accept zero-size layouts), so `malloc(0)` returns a unique block.
//! * **Requests larger than the whole heap** are refused before the peer sees them:
//!   they can never succeed, and some peers' size arithmetic would overflow on them.
//! * **Out of memory** returns `None` with everything consistent: a failed `sbrk`
//!   changes nothing, and a peer is handed new memory only once `sbrk` has succeeded.

mod buddy_system;
mod dlmalloc;
mod linked_list;
mod rlsf;
pub mod side_table;
mod talc;

pub use crate::buddy_system::BuddySystemPeer;
pub use crate::dlmalloc::DlmallocPeer;
pub use crate::linked_list::LinkedListPeer;
pub use crate::rlsf::RlsfPeer;
pub use crate::talc::TalcPeer;

use std::alloc::Layout;

use mm_core::{Align, MemLib};

/// The unit the adapters grow the heap in: one page of the simulated heap.
pub const PAGE: usize = mm_core::PAGE_SIZE;

/// `bytes` rounded up to whole pages (at least one); `None` on overflow.
fn whole_pages(bytes: usize) -> Option<usize> {
    bytes.max(1).checked_next_multiple_of(PAGE)
}

/// The layout a peer is asked for when the program asks for `size` bytes: at least one
/// byte, at the adapter's alignment. `None` before `init` (`ready` false: the contract
/// has nothing allocated then, and a peer would serve it) and for requests no heap of
/// this size can hold, before any peer arithmetic can overflow on them.
fn request(heap: &MemLib, size: usize, align: Align, ready: bool) -> Option<Layout> {
    if !ready || size > heap.max_size() {
        return None;
    }
    Layout::from_size_align(size.max(1), align.get()).ok()
}
