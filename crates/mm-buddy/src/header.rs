//! The block header: one 16-bit word in front of every block's payload.
//!
//! ```text
//!   15     13 12     10    9     8    7   6   5                 0
//!  +---------+---------+------+-----+-------+---------------------+
//!  |0 (spare)| segment | FREE |ALLOC|   0   | order (log2 of size) |
//!  +---------+---------+------+-----+-------+---------------------+
//! ```
//!
//! The order is six bits (blocks of up to 2^63 bytes can be named); exactly one of
//! [`HeaderFlags::ALLOCATED`] and [`HeaderFlags::FREE`] is set in a sound header, so an
//! all-zero word (memory never written) is never mistaken for a block. The three
//! segment bits name the segment the block lies in (see the crate docs' "Growth"), so
//! that `free` finds the segment, whose start its buddy arithmetic counts from, in the
//! word it reads anyway, instead of searching the segment table.

use std::fmt;

use bitflags::bitflags;

/// Bytes of header in front of every payload.
pub const HEADER_BYTES: usize = size_of::<u16>();

/// Bits of a header that hold the order: six, enough to name blocks of up to `2^63`
/// bytes.
const ORDER_BITS: u32 = 6;

/// The bits of a header that hold the order.
const ORDER_MASK: u16 = (1 << ORDER_BITS) - 1;

/// Where the segment number starts in a header.
const SEGMENT_SHIFT: u32 = 10;
/// Bits of a header that hold the segment number: three, one per segment the table
/// can hold ([`MAX_SEGMENTS`](crate::MAX_SEGMENTS)).
const SEGMENT_BITS: u32 = 3;
/// The bits of a header that hold the segment number.
const SEGMENT_MASK: u16 = ((1 << SEGMENT_BITS) - 1) << SEGMENT_SHIFT;

// Every segment the table can hold has a number the header can carry.
const _: () = assert!(crate::arena::MAX_SEGMENTS == 1 << SEGMENT_BITS);

bitflags! {
    /// The state bits of a [`Header`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct HeaderFlags: u16 {
        /// The block is handed out to a caller.
        const ALLOCATED = 1 << 8;
        /// The block is on the free list of its order.
        const FREE = 1 << 9;
    }
}

/// A block header: the block's order, whether it is allocated or free, and the number
/// of the segment it lies in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header(u16);

impl Header {
    /// The header of an allocated block of `2^order` bytes in segment `segment`.
    ///
    /// # Panics
    /// When `order` does not fit in the header's six bits or `segment` in its three (no
    /// heap has such a block: the allocator never asks for one, and neither may ever be
    /// truncated).
    #[inline]
    pub const fn allocated(order: u32, segment: usize) -> Header {
        Header(checked_order(order) | checked_segment(segment) | HeaderFlags::ALLOCATED.bits())
    }

    /// The header of a free block of `2^order` bytes in segment `segment`.
    ///
    /// # Panics
    /// As [`Header::allocated`].
    #[inline]
    pub const fn free(order: u32, segment: usize) -> Header {
        Header(checked_order(order) | checked_segment(segment) | HeaderFlags::FREE.bits())
    }

    /// Reads a raw word as a header (e.g. one found in a damaged heap).
    pub const fn from_word(word: u16) -> Header {
        Header(word)
    }

    /// The raw word.
    pub const fn word(self) -> u16 {
        self.0
    }

    /// The block's order: its size is `2^order` bytes, header included.
    pub const fn order(self) -> u32 {
        (self.0 & ORDER_MASK) as u32
    }

    /// The number of the segment the block lies in.
    pub const fn segment(self) -> usize {
        ((self.0 & SEGMENT_MASK) >> SEGMENT_SHIFT) as usize
    }

    /// The same header with its segment number cleared: what `free` and unlinking
    /// compare when they do not care which segment a block lies in.
    pub const fn without_segment(self) -> Header {
        Header(self.0 & !SEGMENT_MASK)
    }

