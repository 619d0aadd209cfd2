#!/bin/sh
# End-to-end ingest benchmark of siftd: Filebeat-shaped events through
# Kafka (librdkafka mock broker), Redis Streams and HTTP _bulk; events/s,
# events per siftd CPU-second, MB/s, CPU s/GB, peak RSS; then a backlog
# of 3x and 9x store.buffer_max_bytes (32 MiB) with RSS sampled every
# 100 ms.  Results: a table on stdout and results.json (+ RSS CSVs) in
# --out DIR (default a new /tmp/sift-ingest-bench-* directory).
#
# Usage: bench/bench_ingest.sh [--events N]
#            [--sources kafka,redis,http,backlog,backlog3,backlog9]
#            [--conns N] [--batch N] [--repeat N] [--set sec.key=value]
#            [--kafka-properties k=v,...] [--out DIR] [--keep]
#   (bench/bench_ingest.py --help lists every option)
# Builds the release tree build/release (RelWithDebInfo) if needed.
# Loopback only; every wait is bounded; about 3 minutes for the default
# 1,000,000 events on 2 shared cores.  See docs/internals/ingest-bench.md.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${SIFT_BUILD_DIR:-$src/build/release}
[ -f "$build/CMakeCache.txt" ] ||
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target siftd kafka_mock ingest_load >/dev/null
exec /usr/bin/python3 "$src/bench/bench_ingest.py" --build "$build" "$@"
