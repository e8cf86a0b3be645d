# Everyday recipes for mmlab. `just --list` shows them all.

# Race every strategy and libc over the bundled suite (extra args go to mdriver).
race *ARGS:
    cargo run --release -- {{ARGS}}

# The whole test suite (the README's test command).
test:
    cargo test --workspace

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate the bundled traces from traces/SUITE (file workload seed ops per line).
gen-traces:
    cargo build --release -p mdriver
    grep -v '^\s*#' traces/SUITE | grep -v '^\s*$' | while read -r file workload seed ops; do \
        ./target/release/mdriver gen --workload "$workload" --seed "$seed" --ops "$ops" > "traces/$file"; \
    done

# Everything CI runs.
ci:
    bash .ci/run

# Criterion benchmarks (HTML reports under target/criterion).
bench *ARGS:
    cargo bench -p mm-benches {{ARGS}}