    /// The state flags, including any bits no [`HeaderFlags`] constant names (the order
    /// and the segment number excluded).
    pub const fn flags(self) -> HeaderFlags {
        HeaderFlags::from_bits_retain(self.0 & !ORDER_MASK & !SEGMENT_MASK)
    }

    /// True for a free block (and only a sound header says so: the allocated bit is clear).
    pub const fn is_free(self) -> bool {
        self.0 & STATE_BITS == FREE_BIT
    }

    /// True for an allocated block.
    pub const fn is_allocated(self) -> bool {
        self.0 & STATE_BITS == ALLOCATED_BIT
    }

    /// Bits that are neither the order, nor the segment number, nor a known flag; a
    /// sound header has none.
    pub const fn unknown_bits(self) -> u16 {
        self.0 & !ORDER_MASK & !SEGMENT_MASK & !STATE_BITS
    }
}

/// `order` as the header's order bits: a real check, in every build, since a larger
/// order would silently become a small one.
#[inline]
const fn checked_order(order: u32) -> u16 {
    assert!(order <= ORDER_MASK as u32, "a block order must fit in the header's six bits");
    order as u16
}

/// `segment` as the header's segment bits: a real check, in every build, as for the
/// order.
#[inline]
const fn checked_segment(segment: usize) -> u16 {
    assert!(segment < 1 << SEGMENT_BITS, "a segment number must fit in the header's three bits");
    (segment as u16) << SEGMENT_SHIFT
}

// Plain masks for the hot paths.
const ALLOCATED_BIT: u16 = HeaderFlags::ALLOCATED.bits();
const FREE_BIT: u16 = HeaderFlags::FREE.bits();
const STATE_BITS: u16 = ALLOCATED_BIT | FREE_BIT;

impl fmt::Debug for Header {
    /// `Header { order: 7, allocated }`, with the segment when it is not the first
    /// (`Header { order: 7, free, segment 2 }`) and a broken state or stray bits spelled
    /// out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.0 & STATE_BITS {
            ALLOCATED_BIT => "allocated",
            FREE_BIT => "free",
            0 => "neither allocated nor free",
            _ => "both allocated and free",
        };
        write!(f, "Header {{ order: {}, {state}", self.order())?;
        if self.segment() != 0 {
            write!(f, ", segment {}", self.segment())?;
        }
        if self.unknown_bits() != 0 {
            write!(f, ", unknown bits: {:#06x}", self.unknown_bits())?;
        }
        write!(f, " }}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_pack_order_and_state() {
        let h = Header::allocated(12, 0);
        assert_eq!((h.order(), h.is_allocated(), h.is_free(), h.segment()), (12, true, false, 0));
        assert_eq!(h.word(), 0x010c);
        assert_eq!(Header::free(4, 0).word(), 0x0204);
        assert_eq!(Header::free(4, 0).flags(), HeaderFlags::FREE);
        assert_eq!(format!("{h:?}"), "Header { order: 12, allocated }");
        assert_eq!(format!("{:?}", Header::free(63, 0)), "Header { order: 63, free }");
        // The segment number: bits 10 to 12, no flag and no unknown bit.
        let s = Header::free(5, 7);
        assert_eq!((s.word(), s.segment(), s.order(), s.flags()), (0x1e05, 7, 5, HeaderFlags::FREE));
        assert_eq!((s.unknown_bits(), s.without_segment()), (0, Header::free(5, 0)));
        assert_eq!(format!("{s:?}"), "Header { order: 5, free, segment 7 }");
        let zero = Header::from_word(0);
        assert!(!zero.is_free() && !zero.is_allocated());
        assert_eq!(format!("{zero:?}"), "Header { order: 0, neither allocated nor free }");
        let both = Header::from_word(0x0305);
        assert!(!both.is_free() && !both.is_allocated());
        assert_eq!(
            format!("{:?}", Header::from_word(0x8205)),
            "Header { order: 5, free, unknown bits: 0x8000 }"
        );
        assert_eq!(Header::from_word(0x8205).unknown_bits(), 0x8000);
        assert_eq!(HEADER_BYTES, 2);
    }
}
