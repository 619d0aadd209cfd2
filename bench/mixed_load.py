#!/usr/bin/python3
"""Queries under ingest load (issue 26 point 9): p50/p99 per query type
with and without concurrent ingest, on one siftd on loopback.

    bench/mixed_load.py [--preload N] [--seconds S] [--query-conns Q]
                        [--ingest-conns I] [--siftd PATH] [--load PATH]

1. Start siftd (release build: build/release-test/siftd) on a temporary
   data dir; preload N Filebeat-shaped events (bench/ingest_load http, the
   loghub-2k lines) and wait until they are searchable, flushed and the
   lifecycle is idle.
2. "idle": Q query clients (threads, one kept-alive connection each) run
   the query mix for S seconds: search for a rare word, search for a
   common word (limit 100), a histogram over everything, top-10 terms of
   log.level, stats of a number field.
3. "ingest": the same while ingest_load POSTs _bulk bodies from I
   connections as fast as siftd takes them (its own clock), for S seconds.
Prints per phase and query type: count, p50, p99, max (ms), and the
ingest rate reached.  Loopback only; every wait and loop is bounded;
every process started here is stopped by pid.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUERIES = [
    ("search_rare", "/api/v1/search?q=%s&limit=20" % urllib.parse.quote("blk_-1608999687919862906")),
    ("search_common", "/api/v1/search?q=error&limit=100"),
    ("histogram", "/api/v1/histogram?q=*&interval=1h"),
    ("terms", "/api/v1/terms?q=*&field=log.level&size=10"),
    ("stats", "/api/v1/stats?q=*&field=latency_ms"),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return r.status, body


def wait(cond, what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit("timed out waiting for %s" % what)


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def query_clients(port, n, seconds, out):
    """n threads, each cycling through QUERIES (staggered) for seconds."""
    stop = time.monotonic() + seconds
    errors = [0]

    def run(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        while time.monotonic() < stop:
            name, path = QUERIES[i % len(QUERIES)]
            i += 1
            t0 = time.monotonic()
            try:
                status, body = get(conn, path)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                errors[0] += 1
                continue
            dt = (time.monotonic() - t0) * 1000.0
            if status != 200:
                errors[0] += 1
                continue
            out.setdefault(name, []).append(dt)
            # Time inside the engine (searches report it): the rest is
            # waiting (loop thread, worker queue) and transfer.
            took = body.rfind(b'"took_ms":')
            if took >= 0:
                v = body[took + 10:took + 30].split(b",")[0].split(b"}")[0]
                try:
                    out.setdefault(name + "/took", []).append(float(v))
                except ValueError:
                    pass
        conn.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return errors[0]


def docs(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        _, b = get(c, "/api/v1/store")
        return json.loads(b)
    finally:
        c.close()


def queue_waits(port):
    """{class: (jobs, seconds waiting)} from /metrics (newer builds)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        _, b = get(c, "/metrics")
    finally:
        c.close()
    out = {}
    for line in b.decode().splitlines():
        for key, i in (("sift_worker_jobs_total{class=\"", 0),
                       ("sift_worker_queue_seconds_total{class=\"", 1)):
            if line.startswith(key):
                cls = line[len(key):line.index('"', len(key))]
                v = out.setdefault(cls, [0.0, 0.0])
                v[i] = float(line.rsplit(" ", 1)[1])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preload", type=int, default=1000000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--query-conns", type=int, default=4)
    ap.add_argument("--ingest-conns", type=int, default=4)
    ap.add_argument("--preload-age-days", type=float, default=0,
                    help="timestamp the preload this many days back: past "
                         "tiers.warm_max_age (7d) it is merged into the cold "
                         "tier while the phases run (the issue's case)")
    ap.add_argument("--siftd", default=os.path.join(ROOT, "build", "release-test", "siftd"))
    ap.add_argument("--load", default=os.path.join(ROOT, "build", "release-test", "ingest_load"))
    ap.add_argument("--set", action="append", default=[],
                    help="extra siftd --set SECTION.KEY=VALUE")
    a = ap.parse_args()
    for p in (a.siftd, a.load):
        if not os.access(p, os.X_OK):
            raise SystemExit("missing %s: build the release-test targets siftd and ingest_load" % p)
    tmp = tempfile.mkdtemp(prefix="sift-mixed-")
    port = free_port()
    args = [a.siftd, "--listen", "127.0.0.1:%d" % port, "--data-dir",
            os.path.join(tmp, "data"), "--set", "tiers.retention=off",
            "--set", "store.flush=5s"]
    for kv in a.set:
        args += ["--set", kv]
    err = open(os.path.join(tmp, "siftd.err"), "w")
    sd = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    load = None
    try:
        wait(lambda: os.path.exists(os.path.join(tmp, "data", "siftd.addr")),
             "siftd", 30)
        t0 = time.monotonic()
        start_ms = int((time.time() - a.preload_age_days * 86400 - 3600) * 1000)
        subprocess.run([a.load, "http", "--addr", "127.0.0.1:%d" % port,
                        "--conns", "4", "--batch", "1000", "--events",
                        str(a.preload), "--start-ms", str(start_ms),
                        "--data", os.path.join(ROOT, "tests", "data", "loghub-2k")],
                       check=True, stdout=subprocess.DEVNULL, timeout=3600)
        wait(lambda: docs(port)["docs"] >= a.preload and
             docs(port)["docs_buffered"] == 0, "preload searchable", 600)
        print("preloaded %d events in %.0f s" % (a.preload, time.monotonic() - t0))
        if a.preload_age_days <= 7:
            time.sleep(10)  # let flushes and merges of the preload settle
        results = {}
        for phase in ("idle", "ingest"):
            lat = {}
            before = docs(port)["docs"]
            if phase == "ingest":
                load = subprocess.Popen(
                    [a.load, "http", "--addr", "127.0.0.1:%d" % port,
                     "--conns", str(a.ingest_conns), "--batch", "500",
                     # bodies are built before the clock starts: enough
                     # for the phase at up to 100k events/s
                     "--events", str(100000 * a.seconds), "--tag", "live",
                     "--data", os.path.join(ROOT, "tests", "data", "loghub-2k")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                # its bodies are built before it sends: wait for the first
                b0 = docs(port)["docs"] + docs(port)["docs_buffered"]
                wait(lambda: docs(port)["docs"] + docs(port)["docs_buffered"] > b0,
                     "ingest started", 300)
                before = docs(port)["docs"] + docs(port)["docs_buffered"]
            q0 = queue_waits(port)
            t1 = time.monotonic()
            errors = query_clients(port, a.query_conns, a.seconds, lat)
            q1 = queue_waits(port)
            waits = {c: ((q1[c][1] - q0.get(c, [0, 0])[1]) * 1000.0 /
                         max(1.0, q1[c][0] - q0.get(c, [0, 0])[0]),
                         q1[c][0] - q0.get(c, [0, 0])[0]) for c in q1}
            took = time.monotonic() - t1
            rate = (docs(port)["docs"] + docs(port)["docs_buffered"] - before) / took
            if load:
                load.send_signal(signal.SIGTERM)
                load.wait(30)
                load = None
            results[phase] = (lat, errors, rate, waits)
        print("%-8s %-19s %6s %9s %9s %9s" % ("phase", "query", "n", "p50 ms", "p99 ms", "max ms"))
        for phase, (lat, errors, rate, waits) in results.items():
            for name in sorted(lat):
                v = lat[name]
                print("%-8s %-19s %6d %9.1f %9.1f %9.1f" % (
                    phase, name, len(v), pct(v, 50), pct(v, 99), max(v) if v else float("nan")))
            print("%-8s ingest %.0f events/s, %d query errors" % (phase, rate, errors))
            for c, (ms, n) in sorted(waits.items()):
                print("%-8s worker queue %-10s %6d jobs, mean wait %.1f ms"
                      % (phase, c, n, ms))
    finally:
        if load:
            load.kill()
        sd.send_signal(signal.SIGTERM)
        try:
            sd.wait(60)
        except subprocess.TimeoutExpired:
            sd.kill()
        err.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
