"""Crash-test machinery shared by tests/blackbox/test_crash.py and the
soak bench/crash_soak.py: live producers for a Redis stream, a Redis list
and a Kafka topic (kcat), the SIGKILL loop, and per-entry accounting.

Every produced entry carries a unique number in its message
("crashstream s17", "crashlist l17", "crashkafka k17"); after the last
restart everything is exported and each number counted, so a loss and a
duplicate are both reported by number.  Every wait is bounded."""
import collections
import json
import random
import re
import subprocess
import threading
import time

from ingest_helpers import total, write_config

TAGS = {"stream": ("crashstream", "s"), "list": ("crashlist", "l"),
        "kafka": ("crashkafka", "k")}
STREAM, LIST, TOPIC = "crash:stream", "crash:list", "crash-logs"


class BurstProducer(threading.Thread):
    """Calls burst(first, n) with the next n numbers every 20-150 ms until
    stopped (or max_n numbers); .n is how many were written."""

    def __init__(self, burst=250, max_n=400000):
        super().__init__(daemon=True)
        self.burst_n, self.max_n = burst, max_n
        self.n = 0
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set() and self.n < self.max_n:
                self.burst(self.n, self.burst_n)
                self.n += self.burst_n
                self.stop.wait(random.uniform(0.02, 0.15))
        except Exception as e:  # reported by the caller
            self.error = e


class RedisProducer(BurstProducer):
    """XADDs to STREAM and LPUSHes to LIST (pipelined)."""

    def __init__(self, port, **kw):
        super().__init__(**kw)
        import redis
        self.r = redis.Redis(host="127.0.0.1", port=port)

    def burst(self, first, n):
        p = self.r.pipeline(transaction=False)
        for i in range(first, first + n):
            p.xadd(STREAM, {"message": "crashstream s%d" % i, "env": "crash"})
            p.lpush(LIST, json.dumps({"message": "crashlist l%d" % i}))
        p.execute()


class KafkaProducer(BurstProducer):
    """Writes lines into one long-running `kcat -P`; finish() closes its
    stdin and waits until kcat has delivered everything (it exits 0 only
    then)."""

    def __init__(self, bootstrap, **kw):
        super().__init__(**kw)
        self.proc = subprocess.Popen(
            ["kcat", "-P", "-b", bootstrap, "-t", TOPIC, "-X", "log_level=2"],
            stdin=subprocess.PIPE, text=True)

    def burst(self, first, n):
        self.proc.stdin.write("".join(
            json.dumps({"message": "crashkafka k%d" % i}) + "\n"
            for i in range(first, first + n)))
        self.proc.stdin.flush()

    def finish(self, timeout=120):
        self.stop.set()
        self.join(timeout=30)
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=timeout)
        if rc != 0 and self.error is None:
            self.error = RuntimeError("kcat exited with %d" % rc)


def write_crash_config(path, redis_address, bootstrap, group):
    """A config reading STREAM, LIST and TOPIC; the Kafka group is new on
    every start (see kill_loop)."""
    sections = {"store": {"refresh": "200ms"}}
    if redis_address:
        sections["redis"] = {"address": redis_address, "streams": STREAM,
                             "lists": LIST, "group": "sift",
                             "consumer": "c1"}
    if bootstrap:
        sections["kafka"] = {"brokers": bootstrap, "topics": TOPIC,
                             "group": group}
    return write_config(path, sections)


def kill_loop(s, kills, rng, kafka_every=0, restart=None, log=None):
    """Kills s with SIGKILL `kills` times and starts it again.  A kill
    comes 0.15-0.6 s after the process came up, or, every kafka_every-th
    time, 0.1-0.8 s after its Kafka partitions were assigned (so the kill
    lands while Kafka records are being read and acknowledged).
    restart(k) runs before each new start (e.g. a new Kafka group: the
    librdkafka mock cluster does not know static membership, so a dead
    member holds a group for ~2 session timeouts; positions stored with
    the data, not the group's offsets, decide where reading resumes)."""
    for k in range(kills):
        if kafka_every and k % kafka_every == 0:
            s.wait_for_log(r"kafka: assigned", timeout=60)
            time.sleep(rng.uniform(0.1, 0.8))
        else:
            time.sleep(rng.uniform(0.15, 0.6))
        s.kill9()
        if log:
            log("kill %d/%d" % (k + 1, kills))
        if restart:
            restart(k)
        s.start()


def export_counts(s, tag):
    """Counts each number of one source's entries among the stored events."""
    word, prefix = TAGS[tag]
    rx = re.compile(r"%s %s(\d+)" % (word, prefix))
    counts = collections.Counter()
    r = s.get("/api/v1/export", params={"q": word}, stream=True, timeout=300)
    assert r.status_code == 200, r.text
    for line in r.iter_lines():
        if not line:
            continue
        m = rx.search(json.loads(line)["message"])
        assert m, line
        counts[int(m.group(1))] += 1
    return counts


def account(s, produced, timeout=180):
    """Waits (bounded) until every source's search total reaches what was
    produced, then counts.  produced: {tag: n}.  Returns {tag: (lost list,
    duplicates)}."""
    deadline = time.monotonic() + timeout
    for tag, n in produced.items():
        word = TAGS[tag][0]
        while total(s, word) < n and time.monotonic() < deadline:
            time.sleep(0.25)
    time.sleep(1.0)  # a late duplicate would show after the next refresh
    out = {}
    for tag, n in produced.items():
        counts = export_counts(s, tag)
        extra = [i for i in counts if i >= n]
        assert not extra, "%s: numbers never produced: %r" % (tag, extra[:10])
        lost = [i for i in range(n) if counts.get(i, 0) == 0]
        dups = sum(c - 1 for c in counts.values() if c > 1)
        out[tag] = (lost, dups)
    return out


def report_line(kills, produced, result):
    return "%d kills: " % kills + ", ".join(
        "%s %d entries lost %d duplicated %d"
        % (tag, produced[tag], len(result[tag][0]), result[tag][1])
        for tag in produced)


def redis_settled(r, timeout=20):
    """Waits until Redis holds nothing unacknowledged; returns the
    leftovers (pending stream entries, in-flight list, its seqs, list)."""
    deadline = time.monotonic() + timeout

    def left():
        return (r.xpending(STREAM, "sift")["pending"],
                r.llen(LIST + ":inflight:c1"),
                r.llen(LIST + ":inflight:c1:seq"), r.llen(LIST))
    while any(left()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left()
