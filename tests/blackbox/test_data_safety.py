"""Black-box tests of sift's data-safety promises through the real siftd
binary (docs/ingest.md, docs/lifecycle.md, docs/operations.md, "What sift
promises"): every JSON reply is valid UTF-8 whatever bytes were stored,
while the stored bytes stay as they came."""
import json
import os
import threading
import time

import requests

FAST = ["--set", "store.wal_sync=10ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=500ms"]


def now_ms():
    return int(time.time() * 1000)


def strict_json(r):
    """The reply body as JSON, decoded as strict UTF-8 (like Python's json,
    jq, Grafana's JavaScript): a stray byte fails here."""
    text = r.content.decode("utf-8")  # raises on invalid UTF-8
    return json.loads(text)


def strict_ndjson(r):
    return [json.loads(line) for line in
            r.content.decode("utf-8").splitlines() if line.strip()]


def wait_total(s, query, n, timeout=15, **params):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        p = {"q": query, "limit": 0}
        p.update(params)
        r = s.get("/api/v1/search", params=p)
        if r.status_code == 200:
            got = strict_json(r)["total"]["value"]
            if got >= n:
                return got
        time.sleep(0.05)
    raise AssertionError("%r: %r of %d searchable" % (query, got, n))


# ---------------------------------------------------------------------------
# Invalid UTF-8: every reply is valid UTF-8 JSON, the stored bytes are kept
# ---------------------------------------------------------------------------

