#!/usr/bin/env bash
# Sets up and runs siftd in the foreground on its embedded default:
# HTTP ingest, data in ./sift-data, listening on 127.0.0.1:7700.  Builds the
# sift client beside it (build/release/sift).
# Usage: scripts/run.sh [extra siftd arguments, e.g. --listen 127.0.0.1:0]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSIFT_TESTS=OFF -DSIFT_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target siftd sift-cli >/dev/null
exec build/release/siftd -c conf/siftd.conf "$@"
