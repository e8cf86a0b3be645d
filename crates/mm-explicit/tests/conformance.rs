//! The shared conformance suite, once per list order, and for the textbook list.

use mm_explicit::{Explicit, ExplicitConfig, ExplicitTextbook, ExplicitTextbookConfig, FreeListOrder};

mm_testkit::conformance_tests!(lifo, |heap, align| Explicit::new(
    heap,
    ExplicitConfig::new(align, FreeListOrder::Lifo)
));
mm_testkit::conformance_tests!(address_ordered, |heap, align| Explicit::new(
    heap,
    ExplicitConfig::new(align, FreeListOrder::AddressOrdered)
));
mm_testkit::conformance_tests!(textbook, |heap, align| ExplicitTextbook::new(
    heap,
    ExplicitTextbookConfig::new(align)
));
