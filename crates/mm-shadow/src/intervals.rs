//! The live blocks' address intervals.

use std::collections::BTreeMap;

/// A live interval that a new block overlaps: `[start, end)`, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap<O> {
    /// The live interval's first byte.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Its owner, as the checker named it.
    pub owner: O,
}

/// Disjoint address intervals `[start, end)`, each with an owner `O` (a block id, or
/// whatever names a block in the checker's messages).
#[derive(Debug, Clone)]
pub struct LiveIntervals<O> {
    /// Interval start -> (end, owner); never empty intervals.
    by_start: BTreeMap<usize, (usize, O)>,
}

impl<O> Default for LiveIntervals<O> {
    fn default() -> Self {
        LiveIntervals { by_start: BTreeMap::new() }
    }
}

impl<O: Copy> LiveIntervals<O> {
    /// No live interval.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enters the block of `len` bytes at `start` (at least one byte: a zero-byte block
    /// still takes an address of its own) for `owner`. When it overlaps a live interval,
    /// nothing is entered and that interval is returned (the one below `start` first).
    pub fn insert(&mut self, start: usize, len: usize, owner: O) -> Result<(), Overlap<O>> {
        let end = start.saturating_add(len.max(1));
        let before = self.by_start.range(..=start).next_back();
        let after = self.by_start.range(start.saturating_add(1)..).next();
        for (&other_start, &(other_end, other)) in before.into_iter().chain(after) {
            if other_start < end && start < other_end {
                return Err(Overlap { start: other_start, end: other_end, owner: other });
            }
        }
        self.by_start.insert(start, (end, owner));
        Ok(())
    }

    /// Takes the interval that starts at `start` out; its owner, if there was one.
    pub fn remove(&mut self, start: usize) -> Option<O> {
        self.by_start.remove(&start).map(|(_, owner)| owner)
    }

    /// Forgets every interval (the heap was reset).
    pub fn clear(&mut self) {
        self.by_start.clear();
    }

    /// How many intervals are live.
    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    /// True when no interval is live.
    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_found_on_either_side_and_zero_bytes_count_as_one() {
        let mut live = LiveIntervals::new();
        assert_eq!(live.insert(100, 50, 'a'), Ok(()));
        assert_eq!(live.insert(200, 0, 'z'), Ok(()));
        assert_eq!(live.insert(150, 50, 'b'), Ok(()), "touching is not overlapping");
        assert_eq!(live.insert(90, 11, 'c'), Err(Overlap { start: 100, end: 150, owner: 'a' }));
        assert_eq!(live.insert(120, 1, 'c'), Err(Overlap { start: 100, end: 150, owner: 'a' }));
        assert_eq!(live.insert(200, 0, 'y'), Err(Overlap { start: 200, end: 201, owner: 'z' }));
        assert_eq!(live.insert(199, 2, 'y'), Err(Overlap { start: 150, end: 200, owner: 'b' }));
        assert_eq!(live.len(), 3);
        assert_eq!(live.remove(150), Some('b'));
        assert_eq!(live.remove(150), None);
        assert_eq!(live.insert(199, 1, 'y'), Ok(()));
        live.clear();
        assert!(live.is_empty());
    }
}
