//! The shared conformance suite, for the default policy and for releasing on shrink.

use mm_buddy::{Buddy, BuddyConfig};

mm_core::conformance_tests!(|heap, align| Buddy::new(heap, BuddyConfig::new(align)));
mm_core::conformance_tests!(release_on_shrink, |heap, align| Buddy::new(
    heap,
    BuddyConfig { align, release_on_shrink: true }
));
