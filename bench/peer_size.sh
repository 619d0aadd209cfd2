#!/bin/bash
# usage: bench/peer_size.sh BUILD_DIR OUT_DIR EVENTS.ndjson
#
# Bytes on disk of the peer set (issue 22): one siftd from BUILD_DIR with
# the stock config ingests EVENTS (made by ../shared/bench/gen.py) through
# the peers bench's sift_server.sh and sift_bench.py, settles (hot), then
# the debug clock moves everything to warm (+45 d) and cold (+75 d).
# `du -sb` of the data dir and segment_stat (bytes per section and field,
# % of the events file) after each: OUT_DIR/stat_hot.txt, stat_cold.txt.
# PEERS (default ../shared/bench/peers from the repo root) names the
# peers bench.  Loopback only; siftd is stopped by its pid.  Not in ctest.
set -eu
build=$(realpath "$1") out=$2 ev=$(realpath "$3")
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS:-$root/../shared/bench/peers}
repo=$out/repo
rm -rf "$out"
mkdir -p "$repo/build/release"
ln -s "$build/siftd" "$repo/build/release/siftd"
ln -s "$root/conf" "$repo/conf"
n=$(wc -l <"$ev")
raw=$(stat -c %s "$ev")
# tier ages just past the data's age, as the peers bench's run.sh does
age=$(tail -1 "$ev" | python3 -c 'import json,sys,time,calendar; t=json.load(sys.stdin)["@timestamp"]; print(int((time.time()-calendar.timegm(time.strptime(t[:19],"%Y-%m-%dT%H:%M:%S")))//86400)+1)')
hot=$((age + 30))
warm=$((hot + 30))
d=$out/data
nice "$peers/sift_server.sh" start "$repo" "$d" $hot $warm
a=$(cat "$d/siftd.addr")
p=$(cat "$d.pid")
python3 "$peers/sift_bench.py" ingest "$a" "$p" "$ev" "$n" 3 4 >"$out/ingest.json"
python3 "$peers/sift_bench.py" settle "$a" "$d" "$p" >"$out/settle_hot.json"
"$build/segment_stat" "$d" -r "$raw" >"$out/stat_hot.txt"
python3 "$peers/sift_bench.py" clock "$a" 45
python3 "$peers/sift_bench.py" settle "$a" "$d" "$p" >"$out/settle_warm.json"
python3 "$peers/sift_bench.py" clock "$a" 75
python3 "$peers/sift_bench.py" settle "$a" "$d" "$p" >"$out/settle_cold.json"
"$build/segment_stat" "$d" -r "$raw" >"$out/stat_cold.txt"
"$peers/sift_server.sh" stop "$repo" "$d"
python3 - "$out" "$raw" <<'PY'
import json, sys
o, raw = sys.argv[1], int(sys.argv[2])
j = json.load(open(f"{o}/ingest.json"))
print(f"ingest: {j['ev_per_s']} ev/s wall, {j['ev_per_cpu_s']} ev per siftd CPU-s")
for k in ("hot", "cold"):
    j = json.load(open(f"{o}/settle_{k}.json"))
    print(f"{k}: du {j['du_bytes']} B ({100 * j['du_bytes'] / raw:.2f}% of {raw}), "
          f"WAL {j['du_wal']} B, segments {j['store_disk_bytes']} B "
          f"({100 * j['store_disk_bytes'] / raw:.2f}%)")
PY
