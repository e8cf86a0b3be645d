//! What every byte of a boundary-tagged heap holds ([`Allocator::heap_spans`]), for
//! the implicit list and for the explicit list, which keeps the same layout.
//!
//! ```text
//!  | pad     | prologue | hdr | payload ... | ftr | free block (whole) | ... | epilogue |
//!  | Padding | Metadata | Meta| Payload     | Meta| Free               |     | Metadata |
//! ```
//!
//! A free block counts as free whole, tags and links included: all of it is reused
//! when the block is. The walk trusts sizes only as far as it must to move on: a size
//! that is not a multiple of the word, smaller than two tags or past the epilogue ends
//! it with `None`, as does a walk that misses the epilogue; `check_heap` says why.
//!
//! [`Allocator::heap_spans`]: mm_core::Allocator::heap_spans

use mm_core::{HeapSpan, HeapSpans, MemLib, SpanKind};

use crate::block::{OVERHEAD, Tag, WORD, read_word};
use crate::check::TaggedLayout;

/// The spans of a boundary-tagged heap laid out as `layout` says (padding, prologue,
/// blocks, epilogue at `brk - WORD`); `None` when the heap is shorter than the
/// initial layout or its tags do not add up.
pub fn tagged_heap_spans(heap: &MemLib, layout: TaggedLayout) -> Option<Vec<HeapSpan>> {
    let heap_size = heap.heap_size();
    if heap_size < layout.initial_heap {
        return None;
    }
    let epilogue = heap_size - WORD;
    let mut spans = HeapSpans::new();
    spans.push(layout.prologue, SpanKind::Padding);
    spans.push(OVERHEAD, SpanKind::Metadata);
    let mut at = layout.first.offset();
    debug_assert_eq!(spans.end(), at, "the prologue ends where the first block starts");
    while at < epilogue {
        let tag = Tag::from_word(read_word(heap, at));
        let size = tag.size();
        if size < OVERHEAD || size > epilogue - at || !size.is_multiple_of(WORD) {
            return None;
        }
        if tag.is_allocated() {
            spans.push(WORD, SpanKind::Metadata);
            spans.push(size - OVERHEAD, SpanKind::Payload);
            spans.push(WORD, SpanKind::Metadata);
        } else {
            spans.push(size, SpanKind::Free);
        }
        at += size;
    }
    if at != epilogue {
        return None;
    }
    spans.push(WORD, SpanKind::Metadata);
    Some(spans.finish())
}

#[cfg(test)]
mod tests {
    use mm_core::{Align, Allocator, HeapSpan, MemLib, SpanKind};

    use crate::{Implicit, ImplicitConfig, Placement};

    fn implicit(align: usize) -> Implicit {
        let config = ImplicitConfig::new(Align::new(align).unwrap(), Placement::FirstFit);
        Implicit::new(MemLib::new(1 << 16).unwrap(), config)
    }

    #[test]
    fn an_implicit_heap_reads_as_tags_and_payloads() {
        let mut a = implicit(8);
        assert_eq!(a.heap_spans(), None, "not initialised");
        a.init().unwrap();
        // The prologue and the epilogue, merged; at alignment 8 there is no padding.
        assert_eq!(a.heap_spans().unwrap(), [HeapSpan::new(0, 24, SpanKind::Metadata)]);
        let p = a.malloc(20).unwrap(); // a 40-byte block: 24 usable bytes
        a.malloc(100).unwrap(); // 120 bytes: 104 usable
        assert_eq!(a.heap().offset_of(p.as_ptr()), 24);
        assert_eq!(
            a.heap_spans().unwrap(),
            [
                HeapSpan::new(0, 24, SpanKind::Metadata),
                HeapSpan::new(24, 24, SpanKind::Payload),
                HeapSpan::new(48, 16, SpanKind::Metadata),
                HeapSpan::new(64, 104, SpanKind::Payload),
                HeapSpan::new(168, 16, SpanKind::Metadata),
            ]
        );
        assert_eq!(a.heap().heap_size(), 184);
    }

    #[test]
    fn the_padding_that_aligns_the_first_payload_is_padding() {
        let mut a = implicit(16);
        a.init().unwrap();
        assert_eq!(
            a.heap_spans().unwrap(),
            [HeapSpan::new(0, 8, SpanKind::Padding), HeapSpan::new(8, 24, SpanKind::Metadata)]
        );
    }
}
