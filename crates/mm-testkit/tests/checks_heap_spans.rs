//! The conformance kit's check of `heap_spans` must be able to fail. A bump allocator
//! that describes its heap correctly passes the scenarios that need no reuse; one with
//! a planted mistake in its span list fails with a message that says what is wrong.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use mm_core::testkit;
use mm_core::{Align, Allocator, HeapCheckError, HeapSpan, HeapSpans, InitError, MemLib, SpanKind};

/// The one planted mistake of a [`Bump`]'s span list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mistake {
    /// None: the spans are right.
    None,
    /// The spans are not given at all (the trait's default).
    Silent,
    /// The size word of the newest block is left out: a gap.
    Gap,
    /// Freed blocks still read as payload.
    FreedAsPayload,
    /// The newest live block's payload reads as metadata.
    PayloadAsMetadata,
    /// The newest live block's payload span is one byte short (the byte reads as padding).
    ShortPayload,
}

/// A block of the bump heap: `[start, payload)` holds padding and an 8-byte size word,
/// `[payload, end)` the payload.
#[derive(Debug, Clone, Copy)]
struct Blk {
    start: usize,
    end: usize,
    live: bool,
}

/// Never reuses memory; remembers every block so that it can describe its heap.
struct Bump {
    heap: MemLib,
    align: Align,
    mistake: Mistake,
    /// Payload offset -> block.
    blocks: BTreeMap<usize, Blk>,
}

impl Bump {
    fn factory(mistake: Mistake) -> impl Fn(MemLib, Align) -> Bump {
        move |heap, align| Bump { heap, align, mistake, blocks: BTreeMap::new() }
    }
}

impl Allocator for Bump {
    fn describe(&self) -> String {
        format!("bump allocator (span mistake: {:?})", self.mistake)
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
        self.blocks.clear();
        Ok(())
    }

    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let start = self.heap.heap_size();
        let payload = self.align.round_up(start.checked_add(8)?)?;
        let end = self.align.round_up(payload.checked_add(size.max(1))?)?;
        self.heap.extend(end - start).ok()?;
        self.heap.write::<usize>(payload - 8, end - payload);
        self.blocks.insert(payload, Blk { start, end, live: true });
        Some(self.heap.ptr_at(payload))
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        let payload = self.heap.offset_of(ptr.as_ptr());
        self.blocks.get_mut(&payload).expect("a live block").live = false;
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        self.heap.read::<usize>(self.heap.offset_of(ptr.as_ptr()) - 8)
    }

    fn check_heap(&self) -> Result<(), HeapCheckError> {
        Ok(())
    }

    fn heap_spans(&self) -> Option<Vec<HeapSpan>> {
        if self.mistake == Mistake::Silent {
            return None;
        }
        let newest_live = self.blocks.iter().rev().find(|(_, b)| b.live).map(|(&p, _)| p);
        let mut spans = HeapSpans::new();
        for (&payload, b) in &self.blocks {
            let newest = Some(payload) == newest_live;
            spans.push(payload - 8 - b.start, SpanKind::Padding);
            if !(newest && self.mistake == Mistake::Gap) {
                spans.push(8, SpanKind::Metadata);
            }
            let len = b.end - payload;
            match (b.live, self.mistake) {
                (false, Mistake::FreedAsPayload) => spans.push(len, SpanKind::Payload),
                (false, _) => spans.push(len, SpanKind::Free),
                (true, Mistake::PayloadAsMetadata) if newest => spans.push(len, SpanKind::Metadata),
                (true, Mistake::ShortPayload) if newest => {
                    spans.push(len - 1, SpanKind::Payload);
                    spans.push(1, SpanKind::Padding);
                }
                (true, _) => spans.push(len, SpanKind::Payload),
            }
        }
        let mut spans = spans.finish();
        if self.mistake == Mistake::Gap
            && let Some(newest) = newest_live
        {
            // The spans after the missing size word keep their true offsets.
            for span in spans.iter_mut().filter(|s| s.offset >= newest - 8) {
                span.offset += 8;
            }
        }
        Some(spans)
    }
}

/// Runs `scenario` and returns its panic message, or `None` when it passed.
fn failure(scenario: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(scenario)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

#[track_caller]
fn assert_fails(mistake: Mistake, needles: &[&str]) {
    let message = failure(|| testkit::short1(Bump::factory(mistake), Align::MIN))
        .unwrap_or_else(|| panic!("the kit should have caught {mistake:?}"));
    for needle in needles {
        assert!(message.contains(needle), "message lacks {needle:?}: {message}");
    }
}

#[test]
fn a_bump_allocator_that_describes_its_heap_right_passes() {
    for mistake in [Mistake::None, Mistake::Silent] {
        let factory = Bump::factory(mistake);
        for align in testkit::ALIGNMENTS {
            testkit::short1(&factory, align);
            testkit::short2(&factory, align);
            testkit::realloc_grow(&factory, align);
            testkit::malloc_zero(&factory, align);
            testkit::calloc(&factory, align);
            testkit::reinit(&factory, align);
        }
    }
}

#[test]
fn a_gap_in_the_spans_is_caught() {
    assert_fails(Mistake::Gap, &["bump allocator", "do not tile the heap", "leaves a gap"]);
}

#[test]
fn freed_blocks_labelled_payload_are_caught() {
    assert_fails(Mistake::FreedAsPayload, &["heap_spans() label", "bytes as payload", "usable"]);
}

#[test]
fn a_live_payload_labelled_otherwise_is_caught() {
    assert_fails(Mistake::PayloadAsMetadata, &["not inside one payload span", "is metadata"]);
    assert_fails(Mistake::ShortPayload, &["not inside one payload span", "is payload"]);
}
