//! The payload alignment a strategy is configured with, and why a configuration is
//! refused.

use thiserror::Error;

use crate::memlib::PAGE_SIZE;

/// A payload alignment: a power of two between [`Align::MIN`] and [`Align::MAX`].
///
/// Strategies take the alignment as configuration rather than a hard-wired constant so
/// the same code serves the classic 8-byte contract and the 16-byte alignment that
/// x86-64 C programs expect from `malloc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Align(usize);

/// Why a strategy could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The alignment is not a power of two in the supported range.
    #[error("{}", bad_alignment_message(*.0))]
    BadAlignment(usize),
}

/// Says which rule an alignment breaks, and the range it must be in: a power of two
/// outside the range (8192, say) is not "not a power of two".
fn bad_alignment_message(bytes: usize) -> String {
    let (min, max) = (Align::MIN.get(), Align::MAX.get());
    if bytes.is_power_of_two() {
        format!("alignment {bytes} is out of range: it must be a power of two from {min} to {max}")
    } else {
        format!("alignment {bytes} is not a power of two (it must be a power of two from {min} to {max})")
    }
}

impl Align {
    /// The classic lab's alignment, and the smallest supported.
    pub const MIN: Align = Align(8);
    /// x86-64's `max_align_t`, what C programs expect from `malloc`.
    pub const SIXTEEN: Align = Align(16);
    /// The largest supported: one page of the simulated heap.
    pub const MAX: Align = Align(PAGE_SIZE);

    /// Validates `bytes` as an alignment.
    pub fn new(bytes: usize) -> Result<Align, ConfigError> {
        if bytes.is_power_of_two() && (Self::MIN.0..=Self::MAX.0).contains(&bytes) {
            Ok(Align(bytes))
        } else {
            Err(ConfigError::BadAlignment(bytes))
        }
    }

    /// The alignment in bytes.
    pub const fn get(self) -> usize {
        self.0
    }

    /// Rounds `n` up to a multiple of the alignment; `None` on overflow.
    pub const fn round_up(self, n: usize) -> Option<usize> {
        match n.checked_add(self.0 - 1) {
            Some(m) => Some(m & !(self.0 - 1)),
            None => None,
        }
    }

    /// True when `n` (an address or a size) is a multiple of the alignment.
    pub const fn is_aligned(self, n: usize) -> bool {
        n & (self.0 - 1) == 0
    }
}

impl Default for Align {
    fn default() -> Self {
        Align::MIN
    }
}

impl std::fmt::Display for Align {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignments_are_validated_and_round() {
        assert!(Align::new(4).is_err());
        assert!(Align::new(24).is_err());
        assert!(Align::new(8192).is_err());
        let a = Align::new(16).unwrap();
        assert_eq!(a.round_up(1), Some(16));
        assert_eq!(a.round_up(32), Some(32));
        assert_eq!(a.round_up(usize::MAX - 3), None);
        assert!(a.is_aligned(48) && !a.is_aligned(40));
        assert_eq!(
            ConfigError::BadAlignment(3).to_string(),
            "alignment 3 is not a power of two (it must be a power of two from 8 to 4096)"
        );
        assert_eq!(
            ConfigError::BadAlignment(8192).to_string(),
            "alignment 8192 is out of range: it must be a power of two from 8 to 4096"
        );
        assert_eq!(
            ConfigError::BadAlignment(4).to_string(),
            "alignment 4 is out of range: it must be a power of two from 8 to 4096"
        );
    }
}
