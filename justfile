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

# Run COMMAND with STRATEGY's libmm_preload.so as its malloc: just preload buddy python3 -c 'print(42)'
[positional-arguments]
preload STRATEGY +COMMAND:
    cargo build --release -p mm-preload --no-default-features --features "$1" --target-dir "target/preload-$1"
    lib="$PWD/target/preload-$1/release/libmm_preload.so"; shift; LD_PRELOAD="$lib" "$@"

# Record a program's allocations as a .rep trace: just record -o out.rep [--exe cc1] -- gcc -c hello.c
[positional-arguments]
record *ARGS:
    cargo run --release -- record "$@"

# Re-record the traces in traces/recorded from the programs on this machine.
record-traces:
    bash traces/recorded/record.sh
