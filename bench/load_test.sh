#!/usr/bin/env bash
# Load test (issue 9): ingest and search at the same time against one siftd
# on loopback, with tokens and an ingest rate limit switched on.
#
#   bench/load_test.sh [SECONDS]        default 100 (keep < 2 min on the
#                                       shared box; use 300+ for a soak)
#   env: SIFTD (binary, default build/siftd), LOAD_INGEST_CONNS (4),
#        LOAD_SEARCH_CONNS (2), LOAD_LOG (copy siftd's stderr there), LOAD_INGEST_RATE (per-token req/s, 30: below the offered load, so deliberate 429s occur)
#
# Needs wrk (Debian package "wrk", listed in scripts/deps.sh --test).
# Prints wrk's latency distributions for both, RSS samples every 5 s, and
# a verdict: no errors other than deliberate 429s (counted by siftd's own
# sift_http_refused_total{reason="rate_limited"}), anonymous memory flat,
# clean SIGTERM exit.
# "Flat" = no growth trend after warm-up: the samples after the warm-up
# (the first quarter of the run, at least 30 s) are cut in thirds, and the
# median RssAnon of the last third may exceed the first third's by at most
# 20% or 4 MiB, whichever is larger.  Medians, so a merge's short-lived
# working set (one or two samples) does not decide; the peak and its time
# are printed beside the verdict.  RssAnon, not VmRSS: VmRSS includes the
# mmapped segment pages, which grow with the data stored (printed too).
# Loopback only; everything lives in a temporary directory.
set -euo pipefail

SECS=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIFTD=${SIFTD:-$ROOT/build/siftd}
ICONNS=${LOAD_INGEST_CONNS:-4}
SCONNS=${LOAD_SEARCH_CONNS:-2}
IRATE=${LOAD_INGEST_RATE:-30}
W_TOKEN=load-writer-token-0123456789
R_TOKEN=load-reader-token-0123456789

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }
[ -x "$SIFTD" ] || { echo "no siftd at $SIFTD (build first)" >&2; exit 2; }

TMP=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
    [ -n "${LOAD_LOG:-}" ] && cp "$TMP/err" "$LOAD_LOG" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# Input lines: the ten loghub-2k systems (keep their LICENSE in mind:
