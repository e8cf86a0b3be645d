//! The shared conformance suite: every scenario at alignments 8 and 16, with
//! `check_heap` after every operation.

use mm_kr::KAndR;

mm_testkit::conformance_tests!(KAndR::new);
