//! Boundary tags and blocks: the only code that touches heap memory.
//!
//! A block is named by the heap offset of its header ([`Block`]), not by a pointer, so
//! all policy code is ordinary safe arithmetic on offsets. Every read and write of a tag
//! goes through [`read_word`] / [`write_word`], which bounds-check the offset against
//! the heap's in-use bytes. That check is what makes them safe to call with *any*
//! offset, including one computed from a corrupted tag: a damaged heap makes the
//! allocator panic, never read or write outside its heap.
//!
//! The implicit list walks these blocks; the explicit lists use the same blocks and thread
//! a free list through the free blocks' payloads.
//!
//! ```text
//!  a tag (header or footer), one word:
//!   63                                        3   2   1   0
//!  +--------------------------------------------+---+---+---+
//!  | block size (a multiple of the alignment)   | 0 | 0 | A |   A = TagFlags::ALLOCATED
//!  +--------------------------------------------+---+---+---+
//! ```

use std::fmt;

use bitflags::bitflags;
use mm_core::{Corruption, MemLib};

/// One tag: a machine word.
pub const WORD: usize = size_of::<usize>();

/// Per-block bookkeeping: a header and a footer.
pub const OVERHEAD: usize = 2 * WORD;

/// The low bits of a tag that can hold flags: sizes are multiples of at least 8.
const FLAG_BITS: usize = 0b111;

bitflags! {
    /// The flag bits in the low end of a [`Tag`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct TagFlags: usize {
        /// The block is in use.
        const ALLOCATED = 0b001;
    }
}

/// A boundary tag: a block's size with [`TagFlags`] in its low bits. Headers and
/// footers are identical, which is what lets a block find its left neighbour's size.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(usize);

impl Tag {
    /// The epilogue: a zero-size allocated header that ends every walk.
    pub const EPILOGUE: Tag = Tag(TagFlags::ALLOCATED.bits());

    /// A tag for a block of `size` bytes (a multiple of 8).
    ///
    /// # Panics
    /// For any other size, in every build: its low bits would silently become flags.
    #[inline]
    #[track_caller]
    pub fn new(size: usize, flags: TagFlags) -> Tag {
        if size & FLAG_BITS != 0 {
            bad_size(size);
        }
        Tag(size | flags.bits())
    }

    /// An allocated block of `size` bytes.
    #[inline]
    pub fn allocated(size: usize) -> Tag {
        Tag::new(size, TagFlags::ALLOCATED)
    }

    /// A free block of `size` bytes.
    #[inline]
    pub fn free(size: usize) -> Tag {
        Tag::new(size, TagFlags::empty())
    }

    /// Reads a raw word as a tag (e.g. one reported in a heap-check error).
    #[inline]
    pub const fn from_word(word: usize) -> Tag {
        Tag(word)
    }

    /// The raw word.
    #[inline]
    pub const fn word(self) -> usize {
        self.0
    }

    /// The block size in bytes, header and footer included.
    #[inline]
    pub const fn size(self) -> usize {
        self.0 & !FLAG_BITS
    }

    /// The flags, including any bits no [`TagFlags`] constant names.
    #[inline]
    pub const fn flags(self) -> TagFlags {
        TagFlags::from_bits_retain(self.0 & FLAG_BITS)
    }

    /// True for an allocated block (and for the prologue and epilogue).
    #[inline]
    pub const fn is_allocated(self) -> bool {
        self.0 & ALLOCATED_BIT != 0
    }

    /// Flag bits that no [`TagFlags`] constant names; a sound heap has none.
    #[inline]
    pub const fn unknown_flags(self) -> usize {
        self.0 & FLAG_BITS & !KNOWN_FLAG_BITS
    }
}

impl fmt::Debug for Tag {
    /// `Tag { size: 48, allocated }`, `Tag { size: 96, free }`, with any stray bits shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_allocated() { "allocated" } else { "free" };
        write!(f, "Tag {{ size: {}, {state}", self.size())?;
        if self.unknown_flags() != 0 {
            write!(f, ", unknown flags: {:#05b}", self.unknown_flags())?;
        }
        write!(f, " }}")
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_size(size: usize) -> ! {
    panic!("block size {size:#x} is not a multiple of 8: it would spill into the tag's flags")
}

// Plain masks for the hot paths: the bitflags methods are calls in debug builds.
const ALLOCATED_BIT: usize = TagFlags::ALLOCATED.bits();
const KNOWN_FLAG_BITS: usize = TagFlags::all().bits();

/// Reads the tag word at heap offset `at` (bounds-checked by [`MemLib::read`]).
///
/// # Panics
/// When `at` is not a word boundary inside the in-use heap (a corrupted heap, or a bug).
#[inline]
pub fn read_word(heap: &MemLib, at: usize) -> usize {
    heap.read(at)
}

/// Writes the tag word at heap offset `at` (bounds-checked by [`MemLib::write`]).
///
/// # Panics
/// When `at` is not a word boundary inside the in-use heap (a corrupted heap, or a bug).
#[inline]
pub fn write_word(heap: &mut MemLib, at: usize, word: usize) {
    heap.write(at, word)
}

/// A block, named by the heap offset of its header.
///
/// ```text
///  offset          payload()                        end()
///  |  header  |  payload ...               | footer |
///  |<------------------ size ---------------------->|
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block(usize);

impl Block {
    /// The block whose header is at heap offset `offset`.
    #[inline]
    pub const fn at(offset: usize) -> Block {
        Block(offset)
    }

