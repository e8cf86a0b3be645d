//! What every byte of the heap holds ([`Allocator::heap_spans`]).
//!
//! ```text
//!  | control area | pad     | bitmaps  | payload ... | free block | ... | untouched tail |
//!  | Metadata     | Padding | Metadata | Payload     | Free       |     | Free           |
//! ```
//!
//! No block has a header: an allocated block is payload from its first byte to its last
//! (the rounding of the request is inside it). The bitmap block is metadata; free blocks
//! and the untouched tail are free. `None` when the bits do not delimit sound blocks
//! (`check_heap` says why).
//!
//! [`Allocator::heap_spans`]: mm_core::Allocator::heap_spans

use mm_core::{HeapSpan, HeapSpans, SpanKind};

use crate::BuddyBitmap;
use crate::layout::{Block, size_of_order};

impl BuddyBitmap {
    /// The spans of an initialised heap (see the module docs).
    pub(crate) fn spans(&self) -> Option<Vec<HeapSpan>> {
        let layout = self.layout;
        let (frontier, maps) = self.sound_control()?;
        let tree = self.tree();
        let control_end = layout.head_at(layout.min_order + layout.lists as u32);
        let mut spans = HeapSpans::new();
        spans.push(control_end, SpanKind::Metadata);
        spans.push(layout.base.checked_sub(control_end)?, SpanKind::Padding);
        let mut at = 0;
        while at < frontier {
            let block = Block::at(at);
            if !tree.is_start(&maps, block) {
                return None;
            }
            let size = size_of_order(tree.order_of(&maps, frontier, block)?);
            let kind = if block == maps.block {
                SpanKind::Metadata
            } else if tree.is_allocated(&maps, block) {
                SpanKind::Payload
            } else {
                SpanKind::Free
            };
            spans.push(size, kind);
            at += size;
        }
        spans.push(tree.materialized() - frontier, SpanKind::Free);
        Some(spans.finish())
    }
}

#[cfg(test)]
mod tests {
    use mm_core::{Align, Allocator, HeapSpan, MemLib, SpanKind};

    use crate::BuddyBitmap;

    #[test]
    fn a_header_free_heap_reads_as_control_area_bitmaps_payloads_and_free_buddies() {
        let mut a = BuddyBitmap::new(MemLib::new(20 << 20).unwrap(), Align::MIN);
        assert_eq!(a.heap_spans(), None, "not initialised");
        a.init().unwrap();
        // 20 MiB: a 40-byte control area and 21 heads (208 bytes), then the 16-byte
        // bitmaps of the first 1 KiB tree.
        assert_eq!(a.heap_spans().unwrap(), [HeapSpan::new(0, 224, SpanKind::Metadata)]);
        a.malloc(16).unwrap(); // 16 bytes at arena offset 16, right after the bitmaps
        a.malloc(32).unwrap(); // 32 bytes at 32
        assert_eq!(
            a.heap_spans().unwrap(),
            [HeapSpan::new(0, 224, SpanKind::Metadata), HeapSpan::new(224, 48, SpanKind::Payload)]
        );
        assert_eq!(a.heap().heap_size(), 208 + 64);
    }
}
