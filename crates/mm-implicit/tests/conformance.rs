//! The shared conformance suite, once per fit policy.

use mm_implicit::{Implicit, ImplicitConfig, Placement};

mm_testkit::conformance_tests!(first_fit, |heap, align| Implicit::new(
    heap,
    ImplicitConfig::new(align, Placement::FirstFit)
));
mm_testkit::conformance_tests!(next_fit, |heap, align| Implicit::new(
    heap,
    ImplicitConfig::new(align, Placement::NextFit)
));
mm_testkit::conformance_tests!(best_fit, |heap, align| Implicit::new(
    heap,
    ImplicitConfig::new(align, Placement::BestFit)
));
