//! Runs a real Rust workload (`workload.rs`) with the strategy chosen by cargo feature
//! as the global allocator, and prints its report:
//!
//! ```sh
//! cargo run -p mm --example workload                                          # segregated
//! cargo run -p mm --example workload --no-default-features --features buddy   # buddy
//! ```

mod workload;

use mm::{DefaultAllocator, LockedAllocator};

#[global_allocator]
static GLOBAL: LockedAllocator<DefaultAllocator> = LockedAllocator::new(mm::default_allocator);

fn main() {
    eprintln!("global allocator: mmlab {}", mm::STRATEGY);
    print!("{}", workload::run());
}
