#!/usr/bin/env bash
# `make fuzz`: the properties of tests/fuzz with FUZZ_EXAMPLES examples each, then every
# coverage-guided target for $1 seconds on a corpus kept in .local/fuzz/<target> (it grows
# run after run). A crash stops the run with the input in .local/fuzz/crash-*.
set -euo pipefail
seconds=${1:-300}
cd "$(dirname "$0")/../.."
.venv/bin/pytest tests/fuzz -p no:cacheprovider -q
for target in envelope framing validation; do
    mkdir -p ".local/fuzz/$target"
    echo "fuzz: $target for ${seconds} s (corpus .local/fuzz/$target)"
    .venv/bin/python -m tests.fuzz.coverage_guided "$target" ".local/fuzz/$target" \
        "-max_total_time=$seconds" -artifact_prefix=.local/fuzz/ -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|#[0-9]+ +DONE)|Uncaught|crash-'
done
