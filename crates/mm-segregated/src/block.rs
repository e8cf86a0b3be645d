//! Headers, footers and links: the block layer, and the only code that reads or writes
//! allocator metadata in the heap.
//!
//! A block is named by the heap offset of its 4-byte header ([`Block`]); every access
//! goes through [`load`] and [`store`], the crate's only `unsafe` code. They skip the
//! bounds check of `MemLib::read` / `MemLib::write` (a branch on every access, whose
//! cost `docs/segregated.md` gives), so every offset they see must
//! be *proven* inside the heap where it is computed. The offsets come from headers,
//! footers and links that a program can overwrite (an overflow out of its block, a
//! write into a freed one), so the proof is never "the heap is consistent": it is a
//! check made once per block, where the block is reached, before any access through
//! it. Let `E` be the epilogue's offset (`heap_size - 4`). The rules:
//!
//! 1. **Reaching a block.** A `Block` used for access is one of: the first block or the
//!    epilogue; a block behind a payload pointer that passed `mm_core::payload_offset`;
//!    a list head (written only by `push`, of a block already proven); a link target
//!    that passed [`in_heap`] (its header and links lie below the break); a left
//!    neighbour from [`Block::prev_free`] (its footer-given size is checked against the
//!    block's offset and the neighbour's header); or `block + size` for a size proven
//!    as in rule 2. Each of these has its header in bounds.
//! 2. **Using a size.** A size read from a header is used to reach a footer, a next
//!    block or a block's interior only after `MIN_FREE <= size <= E - block` has been
//!    checked (`Segregated::is_block_size`, the bound in `check_free_tags` and in
//!    `FreeLists::remove`). Then the header, both links, the footer and the next
//!    block's header all lie below the break.
//! 3. **Stopping.** A check that fails stops the operation with a
//!    [`Corruption`](mm_core::Corruption) panic, before anything is written.
//!
//! Debug builds (and so every test) still check each access, so a hole in the rules
//! shows up as a panic in the corruption tests, which write every pattern over freed
//! blocks and past the end of blocks.
//!
//! ```text
//!  allocated block                          free block
//!  +--------+-------------------------+     +--------+------+------+-------+--------+
//!  | header | payload ...             |     | header | next | prev |  ...  | footer |
//!  +--------+-------------------------+     +--------+------+------+-------+--------+
//!   4 bytes  ^ aligned                        4        4      4              4 (= size)
//!
//!  header (u32):  31                                   3   2   1   0
//!                 | block size (a multiple of 8)        | 0 | P | A |
//!                 A = ALLOCATED, P = PREV_ALLOCATED (the block to the left is in use)
//! ```
//!
//! Allocated blocks carry no footer: a block only needs its left neighbour's size when
//! that neighbour is free (to coalesce with it), and then the neighbour has a footer and
//! our `PREV_ALLOCATED` bit is clear. Links are the neighbours' payload offsets divided
//! by 8, in 32 bits, so a heap can span up to 32 GiB; a block can hold up to 4 GiB.

use std::fmt;

use bitflags::bitflags;
use mm_core::{Corruption, MemLib};

/// Bytes of a header (and of a footer, and of a link): one `u32`.
pub(crate) const HEADER: usize = size_of::<u32>();

/// The smallest free block: header, two links, footer (16 bytes).
pub(crate) const MIN_FREE: usize = 4 * HEADER;

/// The low bits of a header that hold flags rather than size: block sizes are
/// multiples of 8, so the three low bits are free.
const FLAG_BITS: u32 = 0b111;

/// The largest block size a header can hold.
pub(crate) const MAX_BLOCK: usize = u32::MAX as usize & !(FLAG_BITS as usize);

/// A link is a payload offset shifted right by this: payloads are aligned to at least
/// 8 bytes, so the three low bits are always zero and a 32-bit link reaches 32 GiB.
const LINK_SHIFT: u32 = 3;

/// The largest heap a link can address (payload offsets / 8 in 32 bits).
pub(crate) const MAX_HEAP: usize = (u32::MAX as usize) << LINK_SHIFT;

bitflags! {
    /// The flag bits in the low end of a [`Header`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct HeaderFlags: u32 {
        /// The block is in use.
        const ALLOCATED = 0b001;
        /// The block to the left is in use (so this block has no footer to read there).
        const PREV_ALLOCATED = 0b010;
    }
}

