//! # mm: an mmlab strategy, for real
//!
//! Pick one strategy with a cargo feature named after it (the features are
//! [`STRATEGIES`]; with none named, segregated fits); it is exported as
//! [`DefaultAllocator`], built by [`default_allocator`]. [`LockedAllocator`] wraps any
//! strategy as a Rust `#[global_allocator]`:
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
//! ## Choosing the strategy
//!
//! The build script (`build.rs`) reads the enabled features, applies one rule
//! (`src/select.rs`) and passes the choice to the compiler as one cfg,
//! `mm_strategy = "<name>"`; each strategy's code is compiled under its own
//! `#[cfg(mm_strategy = "...")]`, made from its line in `src/strategies.rs`. The rule:
//!
//! * one strategy feature: that strategy. `default-strategy` (a default feature) gives
//!   way to it, so `--features buddy` is buddy;
//! * none: segregated fits if `default-strategy` is on, else a build error (`choose a
//!   strategy: ...`), as with `--no-default-features` alone;
//! * **all of them, as `--all-features` enables: segregated fits**, the documented
//!   default, with a build warning saying so. Workspace-wide `--all-features` builds
//!   (`cargo clippy --workspace --all-features`, rust-analyzer, docs) therefore work;
//! * any other two or more: a build error (`more than one strategy feature is enabled
//!   (...)`), a likely mistake.
//!
//! `mm-capi` and `mm-preload` forward their strategy features to these, one line each,
//! and repeat no rule. [`STRATEGIES`] lists the features; [`STRATEGY`] names this
//! build's choice.
//!
//! ### Adding a strategy to the facade
//!
//! A strategy crate `mm-mine` (type `mm_mine::Mine`, already in the root `Cargo.toml`'s
//! `[workspace.dependencies]`) becomes the facade's feature `mine` with two lines in
//! `crates/mm/Cargo.toml` and one in `crates/mm/src/strategies.rs`:
//!
//! ```toml
//! # crates/mm/Cargo.toml
//! [features]
//! mine = ["dep:mm-mine"]
//! [dependencies]
//! mm-mine = { workspace = true, optional = true }
//! ```
//!
//! ```text
//! // crates/mm/src/strategies.rs, inside `strategies! { ... }`
//! "mine" => mm_mine::Mine = |heap| mm_mine::Mine::new(heap, crate::ALIGN);
//! ```
//!
//! and one line in each deployment that should offer it: `mine = ["facade/mine"]`
//! under `[features]` in `crates/mm-capi/Cargo.toml` and in
//! `crates/mm-preload/Cargo.toml`. A feature in `Cargo.toml` without its line in
//! `strategies.rs` is a build error that says so. The facade's tests, and `mm-capi`'s
//! and `mm-preload`'s, loop over [`STRATEGIES`], so they test the new one too.
//!
//! ## When things go wrong
//!
//! The three ways of using a strategy for real, [`LockedAllocator`], `libmm`
//! (`crates/mm-capi`) and `libmm_preload.so` (`crates/mm-preload`), share how they stop a
//! program, as glibc does, rather than carry on with a damaged heap or hang:
//!
//! * [`lock`]: one lock that knows its owner, so a thread re-entering the allocator is
//!   told from one waiting for it, and that runs every call under `catch_unwind` (a
//!   single-threaded program passes it without atomics);
//! * [`fatal`]: the messages, written without allocating (misuse the strategy refused,
//!   a strategy's panic reported as a corrupted heap, re-entry);
//! * [`emergency`]: memory for the allocations a panic makes while its thread is inside
//!   the allocator, or a heap checker's report, which must not come from the heap.
//!
//! `LockedAllocator` and `libmm_preload.so` put per-thread caches of small free blocks
//! in front of the lock ([`cache`]), generic over the strategy.

pub mod cache;
pub mod emergency;
pub mod fatal;
mod global;
pub mod lock;
pub mod text;

pub use global::{DEFAULT_RESERVE, LockedAllocator};
pub use mm_core::hardened::{Hardened, Misuse};
pub use mm_core::{Align, Allocator, MemLib, PAGE_SIZE};

/// The alignment the facade's strategies serve: 16 bytes, what x86-64 and aarch64
/// programs expect of `malloc`.
pub const ALIGN: Align = Align::SIXTEEN;

/// Here each line of `src/strategies.rs` becomes a `mod chosen`, compiled only for the
/// strategy `build.rs` chose (`--cfg mm_strategy="<name>"`), and the names become
/// [`STRATEGIES`].
macro_rules! strategies {
    ($($name:literal => $strategy:ty = $build:expr;)+) => {
        /// The strategy features this facade offers (each also a feature of `mm-capi` and
        /// `mm-preload`), in the order of `src/strategies.rs`.
        pub const STRATEGIES: &[&str] = &[$($name),+];
        $(
            #[cfg(mm_strategy = $name)]
            mod chosen {
                /// The strategy chosen by the cargo feature.
                pub type Strategy = $strategy;
                /// Its name: the feature that chose it.
                pub const STRATEGY: &str = $name;
                /// Builds it, un-initialised, over `heap`, with 16-byte alignment.
                pub fn build(heap: crate::MemLib) -> Strategy {
                    let build: fn(crate::MemLib) -> Strategy = $build;
                    build(heap)
                }
            }
        )+
    };
}
include!("strategies.rs");

// The rule `build.rs` applies, compiled here only for its unit tests.
#[cfg(test)]
mod select;

pub use chosen::{STRATEGY, Strategy};

/// The allocator this build uses: the chosen strategy, wrapped in
/// [`Hardened`] when the `hardened` feature is on.
#[cfg(not(feature = "hardened"))]
pub type DefaultAllocator = Strategy;
/// The allocator this build uses: the chosen strategy, wrapped in
/// [`Hardened`] when the `hardened` feature is on.
#[cfg(feature = "hardened")]
pub type DefaultAllocator = mm_core::hardened::Hardened<Strategy>;

/// True when this build catches double frees, invalid frees and overwritten headers.
pub const HARDENED: bool = cfg!(feature = "hardened");

/// Builds the allocator, un-initialised, over `heap`, with 16-byte alignment.
pub fn default_allocator(heap: MemLib) -> DefaultAllocator {
    #[cfg(feature = "hardened")]
    return mm_core::hardened::Hardened::new(chosen::build(heap));
    #[cfg(not(feature = "hardened"))]
    chosen::build(heap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_and_this_builds_strategy_are_on_the_list() {
        assert!(STRATEGIES.contains(&select::DEFAULT));
        assert!(STRATEGIES.contains(&STRATEGY));
    }

    #[test]
    fn every_listed_strategy_name_is_a_feature_name_cargo_accepts() {
        for name in STRATEGIES {
            assert!(
                !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            assert!(!select::OTHER_FEATURES.contains(name), "{name} is a strategy and another feature");
        }
    }
}
