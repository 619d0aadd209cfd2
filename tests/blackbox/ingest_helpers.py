"""Helpers for the broker black-box tests: the kafka_mock broker, a
redis-server on a free loopback port, capability gate, search counting,
NDJSON ingest over HTTP and a bounded wait.  Every wait is bounded in
time."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import SIFTD, SOURCE_DIR

BUILD_DIR = os.environ.get("SIFT_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class KafkaMock:
    """tests/tools/kafka_mock as a process; .bootstrap is host:port."""

    def __init__(self, topics, partitions=3):
        exe = os.path.join(BUILD_DIR, "kafka_mock")
        args = [exe, "--partitions", str(partitions)]
        for t in topics:
            args += ["--topic", t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, "kafka_mock printed no bootstrap address"

    def produce(self, topic, lines, timeout=30):
        data = "".join(l + "\n" for l in lines)
        subprocess.run(["kcat", "-P", "-b", self.bootstrap, "-t", topic,
                        "-X", "log_level=2"], input=data, text=True,
                       check=True, timeout=timeout)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class RedisServer:
    def __init__(self, tmp_path, port=None):
        self.port = port or free_port()
        self.dir = str(tmp_path)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL)
        import redis
        self.r = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.r.ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def ingest(s, events, timeout=60):
    """POSTs events as NDJSON; all must be accepted."""
    r = s.post("/api/v1/ingest", data=ndjson(events),
               headers={"Content-Type": "application/x-ndjson"},
               timeout=timeout)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(events)


def wait_for(fn, what, timeout=15):
    """Polls fn until it returns something true; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def write_config(path, sections):
    with open(path, "w") as f:
        for sec, kv in sections.items():
            f.write("[%s]\n" % sec)
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))
    return str(path)


def total(s, query):
    r = s.get("/api/v1/search", params={"q": query, "limit": 1})
    assert r.status_code == 200, r.text
    return r.json()["total"]["value"]


def wait_total(s, query, n, timeout=60):
    """Waits until query has n hits; then checks it stays n (no dups)."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = total(s, query)
        if got >= n:
            break
        time.sleep(0.1)
    assert got == n, "%r: %r hits, want %d" % (query, got, n)
    time.sleep(1.5)  # a duplicate would show up after the next refresh
    assert total(s, query) == n
