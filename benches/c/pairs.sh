#!/usr/bin/env bash
# The malloc/free pairs table of docs/preload.md: pairs_bench.c with 1, 2, 4 and 8
# threads under glibc, each strategy's libmm_preload.so, and the general-purpose mallocs
# installed on the machine (jemalloc, mimalloc, tcmalloc), ROUNDS runs each, interleaved
# so that a noisy neighbour spreads over all of them. Prints min-max M pairs/s.
#
#   benches/c/pairs.sh [ROUNDS] [PAIRS_PER_THREAD] [EXTRA_LIB...]
#
# EXTRA_LIB is NAME=path/to/lib.so (for instance main's build, as "before").
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
pairs=${2:-3000000}
shift $(($# < 2 ? $# : 2))
target=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
mkdir -p "$target/pairs"
cc -O2 -pthread -o "$target/pairs/pairs_bench" benches/c/pairs_bench.c

names=(glibc)
libs=("")
for strategy in segregated explicit buddy implicit; do
    cargo build -q --release -p mm-preload --no-default-features --features "$strategy" --target-dir "$target/preload-$strategy"
    names+=("$strategy")
    libs+=("$target/preload-$strategy/release/libmm_preload.so")
done
for extra in "$@"; do
    names+=("${extra%%=*}")
    libs+=("${extra#*=}")
done
for lib in libjemalloc.so.2 libmimalloc.so.2 libtcmalloc_minimal.so.4; do
    path=/usr/lib/x86_64-linux-gnu/$lib
    if [ -e "$path" ]; then
        names+=("${lib%%.so*}")
        libs+=("$path")
    fi
done

declare -A results
for round in $(seq "$rounds"); do
    for threads in 1 2 4 8; do
        for i in "${!names[@]}"; do
            out=$(LD_PRELOAD="${libs[$i]}" "$target/pairs/pairs_bench" "$threads" "$pairs")
            value=$(echo "$out" | sed 's/.*: \([0-9.]*\) M.*/\1/')
            results[$i,$threads]="${results[$i,$threads]:-} $value"
        done
    done
done

echo "| malloc | 1 thread | 2 threads | 4 threads | 8 threads |"
echo "| --- | --- | --- | --- | --- |"
for i in "${!names[@]}"; do
    row="| ${names[$i]} |"
    for threads in 1 2 4 8; do
        range=$(echo "${results[$i,$threads]}" | tr ' ' '\n' | grep . | sort -n | sed -n '1p;$p' | paste -sd- -)
        row="$row $range |"
    done
    echo "$row"
done
