//! Size classes and the bitmap of non-empty classes.
//!
//! The map is two-level, as in TLSF: block sizes below [`EXACT_LIMIT`] get one class
//! per 8 bytes (every block in such a class has the same size, so the head of its list
//! is a perfect fit); above it, each power of two `[2^k, 2^(k+1))` is cut into
//! [`SUBCLASSES`] equal slices, so a class never spans more than 1/16 of its sizes.
//!
//! ```text
//!  size:   16  24  32 ... 248 | 256..271 272..287 ... 496..511 | 512..543 ... | ...
//!  class:   2   3   4 ...  31 |    32       33    ...    47    |    48    ... | ...
//!          one per 8 bytes    |     16 slices of [256, 512)    | 16 of [512, 1024)
//! ```
//!
//! *Trade-off:* more classes mean tighter fits (less splitting and less fragmentation)
//! but a bigger bitmap to search; 16 slices per power of two bound the waste of taking
//! any block of the next non-empty class to about 6%, and the whole map for 4 GiB blocks
//! is 416 classes: 7 words of bitmap, searched with a summary word and two
//! `trailing_zeros`.

/// The class granule: below [`EXACT_LIMIT`] there is one class per this many bytes,
/// the smallest step between block sizes (every block size is a multiple of 8, the
/// smallest alignment).
pub const GRANULE: usize = 8;

/// Sizes below this have one class per [`GRANULE`] bytes.
pub const EXACT_LIMIT: usize = 256;

/// log2 of [`EXACT_LIMIT`]: the first power of two that is cut into slices.
const EXACT_LIMIT_LOG2: usize = EXACT_LIMIT.trailing_zeros() as usize;

/// The classes below [`EXACT_LIMIT`], one per granule (class `c` holds size `8c`).
const EXACT_CLASSES: usize = EXACT_LIMIT / GRANULE;

/// log2 of the slices per power of two above [`EXACT_LIMIT`].
const SUBCLASS_BITS: u32 = 4;

/// Slices per power of two above [`EXACT_LIMIT`].
pub const SUBCLASSES: usize = 1 << SUBCLASS_BITS;

/// Bits of a block size: a header is 32 bits, so every size is below `2^32`, and the
/// last power of two cut into slices is `[2^31, 2^32)`.
const SIZE_BITS: usize = u32::BITS as usize;

/// Classes in all: the exact ones, then [`SUBCLASSES`] for each power of two from
/// `2^8` to `2^31` (416).
pub const CLASSES: usize = EXACT_CLASSES + (SIZE_BITS - EXACT_LIMIT_LOG2) * SUBCLASSES;

/// Bits in a bitmap word.
const WORD_BITS: usize = u64::BITS as usize;

/// Words of the bitmap: one bit per class.
const WORDS: usize = CLASSES.div_ceil(WORD_BITS);

// The summary word has a bit per bitmap word.
const _: () = assert!(WORDS <= WORD_BITS);

/// The class of a block of `size` bytes (a multiple of 8, below 2^32).
pub fn class_of(size: usize) -> usize {
    if size < EXACT_LIMIT {
        size / GRANULE
    } else {
        let log2 = usize::BITS - 1 - size.leading_zeros();
        let slice = (size >> (log2 - SUBCLASS_BITS)) & (SUBCLASSES - 1);
        EXACT_CLASSES + (log2 as usize - EXACT_LIMIT_LOG2) * SUBCLASSES + slice
    }
}

/// The smallest size in class `class`.
pub fn class_floor(class: usize) -> usize {
    if class < EXACT_CLASSES {
        class * GRANULE
    } else {
        let above = class - EXACT_CLASSES;
        let log2 = above / SUBCLASSES + EXACT_LIMIT_LOG2;
        (1 << log2) + (above % SUBCLASSES) * (1 << (log2 - SUBCLASS_BITS as usize))
    }
}

