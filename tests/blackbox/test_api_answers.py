"""Black-box tests of issue 17 (API answers users can rely on) through the
real siftd binary: replies that end their line, JSON errors for requests
the HTTP layer refuses by itself, and the rest of the issue's points as
they land."""
import json
import socket
import time

FAST = ["--set", "store.wal_sync=20ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=500ms",
        # fixed dates (2024, 2026-12): keep them past tiers.retention
        # and ingest.max_future, whatever today is
        "--set", "tiers.retention=off", "--set", "ingest.max_future=off"]

BASE_MS = 1714557600000  # 2024-05-01T10:00:00Z


def started(siftd_factory, *args):
    s = siftd_factory(args=FAST + list(args)).start()
    s.wait_ready()
    return s


def ingest(s, events, **kw):
    r = s.post("/api/v1/ingest",
               data="".join(json.dumps(e) + "\n" for e in events),
               headers={"Content-Type": "application/x-ndjson"}, timeout=20,
               **kw)
    assert r.status_code == 200, r.text
    return r


def wait_total(s, query, n, timeout=10, **params):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        p = {"q": query, "limit": 0}
        p.update(params)
        r = s.get("/api/v1/search", params=p)
        if r.status_code == 200:
            got = r.json()["total"]["value"]
            if got >= n:
                return got
        time.sleep(0.05)
    raise AssertionError("%r: %r of %d searchable" % (query, got, n))


def raw_http(s, data, timeout=10):
    """Sends raw bytes on a new connection; returns everything read until
    the server closes (bounded by timeout)."""
    host, port = s.addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as c:
        c.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = c.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
    return out


# ---- point 11: every JSON reply ends its line --------------------------

def test_every_json_reply_ends_with_a_newline(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS, "message": "disk full on /var"}])
    wait_total(s, "disk", 1)
    calls = [
        ("POST", "/api/v1/ingest", {"data": '{"message":"x"}\n',
                                    "headers": {"Content-Type":
                                                "application/x-ndjson"}}),
        ("POST", "/_bulk", {"data": '{"index":{}}\n{"message":"y"}\n',
                            "headers": {"Content-Type":
                                        "application/x-ndjson"}}),
        ("GET", "/api/v1/patterns", {}),
        ("GET", "/api/v1/alerts", {}),
        ("GET", "/api/v1/anomaly", {}),
        ("GET", "/api/v1/tiers", {}),
        ("GET", "/api/v1/store", {}),
        ("GET", "/api/v1/config", {}),
        ("GET", "/api/v1/search?q=disk", {}),
        ("GET", "/api/v1/histogram?q=disk", {}),
        ("GET", "/api/v1/terms?field=log.level", {}),
        ("GET", "/api/v1/fields", {}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/grafana/", {}),
        ("GET", "/nowhere", {}),
        ("POST", "/api/v1/delete", {"json": {"query": "nothing-matches-this",
                                             "dry_run": True}}),
    ]
    for method, path, kw in calls:
        r = s.request(method, path, **kw)
        assert r.headers["Content-Type"].startswith("application/json"), path
        assert r.content.endswith(b"\n"), (method, path, r.content[-80:])
        json.loads(r.content)


# ---- point 3: requests the HTTP layer refuses by itself -----------------

def test_malformed_http_gets_json_errors(siftd_factory):
    s = started(siftd_factory, "--set", "http.max_header_bytes=4096",
                "--set", "http.max_body_bytes=65536",
                "--set", "http.max_line_bytes=65536")
    cases = [
        (b"HELLO WORLD\r\n\r\n", 400, "bad_request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n", 400,
         "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000
         + b"\r\n\r\n", 400, "bad_request"),
        (b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 900000000\r\n\r\n{}", 413, "request_too_large"),
        (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 501,
         "method_not_implemented"),
    ]
    for data, status, etype in cases:
        out = raw_http(s, data)
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d " % status), (data[:40], out)
        assert b"Content-Type: application/json" in head
        assert b"<HTML>" not in out
        err = json.loads(body)
        assert err["error"]["type"] == etype
        assert err["status"] == status
        assert body.endswith(b"\n")
    # The server is still fine afterwards.
    assert s.get("/healthz").status_code == 200


# ---- point 4: one request-time parser, one rule for reversed ranges ----

def test_time_bounds_are_read_like_ingest_reads_timestamps(siftd_factory):
    s = started(siftd_factory)
    # 2026-12-08T00:00:00Z and a day later, sent as epoch seconds.
    t_s = 1796688000
    ingest(s, [{"@timestamp": t_s, "message": "seconds event"},
               {"@timestamp": (t_s + 86400) * 1000, "message": "ms event"}])
    wait_total(s, "event", 2)
    for unit in (1, 1000, 1000000, 1000000000):
        r = s.get("/api/v1/search", params={
            "q": "event", "from": str(t_s * unit),
            "to": str((t_s + 3600) * unit)})
        assert r.status_code == 200, r.text
        assert [h["message"] for h in r.json()["hits"]] == ["seconds event"]
    # Fractions and date math with rounding.
    r = s.get("/api/v1/search", params={"q": "event",
                                         "from": "%d.5" % (t_s - 1),
                                         "to": "2026-12-08||+1d/d"})
    assert [h["message"] for h in r.json()["hits"]] == ["seconds event"]
    r = s.get("/api/v1/histogram", params={"q": "event",
                                            "from": str(t_s), "to": "%d" % (
                                                (t_s + 2 * 86400) * 1000),
                                            "interval": "1d"})
    assert r.status_code == 200, r.text
    assert [b["count"] for b in r.json()["buckets"]] == [1, 1]


def test_reversed_ranges_are_one_400_everywhere(siftd_factory):
    s = started(siftd_factory)
    want = "'from' (now = "
    for path in ("/api/v1/search", "/api/v1/export", "/api/v1/histogram",
                 "/api/v1/terms?field=log.level", "/api/v1/stats?field=x",
                 "/api/v1/patterns", "/api/v1/alerts"):
        r = s.get(path, params={"from": "now", "to": "now-1h"})
        assert r.status_code == 400, (path, r.text)
        err = r.json()["error"]
        assert err["type"] == "invalid_time_range", (path, err)
        assert err["reason"].startswith(want), err
        assert "'to' (now-1h = " in err["reason"]
    r = s.post("/api/v1/search", json={"q": "x", "from": "now",
                                       "to": "now-1h"})
    assert r.status_code == 400 and \
        r.json()["error"]["type"] == "invalid_time_range"
    r = s.post("/api/v1/delete", json={"query": "x", "from": "now",
                                       "to": "now-1h"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_time_range"
    assert "'to' (now-1h = " in r.json()["error"]["reason"]
    r = s.post("/grafana/query", json={
        "range": {"from": "now", "to": "now-1h"},
        "targets": [{"refId": "A", "target": "logs", "payload": {}}]})
    assert r.status_code == 400, r.text
    assert "'range.from' (now = " in r.text and "is after 'range.to'" in r.text
    # A bad bound names itself and what is wrong with it.
    r = s.get("/api/v1/search", params={"from": "now-15x"})
    assert r.status_code == 400
    assert "invalid 'from' (now-15x)" in r.json()["error"]["reason"]
    r = s.post("/api/v1/delete", json={"query": "x", "to": "soon"})
    assert r.status_code == 400
    assert "invalid 'to' (soon): not a time" in r.json()["error"]["reason"]
