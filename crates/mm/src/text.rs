//! Text built on the stack: the wrappers' fatal messages and the preload recorder's log
//! lines, formatted without allocating (they are written from inside `malloc`).

/// At most `N` bytes of text. Pushing past the end truncates rather than panics: every
/// caller sizes its line for what it writes, and a cut message beats an abort in `malloc`.
pub struct Line<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Line<N> {
    fn default() -> Self {
        Line { bytes: [0; N], len: 0 }
    }
}

impl<const N: usize> Line<N> {
    /// An empty line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` (as much of them as fits).
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

    /// Appends `value` in decimal.
    pub fn dec(&mut self, value: u64) -> &mut Self {
        self.digits(value, 10)
    }

    /// Appends `value` in lowercase hexadecimal, without `0x`.
    pub fn hex(&mut self, value: usize) -> &mut Self {
        self.digits(value as u64, 16)
    }

    /// The text so far.
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