# nothing derived is written outside $TMP).
cat "$ROOT"/tests/data/loghub-2k/*/*_2k.log > "$TMP/lines"

"$SIFTD" --listen 127.0.0.1:0 --data-dir "$TMP/data" \
    --set "auth.tokens=w:writer:$W_TOKEN r:reader:$R_TOKEN" \
    --set ratelimit.ingest_rate="$IRATE" --set ratelimit.ingest_burst=50 \
    --set store.refresh=500ms --set store.flush=2s \
    --set redact.enabled=true \
    > "$TMP/out" 2> "$TMP/err" &
PID=$!
for _ in $(seq 1 200); do
    [ -s "$TMP/data/siftd.addr" ] && break
    sleep 0.05
done
ADDR=$(cat "$TMP/data/siftd.addr")
URL="http://$ADDR"
echo "siftd pid $PID on $URL; ${SECS}s; ingest ${ICONNS} conns (rate limit ${IRATE}/s), search ${SCONNS} conns"

# VmRSS counts the page cache of mmapped segment files, which grows with
# the data stored and is reclaimable; RssAnon (heap, buffers) is what a
# leak or an unbounded queue would grow, so the verdict is taken on it.
rss() { awk '/VmRSS/ {r=$2} /RssAnon/ {a=$2} END {print a, r}' "/proc/$PID/status"; }
refused() {
    curl -s -H "Authorization: Bearer $R_TOKEN" "$URL/metrics" |
        awk -v r="$1" '$0 ~ "^sift_http_refused_total\\{reason=\"" r "\"\\}" {print $2+0}'
}

RL0=$(refused rate_limited)
LOAD_LINES="$TMP/lines" LOAD_TOKEN=$W_TOKEN \
    wrk -t1 -c"$ICONNS" -d"${SECS}s" --latency --timeout 10s \
    -s "$ROOT/bench/load/ingest.lua" "$URL" > "$TMP/wrk_ingest" 2>&1 &
WI=$!
LOAD_TOKEN=$R_TOKEN \
    wrk -t1 -c"$SCONNS" -d"${SECS}s" --latency --timeout 10s \
    -s "$ROOT/bench/load/search.lua" "$URL" > "$TMP/wrk_search" 2>&1 &
WS=$!

: > "$TMP/rss"
end=$((SECONDS + SECS))
while [ $SECONDS -lt $end ] && kill -0 "$PID" 2>/dev/null; do
    echo "$((SECS - end + SECONDS)) $(rss)" >> "$TMP/rss"
    sleep 5
done
wait $WI $WS || true
RL1=$(refused rate_limited)

echo; echo "== ingest (POST /api/v1/ingest, 50 lines per request)"; cat "$TMP/wrk_ingest"
echo; echo "== search (GET /api/v1/search)"; cat "$TMP/wrk_search"
echo; echo "== memory samples (s, RssAnon KiB, VmRSS KiB)"; column -c 100 "$TMP/rss" 2>/dev/null || cat "$TMP/rss"

non2xx() { awk '/Non-2xx/ {print $5+0}' "$1"; }
sockerr() { awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$1"; }
NI=$(non2xx "$TMP/wrk_ingest"); NI=${NI:-0}
NS=$(non2xx "$TMP/wrk_search"); NS=${NS:-0}
EI=$(sockerr "$TMP/wrk_ingest"); EI=${EI:-0}
ES=$(sockerr "$TMP/wrk_search"); ES=${ES:-0}
RL=$((RL1 - RL0))
# siftd may count a few more refusals than wrk saw: requests in flight when
# wrk stopped at its deadline are refused and counted but never read.
DIFF=$((NI + NS - RL))
[ "$DIFF" -lt 0 ] && DIFF=0
ERR=$((DIFF + EI + ES))

WARM=$((SECS / 4)); [ "$WARM" -lt 30 ] && WARM=30
# Prints: median of the first third, of the last third (after warm-up),
# the peak and its time, the sample count after warm-up.
read -r MFIRST MLAST PEAK PEAK_T NPOST < <(awk -v w="$WARM" '
    function median(a, lo, hi,   n, i, j, t, b) {
        n = 0
        for (i = lo; i <= hi; i++) b[++n] = a[i]
        for (i = 2; i <= n; i++) {
            t = b[i]
            for (j = i - 1; j >= 1 && b[j] > t; j--) b[j + 1] = b[j]
            b[j + 1] = t
        }
        return n ? (n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2) : 0
    }
    $1 >= w { a[++n] = $2; if ($2 > pk) { pk = $2; pt = $1 } }
    END {
        k = int(n / 3)
        if (k < 1) { print 0, 0, pk + 0, pt + 0, n + 0; exit }
        print int(median(a, 1, k)), int(median(a, n - k + 1, n)), pk + 0, pt + 0, n
    }' "$TMP/rss")
TOL=$((MFIRST / 5)); [ "$TOL" -lt 4096 ] && TOL=4096
VMAX=$(awk '{if ($3>m) m=$3} END {print m+0}' "$TMP/rss")

kill -TERM "$PID"
wait "$PID"; EXIT=$?
PID=

echo
echo "deliberate 429s: $RL   other errors: $ERR (non-2xx ingest $NI, search $NS; socket errors $EI/$ES)"
echo "RssAnon after ${WARM} s warm-up ($NPOST samples): median first third ${MFIRST} KiB, last third ${MLAST} KiB (allowed +${TOL} KiB); peak ${PEAK} KiB at ${PEAK_T} s (VmRSS max: ${VMAX} KiB)"
echo "siftd exit: $EXIT"
ok=1
[ "$ERR" -eq 0 ] || { echo "FAIL: errors other than 429"; ok=0; }
[ "$NPOST" -ge 3 ] || { echo "FAIL: too few memory samples after warm-up (run longer)"; ok=0; }
[ "$MLAST" -le $((MFIRST + TOL)) ] || { echo "FAIL: anonymous memory grows: last third's median above the first third's by more than the tolerance"; ok=0; }
[ "$EXIT" -eq 0 ] || { echo "FAIL: siftd exit $EXIT"; grep -E "ERROR|WARN" "$TMP/err" | tail -5; ok=0; }
[ $ok -eq 1 ] && echo "PASS"
[ $ok -eq 1 ]
