#!/usr/bin/python3
"""Per-shipper ingest throughput of siftd (issue 24).

For each protocol a fresh siftd (the binary given) takes N events from a
real client and the wall time is taken from the first byte sent until
siftd's store holds all N (GET /api/v1/store), so it covers the client,
parsing, the WAL fsync and the segment refresh:

  otlp-proto, otlp-json  the OpenTelemetry JS SDK's OTLP/HTTP log exporters
                         (tests/shippers/otlp_send.mjs, npm)
  loki-proto, loki-json  winston-loki, a Loki client (tests/shippers/
                         loki_send.mjs, npm)
  syslog-tcp             RFC 5424 messages, octet-counted, from 4 TCP
                         connections (this script, as rsyslog's omfwd frames
                         them)
  syslog-udp             the same, one datagram each, paced so the socket
                         buffer does not overflow (lost datagrams are
                         reported, not waited for)
  es-bulk                Filebeat-shaped _bulk bodies of 500 to /<index>/_bulk
                         (this script)

Usage: python3 bench/shippers.py [--siftd build/release/siftd] [--n 100000]
       [--only otlp-proto,syslog-tcp]
Needs tests/shippers/node_modules (scripts/npm-ci.sh tests/shippers) for
the OTLP and Loki rows.  Every wait is bounded; every process is ours and
stopped by pid.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPERS = os.path.join(ROOT, "tests", "shippers")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Siftd:
    def __init__(self, binary, workdir):
        self.dir = tempfile.mkdtemp(dir=workdir)
        self.port = free_port()
        self.tcp, self.udp = free_port(), free_port()
        conf = os.path.join(self.dir, "siftd.conf")
        with open(conf, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\n"
                    "[store]\nrefresh = 200ms\n"
                    "[syslog]\ntcp = 127.0.0.1:%d\nudp = 127.0.0.1:%d\n"
                    % (self.port, self.tcp, self.udp))
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen(
            [binary, "-c", conf, "--data-dir", os.path.join(self.dir, "d")],
            stdout=subprocess.DEVNULL, stderr=self.err)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("siftd did not start: see %s" % self.dir)
                time.sleep(0.1)

    def docs(self):
        with urllib.request.urlopen(self.url + "/api/v1/store",
                                    timeout=10) as r:
            return json.load(r)["docs"]

    def wait_docs(self, n, timeout, idle=3.0):
        """Waits for n docs, or until none came for idle seconds; returns
        (docs, monotonic time the count last grew)."""
        deadline = time.monotonic() + timeout
        got, last = 0, time.monotonic()
        while time.monotonic() < deadline:
            now_got = self.docs()
            if now_got != got:
                got, last = now_got, time.monotonic()
            if got >= n or time.monotonic() - last > idle:
                break
            time.sleep(0.05)
        return got, last

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def node(script, *args):
    subprocess.run(["node", os.path.join(SHIPPERS, script)] +
                   [str(a) for a in args], check=True, timeout=900,
                   stdout=subprocess.DEVNULL)


def syslog_msgs(n, lo=0, step=1):
    for i in range(lo, n, step):
        m = ("<134>1 2026-12-07T10:00:00.000Z web-01 billing 42 - - "
             "payment accepted order=%d amount=12.50 n%d" % (i, i))
        yield m.encode()


def send_syslog_tcp(sd, n, conns=4):
    def one(k):
        s = socket.create_connection(("127.0.0.1", sd.tcp), 30)
        buf = bytearray()
        for m in syslog_msgs(n, k, conns):
            buf += b"%d %s" % (len(m), m)
            if len(buf) > 65536:
                s.sendall(buf)
                buf.clear()
        s.sendall(buf)
        s.close()
    ts = [threading.Thread(target=one, args=(k,)) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def send_syslog_udp(sd, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, m in enumerate(syslog_msgs(n)):
        s.sendto(m, ("127.0.0.1", sd.udp))
        if i % 200 == 199:
            time.sleep(0.002)  # about what one sender's log rate can be
    s.close()


def send_bulk(sd, n, batch=500):
    for lo in range(0, n, batch):
        body = "".join(
            '{"create":{}}\n{"@timestamp":"2026-12-07T10:00:00Z",'
            '"message":"payment accepted order=%d n%d",'
            '"host":{"name":"web-01"},"service":{"name":"billing"}}\n'
            % (i, i) for i in range(lo, min(n, lo + batch)))
        req = urllib.request.Request(
            sd.url + "/bench-logs/_bulk", data=body.encode(), method="POST",
            headers={"Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(req, timeout=120) as r:
            assert json.load(r)["errors"] is False


SENDERS = {
    "otlp-proto": lambda sd, n: node("otlp_send.mjs", sd.url, "proto", n,
                                     "benchotlp"),
    "otlp-json": lambda sd, n: node("otlp_send.mjs", sd.url, "http", n,
                                    "benchotlp"),
    "loki-proto": lambda sd, n: node("loki_send.mjs", sd.url, "proto", n,
                                     "benchloki"),
    "loki-json": lambda sd, n: node("loki_send.mjs", sd.url, "json", n,
                                    "benchloki"),
    "syslog-tcp": send_syslog_tcp,
    "syslog-udp": send_syslog_udp,
    "es-bulk": send_bulk,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--siftd", default=os.path.join(ROOT, "build", "release",
                                                    "siftd"))
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    names = [x for x in a.only.split(",") if x] or list(SENDERS)
    work = tempfile.mkdtemp(prefix="sift-bench-shippers-")
    print("%-11s %9s %9s %10s %s" % ("shipper", "events", "seconds",
                                     "events/s", "note"))
    try:
        for name in names:
            sd = Siftd(a.siftd, work)
            try:
                t0 = time.monotonic()
                SENDERS[name](sd, a.n)
                sent = time.monotonic() - t0
                got, last = sd.wait_docs(a.n, 900)
                wall = last - t0
                note = "client done at %.2f s" % sent
                if got != a.n:
                    note += "; %d of %d stored" % (got, a.n)
                print("%-11s %9d %9.2f %10.0f %s" % (name, got, wall,
                                                      got / wall, note))
                sys.stdout.flush()
            finally:
                sd.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
