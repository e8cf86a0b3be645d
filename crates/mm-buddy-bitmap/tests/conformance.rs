//! The shared conformance suite.

use mm_buddy_bitmap::BuddyBitmap;

mm_testkit::conformance_tests!(BuddyBitmap::new);
