//! The strategies the driver can race, by name.
//!
//! Adding a strategy crate to the race is one entry in [`STRATEGIES`]: its name, whether
//! the default race includes it, and a constructor from a heap and an alignment.
//!
//! With the `peers` feature (on by default) the list ends with the published Rust
//! allocators of `mm-peers`, after ours and before `libc`, so that every report shows
//! them side by side with ours under the same measurements (see `docs/peers.md`).

use mm_buddy::{Buddy, BuddyConfig};
use mm_buddy_bitmap::BuddyBitmap;
use mm_core::{Align, Allocator, MemLib};
use mm_explicit::{Explicit, ExplicitConfig, ExplicitTextbook, ExplicitTextbookConfig, FreeListOrder};
use mm_implicit::{Implicit, ImplicitConfig, Placement};
use mm_segregated::{Segregated, SegregatedConfig};

/// The name of the system allocator baseline.
pub const LIBC: &str = "libc";

/// One raceable strategy of ours.
pub struct StrategyInfo {
    /// The name used by `-s/--strategy` and in every report.
    pub name: &'static str,
    /// Whether a run without `-s` includes it (variants that only vary a teaching
    /// parameter are selectable by name but left out of the default race).
    pub in_default_race: bool,
    /// Builds the strategy, un-initialised, over `heap`, serving payloads aligned to `align`.
    pub build: fn(MemLib, Align) -> Box<dyn Allocator>,
}

fn implicit(heap: MemLib, align: Align, placement: Placement) -> Box<dyn Allocator> {
    Box::new(Implicit::new(heap, ImplicitConfig { align, placement }))
}

fn explicit(heap: MemLib, align: Align, order: FreeListOrder) -> Box<dyn Allocator> {
    Box::new(Explicit::new(heap, ExplicitConfig { align, order }))
}

/// Every strategy of ours, then (with the `peers` feature) the peers, in report order.
pub static STRATEGIES: &[StrategyInfo] = &[
    StrategyInfo {
        name: "implicit",
        in_default_race: true,
        build: |h, a| implicit(h, a, Placement::FirstFit),
    },
    StrategyInfo {
        name: "implicit-nextfit",
        in_default_race: false,
        build: |h, a| implicit(h, a, Placement::NextFit),
    },
    StrategyInfo {
        name: "implicit-bestfit",
        in_default_race: false,
        build: |h, a| implicit(h, a, Placement::BestFit),
    },
    StrategyInfo {
        name: "explicit",
        in_default_race: true,
        build: |h, a| explicit(h, a, FreeListOrder::Lifo),
    },
    StrategyInfo {
        name: "explicit-addr",
        in_default_race: false,
        build: |h, a| explicit(h, a, FreeListOrder::AddressOrdered),
    },
    // The textbook LIFO list that `explicit` tunes (docs/explicit.md).
    StrategyInfo {
        name: "explicit-textbook",
        in_default_race: false,
        build: |heap, align| Box::new(ExplicitTextbook::new(heap, ExplicitTextbookConfig::new(align))),
    },
    StrategyInfo {
        name: "segregated",
        in_default_race: true,
        build: |heap, align| Box::new(Segregated::new(heap, SegregatedConfig { align })),
    },
    StrategyInfo {
        name: "buddy",
        in_default_race: true,
        build: |heap, align| Box::new(Buddy::new(heap, BuddyConfig::new(align))),
    },
    // The header-free buddy system: order and state in bitmaps (issue 16).
    StrategyInfo {
        name: "buddy-bitmap",
        in_default_race: true,
        build: |heap, align| Box::new(BuddyBitmap::new(heap, align)),
    },
    // The lab's worked example (docs/lab.md): K&R's malloc.
    StrategyInfo {
        name: "kr",
        in_default_race: false,
        build: |heap, align| Box::new(mm_kr::KAndR::new(heap, align)),
    },
    #[cfg(feature = "peers")]
    StrategyInfo {
        name: "talc",
        in_default_race: true,
        build: |h, a| Box::new(mm_peers::TalcPeer::new(h, a)),
    },
    #[cfg(feature = "peers")]
    StrategyInfo {
        name: "rlsf",
        in_default_race: true,
        build: |h, a| Box::new(mm_peers::RlsfPeer::new(h, a)),
    },
    #[cfg(feature = "peers")]
    StrategyInfo {
        name: "dlmalloc",
        in_default_race: true,
        build: |h, a| Box::new(mm_peers::DlmallocPeer::new(h, a)),
    },
    #[cfg(feature = "peers")]
    StrategyInfo {
        name: "linked-list",
        in_default_race: true,
        build: |h, a| Box::new(mm_peers::LinkedListPeer::new(h, a)),
    },
    #[cfg(feature = "peers")]
    StrategyInfo {
        name: "buddy-system",
        in_default_race: true,
        build: |h, a| Box::new(mm_peers::BuddySystemPeer::new(h, a)),
    },
];

/// Looks a strategy of ours up by name.
pub fn find(name: &str) -> Option<&'static StrategyInfo> {
    STRATEGIES.iter().find(|s| s.name == name)
}

/// Every name `-s` accepts: ours, then `libc`.
pub fn all_names() -> Vec<&'static str> {
    STRATEGIES.iter().map(|s| s.name).chain(std::iter::once(LIBC)).collect()
}

/// The names a run without `-s` races: the default strategies of ours, then `libc`.
pub fn default_names() -> Vec<&'static str> {
    STRATEGIES.iter().filter(|s| s.in_default_race).map(|s| s.name).chain(std::iter::once(LIBC)).collect()
}
