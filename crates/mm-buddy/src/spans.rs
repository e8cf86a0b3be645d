//! What every byte of the heap holds ([`Allocator::heap_spans`]).
//!
//! ```text
//!  | control area | pad     | hdr  | payload ... | free block (whole) | ... | untouched tail |
//!  | Metadata     | Padding | Meta | Payload     | Free               |     | Free           |
//! ```
//!
//! The control area (frontier, non-empty mask, list heads) is metadata and the bytes
//! that align the arena are padding. An allocated block is its 2-byte header and a
//! payload of the rest of its power of two (the rounding of the request is inside it:
//! the allocator does not know the request). A free block is free whole, and so is the
//! untouched tail above the frontier, which the next carve hands out again. The walk
//! ends with `None` at a header whose order is out of range or whose block is not at a
//! multiple of its size or runs past the frontier; `check_heap` says why.
//!
//! [`Allocator::heap_spans`]: mm_core::Allocator::heap_spans

use mm_core::{HeapSpan, HeapSpans, SpanKind};

use crate::Buddy;
use crate::arena::{Block, size_of_order};
use crate::header::HEADER_BYTES;

impl Buddy {
    /// The spans of an initialised heap (see the module docs).
    pub(crate) fn spans(&self) -> Option<Vec<HeapSpan>> {
        let layout = self.layout;
        let heap_size = self.heap.heap_size();
        if heap_size < layout.base {
            return None;
        }
        let arena = self.arena();
        let frontier = arena.frontier();
        if frontier > arena.materialized() || arena.check_segments().is_err() {
            return None;
        }
        // The control area ends where the list head one past the last order would be.
        let control_end = layout.head_at(layout.min_order + layout.lists as u32);
        let mut spans = HeapSpans::new();
        spans.push(control_end, SpanKind::Metadata);
        spans.push(layout.base.checked_sub(control_end)?, SpanKind::Padding);
        let mut at = 0;
        while at < frontier {
            let header = arena.header(Block::at(at));
            let order = header.order();
            if !(layout.min_order..=layout.max_order).contains(&order) {
                return None;
            }
            let size = size_of_order(order);
            let segment = arena.segment_of(at);
            if size > frontier - at
                || !segment.aligns(Block::at(at), order)
                || !segment.holds(Block::at(at), order)
            {
                return None;
            }
            if header.is_allocated() {
                spans.push(HEADER_BYTES, SpanKind::Metadata);
                spans.push(size - HEADER_BYTES, SpanKind::Payload);
            } else if header.is_free() {
                spans.push(size, SpanKind::Free);
            } else {
                return None;
            }
            at += size;
        }
        spans.push(arena.materialized() - frontier, SpanKind::Free);
        Some(spans.finish())
    }
}

#[cfg(test)]
mod tests {
    use mm_core::{Align, Allocator, HeapSpan, MemLib, SpanKind};

    use crate::{Buddy, BuddyConfig};

    #[test]
    fn a_buddy_heap_reads_as_control_area_headers_payloads_and_free_buddies() {
        let mut a = Buddy::new(MemLib::new(20 << 20).unwrap(), BuddyConfig::new(Align::MIN));
        assert_eq!(a.heap_spans(), None, "not initialised");
        a.init().unwrap();
        // 20 MiB: a 140-byte control area, then 2 bytes so that payloads are aligned.
        assert_eq!(
            a.heap_spans().unwrap(),
            [HeapSpan::new(0, 140, SpanKind::Metadata), HeapSpan::new(140, 2, SpanKind::Padding)]
        );
        a.malloc(14).unwrap(); // 16 bytes at arena offset 0
        a.malloc(30).unwrap(); // 32 bytes at 16, the start of a second segment
        assert_eq!(
            a.heap_spans().unwrap(),
            [
                HeapSpan::new(0, 140, SpanKind::Metadata),
                HeapSpan::new(140, 2, SpanKind::Padding),
                HeapSpan::new(142, 2, SpanKind::Metadata),
                HeapSpan::new(144, 14, SpanKind::Payload),
                HeapSpan::new(158, 2, SpanKind::Metadata),
                HeapSpan::new(160, 30, SpanKind::Payload),
            ]
        );
        // The 32-byte block does not wait for a multiple of 32: it starts a segment of
        // its own at the frontier, so the heap grows by exactly 32 bytes.
        assert_eq!(a.heap().heap_size(), 142 + 48);
    }
}