/// One bit per class, set iff the class's free list is non-empty, with a summary word
/// whose bit `w` is set iff `words[w]` is non-zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassBitmap {
    /// Bit `c % 64` of `words[c / 64]` is set iff class `c` has a free block.
    words: [u64; WORDS],
    /// Bit `w` is set iff `words[w] != 0`.
    summary: u64,
}

impl ClassBitmap {
    /// Marks `class` non-empty.
    pub fn set(&mut self, class: usize) {
        self.words[class / WORD_BITS] |= 1 << (class % WORD_BITS);
        self.summary |= 1 << (class / WORD_BITS);
    }

    /// Marks `class` empty.
    pub fn clear(&mut self, class: usize) {
        let word = &mut self.words[class / WORD_BITS];
        *word &= !(1 << (class % WORD_BITS));
        if *word == 0 {
            self.summary &= !(1 << (class / WORD_BITS));
        }
    }

    /// True when `class` is marked non-empty.
    pub fn contains(&self, class: usize) -> bool {
        self.words[class / WORD_BITS] & (1 << (class % WORD_BITS)) != 0
    }

    /// The first non-empty class at or above `class`.
    pub fn first_at_or_above(&self, class: usize) -> Option<usize> {
        if class >= CLASSES {
            return None;
        }
        let (word, bit) = (class / WORD_BITS, class % WORD_BITS);
        let here = self.words[word] & (u64::MAX << bit);
        if here != 0 {
            return Some(word * WORD_BITS + here.trailing_zeros() as usize);
        }
        let later = self.summary & (u64::MAX.checked_shl(word as u32 + 1).unwrap_or(0));
        (later != 0).then(|| {
            let word = later.trailing_zeros() as usize;
            word * WORD_BITS + self.words[word].trailing_zeros() as usize
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_monotonic_and_floors_invert_them() {
        let mut last = 0;
        for size in (16..1 << 20).step_by(8) {
            let c = class_of(size);
            assert!(c >= last, "class of {size} went down");
            assert!(
                class_floor(c) <= size && (c + 1 == CLASSES || size < class_floor(c + 1)),
                "{size} in {c}"
            );
            last = c;
        }
        assert_eq!(class_of(248), 31);
        assert_eq!(class_of(256), 32);
        assert_eq!(class_of(271), 32);
        assert_eq!(class_of(272), 33);
        assert_eq!(class_of(MAX_SIZE), CLASSES - 1);
        assert_eq!(class_floor(32), 256);
        assert_eq!((CLASSES, WORDS), (416, 7), "the numbers the docs and describe() quote");
    }

    const MAX_SIZE: usize = u32::MAX as usize & !7;

    #[test]
    fn slices_bound_the_waste_to_a_sixteenth() {
        for c in EXACT_CLASSES..CLASSES - 1 {
            let (lo, hi) = (class_floor(c), class_floor(c + 1));
            assert!((hi - lo) * SUBCLASSES <= lo, "class {c}: [{lo}, {hi})");
        }
    }

    #[test]
    fn the_bitmap_finds_the_next_non_empty_class() {
        let mut map = ClassBitmap::default();
        assert_eq!(map.first_at_or_above(0), None);
        for c in [3, 64, 200, CLASSES - 1] {
            map.set(c);
        }
        assert_eq!(map.first_at_or_above(0), Some(3));
        assert_eq!(map.first_at_or_above(3), Some(3));
        assert_eq!(map.first_at_or_above(4), Some(64));
        assert_eq!(map.first_at_or_above(65), Some(200));
        assert_eq!(map.first_at_or_above(201), Some(CLASSES - 1));
        assert_eq!(map.first_at_or_above(CLASSES), None);
        map.clear(64);
        assert!(!map.contains(64) && map.contains(200));
        assert_eq!(map.first_at_or_above(4), Some(200));
        map.clear(200);
        map.clear(CLASSES - 1);
        assert_eq!(map.first_at_or_above(4), None);
    }
}
