//! The shared conformance suite.

use mm_segregated::{Segregated, SegregatedConfig};

mm_core::conformance_tests!(|heap, align| Segregated::new(heap, SegregatedConfig { align }));
