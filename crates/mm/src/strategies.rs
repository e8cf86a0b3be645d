// The facade's strategies, one line each: the cargo feature that chooses it (declared in
// crates/mm/Cargo.toml with the optional dependency it enables), the strategy's type,
// and how it is built, un-initialised, over the heap with the facade's 16-byte `ALIGN`.
//
// This file is the list: `build.rs` includes it to know the strategy features, and
// `lib.rs` includes it to compile the one chosen (each defines `strategies!` its way).
strategies! {
    "implicit" => mm_implicit::Implicit = |heap| mm_implicit::Implicit::new(heap, mm_implicit::ImplicitConfig { align: crate::ALIGN, ..Default::default() });
    "explicit" => mm_explicit::Explicit = |heap| mm_explicit::Explicit::new(heap, mm_explicit::ExplicitConfig { align: crate::ALIGN, ..Default::default() });
    "segregated" => mm_segregated::Segregated = |heap| mm_segregated::Segregated::new(heap, mm_segregated::SegregatedConfig { align: crate::ALIGN });
    "buddy" => mm_buddy::Buddy = |heap| mm_buddy::Buddy::new(heap, mm_buddy::BuddyConfig::new(crate::ALIGN));
    "buddy-bitmap" => mm_buddy_bitmap::BuddyBitmap = |heap| mm_buddy_bitmap::BuddyBitmap::new(heap, crate::ALIGN);
}
