"""Black-box tests of the query API through the real siftd binary:
/api/v1/search (GET, POST, paging, errors and limits), /export, /histogram,
/terms, /stats, /fields and the live /tail.  Events go in through
/api/v1/ingest (NDJSON) like any client would send them."""
import json
import threading
import time

import requests

FAST = ["--set", "store.wal_sync=20ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=500ms",
        # fixed dates (2024, 2026-11): keep them past tiers.retention
        "--set", "tiers.retention=off"]

BASE_MS = 1714557600000  # 2024-05-01T10:00:00Z

EVENTS = [
    # (minute, level, service, status, message)
    (0, "info", "api", 200, "GET /api/users 200 user_id=42"),
    (1, "error", "api", 500, "payment failed: card declined for user_id=42"),
    (2, "warn", "web", 404, "GET /favicon.ico 404"),
    (3, "error", "db", None, "disk full on /var/lib/db"),
    (4, "info", "auth", 200, "user login ok user=alice from 10.2.3.44"),
    (5, "info", "auth", 401, "user login failed user=bob from 10.2.3.45"),
    (6, "debug", "api", 200, "cache hit key=session:alice"),
    (7, "error", "web", 503, "upstream timeout after 5000 ms"),
    (8, "info", "payments", 200, "payment accepted order=991 amount=12.50"),
    (9, "warn", "payments", 402, "Payment declined: insufficient funds"),
]


def event(i, minute, level, service, status, message):
    e = {"@timestamp": BASE_MS + minute * 60000, "message": message,
         "level": level, "service": service, "seq": i}
    if status is not None:
        e["status"] = status
    return e


def ingest(s, events):
    r = s.post("/api/v1/ingest",
               data="".join(json.dumps(e) + "\n" for e in events),
               headers={"Content-Type": "application/x-ndjson"}, timeout=20)
    assert r.status_code == 200, r.text
    return r


