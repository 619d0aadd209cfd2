#!/usr/bin/python3
"""Search latency over a reused (kept-alive) connection next to fresh ones.

Grafana, the CLI and every HTTP client library reuse connections.  A
server that leaves Nagle's algorithm on makes the last segment of a
multi-segment reply wait for the client's delayed ACK (~40 ms on Linux)
on a reused connection, while a fresh connection (TCP quick-ACK mode)
hides it.  This starts siftd on loopback, ingests --events loghub-2k lines
(all ten systems, one per event, timestamps 1 s apart), then times
newest-100 searches (`/api/v1/search?q=*&limit=100`, ~50-60 KB replies)
alternating: one request on a new connection, one on a single connection
kept open for the whole run.  Prints p50/p90/p99 of both and the ratio of
the medians.  Target (issue 17): reused within 1.5x of fresh.

Usage: bench/bench_keepalive.py [--siftd build/release/siftd]
                                [--events 5000] [--rounds 300]
Every wait is bounded; the only process started is our siftd, stopped by
its pid.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOGHUB = os.path.join(ROOT, "tests", "data", "loghub-2k")
PATH = "/api/v1/search?q=*&limit=100"


def loghub_lines():
    out = []
    for system in sorted(os.listdir(LOGHUB)):
        d = os.path.join(LOGHUB, system)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith("_2k.log"):
                with open(os.path.join(d, name), errors="replace") as f:
                    out += [ln.rstrip("\n") for ln in f if ln.strip()]
    return out


def start_siftd(exe, data):
    proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--data-dir",
                             data], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(data, "..", "err"), "w"))
    addr_file = os.path.join(data, "siftd.addr")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("siftd exited during start-up")
        if os.path.exists(addr_file):
            with open(addr_file) as f:
                addr = f.read().strip()
            if addr:
                host, port = addr.rsplit(":", 1)
                return proc, host, int(port)
        time.sleep(0.05)
    proc.kill()
    sys.exit("siftd did not start within 30 s")


def request(conn):
    conn.request("GET", PATH)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("search answered %d: %s" % (r.status, body[:200]))
    return len(body)


def ingest(host, port, lines, n):
    # The last n seconds: a fixed date would age past tiers.retention (the
    # events would be refused as expired).
    t0 = int(time.time()) - n
    events = []
    for i in range(n):
        events.append(json.dumps({"@timestamp": (t0 + i) * 1000,
                                  "message": lines[i % len(lines)]}))
    conn = http.client.HTTPConnection(host, port, timeout=30)
    for i in range(0, n, 1000):
        body = "\n".join(events[i:i + 1000]) + "\n"
        conn.request("POST", "/api/v1/ingest", body,
                     {"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        answer = r.read()
        if r.status != 200:
            sys.exit("ingest answered %d: %s" % (r.status, answer[:300]))
    conn.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/api/v1/search?q=*&limit=0&track_total_hits=true")
        total = json.loads(conn.getresponse().read())["total"]["value"]
        conn.close()
        if total >= n:
            return
        time.sleep(0.1)
    sys.exit("events not searchable within 60 s")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--siftd", default=os.path.join(ROOT, "build", "release",
                                                    "siftd"))
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sift-keepalive-")
    data = os.path.join(work, "data")
    os.mkdir(data)
    proc, host, port = start_siftd(args.siftd, data)
    try:
        ingest(host, port, loghub_lines(), args.events)
        kept = http.client.HTTPConnection(host, port, timeout=10)
        request(kept)  # warm-up: the connection and the caches
        fresh_ms, reused_ms, size = [], [], 0
        for _ in range(args.rounds):
            t = time.perf_counter()
            c = http.client.HTTPConnection(host, port, timeout=10)
            size = request(c)
            c.close()
            fresh_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            request(kept)
            reused_ms.append((time.perf_counter() - t) * 1000)
        kept.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print("newest-100 search, reply %d bytes, %d rounds" % (size, args.rounds))
    for name, xs in (("fresh", fresh_ms), ("reused", reused_ms)):
        print("  %-7s p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms"
              % (name, statistics.median(xs), pct(xs, 90), pct(xs, 99)))
    ratio = statistics.median(reused_ms) / statistics.median(fresh_ms)
    print("reused/fresh (p50): %.2f  target <= 1.5: %s"
          % (ratio, "met" if ratio <= 1.5 else "NOT met"))


if __name__ == "__main__":
    main()
