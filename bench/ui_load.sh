#!/usr/bin/env bash
# Page load of the web UI with 1,000,000 events stored (issue 20's target:
# under 1 s on the 2-core box).  Builds the release siftd, installs
# playwright-core (scripts/ui.sh browser-deps), then runs bench/ui_load.mjs:
# ingest over HTTP into a fresh siftd on loopback, load /ui/ in headless
# chromium, print cold and warm medians.  Takes a few minutes (the ingest).
#
#   bench/ui_load.sh                      1,000,000 events, 5 rounds
#   env: UI_BENCH_EVENTS, UI_BENCH_ROUNDS, SIFTD (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ -z "${SIFTD:-}" ]; then
    cmake -S . -B build/release-test -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release-test -j"$(nproc)" --target siftd >/dev/null
    export SIFTD=$root/build/release-test/siftd
fi
scripts/ui.sh browser-deps
exec node bench/ui_load.mjs