/// Reads the metadata word at heap offset `at`.
#[inline]
fn load(heap: &MemLib, at: usize) -> u32 {
    // SAFETY: `at` is a header, link or footer slot of a block reached and sized by the
    // rules in the module docs, which put it below the break.
    unsafe { heap.read_unchecked(at) }
}

/// Writes the metadata word at heap offset `at`.
#[inline]
fn store(heap: &mut MemLib, at: usize, word: u32) {
    // SAFETY: as for `load`; the word is metadata, never part of a live payload.
    unsafe { heap.write_unchecked(at, word) }
}

/// True when a free block at `block` can have its header and both links read: they lie
/// below the break (rule 1 of the module docs, for a link target).
#[inline]
pub(crate) fn in_heap(heap: &MemLib, block: Block) -> bool {
    block.payload() + 2 * HEADER <= heap.heap_size()
}

/// A block header: the block's size with [`HeaderFlags`] in the low bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header(u32);

impl Header {
    /// A header for a block of `size` bytes (a multiple of 8, at most `MAX_BLOCK`, 4 GiB - 8).
    ///
    /// # Panics
    /// For any other size: the callers never ask for one, and a size that does not fit
    /// must never be truncated into a header.
    #[inline]
    #[track_caller]
    pub fn new(size: usize, flags: HeaderFlags) -> Header {
        if size & FLAG_BITS as usize != 0 || size > MAX_BLOCK {
            bad_size(size);
        }
        Header(size as u32 | flags.bits())
    }

    /// The raw word.
    pub const fn word(self) -> u32 {
        self.0
    }

    /// Reads a raw word as a header.
    pub const fn from_word(word: u32) -> Header {
        Header(word)
    }

    /// The block size in bytes, header included.
    pub const fn size(self) -> usize {
        (self.0 & !FLAG_BITS) as usize
    }

    /// The flags, including any bits no constant names.
    pub const fn flags(self) -> HeaderFlags {
        HeaderFlags::from_bits_retain(self.0 & FLAG_BITS)
    }

    /// True for a block in use (and for the epilogue).
    pub const fn is_allocated(self) -> bool {
        self.0 & HeaderFlags::ALLOCATED.bits() != 0
    }

    /// True when the block to the left is in use.
    pub const fn prev_allocated(self) -> bool {
        self.0 & HeaderFlags::PREV_ALLOCATED.bits() != 0
    }

    /// The same header with `PREV_ALLOCATED` set to `prev_allocated`.
    pub const fn with_prev_allocated(self, prev_allocated: bool) -> Header {
        let bit = HeaderFlags::PREV_ALLOCATED.bits();
        Header(if prev_allocated { self.0 | bit } else { self.0 & !bit })
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_size(size: usize) -> ! {
    panic!("no header holds a block of {size} bytes (multiples of 8 up to {MAX_BLOCK})")
}

impl fmt::Debug for Header {
    /// `Header { size: 48, allocated, prev free }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_allocated() { "allocated" } else { "free" };
        let prev = if self.prev_allocated() { "prev allocated" } else { "prev free" };
        write!(f, "Header {{ size: {}, {state}, {prev}", self.size())?;
        let unknown = self.0 & FLAG_BITS & !HeaderFlags::all().bits();
        if unknown != 0 {
            write!(f, ", unknown flags: {unknown:#05b}")?;
        }
        write!(f, " }}")
    }
}

/// The flags of an allocated block whose left neighbour is as given.
pub(crate) fn allocated(prev_allocated: bool) -> HeaderFlags {
    if prev_allocated { HeaderFlags::ALLOCATED | HeaderFlags::PREV_ALLOCATED } else { HeaderFlags::ALLOCATED }
}

/// A block, named by the heap offset of its header.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Block(usize);

impl Block {
    /// The block whose header is at heap offset `offset`.
    pub(crate) const fn at(offset: usize) -> Block {
        Block(offset)
    }

    /// The block whose payload starts at heap offset `payload`.
    pub(crate) const fn from_payload(payload: usize) -> Block {
        Block(payload.wrapping_sub(HEADER))
    }

    /// The heap offset of the header.
    pub(crate) const fn offset(self) -> usize {
        self.0
    }

    /// The heap offset of the payload.
    pub(crate) const fn payload(self) -> usize {
        self.0 + HEADER
    }