def test_every_reply_is_valid_utf8_and_stored_bytes_stay(siftd_factory):
    # The text line is from 2024: keep history (tiers.retention = off).
    s = siftd_factory(args=FAST + ["--set", "tiers.retention=off"]).start()
    t = now_ms() - 60000
    # Raw bytes inside JSON strings (a Latin-1 app, a cut multi-byte
    # sequence, a CESU surrogate), in a field name, and in text lines.
    ndjson = (
        b'{"@timestamp":%d,"message":"caf\xe9 cr\xe8me order 77",'
        b'"service.name":"bill\xffing","host.name":"w\xc0\xaf",'
        b'"k\xfey":"v\xed\xa0\x80","log.level":"error"}\n' % t +
        b'{"@timestamp":%d,"message":"cut \xe2\x82 euro order 78",'
        b'"service.name":"billing"}\n' % (t + 1))
    r = s.post("/api/v1/ingest", data=ndjson,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert strict_json(r)["accepted"] == 2
    text = b"2024-05-14 10:00:00,000 ERROR na\xefve \xff\xfe order 79\n"
    r = s.post("/api/v1/ingest", data=text,
               headers={"Content-Type": "text/plain"})
    assert r.status_code == 200 and strict_json(r)["accepted"] == 1
    wait_total(s, "order", 3, **{"from": "2024-01-01T00:00:00Z"})

    rng = {"from": "2024-01-01T00:00:00Z"}
    j = strict_json(s.get("/api/v1/search", params=dict(rng, q="order")))
    msgs = sorted(h["message"] for h in j["hits"])
    assert "caf\ufffd cr\ufffdme order 77" in msgs
    assert "cut \ufffd\ufffd euro order 78" in msgs
    assert any("na\ufffdve \ufffd\ufffd order 79" in m for m in msgs)
    fields = [h["fields"] for h in j["hits"] if "77" in h["message"]][0]
    assert fields["service.name"] == "bill\ufffding"
    assert fields["host.name"] == "w\ufffd\ufffd"
    assert fields["k\ufffdy"] == "v\ufffd\ufffd\ufffd"

    # The stored bytes are the bytes that came: the raw Latin-1 word and
    # the raw service value still match, their repaired spelling does not.
    for q, n in ((b"caf\xe9", 1), (b'service.name:"bill\xffing"', 1),
                 (b"na\xefve", 1)):
        r = s.get("/api/v1/search", params=dict(rng, q=q, limit=0))
        assert strict_json(r)["total"]["value"] == n, q
    r = s.get("/api/v1/search",
              params=dict(rng, q="caf\ufffd".encode(), limit=0))
    assert strict_json(r)["total"]["value"] == 0

    # Every other reader of the same events.
    strict_ndjson(s.get("/api/v1/export", params=dict(rng, q="order")))
    strict_json(s.get("/api/v1/histogram", params=dict(rng, q="order")))
    terms = strict_json(s.get("/api/v1/terms",
                              params=dict(rng, q="*", field="service.name")))
    assert {b["key"] for b in terms["buckets"]} >= {"bill\ufffding"}
    strict_json(s.get("/api/v1/terms", params=dict(rng, q="*",
                                                   field="host.name")))
    strict_json(s.get("/api/v1/stats", params=dict(rng, q="*",
                                                   field="k\xfey")))
    names = [f["name"] for f in
             strict_json(s.get("/api/v1/fields"))["fields"]]
    assert "k\ufffdy" in names
    strict_json(s.get("/api/v1/patterns", params=dict(rng, q="*")))
    strict_json(s.get("/api/v1/alerts"))
    strict_json(s.get("/api/v1/store"))
    strict_json(s.get("/api/v1/tiers"))
    body = {"range": {"from": "2024-01-01T00:00:00.000Z",
                      "to": "2030-01-01T00:00:00.000Z"},
            "targets": [{"refId": "A", "target": "logs",
                         "payload": {"query": "order"}},
                        {"refId": "B", "target": "terms",
                         "payload": {"field": "service.name"}},
                        {"refId": "C", "target": "patterns",
                         "payload": {"query": "*"}}]}
    r = s.post("/grafana/query", json=body)
    assert r.status_code == 200, r.text
    frames = strict_json(r)
    logs = [f for f in frames if f.get("refId") == "A"][0]
    lines = [f for f in logs["fields"] if f["name"] == "line"][0]["values"]
    assert len(lines) == 3 and "caf\ufffd cr\ufffdme order 77" in lines
    strict_json(s.post("/grafana/variable",
                       json={"payload": {"target": "service.name"}}))

    # Errors that echo what the client sent.
    for path, params in (("/api/v1/search", {"q": b"(\xff\xfe"}),
                         ("/api/v1/search", {"q": "x", "from": b"\xff"}),
                         ("/api/v1/alerts", {"from": b"\xc3"}),
                         ("/api/v1/terms", {"q": "*", "field": b"\xff"})):
        r = s.get(path, params=params)
        assert r.status_code in (200, 400), (path, r.status_code)
        strict_json(r)
    r = s.post("/api/v1/delete", data=b'{"query":"\xff"}',
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    strict_json(r)

    # _bulk: the _id and _index echoed in the reply.
    bulk = (b'{"index":{"_index":"l\xe9gacy","_id":"id-\xff"}}\n'
            b'{"message":"bulk order 80"}\n')
    r = s.post("/_bulk", data=bulk,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200
    item = strict_json(r)["items"][0]["index"]
    assert item["_index"] == "l\ufffdgacy" and item["_id"] == "id-\ufffd"

    # The live tail writes NDJSON lines as events arrive.
    got = []
    ready = threading.Event()

    def reader():
        with requests.get(s.url + "/api/v1/tail", params={"q": "tailme"},
                          stream=True, timeout=20) as r:
            ready.set()
            for line in r.iter_lines():
                if line.strip():
                    got.append(json.loads(line.decode("utf-8")))
                    return

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    assert ready.wait(10)
    deadline = time.monotonic() + 15
    while not got and time.monotonic() < deadline:
        s.post("/api/v1/ingest", data=b"tailme \xff\xfe\n",
               headers={"Content-Type": "text/plain"})
        th.join(0.5)
    assert got and got[0]["message"] == "tailme \ufffd\ufffd"


# ---------------------------------------------------------------------------
# Delete-by-query: typos, all time, everything, dry runs, the audit record
# ---------------------------------------------------------------------------

def ingest_json(s, events):
    r = s.post("/api/v1/ingest",
               data="".join(json.dumps(e) + "\n" for e in events),
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    return strict_json(r)


def test_delete_refuses_typos_unconfirmed_scope_and_counts_dry_runs(
        siftd_factory, tmp_path):
    audit = tmp_path / "audit.ndjson"
    s = siftd_factory(args=FAST + ["--set", "audit.path=%s" % audit]).start()
    now = now_ms()
    six_days = 6 * 86400 * 1000
    ingest_json(s, [
        {"@timestamp": now - six_days, "message": "jane logged in (old)"},
        {"@timestamp": now - 60000, "message": "jane logged in (new)"},
        {"@timestamp": now - 50000, "message": "bob logged in"}])
    wait_total(s, "logged", 3, **{"from": "now-30d"})

    def count(q):
        r = s.get("/api/v1/search", params={"q": q, "from": "now-30d",
                                            "limit": 0})
        return strict_json(r)["total"]["value"]

    def delete(body):
        return s.post("/api/v1/delete", json=body)

    # The report: "start" is not a key; it deleted all time.
    r = delete({"query": "jane", "start": "now-1h"})
    assert r.status_code == 400
    err = strict_json(r)["error"]
    assert err["type"] == "unknown_parameter"
    assert '"start"' in err["reason"] and 'did you mean "from"' in err["reason"]
    for body in ({"query": "jane", "since": "now-1h"},
                 {"qeury": "jane", "from": "now-1h"},
                 {"query": "jane", "from": "now-1h", "dryrun": True}):
        r = delete(body)
        assert r.status_code == 400 and \
            strict_json(r)["error"]["type"] == "unknown_parameter", body
    # Booleans are booleans: "false" as a string must not delete.
    r = delete({"query": "jane", "from": "now-1h", "dry_run": "false"})
    assert r.status_code == 400
    assert count("jane") == 2

    # No time range: all time needs "all_time": true.
    r = delete({"query": "jane"})
    assert r.status_code == 400
    j = strict_json(r)
    assert j["error"]["type"] == "confirmation_required"
    assert j["confirm_needed"] == ["all_time"] and j["from"] is None
    # Everything: "*", "", and what reduces to them need "match_all".
    for q in ("*", "", "* OR jane", "jane OR NOT jane", "NOT NOT *"):
        r = delete({"query": q, "from": "now-1h"})
        assert r.status_code == 400, q
        assert strict_json(r)["confirm_needed"] == ["match_all"], q
    r = delete({"query": "*"})
    assert strict_json(r)["confirm_needed"] == ["all_time", "match_all"]
    assert count("logged") == 3

    # Dry runs: the exact count, nothing deleted, even for unconfirmed
    # scopes (the reply says what a real run would need).
    r = delete({"query": "jane", "from": "now-1h", "dry_run": True})
    assert r.status_code == 200, r.text
    j = strict_json(r)
    assert (j["dry_run"], j["matched"], j["deleted"]) == (True, 1, 0)
    assert j["query"] == "jane" and j["to"] is None
    assert j["from"].endswith("Z") and j["confirm_needed"] == []
    j = strict_json(delete({"query": "*", "dry_run": True}))
    assert j["matched"] == 3 and j["confirm_needed"] == ["all_time",
                                                         "match_all"]
    # Events still in the buffer (not yet searchable) count too.
    ingest_json(s, [{"@timestamp": now - 1000, "message": "jane again"}])
    j = strict_json(delete({"query": "jane", "all_time": True,
                            "dry_run": True}))
    assert j["matched"] == 3
    assert count("logged") == 3

    # The real, confirmed delete takes what the dry run counted.
    r = delete({"query": "jane", "from": "now-1h"})
    assert r.status_code == 200, r.text
    j = strict_json(r)
    assert (j["dry_run"], j["matched"], j["deleted"]) == (False, 2, 2)
    assert count("jane") == 1 and count("old") == 1
    r = delete({"query": "*", "all_time": True, "match_all": True})
    assert strict_json(r)["deleted"] == 2
    assert count("logged") == 0

    # The audit log holds each delete's query and range as understood.
    lines = [json.loads(l) for l in audit.read_text().splitlines()]
    dels = [l for l in lines if l["action"] == "POST /api/v1/delete"]
    assert len(dels) >= 12
    details = [json.loads(l["details"]) for l in dels
               if l.get("status") == 200 and l["details"].startswith("{")]
    done = [d for d in details if not d["dry_run"]]
    assert done[0]["query"] == "jane" and done[0]["from"].endswith("Z")
    assert done[0]["to"] is None and done[0]["matched"] == 2
    assert done[1]["query"] == "*" and done[1]["from"] is None
    refused = [l for l in dels if l.get("status") == 400]
    assert any('"start"' in l["details"] for l in refused)
    assert any('"confirm_needed":["all_time"]' in l["details"]
               for l in refused)


# ---------------------------------------------------------------------------
# Future and expired timestamps
# ---------------------------------------------------------------------------

APACHE_2005 = "".join(
    "[Sun Dec 04 04:%02d:%02d 2005] [error] mod_jk child workerEnv in error "
    "state %d\n" % (47 + i // 60, i % 60, i) for i in range(100))


def dlq_lines(s):
    path = os.path.join(s.data_dir, "dlq.ndjson")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def test_future_events_are_clamped_and_expired_ones_counted(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "tiers.retention=1d",
                                   "--set", "server.debug_endpoints=true"])
    s.start()
    now = now_ms()
    ten_days = 10 * 86400 * 1000
    evs = [{"@timestamp": now - ten_days + i, "message": "old batch %d" % i}
           for i in range(3)]
    evs.append({"@timestamp": now - 1000, "message": "fresh one"})
    # 2030 in epoch seconds, as many shippers write it.
    evs.append({"@timestamp": 1893456000, "message": "clock from 2030"})
    j = ingest_json(s, evs)
    assert (j["accepted"], j["expired"], j["future"]) == (2, 3, 1), j
    wait_total(s, "*", 2, **{"from": "now-20d", "to": "now+1h"})
    r = s.get("/api/v1/search", params={"q": "2030", "from": "now-1h",
                                        "to": "now+1h"})
    hits = strict_json(r)["hits"]
    assert len(hits) == 1
    assert hits[0]["fields"]["_ts_original"] == \
        "2030-01-01T00:00:00.000000000Z"
    assert abs(hits[0]["ts_ms"] - now) < 600000  # stored at arrival
    # The expired ones are in the dead-letter file with their bytes.
    dl = dlq_lines(s)
    assert len(dl) == 3
    assert all("older than the retention" in d["reason"] for d in dl)
    assert sorted(json.loads(d["raw"])["message"] for d in dl) == \
        ["old batch 0", "old batch 1", "old batch 2"]
    s.wait_for_log(r"older than tiers\.retention")

    # The import: a day of 2005 Apache logs is not "accepted".
    r = s.post("/api/v1/ingest", data=APACHE_2005,
               headers={"Content-Type": "text/plain"})
    j = strict_json(r)
    assert (j["accepted"], j["expired"]) == (0, 100), j
    # _bulk items of expired events answer 400, not 201.
    bulk = ('{"index":{"_index":"logs"}}\n{"@timestamp":"2005-12-04T04:47:44Z",'
            '"message":"bulk old"}\n{"index":{"_index":"logs"}}\n{"message":"bulk new"}\n')
    r = s.post("/_bulk", data=bulk,
               headers={"Content-Type": "application/x-ndjson"})
    items = strict_json(r)["items"]
    assert [i["index"]["status"] for i in items] == [400, 201]
    assert items[0]["index"]["error"]["type"] == "event_expired_exception"


def test_retention_off_keeps_imported_history(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "tiers.retention=off",
                                   "--set", "server.debug_endpoints=true"])
    s.start()
    r = s.post("/api/v1/ingest", data=APACHE_2005,
               headers={"Content-Type": "text/plain"})
    j = strict_json(r)
    assert (j["accepted"], j["expired"]) == (100, 0), j
    wait_total(s, "workerEnv", 100, **{"from": "2005-01-01T00:00:00Z"})
    # On disk (retention acts on disk segments), then the policy runs with
    # the clock 30 days on: still there.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        t = strict_json(s.get("/api/v1/tiers"))
        if sum(t["tiers"][x]["docs"] for x in ("hot", "warm", "cold")) == 100:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("not flushed: %r" % t)
    r = s.post("/api/v1/debug/clock", json={"offset_ms": 30 * 86400 * 1000})
    assert r.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not strict_json(s.post("/api/v1/debug/lifecycle"))["busy"]:
            break
        time.sleep(0.05)
    assert wait_total(s, "workerEnv", 100,
                      **{"from": "2005-01-01T00:00:00Z"}) == 100
    t = strict_json(s.get("/api/v1/tiers"))
    assert t["retention"]["deleted_segments"] == 0


def test_future_events_rejected_when_configured(siftd_factory):
    s = siftd_factory(args=FAST + ["--set", "ingest.future=reject",
                                   "--set", "ingest.max_future=10m"]).start()
    now = now_ms()
    j = ingest_json(s, [
        {"@timestamp": now + 5 * 60000, "message": "five minutes ahead"},
        {"@timestamp": now + 3600000, "message": "an hour ahead"},
        {"ts": "2030-01-01T00:00:00Z", "message": "2030 in ts"}])
    assert (j["accepted"], j["future"], j["expired"]) == (1, 2, 0), j
    dl = dlq_lines(s)
    assert len(dl) == 2
    assert all("ingest.max_future" in d["reason"] for d in dl)
    bulk = '{"create":{"_index":"logs"}}\n{"@timestamp":"2031-01-01T00:00:00Z"}\n'
    r = s.post("/_bulk", data=bulk,
               headers={"Content-Type": "application/x-ndjson"})
    item = strict_json(r)["items"][0]["create"]
    assert item["status"] == 400
    assert item["error"]["type"] == "event_in_future_exception"


def test_a_2030_event_does_not_hold_anomaly_windows_open(siftd_factory):
    """The issue's report: with a short window, after one event stamped
    2030 only new_pattern alerts fired.  Windows follow arrival time: the
    incident still fires and resolves on time.  ingest.max_future is off
    so the 2030 time really reaches the scorer."""
    s = siftd_factory(args=FAST + [
        "--set", "anomaly.window=1s", "--set", "anomaly.warmup_windows=3",
        "--set", "anomaly.hold_windows=1", "--set", "anomaly.resolve_windows=2",
        "--set", "anomaly.cooldown=0", "--set", "anomaly.idle_flush=1h",
        "--set", "ingest.max_future=off",
        "--set", "server.debug_endpoints=true"]).start()
    t0 = (now_ms() // 1000 - 600) * 1000

    def window(w, n_err=0, extra=()):
        r = s.post("/api/v1/debug/clock", json={"freeze_ms": t0 + w * 1000 + 900})
        assert r.status_code == 200
        # 60 calm events a window: enough that calm windows after the burst
        # are the 20:1 evidence that ends an error_ratio alarm.
        evs = [{"@timestamp": t0 + w * 1000 + i * 5, "service.name": "pay",
                "log.level": "info", "message": "GET /cart/%d 200" % i}
               for i in range(60)]
        evs += [{"@timestamp": t0 + w * 1000 + 500 + i, "service.name": "pay",
                 "log.level": "error", "message": "gateway timeout %d" % i}
                for i in range(n_err)]
        j = ingest_json(s, evs + list(extra))
        assert j["accepted"] == len(evs) + len(extra)

    def ratio_alert(state):
        r = s.get("/api/v1/alerts", params={"state": state})
        for a in strict_json(r)["alerts"]:
            if a["series"] == "service=pay" and a["kind"] == "error_ratio":
                return a
        return None

    for w in range(8):
        window(w, extra=[{"@timestamp": "2030-01-01T00:00:00Z",
                          "service.name": "pay", "log.level": "info",
                          "message": "clock from 2030"}] if w == 2 else ())
    window(8, n_err=20)
    window(9)
    deadline = time.monotonic() + 15
    fired = None
    while fired is None and time.monotonic() < deadline:
        fired = ratio_alert("firing")
        time.sleep(0.05)
    assert fired is not None, strict_json(s.get("/api/v1/alerts"))
    assert fired["started_ms"] == t0 + 8000
    for w in (10, 11, 12):
        window(w)
    deadline = time.monotonic() + 15
    resolved = None
    while resolved is None and time.monotonic() < deadline:
        resolved = ratio_alert("resolved")
        time.sleep(0.05)
    assert resolved is not None and resolved["resolved_ms"] == t0 + 11000


# ---------------------------------------------------------------------------
# Multi-line events
# ---------------------------------------------------------------------------

def iso_now(offset_s=0):
    return time.strftime("%Y-%m-%d %H:%M:%S",
                         time.gmtime(time.time() - 60 + offset_s))


def search_hits(s, q, **params):
    p = {"q": q, "from": "now-1d", "to": "now+1h", "limit": 100}
    p.update(params)
    return strict_json(s.get("/api/v1/search", params=p))


def test_stack_traces_join_their_first_line(siftd_factory):
    s = siftd_factory(args=FAST).start()
    t1, t2 = iso_now(), iso_now(1)
    # The report: a text body with a Java stack trace.
    body = ("%s,000 ERROR [http-nio-8080-exec-3] Request failed\n"
            "java.lang.NullPointerException: customer is null\n"
            "\tat com.acme.shop.Checkout.total(Checkout.java:88)\n"
            "\tat com.acme.shop.Api.post(Api.java:41)\n"
            "Caused by: java.sql.SQLException: connection reset\n"
            "\t... 27 more\n"
            "%s,000 INFO [http-nio-8080-exec-4] GET /health 200\n" % (t1, t2))
    r = s.post("/api/v1/ingest", data=body,
               headers={"Content-Type": "text/plain"})
    j = strict_json(r)
    assert (j["accepted"], j["joined"]) == (2, 5), j
    wait_total(s, "*", 2, **{"from": "now-1d"})
    hits = search_hits(s, "NullPointerException")["hits"]
    assert len(hits) == 1
    h = hits[0]
    # Stored at the first line's time (not arrival), with its level.
    assert h["time"].startswith(t1.replace(" ", "T"))
    assert h["fields"]["log.level"] == "error"
    assert h["message"].count("\n") == 5
    assert "\tat com.acme.shop.Checkout.total(Checkout.java:88)" in h["message"]
    # Phrases across lines of the trace find the one event.
    assert search_hits(s, '"connection reset" AND "Request failed"',
                       limit=0)["total"]["value"] == 1

    # Filebeat without multiline: one JSON event per line, same file.
    ts = time.time() - 30

    def fb(i, path, msg):
        return json.dumps({
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) +
            ".%03dZ" % i, "host": {"name": "web-7"},
            "log": {"file": {"path": path}, "offset": 100 * i},
            "agent": {"type": "filebeat"}, "message": msg})
    lines = [fb(0, "/var/log/pay.log", "ERROR charge failed for order 5"),
             fb(1, "/var/log/pay.log", "java.lang.IllegalStateException: x"),
             fb(2, "/var/log/pay.log", "\tat com.acme.pay.Charge.run(C.java:9)"),
             fb(3, "/var/log/pay.log", "\tat java.lang.Thread.run(T.java:829)"),
             fb(4, "/var/log/web.log", "\tat com.acme.web.Other(O.java:1)"),
             fb(5, "/var/log/pay.log", "INFO retry scheduled")]
    r = s.post("/api/v1/ingest", data="\n".join(lines) + "\n",
               headers={"Content-Type": "application/x-ndjson"})
    j = strict_json(r)
    # The exception line has no indentation: it stays a JSON event of its
    # own; the two "at" frames join it; web.log's frame does not.
    assert (j["accepted"], j["joined"]) == (4, 2), j
    wait_total(s, "*", 6, **{"from": "now-1d"})
    h = search_hits(s, "IllegalStateException")["hits"][0]
    assert h["message"] == ("java.lang.IllegalStateException: x\n"
                            "\tat com.acme.pay.Charge.run(C.java:9)\n"
                            "\tat java.lang.Thread.run(T.java:829)")
    assert h["fields"]["log.file.path"] == "/var/log/pay.log"
    assert search_hits(s, "com.acme.web.Other", limit=0)["total"]["value"] == 1


def test_stack_trace_lines_from_a_broker_join(tmp_path, siftd_factory):
    from ingest_helpers import RedisServer, write_config
    rs = RedisServer(tmp_path)
    try:
        cfg = write_config(tmp_path / "siftd.conf", {
            "redis": {"address": rs.address, "lists": "logs:app",
                      "consumer": "ml1"},
            "store": {"refresh": "100ms", "wal_sync": "10ms"}})
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 30))
        frames = ["%s ERROR job 42 failed" % ts,
                  "\tat com.acme.jobs.Runner.run(Runner.java:17)",
                  "\tat java.lang.Thread.run(Thread.java:829)",
                  "%s INFO job 43 started" % ts]
        for f in frames:
            rs.r.rpush("logs:app", f)
        s = siftd_factory(config=cfg).start()
        wait_total(s, "job", 2, **{"from": "now-1d"})
        hits = search_hits(s, "Runner.java")["hits"]
        assert len(hits) == 1
        assert hits[0]["message"] == "\n".join(frames[:3])
        # Nothing more: the frames did not become events of their own.
        time.sleep(0)  # (searchable already: the totals are final)
        assert search_hits(s, "*", limit=0)["total"]["value"] == 2
    finally:
        rs.close()


# ---------------------------------------------------------------------------
# _bulk: create conflicts, index replaces, _id/_index searchable, raw items
# ---------------------------------------------------------------------------

def bulk(s, lines, **params):
    r = s.post("/_bulk", params=params,
               data="".join(json.dumps(l) + "\n" for l in lines),
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    return strict_json(r)


def items(j):
    return [(list(i)[0], list(i.values())[0]) for i in j["items"]]


def test_bulk_ids_follow_elasticsearch(siftd_factory):
    s = siftd_factory(args=FAST).start()
    ts = int(time.time() * 1000) - 60000
    # create twice in one request: the second is a conflict.
    j = bulk(s, [{"create": {"_index": "logs", "_id": "order-1"}},
                 {"@timestamp": ts, "message": "order 1 placed"},
                 {"create": {"_index": "logs", "_id": "order-1"}},
                 {"@timestamp": ts, "message": "order 1 placed again"},
                 {"create": {"_index": "logs", "_id": "Order-1"}},
                 {"@timestamp": ts, "message": "another id (case)"},
                 {"create": {"_index": "audit", "_id": "order-1"}},
                 {"@timestamp": ts, "message": "same id, another index"}])
    got = items(j)
    assert [x[1]["status"] for x in got] == [201, 409, 201, 201]
    assert j["errors"] is True
    assert got[1][1]["error"]["type"] == "version_conflict_engine_exception"
    # ... and in a later request, before it is even searchable.
    j = bulk(s, [{"create": {"_index": "logs", "_id": "order-1"}},
                 {"@timestamp": ts, "message": "order 1 third try"}])
    assert items(j)[0][1]["status"] == 409
    # index of a stored id replaces it (Elasticsearch's "updated").
    j = bulk(s, [{"index": {"_index": "logs", "_id": "order-1"}},
                 {"@timestamp": ts + 1, "message": "order 1 shipped"}])
    it = items(j)[0][1]
    assert (it["status"], it["result"]) == (200, "updated")
    # index of a new id creates it; twice in one request: the last wins.
    j = bulk(s, [{"index": {"_index": "logs", "_id": "order-2"}},
                 {"@timestamp": ts, "message": "order 2 placed"},
                 {"index": {"_index": "logs", "_id": "order-2"}},
                 {"@timestamp": ts + 1, "message": "order 2 paid"}])
    assert [x[1]["status"] for x in items(j)] == [201, 200]
    # Four documents: logs/order-1, logs/Order-1, audit/order-1,
    # logs/order-2.
    wait_total(s, "*", 4, **{"from": "now-1d"})

    def hits(q):
        return sorted(h["message"] for h in search_hits(s, q)["hits"])
    # _id matches as any keyword does (case-folded): both logs ids.
    assert hits('_id:"order-1" AND _index:logs') == ["another id (case)",
                                                     "order 1 shipped"]
    assert hits('_id:"order-2"') == ["order 2 paid"]
    assert sorted(hits("_index:audit")) == ["same id, another index"]
    assert "order 1 placed" not in hits("order")
    # A restart (kill -9) keeps exactly the same documents.
    s.kill9()
    s.start()
    wait_total(s, "*", 4, **{"from": "now-1d"})
    assert hits('_id:"order-1" AND _index:logs') == ["another id (case)",
                                                     "order 1 shipped"]
    assert search_hits(s, "*", limit=0)["total"]["value"] == 4
    # The replacement is stored: creating it again conflicts.
    j = bulk(s, [{"create": {"_index": "logs", "_id": "order-1"}},
                 {"@timestamp": ts, "message": "again"}])
    assert items(j)[0][1]["status"] == 409

    # A malformed item's dead letter keeps the whole item.
    body = ('{"index":{"_index":"logs","_id":"bad-1"}}\n'
            '{"message": "broken\n')
    r = s.post("/_bulk", data=body,
               headers={"Content-Type": "application/x-ndjson"})
    assert items(strict_json(r))[0][1]["status"] == 400
    dl = [d for d in dlq_lines(s) if d.get("source") == "bulk"]
    assert dl and dl[-1]["raw"] == body.rstrip("\n")


def test_bulk_lines_of_a_stack_trace_join(siftd_factory):
    """Filebeat to an Elasticsearch output without multiline: one item
    per line.  Items without their own _id join; each answers with the _id
    of the document that holds it."""
    s = siftd_factory(args=FAST).start()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 30))

    def item(i, msg):
        return [{"create": {"_index": "filebeat-8"}},
                {"@timestamp": ts + ".%03dZ" % i, "host": {"name": "web-2"},
                 "log": {"file": {"path": "/var/log/app.log"}},
                 "message": msg}]
    lines = (item(0, "ERROR payment failed") +
             item(1, "\tat com.acme.Pay.charge(Pay.java:10)") +
             item(2, "\tat com.acme.Api.post(Api.java:20)") +
             item(3, "INFO next"))
    j = bulk(s, lines)
    got = items(j)
    assert [x[1]["status"] for x in got] == [201] * 4
    ids = [x[1]["_id"] for x in got]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    wait_total(s, "*", 2, **{"from": "now-1d"})
    h = search_hits(s, '_id:"%s"' % ids[0])["hits"]
    assert len(h) == 1
    assert h[0]["message"] == ("ERROR payment failed\n"
                               "\tat com.acme.Pay.charge(Pay.java:10)\n"
                               "\tat com.acme.Api.post(Api.java:20)")
