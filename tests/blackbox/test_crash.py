"""Crash tests (issue 16): a live producer writes while siftd is killed
with SIGKILL twenty times at short random moments; after the last restart
every produced entry must be searchable exactly once.  Real parts: a
redis-server on a free loopback port, the kafka_mock broker (librdkafka's
mock cluster) and kcat.  Each entry carries a unique number; the test
exports everything and counts every number, so a duplicate and a loss
are both reported by number.

Bounded: 20 kills at 0.2-0.9 s after each start."""
import collections
import json
import os
import random
import re
import subprocess
import threading
import time

import pytest

from ingest_helpers import KafkaMock, RedisServer, total, write_config

KILLS = 20


class RedisProducer(threading.Thread):
    """XADDs to a stream and LPUSHes to a list, in bursts, until stopped."""

    def __init__(self, redis_srv, stream, lst, tag, burst=250):
        super().__init__(daemon=True)
        import redis
        self.r = redis.Redis(host="127.0.0.1", port=redis_srv.port)
        self.stream, self.list, self.tag, self.burst = stream, lst, tag, burst
        self.n = 0
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set() and self.n < 200000:
                p = self.r.pipeline(transaction=False)
                for i in range(self.n, self.n + self.burst):
                    p.xadd(self.stream, {"message": "%sstream s%d"
                                         % (self.tag, i), "env": "crash"})
                    p.lpush(self.list, json.dumps(
                        {"message": "%slist l%d" % (self.tag, i)}))
                p.execute()
                self.n += self.burst
                self.stop.wait(random.uniform(0.02, 0.15))
        except Exception as e:  # reported by the test
            self.error = e


def kill_loop(s, kills, rng, before_start=None):
    """Kills s with SIGKILL `kills` times, each 0.2-0.9 s after it came up
    (address file written), and starts it again."""
    for k in range(kills):
        time.sleep(rng.uniform(0.2, 0.9))
        s.kill9()
        if before_start:
            before_start(k)
        s.start()


def export_counts(s, query, pattern):
    """Counts each number matched by pattern in the messages of query."""
    rx = re.compile(pattern)
    counts = collections.Counter()
    r = s.get("/api/v1/export", params={"q": query}, stream=True, timeout=120)
    assert r.status_code == 200, r.text
    for line in r.iter_lines():
        if not line:
            continue
        m = rx.search(json.loads(line)["message"])
        assert m, line
        counts[int(m.group(1))] += 1
    return counts


def account(counts, produced):
    """(lost, duplicated) for numbers 0..produced-1."""
    lost = [i for i in range(produced) if counts.get(i, 0) == 0]
    dups = sum(c - 1 for c in counts.values() if c > 1)
    extra = [i for i in counts if i >= produced]
    assert not extra, "numbers never produced: %r" % extra[:10]
    return lost, dups


def wait_count(s, query, n, timeout=180):
    deadline = time.monotonic() + timeout
    got = total(s, query)
    while got < n and time.monotonic() < deadline:
        time.sleep(0.25)
        got = total(s, query)
    return got


@pytest.fixture
def redis_srv(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    r.close()


def test_redis_stream_and_list_exactly_once_under_kill9(
        tmp_path, redis_srv, siftd_factory):
    rng = random.Random(int(os.environ.get("SIFT_CRASH_SEED", time.time())))
    cfg = write_config(tmp_path / "siftd.conf", {
        "redis": {"address": redis_srv.address, "streams": "crash:stream",
                  "lists": "crash:list", "group": "sift", "consumer": "c1"},
        "store": {"refresh": "200ms"},
    })
    s = siftd_factory(config=cfg).start()
    prod = RedisProducer(redis_srv, "crash:stream", "crash:list", "crash")
    prod.start()
    try:
        kill_loop(s, KILLS, rng)
    finally:
        prod.stop.set()
        prod.join(timeout=30)
    assert prod.error is None, prod.error
    n = prod.n
    assert n >= 1000

    got_s = wait_count(s, "crashstream", n)
    got_l = wait_count(s, "crashlist", n)
    time.sleep(1.0)  # a late duplicate would show after the next refresh
    streams = export_counts(s, "crashstream", r"crashstream s(\d+)")
    lists = export_counts(s, "crashlist", r"crashlist l(\d+)")
    lost_s, dup_s = account(streams, n)
    lost_l, dup_l = account(lists, n)
    report = ("%d kills, %d entries per source: stream lost %d dup %d, "
              "list lost %d dup %d (search totals %d/%d)"
              % (KILLS, n, len(lost_s), dup_s, len(lost_l), dup_l, got_s, got_l))
    print(report)
    assert (len(lost_s), dup_s, len(lost_l), dup_l) == (0, 0, 0, 0), \
        report + "; lost stream %r list %r" % (lost_s[:10], lost_l[:10])
    # Everything is acknowledged in Redis too.
    r = redis_srv.r
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
            r.xpending("crash:stream", "sift")["pending"] or
            r.llen("crash:list:inflight:c1") or r.llen("crash:list")):
        time.sleep(0.1)
    assert r.xpending("crash:stream", "sift")["pending"] == 0
    assert r.llen("crash:list:inflight:c1") == 0
    assert r.llen("crash:list:inflight:c1:seq") == 0
    assert r.llen("crash:list") == 0
