#!/usr/bin/python3
"""Scale run: streams N generated Filebeat-shaped events (default 100M)
into one siftd over HTTP and reports, at each checkpoint, the ingest
rate, bytes on disk, siftd's RSS over time and query p50/p99.

    bench/scale_run.py --build build/bench [--events 100000000]
                       [--checkpoints 10000000,30000000,100000000]
                       [--reps 20] [--max-seconds 14400] [--work DIR]

Nothing is written to a file first: events are made on the fly from the
loghub-2k raw lines of the ten systems (round robin), each line in one
of four variants whose runs of 4+ digits were redrawn at start (a line's ids
take one of four values), with its own timestamp (5 ms apart,
ending now), log.offset, host and the constant Filebeat fields (agent,
ecs, input, fields.run). Every 1,000,003rd event carries the rare word
"needle7331".

At each checkpoint sending pauses until the store counts every event
sent (bounded), then each query runs --reps times over HTTP on a kept
connection: the rare word (count), "received block" (phrase count), the
newest 100 with "error", a histogram over everything (1 h buckets), the
top 10 hosts. Targets (issue 22): rare term p99 < 10 ms, histogram over
everything < 200 ms, RSS <= 256 MB throughout.

siftd's RSS (VmRSS, which counts mapped segment pages, and RssAnon) is
sampled every second by a thread; its CPU time is
read from /proc. The generator runs in this process (its CPU is not
siftd's). Every wait is bounded; the run stops at --max-seconds whatever
the count; siftd is ours and stopped by its pid. Not part of the suite.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ingest import Siftd, cpu_seconds, status_kb, write_config  # noqa: E402

SYSTEMS = ["Apache", "BGL", "HDFS", "HPC", "Hadoop", "Linux", "OpenSSH",
           "OpenStack", "Spark", "Zookeeper"]
RARE = "needle7331"
RARE_EVERY = 1000003
SPACING_MS = 5
BODY_BYTES = 4 << 20
DIGITS = re.compile(r"\d{4,}")  # ids, pids, ports; not dates or octets


def load_lines(data):
    per = []
    for s in SYSTEMS:
        path = os.path.join(data, s, "%s_2k.log" % s)
        with open(path, encoding="utf-8", errors="replace") as f:
            per.append([ln.rstrip("\n") for ln in f if ln.strip()])
    out = []  # round robin over the systems, (system, line)
    for i in range(max(len(p) for p in per)):
        for k, p in enumerate(per):
            if i < len(p):
                out.append((SYSTEMS[k], p[i]))
    return out


def variants(lines, seed):
    """Per line four variants: runs of 4+ digits redrawn (same length)."""
    rnd = random.Random(seed)

    def redraw(m):
        t = m.group(0)
        return "".join(rnd.choice("0123456789") for _ in t)
    out = []
    for sysname, ln in lines:
        vs = [ln] + [DIGITS.sub(redraw, ln) for _ in range(3)]
        out.append((sysname.lower(), [json.dumps(v)[1:-1] for v in vs]))
    return out


class Gen:
    """Filebeat-shaped NDJSON bodies, made on demand."""

    def __init__(self, lines, n, t_end_ms):
        self.lines = lines
        self.n = n
        self.t0_ms = t_end_ms - n * SPACING_MS
        self.i = 0
        self.raw_bytes = 0  # event JSON bytes sent, newlines included

    def body(self, limit):
        parts = []
        size = 0
        nl = len(self.lines)
        sec_cache = (-1, "")
        while self.i < limit and size < BODY_BYTES:
            i = self.i
            sysname, vs = self.lines[i % nl]
            msg = vs[(i // nl) % 4]
            if i % RARE_EVERY == RARE_EVERY - 1:
                msg = msg + " " + RARE
            ts = self.t0_ms + i * SPACING_MS
            sec = ts // 1000
            if sec != sec_cache[0]:
                sec_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%S",
                                                time.gmtime(sec)))
            h = i % 37
            s = "".join((
                '{"@timestamp":"', sec_cache[1], ".%03dZ" % (ts % 1000),
                '","message":"', msg, '","host":{"name":"node-', str(h),
                '"},"log":{"file":{"path":"/var/log/', sysname,
                '.log"},"offset":', str(i * 97), '},"service":{"name":"',
                sysname, '"},"agent":{"type":"filebeat","version":"8.13.4",'
                '"name":"node-', str(h), '"},"ecs":{"version":"8.0.0"},'
                '"input":{"type":"filestream"},"fields":{"run":"scale"}}\n'))
            parts.append(s)
            size += len(s)
            self.i += 1
        self.raw_bytes += size
        return "".join(parts).encode()


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []  # (seconds, VmRSS kB, RssAnon kB)
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()

    def run(self):
        while not self.stop_ev.wait(1.0):
            try:
                self.samples.append((time.monotonic() - self.t0,
                                     status_kb(self.pid, "VmRSS"),
                                     status_kb(self.pid, "RssAnon")))
            except OSError:
                return

    def peak_mb(self, col=1):
        """Peak VmRSS (col 1; mapped segment pages included) or RssAnon
        (col 2: the heap alone) so far, in MB."""
        return max((x[col] for x in self.samples), default=0) / 1024.0


def send(conn, body, deadline):
    """POSTs one body; retries 429/503 until the deadline."""
    while True:
        conn.request("POST", "/api/v1/ingest", body,
                     {"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        data = r.read()
        if r.status == 200:
            return json.loads(data)
        if r.status in (429, 503) and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        raise RuntimeError("ingest: %d %s" % (r.status, data[:300]))


def wait_docs(sd, n, timeout):
    deadline = time.monotonic() + timeout
    docs = 0
    while time.monotonic() < deadline:
        docs = sd.store()["docs"]
        if docs >= n:
            return docs
        time.sleep(0.5)
    raise RuntimeError("only %d of %d docs after %ds" % (docs, n, timeout))


def queries(t_from_ms, t_to_ms):
    span = {"from": str(t_from_ms), "to": str(t_to_ms + 1)}

    def p(**kw):
        kw.update(span)
        return kw
    return [
        ("rare term (count)", "/api/v1/search",
         p(q=RARE, limit="0", track_total_hits="true")),
        ("phrase \"received block\" (count)", "/api/v1/search",
         p(q='"received block"', limit="0", track_total_hits="true")),
        ("newest 100 with error", "/api/v1/search", p(q="error", limit="100")),
        ("histogram, everything (1h)", "/api/v1/histogram",
         p(q="*", interval="1h")),
        ("top 10 hosts", "/api/v1/terms", p(q="*", field="host.name", size="10")),
    ]


def run_queries(sd, reps, t_from_ms, t_to_ms):
    u = urllib.parse.urlparse(sd.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    out = []
    for name, path, params in queries(t_from_ms, t_to_ms):
        url = path + "?" + urllib.parse.urlencode(params)
        ms = []
        answer = None
        for r in range(reps + 1):
            t = time.monotonic()
            conn.request("GET", url)
            resp = conn.getresponse()
            body = resp.read()
            dt = (time.monotonic() - t) * 1000
            if resp.status != 200:
                raise RuntimeError("%s: %d %s" % (name, resp.status, body[:300]))
            if r > 0:  # the first run warms up
                ms.append(dt)
            if answer is None:
                j = json.loads(body)
                answer = (j.get("total", {}).get("value")
                          if "total" in j else len(j.get("buckets", [])))
        ms.sort()
        out.append({"query": name, "answer": answer,
                    "p50_ms": statistics.median(ms),
                    "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))]})
    conn.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--data", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
        "loghub-2k"))
    ap.add_argument("--events", type=int, default=100000000)
    ap.add_argument("--checkpoints", default="10000000,30000000,100000000")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--max-seconds", type=int, default=4 * 3600)
    ap.add_argument("--work", default=None, help="kept if given")
    ap.add_argument("--set", action="append",
                    help="a siftd setting section.key=value (repeatable)")
    args = ap.parse_args()
    cps = sorted({min(int(x), args.events) for x in args.checkpoints.split(",")}
                 | {args.events})
    work = args.work or tempfile.mkdtemp(prefix="sift-scale-")
    os.makedirs(work, exist_ok=True)
    cfg = {"server": {"log_level": "info"},
           "tiers": {"retention": "3650d"}}
    for item in args.set or []:
        key, _, value = item.partition("=")
        sec, _, name = key.partition(".")
        cfg.setdefault(sec, {})[name] = value
    conf = write_config(os.path.join(work, "siftd.conf"), cfg)
    lines = variants(load_lines(args.data), 22)
    t_end_ms = int(time.time() * 1000) - 60000
    gen = Gen(lines, args.events, t_end_ms)
    sd = Siftd(os.path.join(args.build, "siftd"), work, conf)
    sampler = Sampler(sd.pid)
    sampler.start()
    t_start = time.monotonic()
    deadline = t_start + args.max_seconds
    report = {"events_target": args.events, "checkpoints": []}
    try:
        u = urllib.parse.urlparse(sd.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        send_s = 0.0
        for cp in cps:
            t = time.monotonic()
            while gen.i < cp and time.monotonic() < deadline:
                send(conn, gen.body(cp), deadline)
            send_s += time.monotonic() - t
            if gen.i < cp:
                print("stopped at %d events: --max-seconds" % gen.i, flush=True)
            wait_docs(sd, gen.i, 1800)
            wall = time.monotonic() - t_start
            cpu = cpu_seconds(sd.pid)
            st = sd.store()
            q = run_queries(sd, args.reps, gen.t0_ms, gen.t0_ms + gen.i * SPACING_MS)
            row = {"events": gen.i, "wall_s": round(wall, 1),
                   "eps_wall": round(gen.i / wall),
                   "eps_per_siftd_cpu_s": round(gen.i / cpu),
                   "disk_bytes": st["bytes"]["disk"] + st["bytes"]["wal"],
                   "raw_bytes": gen.raw_bytes,
                   "store_bytes": st["bytes"],
                   "rss_now_mb": round(status_kb(sd.pid, "VmRSS") / 1024, 1),
                   "rss_peak_mb": round(sampler.peak_mb(), 1),
                   "rss_anon_peak_mb": round(sampler.peak_mb(2), 1),
                   "queries": q}
            report["checkpoints"].append(row)
            print(json.dumps(row), flush=True)
            if gen.i < cp:
                break
    finally:
        sampler.stop_ev.set()
        sd.stop()
        report["rss_samples"] = sampler.samples[::10]
        with open(os.path.join(work, "scale_report.json"), "w") as f:
            json.dump(report, f)
        print("report: %s" % os.path.join(work, "scale_report.json"))
        if not args.work:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
    for row in report["checkpoints"]:
        print("%11d events  %7.0f ev/s wall  %7.0f ev/siftd-CPU-s  "
              "disk %7.1f MB (%.1f%% of raw)  RSS peak %5.1f MB (anon %5.1f)"
              % (row["events"], row["eps_wall"], row["eps_per_siftd_cpu_s"],
                 row["disk_bytes"] / 1e6,
                 100.0 * row["disk_bytes"] / max(1, row["raw_bytes"]),
                 row["rss_peak_mb"], row["rss_anon_peak_mb"]))
        for q in row["queries"]:
            print("    %-34s p50 %8.2f ms  p99 %8.2f ms  (%s)"
                  % (q["query"], q["p50_ms"], q["p99_ms"], q["answer"]))
    print("targets: rare term p99 < 10 ms; histogram over everything < 200 ms; "
          "RSS <= 256 MB throughout")


if __name__ == "__main__":
    main()