    /// The block whose payload starts at heap offset `payload`.
    #[inline]
    pub const fn from_payload(payload: usize) -> Block {
        Block(payload.wrapping_sub(WORD))
    }

    /// The heap offset of the header.
    #[inline]
    pub const fn offset(self) -> usize {
        self.0
    }

    /// The heap offset of the payload.
    #[inline]
    pub const fn payload(self) -> usize {
        self.0 + WORD
    }

    /// The header tag.
    #[inline]
    pub fn header(self, heap: &MemLib) -> Tag {
        Tag(read_word(heap, self.0))
    }

    /// The block size in bytes, tags included.
    #[inline]
    pub fn size(self, heap: &MemLib) -> usize {
        self.header(heap).size()
    }

    /// True when the header's allocated bit is clear.
    #[inline]
    pub fn is_free(self, heap: &MemLib) -> bool {
        !self.header(heap).is_allocated()
    }

    /// One past the block's last byte: the next block's header.
    #[inline]
    pub fn end(self, heap: &MemLib) -> usize {
        self.0 + self.size(heap)
    }

    /// The right neighbour (the epilogue after the last block).
    #[inline]
    pub fn next(self, heap: &MemLib) -> Block {
        Block(self.end(heap))
    }

    /// The left neighbour, found through its footer just below our header (the
    /// prologue before the first block).
    #[inline]
    pub fn prev(self, heap: &MemLib) -> Block {
        Block(self.0 - Tag(read_word(heap, self.0 - WORD)).size())
    }

    /// Writes `tag` as both header and footer: the block now spans `tag.size()` bytes.
    #[inline]
    pub fn set(self, heap: &mut MemLib, tag: Tag) {
        debug_assert!(tag.size() >= OVERHEAD, "a block holds at least its two tags: {tag:?}");
        write_word(heap, self.0, tag.0);
        write_word(heap, self.0 + tag.size() - WORD, tag.0);
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block@{:#x}", self.0)
    }
}

/// Walks the blocks from `from` (a block boundary) up to (not including) the
/// epilogue, yielding each with its header.
///
/// Trusts the tags as far as staying in the heap: a size of zero before the epilogue,
/// or one that runs past it, stops the walk with a [`Corruption`] panic (the size was
/// overwritten, typically by an overflow out of the block before it). [`crate::check`]
/// is the walk that doubts every tag and reports instead.
#[inline]
pub fn walk(heap: &MemLib, from: Block) -> impl Iterator<Item = (Block, Tag)> + '_ {
    let epilogue = heap.heap_size().saturating_sub(WORD);
    let mut at = from;
    std::iter::from_fn(move || {
        let tag = at.header(heap);
        let size = tag.size();
        // `0 < size <= epilogue - at` in one compare (`at <= epilogue` holds by
        // induction); it fails at the epilogue, where the walk ends.
        if size.wrapping_sub(1) >= epilogue - at.0 {
            if at.0 == epilogue {
                return None;
            }
            Corruption::new("invalid block size", at.0).panic();
        }
        let here = at;
        at = Block(at.0 + size);
        Some((here, tag))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_pack_size_and_flags() {
        let t = Tag::allocated(48);
        assert_eq!((t.size(), t.is_allocated(), t.word()), (48, true, 49));
        assert_eq!(format!("{t:?}"), "Tag { size: 48, allocated }");
        assert_eq!(format!("{:?}", Tag::free(4096)), "Tag { size: 4096, free }");
        assert_eq!(format!("{:?}", Tag::from_word(0x36)), "Tag { size: 48, free, unknown flags: 0b110 }");
        assert_eq!(Tag::EPILOGUE.size(), 0);
        assert!(Tag::EPILOGUE.is_allocated());
    }

    #[test]
    fn words_outside_the_heap_are_refused() {
        let mut heap = MemLib::new(4096).unwrap();
        heap.extend(64).unwrap();
        write_word(&mut heap, 56, 7);
        assert_eq!(read_word(&heap, 56), 7);
        for at in [52, 57, 64, usize::MAX - 7] {
            let r = std::panic::catch_unwind(|| read_word(&heap, at));
            assert!(r.is_err(), "offset {at:#x} should be refused");
        }
    }
}
