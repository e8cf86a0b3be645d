//! What every byte of a boundary-tagged heap holds ([`Allocator::heap_spans`]), for
//! every strategy on this layout.
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
use crate::layout::TaggedLayout;

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
