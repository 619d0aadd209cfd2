"""Black-box tests of GET /api/v1/context (the events around one hit, from
the same source) and of the hits' "_id" it starts from, through the real
siftd: neighbours across segments, after a kill -9 and restart, the
groupings, and every parameter error."""
import json
import time

FAST = ["--set", "store.wal_sync=20ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=300ms",
        # fixed dates (2024, 2026-11): keep them past tiers.retention
        "--set", "tiers.retention=off"]

BASE_MS = 1714557600000  # 2024-05-01T10:00:00Z

SOURCES = [("web-1", "/var/log/nginx/error.log", "nginx"),
           ("web-1", "/var/log/app/app.log", "checkout"),
           ("web-2", "/var/log/app/app.log", "checkout")]


def event(i):
    host, path, service = SOURCES[i % 3]
    # Events 30-33 share one millisecond: ties are ordered, not lost.
    ms = BASE_MS + (30 if 30 <= i <= 33 else i) * 1000
    return {"@timestamp": ms, "message": "line %d of %s" % (i, path),
            "host.name": host, "log.file.path": path, "service.name": service,
            "seq": i}


def ingest(s, events):
    r = s.post("/api/v1/ingest",
               data="".join(json.dumps(e) + "\n" for e in events),
               headers={"Content-Type": "application/x-ndjson"}, timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(events)


def wait_total(s, n, timeout=15):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        r = s.get("/api/v1/search", params={"q": "*", "limit": 0})
        if r.status_code == 200:
            got = r.json()["total"]["value"]
            if got >= n:
                return
        time.sleep(0.05)
    raise AssertionError("%r of %d events searchable" % (got, n))


def started(siftd_factory):
    s = siftd_factory(args=FAST).start()
    # Two batches, so the events sit in more than one segment.
    ingest(s, [event(i) for i in range(0, 40)])
    wait_total(s, 40)
    ingest(s, [event(i) for i in range(40, 60)])
    wait_total(s, 60)
    return s


def hit(s, seq):
    r = s.get("/api/v1/search", params={"q": "seq:%d" % seq})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert len(hits) == 1, hits
    return hits[0]


def stream(s, query):
    """Every event of a query, oldest first, as search orders them."""
    r = s.get("/api/v1/search", params={"q": query, "order": "asc",
                                         "limit": 1000})
    assert r.status_code == 200, r.text
    return [h["fields"]["seq"] for h in r.json()["hits"]]


def seqs(hits):
    return [h["fields"]["seq"] for h in hits]


def context(s, **params):
    return s.get("/api/v1/context", params=params)


def check_context(s, seq, before, after):
    h = hit(s, seq)
    r = context(s, id=h["_id"], before=before, after=after)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["anchor"]["_id"] == h["_id"]
    assert j["anchor"]["fields"]["seq"] == seq
    assert j["by"] == "source"
    host, path, _ = SOURCES[seq % 3]
    assert j["query"] == 'host.name:"%s" AND log.file.path:"%s"' % (host, path)
    order = stream(s, j["query"])
    at = order.index(seq)
    assert seqs(j["before"]) == order[max(0, at - before):at]
    assert seqs(j["after"]) == order[at + 1:at + 1 + after]
    assert j["timed_out"] is False and isinstance(j["took_ms"], int)
    return j


def test_context_neighbours_from_the_same_source(siftd_factory):
    s = started(siftd_factory)
    j = check_context(s, 32, 3, 3)  # in the tie at 30-33
    # Same source only: every neighbour is host web-2, app.log.
    for h in j["before"] + j["after"]:
        assert h["fields"]["host.name"] == "web-2"
        assert h["fields"]["log.file.path"] == "/var/log/app/app.log"
    for seq in (0, 1, 2, 39, 40, 58, 59):
        check_context(s, seq, 5, 5)
    # At the ends of the stream the lists are short, not padded.
    j = check_context(s, 0, 5, 5)
    assert j["before"] == []
    j = check_context(s, 59, 5, 5)
    assert j["after"] == []


def test_context_ids_survive_a_restart(siftd_factory):
    s = started(siftd_factory)
    h = hit(s, 25)
    first = context(s, id=h["_id"], before=4, after=4).json()
    s.restart(sig=None)  # kill -9: replayed from the WAL and segments
    s.wait_ready()
    wait_total(s, 60)
    assert hit(s, 25)["_id"] == h["_id"]
    again = context(s, id=h["_id"], before=4, after=4).json()
    assert seqs(again["before"]) == seqs(first["before"])
    assert seqs(again["after"]) == seqs(first["after"])


def test_context_groupings(siftd_factory):
    s = started(siftd_factory)
    h = hit(s, 10)  # web-1, app.log, checkout
    j = context(s, id=h["_id"], before=2, after=2, by="service").json()
    assert j["by"] == "service"
    assert j["query"] == 'service.name:"checkout"'
    assert seqs(j["before"]) == [7, 8] and seqs(j["after"]) == [11, 13]
    j = context(s, id=h["_id"], before=1, after=1, by="all").json()
    assert j["by"] == "all" and j["query"] == "*"
    assert seqs(j["before"]) == [9] and seqs(j["after"]) == [11]
    j = context(s, id=h["_id"], before=0, after=0).json()
    assert j["before"] == [] and j["after"] == [] and j["by"] == "source"


def test_context_errors(siftd_factory):
    s = started(siftd_factory)
    good = hit(s, 5)["_id"]

    def err(status, typ, **params):
        r = context(s, **params)
        assert r.status_code == status, (params, r.status_code, r.text)
        assert r.json()["error"]["type"] == typ, r.text
        return r.json()["error"]["reason"]

    assert "id" in err(400, "bad_request")
    assert "_id" in err(400, "bad_request", id="not-an-id")
    assert "_id" in err(400, "bad_request", id=good + "A")
    # Well-formed, but nothing has it: the last character changes the hash.
    other = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    assert "no event" in err(404, "event_not_found", id=other)
    assert "before" in err(400, "bad_request", id=good, before="1001")
    assert "after" in err(400, "bad_request", id=good, after="-1")
    assert "after" in err(400, "bad_request", id=good, after="x")
    assert "by" in err(400, "bad_request", id=good, by="host")
    # An event without host, path or service: by=source cannot apply.
    ingest(s, [{"@timestamp": BASE_MS + 99000, "message": "bare", "seq": 99}])
    wait_total(s, 61)
    bare = hit(s, 99)["_id"]
    assert "log.file.path" in err(400, "bad_request", id=bare, by="source")
    j = context(s, id=bare, before=1, after=1).json()
    assert j["by"] == "all" and seqs(j["before"]) == [59]
