"""Black-box tests of issue 17 (API answers users can rely on) through the
real siftd binary: replies that end their line, JSON errors for requests
the HTTP layer refuses by itself, and the rest of the issue's points as
they land."""
import json
import os
import re
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


# ---- point 2: one parameter table per endpoint --------------------------

def test_unknown_parameters_are_named_on_every_endpoint(siftd_factory):
    s = started(siftd_factory)
    ndjson = {"Content-Type": "application/x-ndjson"}
    probes = [
        ("GET", "/api/v1/search?q=x&lmit=1", "lmit", "limit", {}),
        ("POST", "/api/v1/search?lmit=1", "lmit", "limit", {"json": {}}),
        ("GET", "/api/v1/export?lmit=1", "lmit", "limit", {}),
        ("GET", "/api/v1/histogram?interv=5m", "interv", "interval", {}),
        ("GET", "/api/v1/terms?field=x&szie=3", "szie", "size", {}),
        ("GET", "/api/v1/stats?field=x&feild=y", "feild", "field", {}),
        ("GET", "/api/v1/fields?q=x", "q", None, {}),
        ("GET", "/api/v1/tail?qq=x", "qq", "q", {}),
        ("GET", "/api/v1/patterns?szie=2", "szie", "size", {}),
        ("GET", "/api/v1/alerts?stat=firing", "stat", "state", {}),
        ("GET", "/api/v1/alerts/1?x=1", "x", None, {}),
        ("GET", "/api/v1/anomaly?x=1", "x", None, {}),
        ("POST", "/api/v1/ingest?fromat=json", "fromat", "format",
         {"data": "{}\n", "headers": ndjson}),
        ("POST", "/_bulk?indx=a", "indx", "index",
         {"data": '{"index":{}}\n{}\n', "headers": ndjson}),
        ("POST", "/api/v1/delete?query=x", "query", None, {"json": {}}),
        ("GET", "/api/v1/tiers?x=1", "x", None, {}),
        ("GET", "/api/v1/store?x=1", "x", None, {}),
        ("GET", "/api/v1/config?x=1", "x", None, {}),
        ("GET", "/healthz?x=1", "x", None, {}),
        ("GET", "/readyz?x=1", "x", None, {}),
        ("GET", "/metrics?x=1", "x", None, {}),
        ("GET", "/grafana/?x=1", "x", None, {}),
        ("POST", "/grafana/query?x=1", "x", None, {"json": {}}),
    ]
    for method, path, bad, close, kw in probes:
        r = s.request(method, path, **kw)
        assert r.status_code == 400, (path, r.status_code, r.text)
        e = r.json()["error"]
        assert e["type"] == "unknown_parameter", (path, e)
        assert "unknown parameter '%s'" % bad in e["reason"], e
        if close:
            assert "did you mean '%s'?" % close in e["reason"], e
    # Nothing was stored by the refused ingest requests.
    r = s.get("/api/v1/search", params={"q": "*", "limit": 0})
    assert r.json()["total"]["value"] == 0


def test_bad_values_name_the_parameter_and_the_accepted_values(siftd_factory):
    s = started(siftd_factory)
    cases = [
        ("/api/v1/search?format=yaml", "'format' (yaml)", "json, ndjson"),
        ("/api/v1/search?order=up", "'order' (up)",
         "desc, asc, newest, oldest"),
        ("/api/v1/search?limit=ten", "'limit' (ten)", "integer"),
        ("/api/v1/terms?field=f&size=0", "'size' (0)", "from 1 to 10000"),
        ("/api/v1/alerts?state=open", "'state' (open)",
         "all, firing, resolved"),
        ("/api/v1/histogram?interval=5x", "'interval' (5x)", "1M"),
        ("/api/v1/search?pretty=yes", "'pretty' (yes)", "true or false"),
    ]
    for path, what, accepted in cases:
        r = s.get(path)
        assert r.status_code == 400, (path, r.text)
        reason = r.json()["error"]["reason"]
        assert "invalid " + what in reason and accepted in reason, reason
    r = s.post("/api/v1/ingest?format=yaml", data="x\n",
               headers={"Content-Type": "text/plain"})
    assert r.status_code == 400, r.text
    assert "'format' (yaml)" in r.text and "logfmt" in r.text
    # The same parameter twice, or under both of its names.
    r = s.get("/api/v1/search?limit=1&size=2")
    assert r.status_code == 400 and "same parameter" in r.text
    r = s.get("/api/v1/search?limit=1&limit=2")
    assert r.status_code == 400 and "given twice" in r.text
    r = s.post("/api/v1/search?q=a", json={"query": "b"})
    assert r.status_code == 400 and "given twice" in r.text


