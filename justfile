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

# Each trace is written whole or not at all (`gen -o` writes a temporary file and renames it).
# Regenerate the bundled traces from traces/SUITE (file workload seed ops per line).
gen-traces:
    grep -v '^\s*#' traces/SUITE | grep -v '^\s*$' | while read -r file workload seed ops; do \
        cargo run --release -q -p mdriver -- gen --workload "$workload" --seed "$seed" --ops "$ops" -o "traces/$file" || exit 1; \
    done

# Everything CI runs.
ci:
    bash .ci/run

# One bench, one strategy: just bench --bench pairs -- segregated. Ours only: just bench --no-default-features
# Criterion benchmarks of every strategy and libc, about 13 minutes (docs/benchmarks.md; reports in target/criterion).
bench *ARGS:
    cargo bench -p mm-benches {{ARGS}}

# The malloc/free pairs table of docs/preload.md (1-8 threads; glibc, every strategy, jemalloc/mimalloc/tcmalloc if installed).
# Extra libraries as NAME=path.so: just pairs 3 3000000 before=/tmp/main/libmm_preload.so
pairs ROUNDS="3" PAIRS="3000000" *EXTRA:
    bash benches/c/pairs.sh {{ROUNDS}} {{PAIRS}} {{EXTRA}}

# Wall time and max RSS of real programs under glibc and STRATEGY's libmm_preload.so (docs/preload.md); extra libraries as NAME=path.so.
real-programs STRATEGY="segregated" ROUNDS="3" *EXTRA:
    bash benches/c/real_programs.sh {{STRATEGY}} {{ROUNDS}} {{EXTRA}}

# STRATEGY is one of the library's strategy features (segregated, buddy, ...; `segregated,hardened`).
# Run COMMAND with STRATEGY's libmm_preload.so as its malloc: just preload buddy python3 -c 'print(42)'
[positional-arguments]
preload STRATEGY +COMMAND:
    valid=$(grep -oE '^[a-z-]+ = \["facade/' crates/mm-preload/Cargo.toml | cut -d' ' -f1 | grep -vx 'default-strategy\|record\|hardened' | tr '\n' ' '); \
    for feature in $(echo "$1" | tr ',' ' '); do \
        case " $valid hardened " in *" $feature "*) ;; *) echo "just preload: libmm_preload.so has no strategy '$feature'; choose one of: $valid(and add ',hardened' for the hardened build)" >&2; exit 2;; esac; \
    done
    cargo build --release -p mm-preload --no-default-features --features "$1" --target-dir "target/preload-$1"
    lib="$PWD/target/preload-$1/release/libmm_preload.so"; shift; LD_PRELOAD="$lib" "$@"

# Record a program's allocations as a .rep trace: just record -o out.rep [--exe cc1] -- gcc -c hello.c
[positional-arguments]
record *ARGS:
    cargo run --release -- record "$@"

# Re-record the traces in traces/recorded from the programs on this machine.
record-traces:
    bash traces/recorded/record.sh

# The long reference-model soak (quick profile: part of `just test`): 4 seeds x 250k ops per profile and alignment, per strategy.
soak OPS="250000" SEEDS="4":
    MMLAB_SOAK_OPS={{OPS}} MMLAB_SOAK_SEEDS={{SEEDS}} MMLAB_SOAK_VERIFY_EVERY=64 cargo test --release -p mdriver --test soak -- --nocapture

# The race is saved as docs/results/race.json; then its Markdown report, the charts with their CSVs, heap maps, and
# every table quoted in README.md and docs/ are made from it, so all of them show one run.
# Regenerate docs/results and every race table in the docs from one race of every strategy (several minutes).
docs:
    mkdir -p docs/results
    all=$(cargo run --release -q -p mdriver -- list --names | sed 's/^/-s /'); \
    cargo run --release -q -p mdriver -- $all --format json > docs/results/.race.json.tmp && mv docs/results/.race.json.tmp docs/results/race.json
    c=crates/mdriver/tests/c-allocators; \
    cargo run --release -q -p mdriver -- -s c:$c/c-implicit/mm.c -s c:$c/c-explicit/mm.c -s implicit -s explicit -s segregated -s buddy -s kr -s libc --format json > docs/results/.c-race.json.tmp && mv docs/results/.c-race.json.tmp docs/results/c-race.json
    cargo run --release -q -p mdriver -- plot --input docs/results/race.json --format markdown --out-dir docs/results > docs/results/.race.md.tmp && mv docs/results/.race.md.tmp docs/results/race.md
    for s in implicit segregated buddy buddy-bitmap; do cargo run --release -q -p mdriver -- heapmap -s $s -t churn-3 -o docs/results/heapmap-$s-churn-3.svg || exit 1; done
    for s in segregated buddy buddy-bitmap kr; do cargo run --release -q -p mdriver -- heapmap -s $s -t realloc-1 -o docs/results/heapmap-$s-realloc-1.svg || exit 1; done
    cargo run --release -q -p mdriver -- heapmap -s c:crates/mdriver/tests/c-allocators/c-explicit/mm.c -t realloc-1 -o docs/results/heapmap-c-explicit-realloc-1.svg
    MMLAB_BLESS_DOCS=1 cargo test -q -p mdriver --test docs_tables

# The C-ABI driver against libmm.a under valgrind memcheck (errors and definite leaks fail).
valgrind:
    cargo build --release -p mm-capi
    target=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/'); \
    cc -std=c99 -Wall -Werror -g -I include crates/mm-capi/tests/c/driver.c "$target/release/libmm.a" -lpthread -ldl -lm -o "$target/driver-valgrind" && \
    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$target/driver-valgrind"

# The trace parser against many more seeded mutants than `just test` runs.
fuzz MUTANTS="200000" SEED="2026":
    MMLAB_FUZZ_MUTANTS={{MUTANTS}} MMLAB_FUZZ_SEED={{SEED}} cargo test --release -p mm-trace --test hostile_traces -- --nocapture

# The timeline page in headless Chromium (apt-get install chromium; MMLAB_CHROMIUM names another): drawn heaps checked against the driver.
timeline-browser-test:
    cargo test -p mdriver --test timeline -- --ignored

# Regenerate docs/timeline/*.png, the screenshots of docs/timeline.md, from the real pages (needs Chromium).
timeline-screenshots:
    MMLAB_BLESS_DOCS=1 cargo test -p mdriver --test timeline the_docs_screenshots_are_of_working_pages -- --ignored

# A timeline page's size, load time and time to draw one step (docs/timeline.md), measured by the page itself in headless Chromium.
timeline-bench TRACE="gcc-cc1" STRATEGIES="implicit segregated buddy":
    dir=$(mktemp -d); page="$dir/timeline.html"; \
    cargo run --release -q -p mdriver -- timeline -t {{TRACE}} $(for s in {{STRATEGIES}}; do printf -- '-s %s ' "$s"; done) -o "$page" || exit 1; \
    echo "page: $(wc -c < "$page") bytes"; \
    "${MMLAB_CHROMIUM:-chromium}" --headless --disable-gpu --no-sandbox --user-data-dir="$dir/profile" --dump-dom "file://$page#op=peak&bench" 2>/dev/null \
        | grep -o '"load_ms":[0-9.]*\|"bench":{.*}}\|"errors":\[[^]]*\]'; \
    rm -rf "$dir"
