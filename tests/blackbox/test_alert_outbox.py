"""Alert delivery through the persistent outbox (issue 16 point 10), with
the real siftd binary: a burst of alert notifications to a webhook that
fails, then is slow, then recovers, across a kill -9; Redis that is down
at first; Kafka across a kill -9.

Expectations (docs/alerting.md, "Delivery"): every notification reaches
the receiver (at least once; a re-send carries the same "key" and
Idempotency-Key, so duplicates are identifiable) or is dead-lettered in
DATA_DIR/outbox/dead.ndjson with its cause; never both; every failure is
logged with the sink, the alert id, the key and the cause.

Alerts come from POST /api/v1/debug/alerts (server.debug_endpoints),
which fires test alerts through the same alerts store and outboxes as
learned and rule alerts; its reply comes after the outboxes hold them.
Retries run on real time with short back-offs (alerts.retry_backoff);
every wait is a bounded poll on a condition.
"""
import http.server
import json
import os
import re
import subprocess
import threading
import time

from ingest_helpers import KafkaMock, RedisServer, free_port

RETRIES = 8


def wait_for(fn, what, timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class FlakyWebhook:
    """A real HTTP receiver: answers 503 until `fail_until`, then is slow
    (`slow_s` per request) until `slow_until`, then answers at once.
    Alerts whose id is in `refuse` always get 503 (they must end up
    dead-lettered).  Records every accepted body."""

    def __init__(self):
        self.accepted = []  # bodies answered 200
        self.tries = 0
        self.lock = threading.Lock()
        self.fail_until = 0.0
        self.slow_until = 0.0
        self.slow_s = 0.0
        self.refuse = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                assert self.headers.get("Idempotency-Key") == body["key"]
                now = time.monotonic()
                with outer.lock:
                    outer.tries += 1
                    refuse = body["id"] in outer.refuse
                if refuse or now < outer.fail_until:
                    code = 503
                else:
                    if now < outer.slow_until:
                        time.sleep(outer.slow_s)
                    code = 200
                    with outer.lock:
                        outer.accepted.append(body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def keys(self):
        with self.lock:
            return [b["key"] for b in self.accepted]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def outbox_args(extra=(), retries=RETRIES):
    return ["--set", "server.debug_endpoints=true",
            "--set", "alerts.retries=%d" % retries,
            "--set", "alerts.retry_backoff=100ms",
            "--set", "alerts.retry_backoff_max=1s",
            "--set", "alerts.webhook_timeout=1s"] + list(extra)


def fire(s, count):
    r = s.post("/api/v1/debug/alerts", json={"count": count}, timeout=30)
    assert r.status_code == 200, r.text
    ids = r.json()["ids"]
    assert len(ids) == count
    return ids


def metric(s, name, sink):
    text = s.get("/metrics").text
    m = re.search(r'^%s\{sink="%s"\} (\S+)$' % (name, sink), text, re.M)
    assert m, "no %s{sink=%s} in /metrics" % (name, sink)
    return float(m.group(1))


def dead_letters(s):
    path = os.path.join(s.data_dir, "outbox", "dead.ndjson")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_burst_to_flaky_slow_webhook_across_kill9(siftd_factory):
    hook = FlakyWebhook()
    try:
        s = siftd_factory(args=outbox_args([
            "--set", "alerts.webhook_url=" + hook.url,
            "--set", "alerts.webhook_concurrency=4"])).start()
        s.wait_ready()
        # The receiver is down (503) for the first 1.5 s, then slow
        # (50 ms a request) for 3 s, then fine.
        now = time.monotonic()
        hook.fail_until = now + 1.5
        hook.slow_until = now + 4.5
        hook.slow_s = 0.05
        ids = []
        for _ in range(4):
            ids += fire(s, 46)
        # Ten alerts the receiver never takes: they must be dead-lettered.
        refused = set(ids[::19])
        with hook.lock:
            hook.refuse |= refused
        s.kill9()  # tries in flight are lost with the process
        s.start()
        s.wait_ready()
        for _ in range(4):
            ids += fire(s, 46)
        assert len(ids) == 368 and len(set(ids)) == 368

        wait_for(lambda: metric(s, "sift_alert_outbox_pending", "webhook") == 0,
                 "the webhook outbox to drain", timeout=120)

        # Exactly the expected notifications: one fire per alert.
        want = {i for i in ids if i not in refused}
        keys = hook.keys()
        got = {}
        for b in hook.accepted:
            assert b["event"] == "fire" and b["kind"] == "test"
            got.setdefault(b["id"], set()).add(b["key"])
        assert set(got) == want, "missing: %r" % sorted(want - set(got))
        for i, ks in got.items():
            assert len(ks) == 1, "alert %d got two different keys %r" % (i, ks)
        # Duplicates are re-sends of one key; only tries that were in
        # flight when siftd was killed can be sent twice.
        dups = len(keys) - len(set(keys))
        assert dups <= 4, "%d duplicates" % dups

        dead = dead_letters(s)
        assert {d["alert"] for d in dead} == refused
        for d in dead:
            assert d["sink"] == "webhook"
            assert d["cause"].startswith("HTTP 503"), d
            assert d["attempts"] == RETRIES + 1, d
            assert json.loads(d["body"])["key"] == d["key"]
        assert not refused & set(got)

        # Every failure names the alert, its key and the cause.
        log = s.stderr()
        fails = re.findall(r"alerts: webhook: alert (\d+) \(fire, key (\S+)\) "
                           r"not delivered: (.+?); try", log)
        assert fails, log[-3000:]
        for aid, key, cause in fails:
            assert key.startswith(aid + "-")
            assert cause.startswith("HTTP 503"), cause
        assert re.search(r"alerts: webhook: alert \d+ \(fire, key \S+\) "
                         r"dead-lettered after %d tries: HTTP 503" % (RETRIES + 1),
                         log)
        assert metric(s, "sift_alert_delivery_failed_tries_total", "webhook") > 0
        assert s.stop() == 0
    finally:
        hook.close()


def test_redis_down_then_up_delivers_everything(siftd_factory, tmp_path):
    port = free_port()
    s = siftd_factory(args=outbox_args([
        "--set", "alerts.redis_address=127.0.0.1:%d" % port,
        "--set", "alerts.redis_stream=sift-alerts",
        "--set", "alerts.redis_channel=sift-alerts-ch"], retries=60)).start()
    s.wait_ready()
    ids = fire(s, 20)  # Redis is not running yet
    wait_for(lambda: metric(s, "sift_alert_delivery_failed_tries_total",
                            "redis") >= 20, "failed tries against no Redis")
    assert metric(s, "sift_alert_outbox_pending", "redis") == 20
    log = s.stderr()
    assert re.search(r"alerts: redis: alert \d+ \(fire, key \S+\) not "
                     r"delivered: redis connection lost: Connection refused; "
                     r"try 2 of 61", log), log[-2000:]
    s.kill9()
    s.start()
    s.wait_ready()
    ids += fire(s, 5)
    redis = RedisServer(tmp_path, port=port)
    try:
        wait_for(lambda: metric(s, "sift_alert_outbox_pending", "redis") == 0,
                 "the redis outbox to drain")
        entries = redis.r.xrange("sift-alerts")
        keys = [json.loads(f[b"alert"])["key"] for _, f in entries]
        got = {int(k.split("-")[0]) for k in keys}
        assert got == set(ids)
        assert len(keys) - len(set(keys)) == 0  # nothing was in flight
        assert dead_letters(s) == []
        # The budget of tries survives the restart.
        assert re.search(r"alerts: redis: alert \d+ \(fire, key \S+\) "
                         r"delivered after \d+ failed tries", s.stderr())
        assert s.stop() == 0
    finally:
        redis.close()


def test_kafka_notifications_survive_kill9(siftd_factory):
    kafka = KafkaMock(["logs-app", "sift-alerts"], partitions=1)
    try:
        s = siftd_factory(args=outbox_args([
            "--set", "kafka.brokers=" + kafka.bootstrap,
            "--set", "kafka.topics=logs-app",
            "--set", "alerts.kafka_topic=sift-alerts"])).start()
        s.wait_ready()
        ids = fire(s, 60)
        s.kill9()  # some may still be queued in the producer
        s.start()
        s.wait_ready()
        ids += fire(s, 20)
        wait_for(lambda: metric(s, "sift_alert_outbox_pending", "kafka") == 0,
                 "the kafka outbox to drain")

        def consumed():
            p = subprocess.run(["kcat", "-C", "-b", kafka.bootstrap, "-t",
                                "sift-alerts", "-o", "beginning", "-e", "-q",
                                "-f", "%h\t%s\n", "-X", "log_level=2"],
                               capture_output=True, text=True, timeout=30)
            out = []
            for line in p.stdout.splitlines():
                hdr, _, value = line.partition("\t")
                body = json.loads(value)
                assert hdr == "idempotency-key=" + body["key"]
                out.append(body)
            return out if {b["id"] for b in out} == set(ids) else None
        bodies = wait_for(consumed, "every alert on the topic")
        keys = [b["key"] for b in bodies]
        per_id = {}
        for b in bodies:
            per_id.setdefault(b["id"], set()).add(b["key"])
        assert all(len(k) == 1 for k in per_id.values())
        assert len(keys) - len(set(keys)) <= 60  # re-sends of one key only
        assert s.stop() == 0
    finally:
        kafka.close()
