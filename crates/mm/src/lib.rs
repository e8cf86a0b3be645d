//! # mm: an mmlab strategy, for real
//!
//! Pick one strategy with a cargo feature (`implicit`, `explicit`, `segregated`, or
//! `buddy`; with none named, segregated fits); it is exported as [`DefaultAllocator`],
//! built by
//! [`default_allocator`]. [`LockedAllocator`] wraps any strategy as a Rust
//! `#[global_allocator]`:
//!
//! ```no_run
//! use mm::{DefaultAllocator, LockedAllocator};
//!
//! #[global_allocator]
//! static GLOBAL: LockedAllocator<DefaultAllocator> = LockedAllocator::new(mm::default_allocator);
//!
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect(); // served by the chosen strategy
//!     assert_eq!(v.iter().sum::<u64>(), 499_500);
//! }
//! ```
//!
//! ## When things go wrong
//!
//! The three ways of using a strategy for real, [`LockedAllocator`], `libmm`
//! (`crates/mm-capi`) and `libmm_preload.so` (`crates/mm-preload`), share how they stop a
//! program, as glibc does, rather than carry on with a damaged heap or hang:
//!
//! * [`lock`]: one lock that knows its owner, so a thread re-entering the allocator is
//!   told from one waiting for it, and that runs every call under `catch_unwind`;
//! * [`fatal`]: the messages, written without allocating (misuse the strategy refused,
//!   a strategy's panic reported as a corrupted heap, re-entry);
//! * [`emergency`]: memory for the allocations a panic makes while its thread is inside
//!   the allocator, or a heap checker's report, which must not come from the heap.

pub mod emergency;
pub mod fatal;
mod global;
pub mod lock;
pub mod text;

pub use global::{DEFAULT_RESERVE, LockedAllocator};
pub use mm_core::hardened::{Hardened, Misuse};
pub use mm_core::{Align, Allocator, MemLib, PAGE_SIZE};

#[cfg(not(any(
    feature = "implicit",
    feature = "explicit",
    feature = "segregated",
    feature = "buddy",
    feature = "default-strategy"
)))]
compile_error!(
    "mm: choose a strategy: enable exactly one of the features `implicit`, `explicit`, `segregated`, `buddy`"
);

#[cfg(any(
    all(feature = "implicit", any(feature = "explicit", feature = "segregated", feature = "buddy")),
    all(feature = "explicit", any(feature = "segregated", feature = "buddy")),
    all(feature = "segregated", feature = "buddy"),
))]
compile_error!(
    "mm: more than one strategy feature is enabled; enable exactly one of `implicit`, `explicit`, \
     `segregated`, `buddy`"
);

/// The alignment the facade's strategies serve: 16 bytes, what x86-64 and aarch64
/// programs expect of `malloc`.
pub const ALIGN: Align = Align::SIXTEEN;

// Exactly one of the four modules below compiles: each is gated on its feature being
// the only one, so a wrong choice reports the `compile_error!` above and nothing else.

#[cfg(all(feature = "implicit", not(any(feature = "explicit", feature = "segregated", feature = "buddy"))))]
mod chosen {
    /// The strategy chosen by the cargo feature.
    pub type Strategy = mm_implicit::Implicit;
    /// Its name.
    pub const STRATEGY: &str = "implicit";
    /// Builds it, un-initialised, over `heap`, with 16-byte alignment.
    pub fn build(heap: super::MemLib) -> Strategy {
        mm_implicit::Implicit::new(
            heap,
            mm_implicit::ImplicitConfig { align: super::ALIGN, ..Default::default() },
        )
    }
}

