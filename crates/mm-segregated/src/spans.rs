//! What every byte of the heap holds ([`Allocator::heap_spans`]).
//!
//! ```text
//!  | pad     | hdr  | payload ... | free block (whole) | top (free) | epilogue |
//!  | Padding | Meta | Payload     | Free               | Free       | Metadata |
//! ```
//!
//! Allocated blocks are a 4-byte header and the payload (no footer); a free block,
//! its header, links and footer included, is free whole, and so is the top (the free
//! block at the end of the heap, kept off the lists) and what is left of the last
//! chunk the heap grew by. The walk reads headers with the bounds-checked
//! `MemLib::read`, not the hot path's unchecked accessors, and ends with `None` at a
//! size that is too small or runs past the epilogue; `check_heap` says why.
//!
//! [`Allocator::heap_spans`]: mm_core::Allocator::heap_spans

use mm_core::{HeapSpan, HeapSpans, SpanKind};

use crate::Segregated;
use crate::block::{HEADER, Header};

impl Segregated {
    /// The spans of an initialised heap (see the module docs).
    pub(crate) fn spans(&self) -> Option<Vec<HeapSpan>> {
        let heap = &self.heap;
        let first = self.config.align.get() - HEADER;
        let epilogue = heap.heap_size().checked_sub(HEADER)?;
        if epilogue < first {
            return None;
        }
        let mut spans = HeapSpans::new();
        spans.push(first, SpanKind::Padding);
        let mut at = first;
        while at < epilogue {
            let header = Header::from_word(heap.read::<u32>(at));
            let size = header.size();
            if size < self.min_block || size > epilogue - at {
                return None;
            }
            if header.is_allocated() {
                spans.push(HEADER, SpanKind::Metadata);
                spans.push(size - HEADER, SpanKind::Payload);
            } else {
                spans.push(size, SpanKind::Free);
            }
            at += size;
        }
        spans.push(HEADER, SpanKind::Metadata);
        Some(spans.finish())
    }
}

#[cfg(test)]
mod tests {
    use mm_core::{Align, Allocator, HeapSpan, MemLib, SpanKind};

    use crate::{Segregated, SegregatedConfig};

    #[test]
    fn a_segregated_heap_reads_as_headers_payloads_and_the_top() {
        let mut a = Segregated::new(MemLib::new(1 << 20).unwrap(), SegregatedConfig { align: Align::MIN });
        assert_eq!(a.heap_spans(), None, "not initialised");
        a.init().unwrap();
        // The first header sits 4 bytes below the first aligned payload; then the epilogue.
        assert_eq!(
            a.heap_spans().unwrap(),
            [HeapSpan::new(0, 4, SpanKind::Padding), HeapSpan::new(4, 4, SpanKind::Metadata)]
        );
        let p = a.malloc(100).unwrap(); // the first request grows the heap by exactly 104 + 4
        assert_eq!(a.heap().offset_of(p.as_ptr()), 8);
        assert_eq!(
            a.heap_spans().unwrap(),
            [
                HeapSpan::new(0, 4, SpanKind::Padding),
                HeapSpan::new(4, 4, SpanKind::Metadata),
                HeapSpan::new(8, 100, SpanKind::Payload),
                HeapSpan::new(108, 4, SpanKind::Metadata),
            ]
        );
    }
}
