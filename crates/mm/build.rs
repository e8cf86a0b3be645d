//! Chooses the facade's one strategy from the enabled cargo features, and tells the
//! compiler: `--cfg mm_strategy="<name>"`, which `src/lib.rs` compiles that strategy
//! for. The strategies are listed in `src/strategies.rs`, the rule is `src/select.rs`;
//! a choice the rule refuses (no strategy, or two) fails the build with its message.

use std::env;

#[path = "src/select.rs"]
mod select;

/// Here the list is only names: `STRATEGIES`.
macro_rules! strategies {
    ($($name:literal => $strategy:ty = $build:expr;)+) => {
        const STRATEGIES: &[&str] = &[$($name),+];
    };
}
include!("src/strategies.rs");

fn main() {
    for input in ["build.rs", "src/select.rs", "src/strategies.rs"] {
        println!("cargo::rerun-if-changed={input}");
    }
    let values: Vec<String> = STRATEGIES.iter().map(|name| format!("\"{name}\"")).collect();
    println!("cargo::rustc-check-cfg=cfg(mm_strategy, values({}))", values.join(", "));

    let enabled: Vec<String> = env::vars_os()
        .filter_map(|(key, _)| Some(key.to_str()?.strip_prefix("CARGO_FEATURE_")?.to_owned()))
        .collect();
    match select::select(STRATEGIES, &enabled) {
        Ok(choice) => {
            if choice == select::Choice::Every {
                println!(
                    "cargo::warning=every strategy feature is on (as with --all-features): mm uses the \
                     default strategy, `{}`",
                    select::DEFAULT
                );
            }
            println!("cargo::rustc-cfg=mm_strategy=\"{}\"", choice.strategy());
        }
        Err(error) => println!("cargo::error={error}"),
    }
}
