//! The errors of the contract: why `init` failed ([`InitError`]), what a heap checker
//! found ([`HeapCheckError`], [`Invariant`], a strategy's own [`Rule`]), and what `free`
//! and `realloc` refused ([`Misuse`], [`Corruption`]).
//!
//! They name no allocator and no wrapper: the trait ([`allocator`](crate::allocator))
//! and the wrappers of it build on this module, never the other way round.

use thiserror::Error;

use crate::memlib::SbrkError;

/// Why `init` failed. The heap is left as it was found or partly grown; a later `init`
/// on a reset heap may succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InitError {
    /// The heap could not grow to hold the strategy's initial structures.
    #[error("init: {0}")]
    Heap(#[from] SbrkError),
}

/// A broken heap invariant, found by [`Allocator::check_heap`](crate::Allocator::check_heap): which block, and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("heap check: block at heap offset {offset:#x}: {invariant}")]
pub struct HeapCheckError {
    /// Offset of the block (its first byte, header included) from `heap_lo`.
    pub offset: usize,
    /// The invariant that does not hold.
    pub invariant: Invariant,
}

impl HeapCheckError {
    /// A broken `invariant` at heap `offset`.
    pub fn new(offset: usize, invariant: Invariant) -> Self {
        HeapCheckError { offset, invariant }
    }
}

/// The invariants a heap checker verifies: those many strategies share, and
/// [`Invariant::Rule`] for a rule of one strategy's own, kept typed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Invariant {
    /// Boundary tags disagree.
    #[error("header says {header:#x}, footer says {footer:#x}")]
    HeaderFooterMismatch {
        /// The header word.
        header: usize,
        /// The footer word.
        footer: usize,
    },
    /// A block size that is not a multiple of the alignment.
    #[error("size {size} is not a multiple of the alignment {align}")]
    SizeNotAligned {
        /// The block size.
        size: usize,
        /// The alignment.
        align: usize,
    },
    /// A block smaller than the strategy's minimum block.
    #[error("size {size} is below the minimum block size {min}")]
    TooSmall {
        /// The block size.
        size: usize,
        /// The minimum.
        min: usize,
    },
    /// A payload address that is not aligned.
    #[error("payload is not aligned to {align} bytes")]
    PayloadMisaligned {
        /// The alignment.
        align: usize,
    },
    /// A block that runs past the break.
    #[error("block of {size} bytes runs past the end of the heap")]
    PastHeapEnd {
        /// The block size.
        size: usize,
    },
    /// Two neighbouring free blocks that immediate coalescing should have merged.
    #[error("free block is followed by another free block (not coalesced)")]
    Uncoalesced,
    /// The sentinel block at the start of the heap was overwritten.
    #[error("the prologue block is damaged")]
    BadPrologue,
    /// The sentinel header at the end of the heap is missing or wrong.
    #[error("the epilogue header is damaged or not at the end of the heap")]
    BadEpilogue,
    /// What a checker outside mmlab's strategies reports in its own words: a peer
    /// allocator's reading of its heap, a C allocator's `mm_checkheap`, a wrapper that
    /// could not check. Our strategies report their own rules as [`Invariant::Rule`].
    #[error("{0}")]
    Other(String),
    /// A numbered rule of one strategy (its crate documentation lists them), carried as
    /// the strategy's own typed value: tests match it with [`Invariant::rule`] instead
    /// of searching the message.
    #[error("{0}")]
    Rule(StrategyRule),
}

impl Invariant {
    /// A broken rule of the strategy whose rule type is `R`.
    pub fn rule_of<R: Rule>(rule: R) -> Invariant {
        Invariant::Rule(StrategyRule(std::sync::Arc::new(rule)))
    }

    /// The strategy's typed rule, when this is an [`Invariant::Rule`] of type `R`.
    pub fn rule<R: Rule>(&self) -> Option<&R> {
        match self {
            Invariant::Rule(StrategyRule(rule)) => {
                let any: &dyn std::any::Any = rule.as_any();
                any.downcast_ref::<R>()
            }
            _ => None,
        }
    }
}

/// A strategy's own heap rule: typically an enum with a variant per numbered invariant of
/// its crate documentation, each holding the values that break it.
pub trait Rule: std::any::Any + std::fmt::Debug + std::fmt::Display + Send + Sync {
    /// The rule's number in the strategy's crate documentation.
    fn number(&self) -> u32;
    /// Itself as `Any`, for [`Invariant::rule`]'s downcast.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A [`Rule`] behind a shared pointer, so that [`Invariant`] stays `Clone` and `Eq`
/// (two rules are equal when they print the same and have the same number).
#[derive(Clone)]
pub struct StrategyRule(std::sync::Arc<dyn Rule>);

impl StrategyRule {
    /// The rule's number in its strategy's documentation.
    pub fn number(&self) -> u32 {
        self.0.number()
    }
}

impl std::fmt::Debug for StrategyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for StrategyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {}: {}", self.0.number(), self.0)
    }
}

