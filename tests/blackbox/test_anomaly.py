"""Black-box tests of templates, anomaly scoring and alerts through the real
siftd binary: an incident injected through HTTP ingest raises an alert that
arrives at a real webhook listener (started here) and a real redis-server
(started here on a free loopback port, no persistence), resolves, is marked
false positive, and survives a restart; /api/v1/patterns lists the templates.

Windows are 1 s of *arrival time* (no event timestamp can hold one
open).  The scenario steps siftd's clock with the debug endpoint
(POST /api/v1/debug/clock {"freeze_ms": T}) before each window's events,
so every window closes when the next window's events arrive: the
scenario is deterministic and takes no wall-clock waiting
(anomaly.idle_flush=1h keeps the wall clock from closing windows in
between).
"""
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import run_siftd
from ingest_helpers import ingest, wait_for

WINDOW_S = 1


def ingest_window(s, t0_ms, w, **kw):
    """The events of window w, arriving during window w: siftd's clock is
    stopped just before the window's end, after the events' own times."""
    r = s.post("/api/v1/debug/clock",
               json={"freeze_ms": t0_ms + w * WINDOW_S * 1000 + 900})
    assert r.status_code == 200, r.text
    ingest(s, window_events(t0_ms, w, **kw))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Webhook:
    """A real HTTP listener that records every POSTed JSON body."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.bodies.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hooks/sift" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, alert_id=None):
        with self.lock:
            return [b for _, b in self.bodies
                    if alert_id is None or b["id"] == alert_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    w = Webhook()
    yield w
    w.close()


@pytest.fixture
def redis_server(tmp_path):
    exe = shutil.which("redis-server")
    assert exe, "redis-server is a test dependency"
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    try:
        def up():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False
        wait_for(up, "redis-server to answer PING", timeout=10)
        yield port, client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def scenario_args(webhook_url=None, redis_port=None):
    args = ["--set", "store.wal_sync=10ms", "--set", "store.refresh=100ms",
            "--set", "anomaly.window=%ds" % WINDOW_S,
            "--set", "anomaly.warmup_windows=3",
            "--set", "anomaly.learning_period=5s",
            "--set", "anomaly.hold_windows=1",
            "--set", "anomaly.resolve_windows=2",
            "--set", "anomaly.cooldown=0",
            "--set", "anomaly.idle_flush=1h",
            "--set", "server.debug_endpoints=true"]
    if webhook_url:
        args += ["--set", "alerts.webhook_url=" + webhook_url,
                 "--set", "alerts.webhook_retries=2"]
    if redis_port:
        args += ["--set", "alerts.redis_address=127.0.0.1:%d" % redis_port,
                 "--set", "alerts.redis_channel=sift-alerts",
                 "--set", "alerts.redis_stream=sift-alerts-stream"]
    return args


# Calm events a window: enough that one calm window after the error burst
# is 20:1 evidence the error share is back (what ends an error_ratio alarm).
N_INFO = 60


def window_events(t0_ms, w, n_info=N_INFO, n_err=0):
    """Events of window w: checkout traffic, plus n_err payment errors."""
    base = t0_ms + w * WINDOW_S * 1000
    evs = [{"@timestamp": base + i * 10, "service.name": "checkout",
            "log.level": "info",
            "message": "GET /api/cart/%d 200 in %d ms" % (1000 + i, 10 + i)}
           for i in range(n_info)]
    evs += [{"@timestamp": base + 500 + i, "service.name": "checkout",
             "log.level": "error",
             "message": "payment provider timeout after %d ms" % (30000 + i)}
            for i in range(n_err)]
    return evs


def alerts(s, **params):
    r = s.get("/api/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


def find_ratio_alert(s, state):
    for a in alerts(s, state=state):
        if a["series"] == "service=checkout" and a["kind"] == "error_ratio":
            return a
    return None


def test_incident_alerts_webhook_and_redis_resolves_feedback_restart(
        siftd_factory, webhook, redis_server):
    redis_port, rc = redis_server
    pubsub = rc.pubsub()
    pubsub.subscribe("sift-alerts")
    s = siftd_factory(args=scenario_args(webhook.url, redis_port)).start()
    s.wait_ready()

    # An hour-old, window-aligned base time; the clock is stepped through
    # it window by window (arrival time drives the windows).
    t0_ms = (int(time.time()) - 3600) * 1000
    for w in range(8):
        ingest_window(s, t0_ms, w)
    assert alerts(s) == []  # steady traffic raises nothing

    # The incident: a burst of payment errors in window 8.  Window 9's
    # first events close window 8.
    ingest_window(s, t0_ms, 8, n_err=20)
    ingest_window(s, t0_ms, 9)
    fired = wait_for(lambda: find_ratio_alert(s, "firing"), "a firing alert")
    aid = fired["id"]
    assert fired["score"] >= 50
    assert fired["started_ms"] == t0_ms + 8 * 1000
    assert fired["label"] == ""
    assert "service.name:\"checkout\"" in fired["query"]
    # One alert for the incident (alert budget): the other series it
    # moved (new templates, the error count) are attached as evidence.
    def with_new_pattern():
        a = find_ratio_alert(s, "firing")
        rel = a.get("related", []) if a else []
        return a if any(r["kind"] == "new_pattern" for r in rel) else None
    fired = wait_for(with_new_pattern, "new_pattern attached")
    assert fired["related_total"] >= 1
    assert all(r["series"].startswith("service=checkout")
               for r in fired["related"])
    assert [a["id"] for a in alerts(s)] == [aid]

    # Delivered to the webhook and to Redis (PUBLISH and XADD).
    hook = wait_for(lambda: [b for b in webhook.events(aid)
                             if b["event"] == "fire"], "webhook fire")
    assert hook[0]["kind"] == "error_ratio"
    assert hook[0]["series"] == "service=checkout"
    assert webhook.bodies[0][0] == "/hooks/sift"

    def published():
        m = pubsub.get_message(timeout=0.2)
        while m is not None:
            if m["type"] == "message":
                body = json.loads(m["data"])
                if body["id"] == aid:
                    return body
            m = pubsub.get_message(timeout=0.05)
        return None
    assert wait_for(published, "redis PUBLISH")["event"] == "fire"

    def streamed(event):
        for _, fields in rc.xrange("sift-alerts-stream"):
            body = json.loads(fields[b"alert"])
            if body["id"] == aid and body["event"] == event:
                return body
        return None
    wait_for(lambda: streamed("fire"), "redis XADD")

    # Two calm windows resolve it (when window 12 opens).
    for w in (10, 11, 12):
        ingest_window(s, t0_ms, w)
    resolved = wait_for(lambda: find_ratio_alert(s, "resolved"), "resolution")
    assert resolved["id"] == aid
    assert resolved["resolved_ms"] == t0_ms + 11 * 1000
    wait_for(lambda: [b for b in webhook.events(aid) if b["event"] == "resolve"],
             "webhook resolve")
    wait_for(lambda: streamed("resolve"), "redis XADD resolve")
    assert find_ratio_alert(s, "firing") is None

    # Time-range filter (Grafana annotations): the alert spans windows 8-11.
    assert any(a["id"] == aid for a in alerts(s, **{"from": t0_ms + 9000,
                                                    "to": t0_ms + 10000}))
    assert not any(a["id"] == aid for a in alerts(s, **{"from": t0_ms + 13000}))
    assert not any(a["id"] == aid for a in alerts(s, to=t0_ms + 8000))

    # Feedback: false positive raises the series' threshold by fp_raise.
    r = s.post("/api/v1/alerts/%d/feedback" % aid, json={"label": "false_positive"})
    assert r.status_code == 200, r.text
    assert r.json()["alert"]["label"] == "false_positive"
    assert r.json()["series_threshold"] == 60.0
    assert s.get("/api/v1/alerts/%d" % aid).json()["label"] == "false_positive"
    r = s.post("/api/v1/alerts/%d/feedback" % aid, json={"label": "maybe"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "bad_request"
    r = s.post("/api/v1/alerts/999999/feedback", json={"label": "true_positive"})
    assert r.status_code == 404
    assert s.get("/api/v1/alerts/999999").status_code == 404
    assert s.post("/api/v1/alerts/%d/nope" % aid, json={}).status_code == 404

    # Patterns of the incident's service, with template text and samples.
    def patterns():
        r = s.get("/api/v1/patterns", params={"q": "service.name:checkout",
                                             "from": t0_ms, "to": t0_ms + 60000})
        assert r.status_code == 200, r.text
        j = r.json()
        return j if j["total"] == 13 * N_INFO + 20 else None
    pj = wait_for(patterns, "all events searchable for patterns")
    top = pj["patterns"][0]
    assert top["count"] == 13 * N_INFO
    assert top["template"] == "GET <path> <num> in <num> ms"
    err = [p for p in pj["patterns"] if p["count"] == 20]
    assert len(err) == 1
    assert err[0]["template"] == "payment provider timeout after <num> ms"
    assert err[0]["sample"] == "payment provider timeout after 30019 ms"
    assert err[0]["first_seen_ms"] == t0_ms + 8000 + 500
    r = s.get("/api/v1/patterns", params={"q": "_template_id:%d" % err[0]["template_id"]})
    assert r.json()["total"] == 20
    r = s.get("/api/v1/patterns", params={"q": "payment OR nosuchword",
                                          "from": t0_ms})
    assert r.json()["total"] == 20
    r = s.get("/api/v1/patterns", params={"q": "(timeout"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "query_parse"

    st = s.get("/api/v1/anomaly").json()
    assert st["records_pushed"] == 13 * N_INFO + 20
    assert st["records_dropped"] == 0
    assert st["sinks"]["webhook_failed"] == 0
    assert st["sinks"]["redis_sent"] >= 2

    # Restart: alerts, labels and templates survive.
    assert s.restart() == 0
    s.wait_ready()
    a = s.get("/api/v1/alerts/%d" % aid).json()
    assert a["label"] == "false_positive"
    assert a["state"] == "resolved"
    assert a["started_ms"] == t0_ms + 8000
    pj2 = s.get("/api/v1/patterns", params={"q": "payment"}).json()
    assert pj2["patterns"][0]["template_id"] == err[0]["template_id"]
    assert pj2["patterns"][0]["template"] == err[0]["template"]
    # true_positive takes the raise back.
    r = s.post("/api/v1/alerts/%d/feedback" % aid, json={"label": "true_positive"})
    assert r.status_code == 200
    assert r.json()["series_threshold"] == 50.0
    pubsub.close()
    assert s.stop() == 0  # a clean exit (sanitizer builds fail on leaks)


def test_bad_alert_sink_config_fails_start(siftd_factory):
    p = run_siftd(["--check-config",
                   "--set", "alerts.webhook_url=https://example.invalid/x"])
    assert p.returncode == 1
    assert "https is not supported" in p.stderr
    s = siftd_factory(args=["--set", "alerts.kafka_topic=alerts",
                            "--set", "kafka.brokers=127.0.0.1:1",
                            "--set", "kafka.topics=logs",
                            "--set", "kafka.properties=no.such.property=1"],
                      name="d3")
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "no.such.property" in str(e.value)


def test_alerts_reach_a_kafka_topic(siftd_factory):
    from ingest_helpers import KafkaMock
    kafka = KafkaMock(["logs-app", "sift-alerts"], partitions=1)
    try:
        args = scenario_args() + ["--set", "kafka.brokers=" + kafka.bootstrap,
                 "--set", "kafka.topics=logs-app",
                 "--set", "alerts.kafka_topic=sift-alerts"]
        s = siftd_factory(args=args, name="dk").start()
        s.wait_ready()
        t0_ms = (int(time.time()) - 3600) * 1000
        for w in range(8):
            ingest_window(s, t0_ms, w)
        ingest_window(s, t0_ms, 8, n_err=20)
        ingest_window(s, t0_ms, 9)
        fired = wait_for(lambda: find_ratio_alert(s, "firing"), "an alert")

        def consumed():
            p = subprocess.run(["kcat", "-C", "-b", kafka.bootstrap, "-t",
                                "sift-alerts", "-o", "beginning", "-e", "-q",
                                "-f", "%k\t%s\n", "-X", "log_level=2"],
                               capture_output=True, text=True, timeout=30)
            for line in p.stdout.splitlines():
                key, _, value = line.partition("\t")
                body = json.loads(value)
                if body["id"] == fired["id"] and body["event"] == "fire":
                    return key, body
            return None
        key, body = wait_for(consumed, "the alert on the Kafka topic", timeout=30)
        assert key == "service=checkout"
        assert body["kind"] == "error_ratio"
        st = s.get("/api/v1/anomaly").json()
        assert st["sinks"]["kafka_sent"] >= 1
        assert st["sinks"]["kafka_failed"] == 0
        assert s.stop() == 0
    finally:
        kafka.close()