def test_query_strings_as_clients_write_them(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS + i, "message": "disk %d" % i, "n": i}
               for i in range(3)])
    wait_total(s, "disk", 3)
    # ?pretty (bare), empty pieces, a trailing '&', '+' for spaces.
    r = s.get("/api/v1/search?q=disk&&pretty&limit=1&")
    assert r.status_code == 200, r.text
    assert r.text.startswith('{\n  "hits" : [\n')
    assert r.text.endswith("}\n")
    assert len(r.json()["hits"]) == 1
    r = s.get("/api/v1/search?q=disk+1&pretty=false")
    assert r.status_code == 200 and r.text.startswith('{"hits":[{')
    assert [h["message"] for h in r.json()["hits"]] == ["disk 1"]
    # Aliases: size on search, limit on terms and patterns, query in a body.
    assert len(s.get("/api/v1/search?q=disk&size=2").json()["hits"]) == 2
    r = s.get("/api/v1/terms?field=n&limit=1")
    assert r.status_code == 200, r.text
    r = s.post("/api/v1/search", json={"query": "disk", "size": 1,
                                       "order": "asc"})
    assert [h["message"] for h in r.json()["hits"]] == ["disk 0"]
    r = s.post("/api/v1/search", json={"q": "disk", "lmit": 1})
    assert r.status_code == 400
    assert "unknown parameter 'lmit' (did you mean 'limit'?)" in r.text
    # An export honours limit as a cap on all hits.
    r = s.get("/api/v1/export?q=disk&limit=2")
    assert r.status_code == 200
    assert len(r.text.strip().split("\n")) == 2
    # A name-less piece or %00 is a 400 that says so.
    r = s.get("/api/v1/search?=x")
    assert r.status_code == 400 and "without a name" in r.text
    r = s.get("/api/v1/search?q=a%00b")
    assert r.status_code == 400 and "%00" in r.text


def test_docs_parameter_tables_are_generated(siftd_factory):
    from conftest import SOURCE_DIR, run_siftd
    import os
    import re
    p = run_siftd(["--print-api-params"])
    assert p.returncode == 0, p.stderr
    blocks = dict(re.findall(
        r"<!-- BEGIN GENERATED PARAMS (\S+) -->\n(.*?)"
        r"<!-- END GENERATED PARAMS -->", p.stdout, re.S))
    assert "/api/v1/search" in blocks and len(blocks) >= 12
    seen = set()
    docs = os.path.join(SOURCE_DIR, "docs")
    for name in sorted(os.listdir(docs)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(docs, name)) as f:
            text = f.read()
        for path, body in re.findall(
                r"<!-- BEGIN GENERATED PARAMS (\S+) -->\n(.*?)"
                r"<!-- END GENERATED PARAMS -->", text, re.S):
            assert path in blocks, (name, path)
            # Regenerate with: siftd --print-api-params
            assert body == blocks[path], (name, path)
            seen.add(path)
    assert seen == set(blocks), set(blocks) - seen


# ---- point 7: shortest round-trip numbers -------------------------------

def test_floats_are_written_shortest(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS, "message": "req", "duration_ms": 95},
               {"@timestamp": BASE_MS + 1, "message": "req",
                "duration_ms": 812}])
    wait_total(s, "req", 2)
    r = s.get("/api/v1/stats", params={"field": "duration_ms"})
    assert r.status_code == 200, r.text
    # p90 = 95 + 0.9 * 717 = 740.3 (740.30000000000007 with 17 digits).
    assert '"p90":740.3,' in r.text, r.text
    assert '"avg":453.5,' in r.text
    # Every /metrics sample is the shortest text that reads back as its
    # value (what Python's repr() writes), integers without ".0".
    m = s.get("/metrics").text
    n = 0
    for line in m.splitlines():
        if not line or line.startswith("#"):
            continue
        text = line.rsplit(" ", 1)[1]
        v = float(text)
        if v != v or v in (float("inf"), float("-inf")):
            continue
        want = str(int(v)) if v.is_integer() and abs(v) < 2 ** 53 \
            else repr(v)
        assert text == want, line
        n += 1
    assert n > 50


