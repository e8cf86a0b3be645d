//! The bytes the driver writes into every block, and reads back.
//!
//! Each block is filled, on allocation, with a pattern derived from a key and each
//! byte's offset, so a block overwritten by a neighbour, moved without its data by
//! `realloc`, or handed out twice is caught the next time it is read. The replay keys a
//! block by the op that made it, so every block has its own pattern, even one
//! allocated again under a reused trace id. Because the pattern depends only on
//! `(key, offset)`, a block resized by `realloc` (which keeps its key) must still match
//! it over its first `min(old, new)` bytes.

/// The byte at `offset` of the block whose key spreads to `key`.
fn pattern_byte(key: u64, offset: usize) -> u8 {
    // Eight different bytes from the key, then the word index folded in, so that a
    // copy shifted by any whole number of bytes does not match by accident.
    ((key >> ((offset % 8) * 8)) as u8) ^ ((offset / 8) as u8).wrapping_mul(0x9D)
}

/// Spreads a block's key over 64 bits (the splitmix64 finaliser).
fn key_of(id: usize) -> u64 {
    let mut z = (id as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the pattern of the block keyed `id` over `bytes[from..]`.
pub fn fill(bytes: &mut [u8], id: usize, from: usize) {
    let key = key_of(id);
    for (offset, byte) in bytes.iter_mut().enumerate().skip(from) {
        *byte = pattern_byte(key, offset);
    }
}

/// The first offset at which `bytes` differs from the pattern of the block keyed `id`,
/// with the byte expected and the byte found.
pub fn first_mismatch(bytes: &[u8], id: usize) -> Option<(usize, u8, u8)> {
    let key = key_of(id);
    bytes.iter().enumerate().find_map(|(offset, &found)| {
        let expected = pattern_byte(key, offset);
        (found != expected).then_some((offset, expected, found))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_verify_round_trips() {
        let mut block = vec![0u8; 100];
        fill(&mut block, 7, 0);
        assert_eq!(first_mismatch(&block, 7), None);
        assert!(first_mismatch(&block, 8).is_some(), "another id's pattern must differ");
        block[42] ^= 1;
        let (offset, expected, found) = first_mismatch(&block, 7).unwrap();
        assert_eq!((offset, expected ^ 1), (42, found));
    }

    #[test]
    fn shifted_copies_do_not_match() {
        let mut block = vec![0u8; 64];
        fill(&mut block, 3, 0);
        for shift in 1..16 {
            assert!(first_mismatch(&block[shift..], 3).is_some(), "shift {shift}");
        }
    }

    #[test]
    fn fill_from_keeps_the_prefix() {
        let mut block = vec![0xEEu8; 16];
        fill(&mut block, 1, 8);
        assert!(block[..8].iter().all(|&b| b == 0xEE));
        assert_eq!(first_mismatch(&block[..8], 1).map(|m| m.0), Some(0));
    }
}
