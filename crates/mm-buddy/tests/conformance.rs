//! The shared conformance suite, for the default policy and for releasing on shrink.
//! `Buddy::new` takes the kit's `(heap, align)` as it is: an `Align` converts into the
//! default `BuddyConfig`.

use mm_buddy::{Buddy, BuddyConfig};

mm_testkit::conformance_tests!(Buddy::new);
mm_testkit::conformance_tests!(release_on_shrink, |heap, align| Buddy::new(
    heap,
    BuddyConfig { align, release_on_shrink: true }
));
