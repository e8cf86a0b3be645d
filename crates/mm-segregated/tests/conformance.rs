//! The shared conformance suite. `Segregated::new` takes the kit's `(heap, align)` as
//! it is: an `Align` converts into a `SegregatedConfig`.

use mm_segregated::Segregated;

mm_testkit::conformance_tests!(Segregated::new);
