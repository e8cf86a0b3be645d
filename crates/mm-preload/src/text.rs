//! Text built on the stack: the preload library's messages and log lines, formatted
//! without allocating (it runs inside `malloc`).

/// At most `N` bytes of text. Pushing past the end truncates rather than panics: every
/// caller sizes its line for what it writes, and a cut message beats an abort in `malloc`.
pub struct Line<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Line<N> {
    pub fn new() -> Self {
        Line { bytes: [0; N], len: 0 }
    }

    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        let n = bytes.len().min(N - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    fn digits(&mut self, mut value: u64, base: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b"0123456789abcdef"[(value % base) as usize];
            value /= base;
            if value == 0 {
                break;
            }
        }
        self.push(&digits[at..])
    }

    /// `value` in decimal.
    #[cfg_attr(not(feature = "record"), allow(dead_code))]
    pub fn dec(&mut self, value: u64) -> &mut Self {
        self.digits(value, 10)
    }

    /// `value` in lowercase hexadecimal, without `0x`.
    pub fn hex(&mut self, value: usize) -> &mut Self {
        self.digits(value as u64, 16)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_truncation() {
        let mut line = Line::<16>::new();
        line.push(b"m ").dec(4096).push(b" ").hex(0x7f3a);
        assert_eq!(line.as_bytes(), b"m 4096 7f3a");
        line.push(b" and much more");
        assert_eq!(line.as_bytes(), b"m 4096 7f3a and ");
        assert_eq!(Line::<4>::new().dec(0).as_bytes(), b"0");
    }
}
