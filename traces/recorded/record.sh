#!/usr/bin/env bash
# Re-records the traces in this directory from the programs on this machine (`just
# record-traces`). The result depends on the programs' and the C library's versions:
# review the diff (and traces/README.md's table) before committing new recordings.
#
# `record.sh --check` runs the same commands without the recorder and writes nothing:
# each must succeed (a command that fails would record its failure, not the program),
# and a program not installed here is reported as skipped. The bundled-traces test runs
# it, so a broken command in this file fails `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
check=false
if [[ ${1-} == --check ]]; then check=true; fi

# record OPTIONS -- COMMAND...: record COMMAND (through cargo, so any CARGO_TARGET_DIR
# works; `record` refuses a command that fails, and `-o` writes each trace whole or not
# at all), or with --check run COMMAND alone.
record() {
    if ! $check; then
        cargo run --release -q -p mdriver -- record "$@"
        return
    fi
    while [[ $1 != -- ]]; do shift; done
    shift
    local status=0
    "$@" >/dev/null 2>"$scratch/stderr" || status=$?
    if ((status == 0)); then
        echo "ok: $*"
    elif ((status == 127)) && grep -q "No such file or directory\|not found" "$scratch/stderr"; then
        echo "skipped (not installed): $*"
    else
        echo "FAILED ($status): $*" >&2
        cat "$scratch/stderr" >&2
        failed=true
    fi
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=false
arch=$(uname -m)

# Address randomization off (`setarch -R`), so that programs hashing pointers (gcc,
# python) allocate the same way on every run. gcc compiles the C driver against the
# headers in include/, as crates/mm-capi's tests do.
record --exe cc1 -o traces/recorded/gcc-cc1.rep -- \
    setarch "$arch" -R gcc -O1 -I include -c crates/mm-capi/tests/c/driver.c -o /dev/null

record --exe perl -o traces/recorded/perl-hash-sort.rep -- \
    env PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 perl -e 'my %h; for my $i (1..4000) { $h{"key$i"} = [map { $_ * $i } 1..($i % 7)]; } my @k = sort { scalar(@{$h{$b}}) <=> scalar(@{$h{$a}}) or $a cmp $b } keys %h; print scalar(@k), " $k[0] $k[-1]\n";'

record --exe sqlite3 -o traces/recorded/sqlite3-index.rep -- \
    sqlite3 :memory: "create table t(id integer primary key, name text, score real); with recursive c(x) as (select 1 union all select x+1 from c where x < 5000) insert into t select x, printf('name-%05d', (x*7919) % 5000), (x*37) % 101 from c; create index ts on t(score, name); select count(*), sum(length(name)), max(score) from t; select name from t order by score desc, name limit 3;"

# `python3` may be a wrapper (pyenv's is a bash script): --exe picks the interpreter.
python=$(python3 -c 'import os, sys; print(os.path.basename(os.path.realpath(sys.executable)))' 2>/dev/null ||
    echo python3)
record --exe "$python" -o traces/recorded/python-json.rep -- \
    setarch "$arch" -R env PYTHONHASHSEED=0 python3 -c "import json; d={str(i): list(range(i%10)) for i in range(3000)}; s=json.dumps(d, sort_keys=True); print(len(s), len(sorted(d, key=lambda k: -len(d[k]))))"

if $failed; then exit 1; fi