def wait_total(s, query, n, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        r = s.get("/api/v1/search", params={"q": query, "limit": 0})
        if r.status_code == 200:
            got = r.json()["total"]["value"]
            if got >= n:
                return got
        time.sleep(0.05)
    raise AssertionError("%r: %r of %d searchable" % (query, got, n))


def started(siftd_factory, *args):
    s = siftd_factory(args=FAST + list(args)).start()
    ingest(s, [event(i, *e) for i, e in enumerate(EVENTS)])
    wait_total(s, "*", len(EVENTS))
    return s


def seqs(hits):
    return [h["fields"]["seq"] for h in hits]


def test_search_get_post_order_and_fields(siftd_factory):
    s = started(siftd_factory)
    r = s.get("/api/v1/search", params={"q": "payment"})
    assert r.status_code == 200
    j = r.json()
    assert j["total"] == {"value": 3, "relation": "eq"}
    assert seqs(j["hits"]) == [9, 8, 1]  # newest first
    assert j["cursor"] is None and j["timed_out"] is False
    assert isinstance(j["took_ms"], int)
    h = j["hits"][0]
    assert h["time"] == "2024-05-01T10:09:00.000000000Z"
    assert h["ts_ms"] == BASE_MS + 9 * 60000
    assert h["message"] == "Payment declined: insufficient funds"

    r = s.post("/api/v1/search", json={"query": "status:>=500", "order": "asc",
                                       "fields": ["status"]})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert [h["fields"] for h in hits] == [{"status": 500}, {"status": 503}]

    r = s.get("/api/v1/search", params={"q": '"user login" -failed', "fields": "seq"})
    assert seqs(r.json()["hits"]) == [4]
    r = s.get("/api/v1/search", params={"q": "10.2.3.44 OR service:db", "fields": "seq"})
    assert sorted(seqs(r.json()["hits"])) == [3, 4]


def test_search_time_range_and_paging(siftd_factory):
    s = started(siftd_factory)
    r = s.get("/api/v1/search", params={
        "q": "*", "from": "2024-05-01T10:02:00Z", "to": str(BASE_MS + 5 * 60000),
        "order": "asc"})
    assert seqs(r.json()["hits"]) == [2, 3, 4]
    assert r.json()["total"]["value"] == 3

    got, cursor = [], None
    for _ in range(20):
        params = {"q": "*", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        j = s.get("/api/v1/search", params=params).json()
        assert j["total"]["value"] == 10
        got += seqs(j["hits"])
        cursor = j["cursor"]
        if not cursor:
            break
    assert got == list(range(9, -1, -1))


def test_search_errors_name_the_problem(siftd_factory):
    s = started(siftd_factory, "--set", "query.max_hits=50",
                "--set", "query.default_hits=10",
                "--set", "query.max_expansion=2", "--set",
                "query.max_query_bytes=64")
    r = s.get("/api/v1/search", params={"q": "(payment OR disk"})
    assert r.status_code == 400
    assert r.json() == {"error": {
        "type": "query_parse",
        "reason": "expected ')' at 16 (to close '(' at 0)", "position": 16},
        "status": 400}

    r = s.get("/api/v1/search", params={"q": "status:>=abc"})
    assert r.status_code == 400
    assert r.json()["error"]["reason"] == "expected a number after '>=' at 9"

    r = s.get("/api/v1/search", params={"q": "x" * 65})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "query_too_long"
    assert "max_query_bytes=64" in r.json()["error"]["reason"]

    r = s.get("/api/v1/search", params={"q": "u*"})  # user, users, upstream
    assert r.status_code == 400
    e = r.json()["error"]
    assert e["type"] == "too_many_terms" and e["position"] == 0
    assert "max_expansion=2" in e["reason"]

    r = s.get("/api/v1/search", params={"q": "*", "limit": 51})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "too_many_hits"
    assert "max_hits=50" in r.json()["error"]["reason"]

    for params, what in [({"from": "yesterday"}, "'from'"),
                         ({"to": "now-5q"}, "'to'"),
                         ({"order": "sideways"}, "'order'"),
                         ({"limit": "-1"}, "'limit'"),
                         ({"cursor": "garbage"}, "cursor"),
                         ({"format": "xml"}, "format")]:
        r = s.get("/api/v1/search", params=dict(q="*", **params))
        assert r.status_code == 400, params
        assert r.json()["error"]["type"] == "bad_request"
        assert what in r.json()["error"]["reason"]

    r = s.post("/api/v1/search", data="[1,2]",
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = s.get("/api/v1/search", params={"q": "/a(/"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_regex"


def test_aggregations(siftd_factory):
    s = started(siftd_factory)
    r = s.get("/api/v1/histogram", params={"q": "*", "interval": "5m", "by": "service",
                                           "from": str(BASE_MS), "to": str(BASE_MS + 15 * 60000)})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["interval_ms"] == 300000
    assert [b["count"] for b in j["buckets"]] == [5, 5, 0]  # empty bucket filled
    assert j["buckets"][0]["by"]["api"] == 2
    assert j["buckets"][1]["by"]["payments"] == 2
    assert j["buckets"][2]["time"] == "2024-05-01T10:10:00.000000000Z"

    r = s.get("/api/v1/histogram", params={"q": "level:error OR log.level:error"})
    j = r.json()
    assert sum(b["count"] for b in j["buckets"]) == 3
    assert 50 <= len(j["buckets"]) <= 200 or j["interval_ms"] >= 1000

    r = s.get("/api/v1/terms", params={"field": "service", "size": 2})
    j = r.json()
    assert j["buckets"] == [{"key": "api", "count": 3}, {"key": "auth", "count": 2}]
    assert j["other"] == 5

    r = s.get("/api/v1/stats", params={"field": "status", "q": "-service:db"})
    j = r.json()
    assert j["count"] == 9 and j["min"] == 200 and j["max"] == 503
    assert j["sum"] == 200 + 500 + 404 + 200 + 401 + 200 + 503 + 200 + 402
    assert j["p50"] == 401 and j["percentiles_exact"] is True

    r = s.get("/api/v1/fields")
    names = {f["name"]: f for f in r.json()["fields"]}
    assert names["message"]["text"] is True
    assert names["status"]["number"] is True
    assert names["service"]["keyword"] is True and names["service"]["cardinality"] >= 5

    for path, params in [("/api/v1/terms", {}), ("/api/v1/stats", {}),
                         ("/api/v1/histogram", {"interval": "soon"}),
                         ("/api/v1/terms", {"field": "service", "size": "0"})]:
        r = s.get(path, params=params)
        assert r.status_code == 400 and r.json()["error"]["type"] == "bad_request"


def test_export_streams_every_hit(siftd_factory):
    s = siftd_factory(args=FAST).start()
    n = 2600  # more than two export pages
    evs = [{"@timestamp": BASE_MS + i, "message": "bulk line %d" % i, "n": i}
           for i in range(n)]
    for k in range(0, n, 1000):
        ingest(s, evs[k:k + 1000])
    wait_total(s, "bulk", n)
    r = s.get("/api/v1/export", params={"q": "bulk", "fields": "n"}, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    got = [json.loads(line)["fields"]["n"] for line in r.iter_lines() if line]
    assert got == list(range(n - 1, -1, -1))
    r = s.get("/api/v1/search", params={"q": "bulk", "format": "ndjson", "order": "asc"})
    lines = r.text.strip().split("\n")
    assert len(lines) == n and json.loads(lines[0])["message"] == "bulk line 0"
    r = s.get("/api/v1/export", params={"q": "(bulk"})
    assert r.status_code == 400  # errors before the stream starts are proper


def test_hits_carry_template_text(siftd_factory):
    """Issue 7: each hit carries its template's text, with <*> where the
    lines of one shape differ, and _template_id:N finds only that shape.
    Lines are long enough (>= 7 tokens) for one differing plain word to
    merge (docs/anomaly.md, Matching)."""
    s = siftd_factory(args=FAST).start()
    names = ["alice", "bob", "carol", "dave"]
    colours = ["red", "green", "blue", "amber"]
    evs = []
    for i in range(4):
        evs.append({"@timestamp": BASE_MS + i * 1000,
                    "message": "session opened for user %s on the console"
                               % names[i],
                    "shape": "a"})
        evs.append({"@timestamp": BASE_MS + i * 1000 + 500,
                    "message": "backup of volume %s finished without errors"
                               % colours[i],
                    "shape": "b"})
    ingest(s, evs)
    wait_total(s, "*", len(evs))

    r = s.get("/api/v1/search", params={"q": "*", "limit": 100})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert len(hits) == len(evs)
    ids = {}
    for h in hits:
        words = h["message"].split()
        varying = 4 if h["fields"]["shape"] == "a" else 3
        tmpl = h["template"].split()
        assert len(tmpl) == len(words), h
        assert tmpl[varying] == "<*>", h
        assert [t for k, t in enumerate(tmpl) if k != varying] == \
            [w for k, w in enumerate(words) if k != varying], h
        ids.setdefault(h["fields"]["shape"], set()).add(h["template_id"])
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1
    (ida,), (idb,) = ids["a"], ids["b"]
    assert ida != idb

    for shape, tid in (("a", ida), ("b", idb)):
        r = s.get("/api/v1/search", params={"q": "_template_id:%d" % tid})
        j = r.json()
        assert j["total"]["value"] == 4
        assert {h["fields"]["shape"] for h in j["hits"]} == {shape}
        assert all(h["template_id"] == tid for h in j["hits"])
        assert len({h["template"] for h in j["hits"]}) == 1

    # Export (NDJSON, worker pages) carries it too.
    r = s.get("/api/v1/export", params={"q": "_template_id:%d" % ida})
    lines = [json.loads(x) for x in r.text.strip().split("\n")]
    assert len(lines) == 4
    assert {x["template"] for x in lines} == {"session opened for user <*> on the console"}


def test_tail_streams_new_matches(siftd_factory):
    s = siftd_factory(args=FAST).start()
    lines = []
    ready = threading.Event()

    def reader():
        with requests.get(s.url + "/api/v1/tail", params={"q": "service:tailed"},
                          stream=True, timeout=15) as r:
            assert r.status_code == 200
            ready.set()
            for line in r.iter_lines():
                if line:
                    lines.append(json.loads(line))
                if len(lines) >= 2:
                    return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert ready.wait(10)
    time.sleep(0.3)
    now = int(time.time() * 1000)
    ingest(s, [{"@timestamp": now, "message": "one", "service": "tailed"},
               {"@timestamp": now + 1, "message": "not me", "service": "other"},
               {"@timestamp": now + 2, "message": "two", "service": "tailed"}])
    t.join(15)
    assert [l["message"] for l in lines] == ["one", "two"]

    r = s.get("/api/v1/tail", params={"q": "(x"})
    assert r.status_code == 400 and r.json()["error"]["position"] == 2


def test_tail_subscriber_limit(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "query.max_tail_subscribers=0"]).start()
    r = s.get("/api/v1/tail", params={"q": "*"})
    assert r.status_code == 503
    assert "max_tail_subscribers=0" in r.json()["error"]["reason"]


def test_field_aliases_reach_ecs_names(siftd_factory):
    s = siftd_factory(args=FAST).start()
    ecs = [{"@timestamp": BASE_MS + i, "message": "ecs line %d" % i,
            "log": {"level": lvl}, "service": {"name": svc},
            "host": {"name": host}}
           for i, (lvl, svc, host) in enumerate([("error", "api", "web-1"),
                                                 ("info", "api", "web-2"),
                                                 ("error", "db", "web-2")])]
    ingest(s, ecs)
    wait_total(s, "ecs", 3)

    def total(q):
        r = s.get("/api/v1/search", params={"q": q, "limit": 0})
        assert r.status_code == 200, r.text
        return r.json()["total"]["value"]

    assert total("log.level:error") == 2
    assert total("level:error") == 2
    assert total("service:api") == 2
    assert total("host:web-2 AND level:error") == 1
    r = s.get("/api/v1/terms", params={"q": "ecs", "field": "level"})
    assert r.status_code == 200
    assert {b["key"]: b["count"] for b in r.json()["buckets"]} == {"error": 2,
                                                                  "info": 1}


def test_search_and_grafana_share_the_query_limit(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "query.max_concurrent=1"]).start()
    # An export the client does not read holds its slot: enough hits to
    # fill the socket buffers and the 1 MiB export back-pressure bound.
    n, pad = 40000, "x" * 200
    evs = [{"@timestamp": BASE_MS + i, "message": "held %d %s" % (i, pad)}
           for i in range(n)]
    for k in range(0, n, 10000):
        ingest(s, evs[k:k + 10000])
    wait_total(s, "held", n, timeout=60)
    held = requests.get(s.url + "/api/v1/export", params={"q": "held"},
                        stream=True, timeout=30)
    try:
        assert held.status_code == 200
        r = s.get("/api/v1/search", params={"q": "held", "limit": 1})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["type"] == "too_many_queries"
        assert r.headers["Retry-After"] == "1"
        g = s.post("/grafana/query", json={"targets": [
            {"refId": "A", "target": "logs", "payload": {"query": "held"}}]})
        assert g.status_code == 503, g.text
        assert g.headers["Retry-After"] == "1"
    finally:
        held.close()
    # The slot comes back once the export's client goes away.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = s.get("/api/v1/search", params={"q": "held", "limit": 1})
        if r.status_code == 200:
            break
        time.sleep(0.05)
    assert r.status_code == 200 and r.json()["total"]["value"] == n
