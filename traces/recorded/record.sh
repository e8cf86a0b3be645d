#!/usr/bin/env bash
# Re-records the traces in this directory from the programs on this machine (`just
# record-traces`). The result depends on the programs' and the C library's versions:
# review the diff (and traces/README.md's table) before committing new recordings.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Address randomization off (`setarch -R`), so that programs hashing pointers (gcc,
# python) allocate the same way on every run. The driver is found through cargo (any
# CARGO_TARGET_DIR); `record -o` writes each trace whole or not at all.
record() { cargo run --release -q -p mdriver -- record "$@"; }
arch=$(uname -m)

record --exe cc1 -o traces/recorded/gcc-cc1.rep -- \
    setarch "$arch" -R gcc -O1 -c crates/mm-capi/tests/c/driver.c -o /dev/null

record --exe perl -o traces/recorded/perl-hash-sort.rep -- \
    env PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 perl -e 'my %h; for my $i (1..4000) { $h{"key$i"} = [map { $_ * $i } 1..($i % 7)]; } my @k = sort { scalar(@{$h{$b}}) <=> scalar(@{$h{$a}}) or $a cmp $b } keys %h; print scalar(@k), " $k[0] $k[-1]\n";'

record --exe sqlite3 -o traces/recorded/sqlite3-index.rep -- \
    sqlite3 :memory: "create table t(id integer primary key, name text, score real); with recursive c(x) as (select 1 union all select x+1 from c where x < 5000) insert into t select x, printf('name-%05d', (x*7919) % 5000), (x*37) % 101 from c; create index ts on t(score, name); select count(*), sum(length(name)), max(score) from t; select name from t order by score desc, name limit 3;"

# `python3` may be a wrapper (pyenv's is a bash script): --exe picks the interpreter.
python=$(python3 -c 'import os, sys; print(os.path.basename(os.path.realpath(sys.executable)))')
record --exe "$python" -o traces/recorded/python-json.rep -- \
    setarch "$arch" -R env PYTHONHASHSEED=0 python3 -c "import json; d={str(i): list(range(i%10)) for i in range(3000)}; s=json.dumps(d, sort_keys=True); print(len(s), len(sorted(d, key=lambda k: -len(d[k]))))"
