#!/bin/sh
# One command: build (if needed) and print sift's template-mining grouping
# accuracy per loghub-2k system next to Drain's published figures.
# Usage: bench/drain_accuracy.sh [extra drain_accuracy args, e.g. --gt loghub2]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${SIFT_BUILD_DIR:-$src/build}
[ -f "$build/CMakeCache.txt" ] || cmake -S "$src" -B "$build" >/dev/null
cmake --build "$build" -j2 --target drain_accuracy >/dev/null
exec "$build/drain_accuracy" "$src/tests/data/loghub-2k" "$@"
