"""Helpers for the real-shipper black-box tests (test_shippers_*.py):
one siftd per test file, the npm clients in tests/shippers (installed by
scripts/npm-ci.sh tests/shippers, which scripts/test.sh runs), rsyslog as
an unprivileged foreground process, and exactly-once accounting: every
event a shipper sends carries "<tag> n<i>" in its message, and after the
shipper is done every number must be searchable exactly once.  Every wait
is bounded."""
import collections
import json
import os
import re
import socket
import subprocess
import time

import requests

from conftest import SOURCE_DIR
from ingest_helpers import free_port

SHIPPERS_DIR = os.path.join(SOURCE_DIR, "tests", "shippers")


def export(s, query, limit=100000):
    """Every hit of query as a list of dicts (NDJSON export)."""
    r = requests.get(s.url + "/api/v1/export",
                     params={"q": query, "limit": limit}, timeout=60)
    assert r.status_code == 200, r.text
    return [json.loads(l) for l in r.text.splitlines() if l.strip()]


def total(s, query):
    r = s.get("/api/v1/search", params={"q": query, "limit": 1})
    assert r.status_code == 200, r.text
    return r.json()["total"]["value"]


def wait_exactly_once(s, tag, n, query=None, timeout=60):
    """Waits until n events of tag are searchable, then checks that the
    numbers 0..n-1 each appear exactly once (and stay so after another
    refresh); returns the docs by number."""
    query = query or tag
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        got = total(s, query)
        if got >= n:
            break
        time.sleep(0.1)
    time.sleep(1.2)  # a duplicate would show up after the next refresh
    docs = export(s, query)
    counts = collections.Counter()
    by_n = {}
    pat = re.compile(re.escape(tag) + r" n(\d+)\b")
    for d in docs:
        m = pat.search(d.get("message", ""))
        assert m, "unexpected event for %r: %r" % (query, d)
        i = int(m.group(1))
        counts[i] += 1
        by_n[i] = d
    missing = [i for i in range(n) if counts[i] == 0]
    dups = sorted(i for i, c in counts.items() if c > 1)
    assert not missing and not dups and len(counts) == n, (
        "%s: %d events, missing %s, duplicated %s" %
        (query, len(docs), missing[:20], dups[:20]))
    return by_n


def node(script, *args, timeout=120, env=None):
    """Runs tests/shippers/<script> with node; fails with its output."""
    if not os.path.isdir(os.path.join(SHIPPERS_DIR, "node_modules")):
        raise AssertionError("tests/shippers/node_modules is missing: run "
                             "scripts/npm-ci.sh tests/shippers")
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(["node", os.path.join(SHIPPERS_DIR, script)] +
                       [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, env=e)
    assert p.returncode == 0, "%s failed (%d):\n%s\n%s" % (
        script, p.returncode, p.stdout, p.stderr)
    return p.stdout


class Rsyslog:
    """rsyslogd -n with its own config and work dir (no root needed)."""

    def __init__(self, tmp_path, conf_body, name="rsyslog"):
        self.dir = tmp_path / name
        self.dir.mkdir()
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text('global(workDirectory="%s")\n' % self.dir +
                             conf_body)
        self.err = open(self.dir / "stderr", "w")
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(self.conf),
             "-i", str(self.dir / "pid")],
            stdout=subprocess.DEVNULL, stderr=self.err)

    def wait_tcp(self, port, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return socket.create_connection(("127.0.0.1", port), 1)
            except OSError:
                assert self.proc.poll() is None, self.stderr()
                assert time.monotonic() < deadline, "rsyslog not listening"
                time.sleep(0.1)

    def stderr(self):
        self.err.flush()
        return (self.dir / "stderr").read_text()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
