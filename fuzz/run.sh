#!/bin/sh
# Runs one harness for a fixed number of inputs from a fresh copy of its seed corpus,
# so every run is the same and the seeds in the tree are never written to. A finding
# exits 1: libFuzzer's own default, 77, is what meson counts as a skipped test.
#   run.sh HARNESS SEED_DIR WORK_DIR RUNS [libFuzzer options...]
set -eu
harness=$1 seeds=$2 work=$3 runs=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/crashes"
cp "$seeds"/* "$work/corpus/"
exec "$harness" -runs="$runs" -seed=1 -timeout=20 -rss_limit_mb=2048 -error_exitcode=1 \
    -artifact_prefix="$work/crashes/" -print_final_stats=1 "$@" "$work/corpus"
