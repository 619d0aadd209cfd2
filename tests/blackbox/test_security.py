"""Black-box security tests (issue 9) through the real siftd binary: every
role/endpoint pair, tokens (plain, SHA-256, Basic, token file mode), the
loopback-only mode, every HTTP/ingest/query limit at its boundary (one byte
under is accepted, one byte over refused), rate limits (429 + Retry-After),
PII redaction of each built-in pattern before the WAL (and no redaction of
Luhn-failing look-alikes), the audit log, secrets masked in the config
endpoint, and an HTTPS listener with a self-signed certificate made here.

The role matrix is table-driven: adding an endpoint is one line in
ENDPOINTS."""
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

FAST = ["--set", "store.wal_sync=20ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=500ms",
        # fixed dates (2024, 2026-11): keep them past tiers.retention
        "--set", "tiers.retention=off"]

TOK = {
    "reader": "reader-token-0123456789abcdef",
    "writer": "writer-token-0123456789abcdef",
    "admin": "admin-token-0123456789abcdef01",
}
TOKENS_SET = " ".join("%s1:%s:%s" % (r, r, t) for r, t in TOK.items())

NONE, READER, WRITER, ADMIN = "none", "reader", "writer", "admin"
NDJSON = {"Content-Type": "application/x-ndjson"}
JSON = {"Content-Type": "application/json"}

# (method, path, role needed, body, headers).  One line per endpoint.
ENDPOINTS = [
    ("GET", "/healthz", NONE, None, None),
    ("GET", "/readyz", NONE, None, None),
    ("GET", "/api/v1/config", ADMIN, None, None),
    ("GET", "/api/v1/store", ADMIN, None, None),
    ("POST", "/api/v1/ingest", WRITER, '{"message":"x"}\n', NDJSON),
    ("POST", "/api/v1/_bulk", WRITER, '{"index":{}}\n{"message":"x"}\n', NDJSON),
    ("POST", "/_bulk", WRITER, '{"index":{}}\n{"message":"x"}\n', NDJSON),
    ("GET", "/api/v1/search?q=x", READER, None, None),
    ("POST", "/api/v1/search", READER, '{"q":"x"}', JSON),
    ("GET", "/api/v1/export?q=x", READER, None, None),
    ("POST", "/api/v1/export", READER, '{"q":"x"}', JSON),
    ("GET", "/api/v1/histogram?q=x", READER, None, None),
    ("POST", "/api/v1/histogram", READER, '{"q":"x"}', JSON),
    ("GET", "/api/v1/terms?q=x&field=level", READER, None, None),
    ("POST", "/api/v1/terms", READER, '{"q":"x","field":"level"}', JSON),
    ("GET", "/api/v1/stats?q=x&field=n", READER, None, None),
    ("POST", "/api/v1/stats", READER, '{"q":"x","field":"n"}', JSON),
    ("GET", "/api/v1/fields", READER, None, None),
    ("GET", "/api/v1/tail?q=x", READER, None, None),
    ("GET", "/api/v1/context?id=x", READER, None, None),
    ("GET", "/api/v1/whoami", NONE, None, None),
    ("GET", "/ui/", NONE, None, None),
    ("GET", "/", NONE, None, None),
    ("GET", "/metrics", READER, None, None),
    ("GET", "/grafana", READER, None, None),
    ("GET", "/grafana/", READER, None, None),
    ("POST", "/grafana/metrics", READER, "{}", JSON),
    ("POST", "/grafana/search", READER, "{}", JSON),
    ("POST", "/grafana/metric-payload-options", READER, "{}", JSON),
    ("POST", "/grafana/query", READER, "{}", JSON),
    ("POST", "/grafana/variable", READER, "{}", JSON),
    ("POST", "/grafana/tag-keys", READER, "{}", JSON),
    ("POST", "/grafana/tag-values", READER, "{}", JSON),
    ("POST", "/grafana/annotations", READER, "{}", JSON),
    ("GET", "/api/v1/tiers", READER, None, None),
    ("GET", "/api/v1/patterns?q=x", READER, None, None),
    ("GET", "/api/v1/alerts", READER, None, None),
    ("GET", "/api/v1/anomaly", READER, None, None),
    ("POST", "/api/v1/delete", ADMIN, '{"query":"nothingmatchesthisword"}', JSON),
    ("POST", "/v1/logs", WRITER, '{"resourceLogs":[]}', JSON),
    ("POST", "/loki/api/v1/push", WRITER, '{"streams":[]}', JSON),
    ("POST", "/upload", WRITER, "MESSAGE=x\n",
     {"Content-Type": "application/vnd.fdo.journal"}),
    ("POST", "/logs-app/_bulk", WRITER, '{"index":{}}\n{"message":"x"}\n', NDJSON),
    ("POST", "/logs-app/_doc", WRITER, '{"message":"x"}', JSON),
    ("GET", "/_license", NONE, None, None),
    ("GET", "/_cluster/health", NONE, None, None),
    ("GET", "/_index_template/x", NONE, None, None),
    ("PUT", "/_index_template/x", WRITER, '{}', JSON),
]


