//! The payload pattern: the bytes a checker writes into every block it is handed, and
//! reads back.
//!
//! A block's pattern is a window, starting at a place chosen by the block's key, into a
//! fixed table of pseudo-random nonzero bytes whose period [`PATTERN_PERIOD`] is a
//! prime. So a copy that is shifted, truncated, zeroed or taken from another block shows
//! up, and filling or verifying a block is a `memcpy`/`memcmp` even in debug builds.
//! Because the pattern depends only on `(key, offset)`, a block resized by `realloc`
//! (which keeps its key) must still match it over its first `min(old, new)` bytes.

/// The period of the pattern, a prime so that it shares no factor with any alignment or
/// block size.
pub const PATTERN_PERIOD: usize = 4093;

/// Pseudo-random nonzero bytes, twice over, so any window of up to `PATTERN_PERIOD`
/// bytes is one contiguous slice. Nonzero, so a zeroed copy never passes for data.
static PATTERN: [u8; 2 * PATTERN_PERIOD] = pattern_table();

const fn pattern_table() -> [u8; 2 * PATTERN_PERIOD] {
    let mut table = [0u8; 2 * PATTERN_PERIOD];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut i = 0;
    while i < PATTERN_PERIOD {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let byte = match (x >> 32) as u8 {
            0 => 0xa5,
            b => b,
        };
        table[i] = byte;
        table[i + PATTERN_PERIOD] = byte;
        i += 1;
    }
    table
}

/// The first byte of a block whose pattern does not match: where, what it should be,
/// and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The byte's offset in the block.
    pub offset: usize,
    /// The pattern's byte there.
    pub expected: u8,
    /// The byte found.
    pub found: u8,
}

/// Where in the table the pattern of the block keyed `key` starts.
fn start(key: u64) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize % PATTERN_PERIOD
}

/// The pattern's byte at `offset` of the block keyed `key`.
pub fn byte(key: u64, offset: usize) -> u8 {
    PATTERN[(start(key) + offset % PATTERN_PERIOD) % PATTERN_PERIOD]
}

/// Calls `f(chunk_offset, pattern_chunk)` over `len` bytes of `key`'s pattern from
/// block offset `from`, in slices of at most one period, while `f` returns true.
fn for_chunks(key: u64, from: usize, len: usize, mut f: impl FnMut(usize, &[u8]) -> bool) {
    let mut done = 0;
    while done < len {
        let k = (start(key) + (from + done) % PATTERN_PERIOD) % PATTERN_PERIOD;
        let n = (len - done).min(PATTERN_PERIOD);
        if !f(done, &PATTERN[k..k + n]) {
            return;
        }
        done += n;
    }
}

/// Fills `buf`, which holds the bytes of the block keyed `key` from offset `from` on,
/// with its pattern.
pub fn fill(key: u64, buf: &mut [u8], from: usize) {
    for_chunks(key, from, buf.len(), |at, chunk| {
        buf[at..at + chunk.len()].copy_from_slice(chunk);
        true
    });
}

/// The first byte of `data` (the bytes of the block keyed `key` from offset `from` on)
/// that is not its pattern; its offset is counted from the start of `data`.
pub fn mismatch(key: u64, data: &[u8], from: usize) -> Option<Mismatch> {
    let mut bad = None;
    for_chunks(key, from, data.len(), |at, chunk| {
        let got = &data[at..at + chunk.len()];
        if got == chunk {
            return true;
        }
        bad = got.iter().zip(chunk).position(|(a, b)| a != b).map(|i| Mismatch {
            offset: at + i,
            expected: chunk[i],
            found: got[i],
        });
        false
    });
    bad
}

/// Fills bytes `from..len` of the live block at `ptr` with the pattern keyed `key`.
///
/// # Safety
/// `[ptr, ptr + len)` is a live block the caller may write, and nothing else reads or
/// writes it meanwhile.
pub unsafe fn fill_block(ptr: *mut u8, len: usize, key: u64, from: usize) {
    if from >= len {
        return;
    }
    // SAFETY: the caller guarantees the bytes are a live block that is ours to write.
    let buf = unsafe { std::slice::from_raw_parts_mut(ptr.add(from), len - from) };
    fill(key, buf, from);
}

/// Checks that the first `len` bytes of the live block at `ptr` are its pattern keyed
/// `key`.
///
/// # Safety
/// `[ptr, ptr + len)` is readable and nothing writes it meanwhile.
pub unsafe fn check_block(ptr: *const u8, len: usize, key: u64) -> Result<(), Mismatch> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller guarantees the bytes are readable and not written meanwhile.
    let data = unsafe { std::slice::from_raw_parts(ptr, len) };
    mismatch(key, data, 0).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_round_trip_across_periods_and_offsets() {
        let key = 7;
        let mut buf = vec![0u8; 3 * PATTERN_PERIOD + 5];
        fill(key, &mut buf, 0);
        assert_eq!(mismatch(key, &buf, 0), None);
        assert!(buf.iter().all(|&b| b != 0));
        assert!((0..buf.len()).all(|i| buf[i] == byte(key, i)));
        // A tail filled from an offset continues the same pattern.
        let mut tail = vec![0u8; 100];
        fill(key, &mut tail, 5000);
        assert_eq!(&tail[..], &buf[5000..5100]);
        assert_eq!(mismatch(key, &buf[5000..5100], 5000), None);
    }

    #[test]
    fn mismatches_are_found_where_they_are() {
        let key = 3;
        let mut buf = vec![0u8; 10_000];
        fill(key, &mut buf, 0);
        buf[9001] ^= 1;
        let expected = byte(key, 9001);
        assert_eq!(mismatch(key, &buf, 0), Some(Mismatch { offset: 9001, expected, found: expected ^ 1 }));
        // Another block's pattern, or the same one shifted, does not pass.
        let mut other = vec![0u8; 256];
        fill(4, &mut other, 0);
        assert!(mismatch(key, &other, 0).is_some());
        for shift in 1..16 {
            assert!(mismatch(key, &buf[shift..shift + 256], 0).is_some(), "shift {shift}");
        }
    }

    #[test]
    fn blocks_are_filled_from_an_offset_and_checked() {
        let mut block = vec![0xEEu8; 64];
        // SAFETY: `block` is ours.
        unsafe { fill_block(block.as_mut_ptr(), 64, 1, 8) };
        assert!(block[..8].iter().all(|&b| b == 0xEE));
        // SAFETY: as above.
        unsafe {
            assert_eq!(check_block(block.as_ptr().add(8), 0, 1), Ok(()));
            assert_eq!(check_block(block.as_ptr(), 8, 1).unwrap_err().offset, 0);
            fill_block(block.as_mut_ptr(), 64, 1, 0);
            assert_eq!(check_block(block.as_ptr(), 64, 1), Ok(()));
        }
    }
}
