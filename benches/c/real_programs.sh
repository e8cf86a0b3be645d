#!/usr/bin/env bash
# Real programs under glibc and STRATEGY's libmm_preload.so: wall time and max RSS
# (GNU time), ROUNDS runs each, interleaved; prints min-max per program.
#
#   benches/c/real_programs.sh [STRATEGY] [ROUNDS] [EXTRA_LIB...]
#
# EXTRA_LIB is NAME=path/to/lib.so (for instance main's build, as "before").
# The programs: python3 with PYTHONMALLOC=malloc building, sorting and dropping dicts,
# lists and strings; gcc -O2 -c of crates/mm-capi/tests/c/driver.c; sort --parallel=2
# of a generated 400k-line file; git log and git status on this repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
strategy=${1:-segregated}
rounds=${2:-3}
shift $(($# < 2 ? $# : 2))
target=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
work="$target/real-programs"
mkdir -p "$work"
cargo build -q --release -p mm-preload --no-default-features --features "$strategy" --target-dir "$target/preload-$strategy"

cat > "$work/alloc_heavy.py" <<'PY'
import random
random.seed(1)
total = 0
for round in range(6):
    d = {f"key{i}-{round}": [i, str(i) * (i % 7), (i, i + 1)] for i in range(120000)}
    items = sorted(d.items(), key=lambda kv: kv[1][0] % 1013)
    words = " ".join(k for k, _ in items[:40000]).split()
    total += len(words) + sum(len(v[1]) for _, v in items[::50])
    del d, items, words
print(total)
PY
if [ ! -e "$work/sort-input.txt" ]; then
    awk 'BEGIN { srand(7); for (i = 0; i < 400000; i++) printf "%08x %d line-%d\n", int(rand() * 4294967295), int(rand() * 1000000), i }' > "$work/sort-input.txt"
fi

names=(glibc "$strategy")
libs=("" "$target/preload-$strategy/release/libmm_preload.so")
for extra in "$@"; do
    names+=("${extra%%=*}")
    libs+=("${extra#*=}")
done
programs=(python gcc sort git-log git-status)
run() {
    case $1 in
        python) PYTHONMALLOC=malloc python3 "$work/alloc_heavy.py" ;;
        gcc) gcc -O2 -I include -c crates/mm-capi/tests/c/driver.c -o "$work/driver.o" ;;
        sort) sort --parallel=2 -S 16M -k2,2n -k1,1 -T "$work" "$work/sort-input.txt" ;;
        git-log) git log --stat -n 400 ;;
        git-status) git status --porcelain ;;
    esac
}

declare -A secs rss
for round in $(seq "$rounds"); do
    for program in "${programs[@]}"; do
        for i in "${!names[@]}"; do
            out=$( { /usr/bin/time -f '%e %M' env LD_PRELOAD="${libs[$i]}" bash -c "$(declare -f run); work='$work'; run $program" > /dev/null; } 2>&1 | tail -1)
            secs[$i,$program]="${secs[$i,$program]:-} ${out% *}"
            rss[$i,$program]="${rss[$i,$program]:-} ${out#* }"
        done
    done
done

range() { echo "$1" | tr ' ' '\n' | grep . | sort -n | sed -n '1p;$p' | paste -sd- -; }
echo "| program | malloc | wall (s) | max RSS (MiB) |"
echo "| --- | --- | --- | --- |"
for program in "${programs[@]}"; do
    for i in "${!names[@]}"; do
        kib=$(range "${rss[$i,$program]}")
        mib=$(echo "$kib" | tr '-' '\n' | awk '{ printf "%s%.1f", (NR > 1 ? "-" : ""), $1 / 1024 }')
        echo "| $program | ${names[$i]} | $(range "${secs[$i,$program]}") | $mib |"
    done
done