def allows(have, need):
    return need == NONE or have == ADMIN or have == need


def bearer(role):
    return {"Authorization": "Bearer " + TOK[role]}


def call(s, method, path, body=None, headers=None, token=None, timeout=10,
         session=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    # stream=True: /tail never ends; only the status line is needed.
    r = (session or requests).request(method, s.url + path, data=body,
                                      headers=h, timeout=timeout, stream=True)
    r.close()
    return r


@pytest.fixture
def secured(siftd_factory):
    return siftd_factory(args=FAST + ["--set", "auth.tokens=" + TOKENS_SET]).start()


# ---------------------------------------------------------------------------
# Tokens and roles
# ---------------------------------------------------------------------------

def test_every_role_endpoint_pair(secured):
    s = secured
    s.wait_ready()
    sess = requests.Session()
    failures = []
    for method, path, need, body, headers in ENDPOINTS:
        for who in (None, "bad", READER, WRITER, ADMIN):
            tok = None if who is None else TOK.get(who, "not-a-valid-token-xxxxxxxx")
            r = call(s, method, path, body, headers, tok, session=sess)
            if need == NONE:
                ok = r.status_code not in (401, 403)
            elif who in (None, "bad"):
                ok = (r.status_code == 401 and
                      r.headers.get("WWW-Authenticate", "").startswith("Bearer"))
            elif allows(who, need):
                ok = r.status_code not in (401, 403, 404, 405)
            else:
                ok = r.status_code == 403
            if not ok:
                failures.append((method, path, who, r.status_code))
    assert not failures, failures


def test_alert_feedback_is_admin_only(secured):
    """Feedback on an alert changes thresholds: admin only.  With no alert
    of that id, an admin gets past the role check to a 404."""
    s = secured
    s.wait_ready()
    body = '{"label":"false_positive"}'
    for who, want in ((None, 401), (READER, 403), (WRITER, 403), (ADMIN, 404)):
        r = call(s, "POST", "/api/v1/alerts/424242/feedback", body, JSON,
                 TOK.get(who) if who else None)
        assert r.status_code == want, (who, r.status_code, r.text)
    r = call(s, "GET", "/api/v1/alerts/424242", None, None, TOK[READER])
    assert r.status_code == 404, r.text


def test_error_bodies_are_json(secured):
    r = secured.get("/api/v1/store")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "unauthorized"
    r = secured.get("/api/v1/store", headers=bearer(READER))
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "forbidden"
    assert "admin" in r.json()["error"]["reason"]


def test_metrics_public_opens_only_metrics(siftd_factory):
    s = siftd_factory(args=["--set", "auth.tokens=" + TOKENS_SET,
                            "--set", "auth.metrics_public=true"]).start()
    assert s.get("/metrics").status_code == 200
    assert s.get("/api/v1/search", params={"q": "x"}).status_code == 401


def test_sha256_and_basic_tokens(siftd_factory):
    tok = "s3cret-but-random-enough-0001"
    digest = hashlib.sha256(tok.encode()).hexdigest()
    s = siftd_factory(args=["--set", "auth.tokens=graf:reader:sha256:" + digest]).start()
    assert s.get("/api/v1/fields", headers={"Authorization": "Bearer " + tok}).status_code == 200
    # Grafana's basic auth: the password is the token, the user is ignored.
    basic = base64.b64encode(b"anyone:" + tok.encode()).decode()
    assert s.get("/api/v1/fields", headers={"Authorization": "Basic " + basic}).status_code == 200
    assert s.get("/api/v1/fields", headers={"Authorization": "Bearer " + digest}).status_code == 401
    # A hashed entry never appears in the config endpoint (no admin here: 403).
    assert s.get("/api/v1/config", headers={"Authorization": "Bearer " + tok}).status_code == 403


def test_token_file_must_be_private(siftd_factory, tmp_path):
    f = tmp_path / "tokens"
    f.write_text("# ops\nops:admin:%s\n" % TOK["admin"])
    os.chmod(f, 0o644)
    s = siftd_factory(args=["--set", "auth.token_file=%s" % f])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "chmod 600" in str(e.value)
    os.chmod(f, 0o600)
    s = siftd_factory(args=["--set", "auth.token_file=%s" % f], name="d2").start()
    assert s.get("/api/v1/config", headers=bearer(ADMIN)).status_code == 200
    assert s.get("/api/v1/config").status_code == 401


def test_config_endpoint_masks_secrets(siftd_factory):
    s = siftd_factory(args=["--set", "auth.tokens=" + TOKENS_SET,
                            "--set", "redact.hash_key=0123456789abcdef-key"]).start()
    r = s.get("/api/v1/config", headers=bearer(ADMIN))
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["auth"]["tokens"] == "***"
    assert cfg["redact"]["hash_key"] == "***"
    for t in TOK.values():
        assert t not in r.text


def non_loopback_address():
    """An address of this host that is not loopback, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            ip = parts[parts.index("inet") + 1].split("/")[0]
            if not ip.startswith("127."):
                return ip
    return None


def test_no_tokens_loopback_only(siftd_factory):
    ip = non_loopback_address()
    s = siftd_factory(args=["--listen", "0.0.0.0:0"]).start()
    s.wait_for_log(r"no tokens configured: only loopback clients are accepted")
    port = s.addr.rsplit(":", 1)[1]
    local = "http://127.0.0.1:" + port
    assert requests.get(local + "/api/v1/config", timeout=10).status_code == 200
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    remote = "http://%s:%s" % (ip, port)
    assert requests.get(remote + "/healthz", timeout=10).status_code == 200
    for path in ("/api/v1/config", "/api/v1/fields", "/metrics"):
        r = requests.get(remote + path, timeout=10)
        assert r.status_code == 403, path
        assert "loopback" in r.json()["error"]["reason"]
    r = requests.post(remote + "/api/v1/ingest", data='{"message":"x"}\n',
                      headers=NDJSON, timeout=10)
    assert r.status_code == 403
    # A token does not help: with none configured there is nothing to match.
    r = requests.get(remote + "/api/v1/fields", headers=bearer(READER), timeout=10)
    assert r.status_code == 403


# ---------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------

def test_ingest_rate_limit_per_token(siftd_factory):
    toks = TOKENS_SET + " w2:writer:second-writer-token-0123456"
    s = siftd_factory(args=FAST + ["--set", "auth.tokens=" + toks,
                                   "--set", "ratelimit.ingest_rate=1",
                                   "--set", "ratelimit.ingest_burst=3"]).start()
    codes = []
    for _ in range(5):
        r = s.post("/api/v1/ingest", data='{"message":"x"}\n',
                   headers=dict(NDJSON, **bearer(WRITER)))
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["type"] == "rate_limited"
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
    # Another token has its own bucket; queries have their own table.
    r = s.post("/api/v1/ingest", data='{"message":"x"}\n',
               headers=dict(NDJSON, Authorization="Bearer second-writer-token-0123456"))
    assert r.status_code == 200
    assert s.get("/api/v1/fields", headers=bearer(READER)).status_code == 200
    # The bucket refills at 1/s.
    time.sleep(1.2)
    r = s.post("/api/v1/ingest", data='{"message":"x"}\n',
               headers=dict(NDJSON, **bearer(WRITER)))
    assert r.status_code == 200
    m = s.get("/metrics", headers=bearer(READER)).text
    assert 'sift_http_refused_total{reason="rate_limited"}' in m


def test_query_rate_limit_per_address(siftd_factory):
    s = siftd_factory(args=["--set", "ratelimit.query_rate=1",
                            "--set", "ratelimit.query_burst=2"]).start()
    codes = [s.get("/api/v1/fields").status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429], codes
    # Ingest is not a query.
    r = s.post("/api/v1/ingest", data='{"message":"x"}\n', headers=NDJSON)
    assert r.status_code == 200


# ---------------------------------------------------------------------------
# Limits: one byte under is accepted, one byte over is refused
# ---------------------------------------------------------------------------

def ndjson_line_of(size, key="message"):
    """A JSON object line of exactly size bytes (without the newline)."""
    base = '{"%s":""}' % key
    return '{"%s":"%s"}' % (key, "a" * (size - len(base)))


def test_body_limit_boundary(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "http.max_body_bytes=2KiB",
                                   "--set", "http.max_line_bytes=2KiB"]).start()
    under = ndjson_line_of(2047) + "\n"
    over = ndjson_line_of(2048) + "\n"
    assert len(under) == 2048 and len(over) == 2049
    assert s.post("/api/v1/ingest", data=under, headers=NDJSON).status_code == 200
    r = s.post("/api/v1/ingest", data=over, headers=NDJSON)
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "body_too_large"
    # Also after inflation: a small gzip body that inflates past the limit.
    import gzip
    r = s.post("/api/v1/ingest", data=gzip.compress(over.encode()),
               headers=dict(NDJSON, **{"Content-Encoding": "gzip"}))
    assert r.status_code == 413
    r = s.post("/api/v1/ingest", data=gzip.compress(under.encode()),
               headers=dict(NDJSON, **{"Content-Encoding": "gzip"}))
    assert r.status_code == 200


def ingest_result(s, line):
    r = s.post("/api/v1/ingest", data=line + "\n", headers=NDJSON)
    j = r.json()
    # A request whose only line is refused is a 400 all_rejected.
    assert r.status_code == (400 if j["accepted"] == 0 else 200), r.text
    return j


@pytest.mark.parametrize("key,value,under,over", [
    # (config key, value, line under/at the limit, line one over)
    ("http.max_line_bytes", "256",
     lambda: ndjson_line_of(256), lambda: ndjson_line_of(257)),
    ("ingest.max_value_bytes", "100",
     lambda: '{"message":"m","v":"%s"}' % ("b" * 100),
     lambda: '{"message":"m","v":"%s"}' % ("b" * 101)),
    ("ingest.max_field_name_bytes", "20",
     lambda: '{"message":"m","%s":1}' % ("k" * 20),
     lambda: '{"message":"m","%s":1}' % ("k" * 21)),
    ("ingest.max_fields", "5",
     lambda: json.dumps({"message": "m", **{"f%d" % i: i for i in range(4)}}),
     lambda: json.dumps({"message": "m", **{"f%d" % i: i for i in range(5)}})),
    ("ingest.max_depth", "3",
     lambda: '{"message":"m","a":{"b":{"c":1}}}',
     lambda: '{"message":"m","a":{"b":{"c":{"d":1}}}}'),
])
def test_ingest_limit_boundary(siftd_factory, key, value, under, over):
    s = siftd_factory(args=FAST + ["--set", "%s=%s" % (key, value)]).start()
    ok = ingest_result(s, under())
    assert ok["accepted"] == 1 and ok["rejected"] == 0, (key, ok)
    bad = ingest_result(s, over())
    assert bad["accepted"] == 0 and bad["rejected"] == 1, (key, bad)
    assert bad["errors"][0]["reason"], bad


def raw_request(addr, data, timeout=10):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            b = c.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def status_of(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/") else None


def test_header_count_boundary(siftd_factory):
    s = siftd_factory(args=["--set", "http.max_headers=10"]).start()

    def req(n):  # Host plus n-1 more headers
        h = "".join("X-H%d: v\r\n" % i for i in range(n - 1))
        return ("GET /healthz HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                % h).encode()

    # Connection: close is one more header.
    assert status_of(raw_request(s.addr, req(9))) == 200
    r = raw_request(s.addr, req(10))
    assert status_of(r) == 431 and b"too_many_headers" in r


def test_header_bytes_boundary(siftd_factory):
    s = siftd_factory(args=["--set", "http.max_header_bytes=1KiB"]).start()

    def req(total):  # a request head of exactly total bytes
        head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "
        tail = "\r\n\r\n"
        return (head + "p" * (total - len(head) - len(tail)) + tail).encode()

    assert len(req(1024)) == 1024
    assert status_of(raw_request(s.addr, req(1024))) == 200
    r = raw_request(s.addr, req(1025))
    assert status_of(r) == 431 and b"headers_too_large" in r, r
    # Far past the limit libevent stops reading early (plain 400).
    assert status_of(raw_request(s.addr, req(8192))) == 400


def test_max_connections_boundary(siftd_factory):
    s = siftd_factory(args=["--set", "http.max_connections=4"]).start()
    host, port = s.addr.rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.3)
        # The 4th connection is the last one allowed.
        r = raw_request(s.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(r) == 200
        idle.append(socket.create_connection((host, int(port)), timeout=5))
        time.sleep(0.3)
        r = raw_request(s.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(r) in (503, None), r
        if r:
            assert b"too_many_connections" in r
    finally:
        for c in idle:
            c.close()
    # Closed connections are released (within the 1 s sweep).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = raw_request(s.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if status_of(r) == 200:
            break
        time.sleep(0.2)
    assert status_of(r) == 200


def test_slowloris_is_cut(siftd_factory):
    s = siftd_factory(args=["--set", "http.request_timeout=1s"]).start()
    host, port = s.addr.rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=10)
    t0 = time.monotonic()
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    closed = False
    got = b""
    # Trickle a header byte every 200 ms; the server must cut us anyway.
    for i in range(40):
        try:
            if not got:
                c.sendall(b"X")
            c.settimeout(0.2)
            chunk = c.recv(4096)
            if chunk == b"":
                closed = True
                break
            got += chunk
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
    elapsed = time.monotonic() - t0
    c.close()
    assert closed and elapsed < 4, elapsed
    # ... with a JSON 408 first (the client had sent part of a request).
    assert got.startswith(b"HTTP/1.1 408 "), got
    assert b'"type":"request_timeout"' in got
    # A normal client on a fresh connection is fine.
    assert s.get("/healthz").status_code == 200
    m = s.get("/metrics").text
    assert 'sift_http_refused_total{reason="request_timeout"} 1' in m


def test_query_limits(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "query.max_query_bytes=64",
                                   "--set", "query.max_hits=50",
                                   "--set", "query.default_hits=10"]).start()
    q = "message:" + "a" * (64 - len("message:"))
    assert len(q) == 64
    assert s.get("/api/v1/search", params={"q": q}).status_code == 200
    r = s.get("/api/v1/search", params={"q": q + "a"})
    assert r.status_code == 400, r.text
    assert s.get("/api/v1/search", params={"q": "x", "limit": 50}).status_code == 200
    r = s.get("/api/v1/search", params={"q": "x", "limit": 51})
    assert r.status_code == 400 and r.json()["error"]["type"] == "too_many_hits"


# ---------------------------------------------------------------------------
# PII redaction before the WAL
# ---------------------------------------------------------------------------

PII = [
    # (rule, value that must be redacted)
    ("email", "alice.smith@example.com"),
    ("ipv4", "10.20.30.40"),
    ("ipv6", "2001:db8::8a2e:370:7334"),
    ("card", "4111 1111 1111 1111"),
    ("card", "5500-0000-0000-0004"),
    ("bearer", "Bearer abcdefghijklmnop1234"),
    ("aws_key", "AKIAIOSFODNN7EXAMPLE"),
    ("github_token", "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"),
    ("slack_token", "xoxb-1234567890-abcdefghij"),
    ("stripe_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
]
LOOKALIKES = [
    "4111 1111 1111 1112",      # fails Luhn
    "5500-0000-0000-0005",      # fails Luhn
    "1714557600000",            # epoch millis
    "user@localhost",
    "999.1.1.1",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
]


def data_bytes(data_dir):
    out = b""
    for root, _, files in os.walk(data_dir):
        for f in files:
            if f.endswith((".wal", ".seg", ".ndjson")):
                with open(os.path.join(root, f), "rb") as fh:
                    out += fh.read()
    return out


def wait_total(s, q, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = s.get("/api/v1/search", params={"q": q, "limit": 100})
        if r.status_code == 200 and r.json()["total"]["value"] >= n:
            return r.json()
        time.sleep(0.05)
    raise AssertionError("not searchable: %r" % q)


def test_redaction_of_each_builtin_before_the_wal(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "redact.enabled=true"]).start()
    lines = []
    for i, (rule, value) in enumerate(PII):
        lines.append(json.dumps({"message": "case%d value %s end" % (i, value),
                                 "seq": i, "user": {"contact": value}}))
    for j, value in enumerate(LOOKALIKES):
        lines.append(json.dumps({"message": "look%d value %s end" % (j, value),
                                 "seq": 100 + j}))
    r = s.post("/api/v1/ingest", data="\n".join(lines) + "\n", headers=NDJSON)
    assert r.status_code == 200 and r.json()["accepted"] == len(lines), r.text
    res = wait_total(s, "*", len(lines))
    text = json.dumps(res)
    raw = data_bytes(s.data_dir)
    for rule, value in PII:
        secret = value.split(" ", 1)[1] if rule == "bearer" else value
        assert secret not in text, (rule, value)
        assert secret.encode() not in raw, (rule, value)
        assert "[REDACTED:%s]" % rule in text, rule
    for value in LOOKALIKES:
        assert value in text, value
    m = s.get("/metrics").text
    assert 'sift_redactions_total{rule="card"} 4' in m  # message + field, twice


def test_redaction_hash_mode_user_rule_and_dead_letters(siftd_factory):
    s = siftd_factory(args=FAST + [
        "--set", "redact.enabled=true",
        "--set", "redact.mode=hash",
        "--set", "redact.hash_key=0123456789abcdef0123",
        "--set", r"redact.rules=ssn \b\d{3}-\d{2}-\d{4}\b;;order@order_id ^ORD-\d+$"]).start()
    lines = [json.dumps({"message": "ssn 123-45-6789 mail bob@example.com", "seq": 1}),
             json.dumps({"message": "again bob@example.com", "order_id": "ORD-991", "seq": 2}),
             '{"message": "broken json bob@example.com 123-45-6789']
    r = s.post("/api/v1/ingest", data="\n".join(lines) + "\n", headers=NDJSON)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    res = wait_total(s, "*", 2)
    text = json.dumps(res)
    assert "123-45-6789" not in text and "bob@example.com" not in text
    assert "ORD-991" not in text and "[order:" in text and "[ssn:" in text
    # Equal values give equal pseudonyms.
    import re
    emails = re.findall(r"\[email:[0-9a-f]{8}\]", text)
    assert len(emails) == 2 and emails[0] == emails[1], emails
    # The rejected line went to the dead-letter file, redacted.
    dlq = os.path.join(s.data_dir, "dlq.ndjson")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not os.path.exists(dlq):
        time.sleep(0.05)
    with open(dlq, "rb") as f:
        d = f.read()
    assert b"broken json" in d
    assert b"bob@example.com" not in d and b"123-45-6789" not in d
    assert b"bob@example.com" not in data_bytes(s.data_dir)


def test_bad_redaction_rule_refuses_to_start(siftd_factory):
    s = siftd_factory(args=["--set", "redact.enabled=true",
                            "--set", "redact.rules=bad (unclosed"])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "redact.rules" in str(e.value)


# ---------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------

def test_audit_log_records_reload(siftd_factory, tmp_path):
    audit = tmp_path / "audit.log"
    s = siftd_factory(args=["--set", "auth.tokens=" + TOKENS_SET,
                            "--set", "audit.path=%s" % audit]).start()
    s.send_signal(signal.SIGHUP)
    s.wait_for_log(r"configuration reloaded")
    deadline = time.monotonic() + 5
    recs = []
    while time.monotonic() < deadline:
        if audit.exists():
            recs = [json.loads(l) for l in audit.read_text().splitlines() if l]
            if recs:
                break
        time.sleep(0.05)
    assert recs and recs[-1]["action"] == "reload", recs
    assert recs[-1]["principal"] == "signal" and "time" in recs[-1]
    assert oct(os.stat(audit).st_mode & 0o777) == "0o600"


def test_reload_swaps_tokens(siftd_factory, tmp_path):
    f = tmp_path / "tokens"
    f.write_text("r1:reader:%s\n" % TOK["reader"])
    os.chmod(f, 0o600)
    s = siftd_factory(args=["--set", "auth.token_file=%s" % f]).start()
    assert s.get("/api/v1/fields", headers=bearer(READER)).status_code == 200
    f.write_text("r2:reader:%s\n" % TOK["admin"])
    s.send_signal(signal.SIGHUP)
    s.wait_for_log(r"configuration reloaded")
    assert s.get("/api/v1/fields", headers=bearer(READER)).status_code == 401
    assert s.get("/api/v1/fields", headers=bearer(ADMIN)).status_code == 200


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------

def make_cert(d, cn):
    key, crt = os.path.join(d, cn + ".key"), os.path.join(d, cn + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def tls_addr(s, timeout=10):
    m = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not m:
        import re
        m = re.search(r"siftd listening on https://(\S+)", s.stdout())
        time.sleep(0.05)
    assert m, s.stdout()
    return m.group(1)


def peer_cn(addr):
    host, port = addr.rsplit(":", 1)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=10) as c:
        with ctx.wrap_socket(c) as t:
            der = t.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def test_tls_listener_self_signed_and_reload(siftd_factory, tmp_path):
    crt, key = make_cert(str(tmp_path), "one")
    s = siftd_factory(args=FAST + ["--set", "auth.tokens=" + TOKENS_SET,
                                   "--set", "tls.listen=127.0.0.1:0",
                                   "--set", "tls.cert_file=" + crt,
                                   "--set", "tls.key_file=" + key]).start()
    addr = tls_addr(s)
    url = "https://" + addr
    assert requests.get(url + "/healthz", verify=crt, timeout=10).status_code == 200
    r = requests.post(url + "/api/v1/ingest", data='{"message":"over tls"}\n',
                      headers=dict(NDJSON, **bearer(WRITER)), verify=crt, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(url + "/api/v1/fields", verify=crt, timeout=10).status_code == 401
    # Plain HTTP on the TLS port gets no HTTP answer.
    with pytest.raises(requests.RequestException):
        requests.get("http://" + addr + "/healthz", timeout=5)
    # SIGHUP re-reads the certificate: new connections see the new one.
    first = peer_cn(addr)
    crt2, key2 = make_cert(str(tmp_path), "two")
    os.replace(crt2, crt)
    os.replace(key2, key)
    s.send_signal(signal.SIGHUP)
    s.wait_for_log(r"tls: certificate and key reloaded")
    assert peer_cn(addr) != first
    assert requests.get(url + "/healthz", verify=crt, timeout=10).status_code == 200


def test_tls_bad_key_refuses_to_start(siftd_factory, tmp_path):
    crt, _ = make_cert(str(tmp_path), "one")
    _, key2 = make_cert(str(tmp_path), "two")
    s = siftd_factory(args=["--set", "tls.listen=127.0.0.1:0",
                            "--set", "tls.cert_file=" + crt,
                            "--set", "tls.key_file=" + key2])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "tls" in str(e.value)