    /// The block that starts `bytes` after this one.
    pub(crate) const fn plus(self, bytes: usize) -> Block {
        Block(self.0 + bytes)
    }

    pub(crate) fn header(self, heap: &MemLib) -> Header {
        Header(load(heap, self.0))
    }

    pub(crate) fn set_header(self, heap: &mut MemLib, header: Header) {
        store(heap, self.0, header.0);
    }

    /// Makes this a free block of `size` bytes: header and footer. The left neighbour
    /// is allocated, except where two free blocks could not merge because together
    /// they would exceed [`MAX_BLOCK`].
    pub(crate) fn set_free(self, heap: &mut MemLib, size: usize, prev_allocated: bool) {
        let flags = if prev_allocated { HeaderFlags::PREV_ALLOCATED } else { HeaderFlags::empty() };
        self.set_header(heap, Header::new(size, flags));
        store(heap, self.0 + size - HEADER, size as u32);
    }

    /// The footer word of a free block of `size` bytes.
    pub(crate) fn footer(self, heap: &MemLib, size: usize) -> u32 {
        load(heap, self.0 + size - HEADER)
    }

    /// Sets or clears the right neighbour's `PREV_ALLOCATED` bit, for a block of `size`.
    pub(crate) fn tell_next(self, heap: &mut MemLib, size: usize, allocated: bool) {
        let next = self.plus(size);
        let header = next.header(heap);
        next.set_header(heap, header.with_prev_allocated(allocated));
    }

    /// The free left neighbour and its size, found through its footer, which must
    /// agree with the neighbour's header. Only meaningful when this block's
    /// `PREV_ALLOCATED` bit is clear.
    pub(crate) fn prev_free(self, heap: &MemLib) -> Result<(Block, usize), Corruption> {
        let size = load(heap, self.0 - HEADER) as usize;
        let corrupted = Corruption::new("corrupted size vs. prev_size", self.0);
        if size < MIN_FREE || size & FLAG_BITS as usize != 0 || size > self.0 {
            return Err(corrupted);
        }
        let prev = Block(self.0 - size);
        let header = prev.header(heap);
        if header.is_allocated() || header.size() != size {
            return Err(corrupted);
        }
        Ok((prev, size))
    }

    /// The next free block on this free block's list.
    pub(crate) fn next_link(self, heap: &MemLib) -> Option<Block> {
        decode(load(heap, self.payload()))
    }

    /// The previous free block on this free block's list.
    pub(crate) fn prev_link(self, heap: &MemLib) -> Option<Block> {
        decode(load(heap, self.payload() + HEADER))
    }

    pub(crate) fn set_next_link(self, heap: &mut MemLib, next: Option<Block>) {
        store(heap, self.payload(), encode(next));
    }

    pub(crate) fn set_prev_link(self, heap: &mut MemLib, prev: Option<Block>) {
        store(heap, self.payload() + HEADER, encode(prev));
    }
}

/// A link as stored: the payload offset / 8, or 0 for none (no payload is at offset 0).
pub(crate) fn encode(block: Option<Block>) -> u32 {
    block.map_or(0, |b| (b.payload() >> LINK_SHIFT) as u32)
}

/// The block a stored link names.
pub(crate) fn decode(link: u32) -> Option<Block> {
    (link != 0).then(|| Block::from_payload((link as usize) << LINK_SHIFT))
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block@{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_pack_size_and_flags() {
        let h = Header::new(48, HeaderFlags::ALLOCATED);
        assert_eq!((h.size(), h.is_allocated(), h.prev_allocated(), h.word()), (48, true, false, 49));
        assert_eq!(format!("{h:?}"), "Header { size: 48, allocated, prev free }");
        let h = h.with_prev_allocated(true);
        assert_eq!(format!("{h:?}"), "Header { size: 48, allocated, prev allocated }");
        assert_eq!(h.with_prev_allocated(false).word(), 49);
        assert_eq!(
            format!("{:?}", Header::from_word(0x34)),
            "Header { size: 48, free, prev free, unknown flags: 0b100 }"
        );
    }

    #[test]
    fn links_round_trip() {
        for payload in [8, 16, 4096, MAX_HEAP & !7] {
            let b = Block::from_payload(payload);
            assert_eq!(decode(encode(Some(b))), Some(b));
        }
        assert_eq!(decode(encode(None)), None);
    }
}
