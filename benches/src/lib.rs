//! Criterion benchmarks for mmlab live in `benches/`; run them with `cargo bench -p
//! mm-benches` (or `just bench`). This library is empty: the crate exists for its
//! bench targets.
