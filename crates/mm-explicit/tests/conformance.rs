//! The shared conformance suite, once per list order.

use mm_explicit::{Explicit, ExplicitConfig, FreeListOrder};

mm_testkit::conformance_tests!(lifo, |heap, align| Explicit::new(
    heap,
    ExplicitConfig::new(align, FreeListOrder::Lifo)
));
mm_testkit::conformance_tests!(address_ordered, |heap, align| Explicit::new(
    heap,
    ExplicitConfig::new(align, FreeListOrder::AddressOrdered)
));
