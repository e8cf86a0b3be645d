//! The shared conformance suite, for the default policy, for releasing on shrink and
//! for growth by aligned blocks only.
//! `Buddy::new` takes the kit's `(heap, align)` as it is: an `Align` converts into the
//! default `BuddyConfig`.

use mm_buddy::{Buddy, BuddyConfig};

mm_testkit::conformance_tests!(Buddy::new);
mm_testkit::conformance_tests!(release_on_shrink, |heap, align| Buddy::new(
    heap,
    BuddyConfig { align, release_on_shrink: true, aligned_growth: false }
));
mm_testkit::conformance_tests!(aligned_growth, |heap, align| Buddy::new(
    heap,
    BuddyConfig { align, release_on_shrink: false, aligned_growth: true }
));