def json_number_tokens(text):
    """The number tokens of a JSON text as written (strings left out)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    return re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", bare)


def assert_shortest_numbers(where, text):
    json.loads(text)
    for tok in json_number_tokens(text):
        v = float(tok)
        want = str(int(v)) if v.is_integer() and abs(v) < 2 ** 53 \
            else repr(v)
        assert tok == want, (where, tok, want, text[:400])


def test_every_float_in_json_replies_is_shortest(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS + i, "message": "gq %d" % i,
                "duration": d} for i, d in enumerate([0.1, 0.2, 0.7])])
    wait_total(s, "gq", 3)
    # Grafana replies (built with jansson, which writes 17 digits:
    # 0.20000000000000001): the same numbers as the search API.
    r = s.post("/grafana/query", json={
        "range": {"from": BASE_MS - 3600000, "to": BASE_MS + 3600000},
        "intervalMs": 7200000,
        "targets": [{"refId": "A", "target": "stats",
                     "payload": {"query": "gq", "field": "duration"}},
                    {"refId": "B", "target": "logs",
                     "payload": {"query": "gq", "fields": "duration"}}]})
    assert r.status_code == 200, r.text
    assert_shortest_numbers("grafana", r.text)
    frames = r.json()
    logs = [f for f in frames if f.get("name") == "logs"][0]
    dur = [f for f in logs["fields"] if f["name"] == "duration"][0]
    assert sorted(dur["values"]) == [0.1, 0.2, 0.7]
    assert "0.2," in r.text or "0.2]" in r.text
    p50 = [f for f in frames if f.get("target") == "p50 duration"][0]
    assert [v for v, _ in p50["datapoints"] if v is not None] == [0.2]
    # Store and tier figures are not cut to 3 or 6 decimals (0.000).
    for path in ("/api/v1/store", "/api/v1/tiers", "/api/v1/stats?"
                 "field=duration"):
        r = s.get(path)
        assert r.status_code == 200, (path, r.text)
        assert_shortest_numbers(path, r.text)


# ---- point 5: query syntax that used to match nothing silently ---------

def test_lowercase_operators_boosts_and_proximity(siftd_factory):
    s = started(siftd_factory)
    msgs = ["payment failed: card was declined", "declined card for payment",
            "disk full on /var", "card ok, payment later declined by bank"]
    ingest(s, [{"@timestamp": BASE_MS + i, "message": m,
                "log.level": "error" if i < 2 else "info"}
               for i, m in enumerate(msgs)])
    wait_total(s, "*", 4)

    def search(q, **kw):
        r = s.get("/api/v1/search", params=dict(q=q, order="asc", **kw))
        return r

    r = search("payment or disk")
    assert r.status_code == 200, r.text
    assert len(r.json()["hits"]) == 4
    w = r.json()["warnings"]
    assert w == ["'or' at 8 read as the operator OR (as in KQL); quote it "
                 "(\"or\") to search for the word"], w
    assert r.headers["Warning"].startswith('299 siftd "\'or\' at 8')
    r = search("level:error^2")
    assert [h["message"] for h in r.json()["hits"]] == msgs[:2]
    assert "boost '^' at 11 ignored" in r.json()["warnings"][0]
    # No warnings key when nothing was reinterpreted.
    assert "warnings" not in search("payment OR disk").json()
    assert [h["message"] for h in search('"card declined"~2').json()["hits"]] \
        == msgs[:2]
    assert [h["message"] for h in search('"card declined"~1').json()["hits"]] \
        == msgs[:1]
    assert search('"card declined"').json()["hits"] == []
    r = search("card~")
    assert r.status_code == 400 and "fuzzy" in r.json()["error"]["reason"]
    # The aggregations carry the warnings too.
    r = s.get("/api/v1/terms", params={"field": "log.level",
                                        "q": "payment or disk"})
    assert r.status_code == 200 and "warnings" in r.json(), r.text
    # A delete never runs on a reinterpreted query.
    r = s.post("/api/v1/delete", json={"query": "payment or disk",
                                       "all_time": True})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "ambiguous_query"
    wait_total(s, "*", 4)


def test_queries_that_would_match_nothing_in_silence(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS + i, "message": "request done",
                "host.name": h, "duration_ms": d}
               for i, (h, d) in enumerate([("LabSZ", 5), ("web-1", 12.5),
                                           ("web-2", 40)])])
    wait_total(s, "request", 3)

    def search(q):
        r = s.get("/api/v1/search", params={"q": q, "order": "asc"})
        assert r.status_code == 200, (q, r.text)
        return [h["fields"]["host.name"] for h in r.json()["hits"]], \
            r.json().get("warnings")

    # KQL comparisons without a colon are ranges (they matched nothing).
    assert search("duration_ms > 10") == (["web-1", "web-2"], [
        "'duration_ms > 10' at 0 read as the range duration_ms:>10 (as in "
        "KQL); quote it to search for the text"])
    got, w = search("request duration_ms<=12.5")
    assert got == ["LabSZ", "web-1"] and "duration_ms:<=12.5" in w[0], w
    # A field name with a typo is named, with the field meant.
    assert search("hots.name:LabSZ") == ([], [
        "no field 'hots.name' in the data (did you mean 'host.name'?)"])
    # A range on a field without numbers says it matches nothing.
    got, w = search("host.name:>5")
    assert got == [] and w == ["field 'host.name' holds no numbers: a "
                               "range on it matches nothing"], w
    # Known fields and aliases say nothing.
    assert search("host:LabSZ OR duration_ms:>30") == (["LabSZ", "web-2"],
                                                      None)
    # The aggregations carry them too; a delete is refused on them.
    r = s.get("/api/v1/terms", params={"field": "host.name",
                                        "q": "duration_ms > 10"})
    assert r.status_code == 200 and [b["key"] for b in r.json()["buckets"]] \
        == ["web-1", "web-2"] and "warnings" in r.json(), r.text
    # The NDJSON streams say them in Warning headers.
    r = s.get("/api/v1/export", params={"q": "duration_ms > 10"})
    assert r.status_code == 200 and len(r.text.splitlines()) == 2
    assert r.headers["Warning"].startswith(
        '299 siftd "\'duration_ms > 10\' at 0 read as the range'), r.headers
    import requests
    with requests.get(s.url + "/api/v1/tail", params={"q": "a or b"},
                      stream=True, timeout=(5, 30)) as t:
        assert t.status_code == 200
        assert t.headers["Warning"].startswith('299 siftd "\'or\' at 2')
    # So do patterns (their query is the same language).
    r = s.get("/api/v1/patterns", params={"q": "request or hots.name:x"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 3
    assert r.json()["warnings"] == [
        "'or' at 8 read as the operator OR (as in KQL); quote it (\"or\") "
        "to search for the word",
        "no field 'hots.name' in the data (did you mean 'host.name'?)"]
    assert "warnings" not in s.get("/api/v1/patterns",
                                   params={"q": "request"}).json()
    r = s.post("/api/v1/delete", json={"query": "duration_ms > 10",
                                       "all_time": True})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "ambiguous_query"
    wait_total(s, "*", 3)


# ---- point 6: aggregations check their field's type, keep the case -----

def test_aggregations_check_field_types_and_keep_case(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS + i, "message": "login ok",
                "host.name": h, "duration_ms": d}
               for i, (h, d) in enumerate([("LabSZ", 5), ("LabSZ", 7),
                                           ("web-1", 9)])])
    wait_total(s, "login", 3)
    r = s.get("/api/v1/terms", params={"field": "host.name"})
    assert r.status_code == 200, r.text
    assert r.json()["buckets"] == [{"key": "LabSZ", "count": 2},
                                   {"key": "web-1", "count": 1}]
    r = s.get("/api/v1/histogram", params={"by": "host.name",
                                            "interval": "1d"})
    assert r.json()["buckets"][0]["by"] == {"LabSZ": 2, "web-1": 1}
    for path, params in (("/api/v1/stats", {"field": "host.name"}),
                         ("/api/v1/terms", {"field": "message"}),
                         ("/api/v1/histogram", {"by": "message"})):
        r = s.get(path, params=params)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["type"] == "field_type", r.text
    r = s.get("/api/v1/stats", params={"field": "duraton_ms"})
    assert r.status_code == 200
    assert r.json()["count"] == 0
    assert r.json()["warnings"] == [
        "no field 'duraton_ms' in the data (did you mean 'duration_ms'?)"]
    assert s.get("/api/v1/stats",
                 params={"field": "duration_ms"}).json()["count"] == 3


# ---- point 8: tail heartbeats, from=, and SIGTERM -----------------------

class TailReader:
    """Reads a tail's NDJSON lines on a thread (every wait bounded)."""

    def __init__(self, s, params):
        import threading
        import requests
        self.lines = []
        self.ended = False
        self.resp = requests.get(s.url + "/api/v1/tail", params=params,
                                 stream=True, timeout=(5, 30))
        assert self.resp.status_code == 200, self.resp.text
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            for line in self.resp.iter_lines():
                if line:
                    self.lines.append(json.loads(line))
        except Exception:
            pass
        self.ended = True

    def wait(self, cond, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond(self.lines):
                return self.lines
            time.sleep(0.05)
        raise AssertionError("tail: no %s within %ss: %r"
                             % (what, timeout, self.lines))

    def close(self):
        self.resp.close()


def test_tail_heartbeats_keep_idle_streams_open(siftd_factory):
    s = started(siftd_factory, "--set", "http.idle_timeout=2s")
    t = TailReader(s, {"q": "*", "heartbeat": "1s"})
    try:
        # Three heartbeats span more than the 2 s idle timeout.
        lines = t.wait(lambda ls: sum("heartbeat" in x for x in ls) >= 3,
                       "three heartbeats")
        assert not t.ended
        assert all(set(x) == {"heartbeat"} for x in lines)
        ingest(s, [{"message": "after the heartbeats"}])
        t.wait(lambda ls: any(x.get("message") == "after the heartbeats"
                              for x in ls), "the event")
    finally:
        t.close()
    r = s.get("/api/v1/tail", params={"heartbeat": "10ms"})
    assert r.status_code == 400 and "'heartbeat'" in r.text


def test_tail_from_backfills_then_follows(siftd_factory):
    s = started(siftd_factory)
    ingest(s, [{"@timestamp": BASE_MS + i * 1000, "message": "old %d" % i}
               for i in range(5)])
    ingest(s, [{"@timestamp": BASE_MS - 3600000, "message": "older still"}])
    wait_total(s, "*", 6)
    t = TailReader(s, {"q": "old", "from": "2024-05-01T09:30:00Z",
                       "limit": 3})
    try:
        t.wait(lambda ls: len(ls) >= 3, "the backfill")
        ingest(s, [{"message": "old but new"}])
        lines = t.wait(lambda ls: len(ls) >= 4, "the new event")
        assert [x["message"] for x in lines] == ["old 2", "old 3", "old 4",
                                                  "old but new"]
    finally:
        t.close()


def test_sigterm_ends_tails_at_once_with_a_last_line(siftd_factory):
    s = started(siftd_factory, "--set", "server.shutdown_timeout=60s")
    t = TailReader(s, {"q": "*"})
    ingest(s, [{"message": "seen"}])
    t.wait(lambda ls: ls, "the event")
    t0 = time.monotonic()
    assert s.stop() == 0
    # The drain did not wait for the tail (shutdown_timeout is 60 s).
    assert time.monotonic() - t0 < 30
    lines = t.wait(lambda ls: len(ls) >= 2, "the last line")
    assert lines[-1] == {"error": {"type": "shutting_down",
                                   "reason": "siftd is stopping; the tail "
                                             "ends here"},
                         "status": 503}
    t.wait(lambda ls: t.ended, "the end of the stream")


# ---- point 9: labels for text ingest ------------------------------------

def hits_fields(s, q, fields):
    r = s.get("/api/v1/search", params={"q": q, "order": "asc",
                                         "fields": fields})
    assert r.status_code == 200, r.text
    return [(h["message"], h["fields"]) for h in r.json()["hits"]]


def test_http_text_ingest_carries_labels(siftd_factory):
    s = started(siftd_factory)
    r = s.post("/api/v1/ingest?_fields=service.name:web,host.name:a1",
               data="Jun 14 15:16:01 disk full on /var\n"
                    "Jun 14 15:16:02 plain text line\n",
               headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    r = s.post("/api/v1/ingest", data='{"message":"own","host.name":"b2"}\n',
               headers={"Content-Type": "application/x-ndjson",
                        "Sift-Fields": "host.name=a1, env=prod"})
    assert r.status_code == 200, r.text
    wait_total(s, "*", 3)
    got = hits_fields(s, "*", "service.name,host.name,env")
    assert got[0][1] == {"service.name": "web", "host.name": "a1"}
    assert got[1][1] == {"service.name": "web", "host.name": "a1"}
    # The event's own field wins over the label.
    assert got[2] == ("own", {"host.name": "b2", "env": "prod"})
    # "Errors by service" can now be answered for text uploads.
    r = s.get("/api/v1/terms", params={"field": "service.name"})
    assert r.json()["buckets"] == [{"key": "web", "count": 2}]
    for bad in ("service.name", "=web", "a:1,a:2"):
        r = s.post("/api/v1/ingest", params={"_fields": bad}, data="x\n",
                   headers={"Content-Type": "text/plain"})
        assert r.status_code == 400, (bad, r.text)
        assert "_fields" in r.json()["error"]["reason"]
    r = s.post("/_bulk?index=logs&_fields=service.name:bulky",
               data='{"index":{}}\n{"message":"from bulk"}\n',
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.headers["X-Elastic-Product"]
    wait_total(s, "bulk", 1)
    assert hits_fields(s, "bulk", "service.name") == [
        ("from bulk", {"service.name": "bulky"})]


def test_redis_and_kafka_sources_take_labels_format_metadata(
        tmp_path, siftd_factory):
    from ingest_helpers import KafkaMock, RedisServer, write_config
    red = RedisServer(tmp_path)
    kafka = KafkaMock(["applogs"], partitions=1)
    try:
        red.r.rpush("textlist", "a text line with key=value in it")
        kafka.produce("applogs", [
            '{"message":"fb event","@metadata":{"beat":"filebeat"},'
            '"service.name":"own"}'])
        cfg = write_config(tmp_path / "siftd.conf", {
            "redis": {"address": red.address, "lists": "textlist",
                      "consumer": "c1", "format": "text",
                      "extra_fields": "service.name=legacy,env:prod"},
            "kafka": {"brokers": kafka.bootstrap, "topics": "applogs",
                      "keep_metadata": "true",
                      "extra_fields": "service.name=kafka-default"},
            "store": {"refresh": "100ms", "wal_sync": "20ms"},
        })
        p = subprocess_check_config(cfg)
        assert p.returncode == 0, p.stdout + p.stderr
        s = siftd_factory(config=cfg).start()
        wait_total(s, "*", 2, timeout=60)
        got = dict(hits_fields(s, "*", "service.name,env,key,@metadata.beat"))
        # format=text: the key=value pairs stay in the message only.
        assert got["a text line with key=value in it"] == {
            "service.name": "legacy", "env": "prod"}
        assert got["fb event"] == {"service.name": "own",
                                   "@metadata.beat": "filebeat"}
        # librdkafka speaks through our log; the assignment reads plainly.
        s.wait_for_log(r"kafka: assigned kafka/applogs/0 at the group's "
                       r"committed offset")
        assert not re.search(r"^%\d\|", s.stderr(), re.M), s.stderr()
        assert "-1001" not in s.stderr()
    finally:
        kafka.close()
        red.close()


def subprocess_check_config(cfg):
    from conftest import run_siftd
    return run_siftd(["-c", cfg, "--check-config"])


def test_check_config_knows_the_source_options(tmp_path):
    from ingest_helpers import write_config
    cfg = write_config(tmp_path / "bad.conf", {
        "kafka": {"extra_fields": "service.name"},
        "redis": {"format": "yaml"}})
    p = subprocess_check_config(cfg)
    assert p.returncode == 1
    assert "kafka.extra_fields" in p.stderr and "name=value" in p.stderr
    assert "redis.format" in p.stderr and "logfmt" in p.stderr


# ---- point 10: more of what users send ----------------------------------

def test_json_arrays_pretty_bodies_and_message_aliases(siftd_factory):
    s = started(siftd_factory)
    body = json.dumps([
        {"msg": "pino says hi", "level": 30, "time": BASE_MS},
        {"log": "docker line\n", "stream": "stdout"},
        "not an object",
        {"short_message": "gelf says hi"},
        {"message": "message wins", "msg": "not this"}], indent=2)
    r = s.post("/api/v1/ingest", data=body,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 4 and r.json()["rejected"] == 1
    assert r.json()["errors"] == [
        {"line": 3, "reason": "this array element is not a JSON object"}]
    pretty = json.dumps({"message": "pretty one", "n": 1}, indent=4) + "\n" \
        + json.dumps({"message": "pretty two"}, indent=4) + "\n"
    r = s.post("/api/v1/ingest", data=pretty,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    wait_total(s, "*", 6)
    msgs = sorted(h["message"] for h in s.get(
        "/api/v1/search", params={"q": "*"}).json()["hits"])
    assert msgs == ["docker line", "gelf says hi", "message wins",
                    "pino says hi", "pretty one", "pretty two"]
    # The alias is the message, not a field besides it.
    hit = s.get("/api/v1/search", params={"q": "pino"}).json()["hits"][0]
    assert "msg" not in hit["fields"]


def test_all_rejected_is_a_400_with_the_counts(siftd_factory):
    s = started(siftd_factory)
    r = s.post("/api/v1/ingest", data="{broken\nnot json either\n",
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["error"]["type"] == "all_rejected" and j["status"] == 400
    assert j["accepted"] == 0 and j["rejected"] == 2
    assert len(j["errors"]) == 2
    s.wait_for_log(r"ingest: request from .* refused: no event")


def test_root_answers_like_an_elasticsearch_root(siftd_factory):
    s = started(siftd_factory)
    r = s.get("/")
    assert r.status_code == 200
    j = r.json()
    assert j["version"]["number"].split(".")[0] == "8"
    assert j["cluster_name"] == "sift" and j["name"] and j["tagline"]
    assert j["version"]["build_flavor"] == "default"
    assert r.headers["X-Elastic-Product"] == "Elasticsearch"
    h = s.request("HEAD", "/")
    assert h.status_code == 200 and h.content == b""
    assert s.get("/?bogus=1").status_code == 400


# ---- point 11: logs an operator can read --------------------------------

def test_logs_and_access_log(tmp_path, siftd_factory):
    access = tmp_path / "access.log"
    s = started(siftd_factory, "--set", "http.access_log=%s" % access)
    addr_file = os.path.join(s.data_dir, "siftd.addr")
    assert os.path.exists(addr_file)
    s.get("/api/v1/search", params={"q": "x"})
    s.post("/api/v1/ingest", data="x", headers={"Content-Type": "image/png"})
    ingest(s, [{"@timestamp": BASE_MS, "message": "fine"}])
    s.post("/api/v1/ingest", data='{"message":"ok"}\n{broken\n',
           headers={"Content-Type": "application/x-ndjson"})
    wait_total(s, "fine OR ok", 2)
    r = s.post("/api/v1/delete", json={"query": "fine", "from": BASE_MS,
                                       "to": "2030-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    s.wait_for_log(r"http: 415 unsupported_media_type: POST /api/v1/ingest")
    s.wait_for_log(r"ingest: http from 127\.0\.0\.1:\d+: 1 line rejected "
                   r"\(first: line 2: ")
    s.wait_for_log(r'lifecycle: delete \(WAL seq \d+\) query "fine" from '
                   r"2024-05-01T10:00:00\.000Z to 2030-01-01T00:00:00\.000Z: "
                   r"1 events deleted")
    assert s.stop() == 0
    # Nothing listens there any more: the address file is gone.
    assert not os.path.exists(addr_file)
    lines = access.read_text().splitlines()
    assert any(" GET /api/v1/search 200 " in l and " reader " in l
               for l in lines), lines
    assert any(" POST /api/v1/ingest 415 " in l for l in lines), lines