#[cfg(all(feature = "explicit", not(any(feature = "implicit", feature = "segregated", feature = "buddy"))))]
mod chosen {
    /// The strategy chosen by the cargo feature.
    pub type Strategy = mm_explicit::Explicit;
    /// Its name.
    pub const STRATEGY: &str = "explicit";
    /// Builds it, un-initialised, over `heap`, with 16-byte alignment.
    pub fn build(heap: super::MemLib) -> Strategy {
        mm_explicit::Explicit::new(
            heap,
            mm_explicit::ExplicitConfig { align: super::ALIGN, ..Default::default() },
        )
    }
}

#[cfg(all(
    any(feature = "segregated", feature = "default-strategy"),
    not(any(feature = "implicit", feature = "explicit", feature = "buddy"))
))]
mod chosen {
    /// The strategy chosen by the cargo feature.
    pub type Strategy = mm_segregated::Segregated;
    /// Its name.
    pub const STRATEGY: &str = "segregated";
    /// Builds it, un-initialised, over `heap`, with 16-byte alignment.
    pub fn build(heap: super::MemLib) -> Strategy {
        mm_segregated::Segregated::new(heap, mm_segregated::SegregatedConfig { align: super::ALIGN })
    }
}

#[cfg(all(feature = "buddy", not(any(feature = "implicit", feature = "explicit", feature = "segregated"))))]
mod chosen {
    /// The strategy chosen by the cargo feature.
    pub type Strategy = mm_buddy::Buddy;
    /// Its name.
    pub const STRATEGY: &str = "buddy";
    /// Builds it, un-initialised, over `heap`, with 16-byte alignment.
    pub fn build(heap: super::MemLib) -> Strategy {
        mm_buddy::Buddy::new(heap, mm_buddy::BuddyConfig::new(super::ALIGN))
    }
}

#[cfg(any(
    all(feature = "implicit", not(any(feature = "explicit", feature = "segregated", feature = "buddy"))),
    all(feature = "explicit", not(any(feature = "implicit", feature = "segregated", feature = "buddy"))),
    all(
        any(feature = "segregated", feature = "default-strategy"),
        not(any(feature = "implicit", feature = "explicit", feature = "buddy"))
    ),
    all(feature = "buddy", not(any(feature = "implicit", feature = "explicit", feature = "segregated"))),
))]
pub use selected::*;

/// The chosen strategy and the allocator built from it (compiled only when exactly one
/// strategy is chosen, so that a wrong choice reports only the `compile_error!`).
#[cfg(any(
    all(feature = "implicit", not(any(feature = "explicit", feature = "segregated", feature = "buddy"))),
    all(feature = "explicit", not(any(feature = "implicit", feature = "segregated", feature = "buddy"))),
    all(
        any(feature = "segregated", feature = "default-strategy"),
        not(any(feature = "implicit", feature = "explicit", feature = "buddy"))
    ),
    all(feature = "buddy", not(any(feature = "implicit", feature = "explicit", feature = "segregated"))),
))]
mod selected {
    use super::MemLib;
    pub use super::chosen::{STRATEGY, Strategy};

    /// The allocator this build uses: the chosen strategy, wrapped in
    /// [`Hardened`](mm_core::hardened::Hardened) when the `hardened` feature is on.
    #[cfg(not(feature = "hardened"))]
    pub type DefaultAllocator = Strategy;
    /// The allocator this build uses: the chosen strategy, wrapped in
    /// [`Hardened`](mm_core::hardened::Hardened) when the `hardened` feature is on.
    #[cfg(feature = "hardened")]
    pub type DefaultAllocator = mm_core::hardened::Hardened<Strategy>;

    /// True when this build catches double frees, invalid frees and overwritten headers.
    pub const HARDENED: bool = cfg!(feature = "hardened");

    /// Builds the allocator, un-initialised, over `heap`, with 16-byte alignment.
    pub fn default_allocator(heap: MemLib) -> DefaultAllocator {
        #[cfg(feature = "hardened")]
        return mm_core::hardened::Hardened::new(super::chosen::build(heap));
        #[cfg(not(feature = "hardened"))]
        super::chosen::build(heap)
    }
}
