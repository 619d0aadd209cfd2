#!/usr/bin/env bash
# Runs clang-tidy with the checks of .clang-tidy over every C file of
# src/, one process per core, and fails on any warning. It reads the
# compile commands of build/lint (configured here with clang when it is
# missing; nothing is built) or of the build dir in SIFT_TIDY_BUILD.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SIFT_TIDY_BUILD:-build/lint}
if [ ! -f "$dir/compile_commands.json" ]; then
    mkdir -p "$(dirname "$dir")"
    CC=clang cmake -S . -B "$dir" -DSIFT_TESTS=OFF -DSIFT_BENCH=OFF \
        >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
find src -name '*.c' -print0 | sort -z |
    xargs -0 -P "$(nproc)" -n 6 clang-tidy -p "$dir" --quiet >"$out" 2>&1 ||
    rc=$?
# Each header warning comes once per file that includes it: print it once.
if [ "$rc" -ne 0 ]; then
    grep -E '(warning|error):' "$out" | sort -u
    echo "tidy: clang-tidy found problems (checks in .clang-tidy)" >&2
    exit 1
fi
echo "tidy: ok"