impl PartialEq for StrategyRule {
    fn eq(&self, other: &Self) -> bool {
        self.0.number() == other.0.number() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for StrategyRule {}

/// A misuse caught at `free` or `realloc`: a pointer the allocator refuses to act on.
/// Offsets are from the heap's start.
///
/// Every strategy makes the checks that are nearly free in every build (the pointer is
/// inside the heap and aligned; its block's header says allocated) and reports a failure
/// through [`Allocator::take_misuse`](crate::Allocator::take_misuse) instead of acting on the pointer; a checking
/// wrapper makes the exact checks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Misuse {
    /// The block was freed already.
    #[error("double free of the block at heap offset {offset:#x}")]
    DoubleFree {
        /// The payload's offset.
        offset: usize,
    },
    /// A pointer this allocator never returned (or one outside its heap).
    #[error("free of a pointer this allocator never returned (heap offset {offset:#x})")]
    InvalidPointer {
        /// The pointer's offset from the heap's start (wrapped for pointers below it).
        offset: usize,
    },
    /// The block's header no longer says what it said when the block was allocated.
    #[error(
        "the header of the block at heap offset {offset:#x} was overwritten \
         (usable size {recorded} when allocated, {found} now)"
    )]
    CorruptedHeader {
        /// The payload's offset.
        offset: usize,
        /// The usable size recorded at allocation.
        recorded: usize,
        /// The usable size the strategy reports now.
        found: usize,
    },
    /// The block's metadata or a neighbour's that the call would use is inconsistent
    /// (typically an overflow out of a block, or a write into a freed one).
    #[error("{0}")]
    Corrupted(Corruption),
}

impl Misuse {
    /// The operation name glibc would print with it.
    pub fn short(&self) -> &'static str {
        match self {
            Misuse::DoubleFree { .. } => "double free detected",
            Misuse::InvalidPointer { .. } => "invalid pointer",
            Misuse::CorruptedHeader { .. } => "corrupted block header",
            Misuse::Corrupted(corruption) => corruption.what,
        }
    }

    /// The heap offset the misuse concerns.
    pub fn offset(&self) -> usize {
        match *self {
            Misuse::DoubleFree { offset }
            | Misuse::InvalidPointer { offset }
            | Misuse::CorruptedHeader { offset, .. } => offset,
            Misuse::Corrupted(corruption) => corruption.offset,
        }
    }
}

/// Allocator metadata found inconsistent: what is wrong, and where. It holds only a
/// static text and a number, so that reporting it never allocates: it may be found
/// inside a program's `malloc`, where allocating would re-enter the broken heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{what} (heap offset {offset:#x})")]
pub struct Corruption {
    /// The broken rule, glibc-style: "corrupted double-linked list".
    pub what: &'static str,
    /// The heap offset of the block (or word) concerned.
    pub offset: usize,
}

impl Corruption {
    /// `what` is wrong at heap offset `offset`.
    pub const fn new(what: &'static str, offset: usize) -> Corruption {
        Corruption { what, offset }
    }

    /// Stops the operation that found it, by panicking with its text.
    ///
    /// An operation that finds its own metadata inconsistent cannot finish without
    /// reading or writing where the metadata points, so it stops. A panic (not an abort)
    /// lets a driver or a test report the broken run; the deployments (the global
    /// allocator, libmm, the preload library) turn it into an abort that says the heap
    /// is corrupted.
    #[cold]
    #[inline(never)]
    #[track_caller]
    pub fn panic(self) -> ! {
        panic!("{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_check_errors_name_block_and_rule() {
        let e = HeapCheckError::new(0x40, Invariant::Uncoalesced);
        assert_eq!(
            e.to_string(),
            "heap check: block at heap offset 0x40: free block is followed by another free block (not coalesced)"
        );
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum DemoRule {
        Odd { size: usize },
    }

    impl std::fmt::Display for DemoRule {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                DemoRule::Odd { size } => write!(f, "size {size} is odd"),
            }
        }
    }

    impl Rule for DemoRule {
        fn number(&self) -> u32 {
            3
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[test]
    fn a_strategy_rule_is_matched_by_type_and_printed_with_its_number() {
        let err = HeapCheckError::new(0x10, Invariant::rule_of(DemoRule::Odd { size: 7 }));
        assert_eq!(err.invariant.rule::<DemoRule>(), Some(&DemoRule::Odd { size: 7 }));
        assert_eq!(Invariant::Uncoalesced.rule::<DemoRule>(), None);
        assert_eq!(err.to_string(), "heap check: block at heap offset 0x10: rule 3: size 7 is odd");
        assert_eq!(err.clone(), err);
        assert_ne!(err.invariant, Invariant::rule_of(DemoRule::Odd { size: 9 }));
    }
}
