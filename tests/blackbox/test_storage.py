"""Black-box tests of the storage engine through the real siftd binary:
HTTP ingest durability, store counts, restart recovery, and the crash test
(kill -9 at random moments while ingesting; afterwards every acknowledged
event is searchable exactly once)."""
import json
import os
import random
import signal
import threading
import time

import requests

FAST = ["--set", "store.wal_sync=20ms", "--set", "store.refresh=200ms",
        "--set", "store.flush=700ms",
        # fixed dates (2024, 2026-11): keep them past tiers.retention
        "--set", "tiers.retention=off"]


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def ingest(s, events, timeout=20):
    return s.post("/api/v1/ingest", data=ndjson(events),
                  headers={"Content-Type": "application/x-ndjson"},
                  timeout=timeout)


def all_hits(s, query="*", page=1000, timeout=30):
    """Every hit of a query, paging with the cursor (bounded)."""
    hits = []
    cursor = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = {"query": query, "limit": page, "order": "asc"}
        if cursor:
            body["cursor"] = cursor
        r = s.post("/api/v1/search", json=body, timeout=20)
        assert r.status_code == 200, r.text
        j = r.json()
        hits += j["hits"]
        cursor = j.get("cursor")
        if not cursor or not j["hits"]:
            return hits
    raise AssertionError("paging did not finish in %ds" % timeout)


def hit_field(h, name):
    if name in h:
        return h[name]
    return h.get("fields", {}).get(name)


def wait_searchable(s, query, n, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        r = s.get("/api/v1/search", params={"q": query, "limit": 1})
        if r.status_code == 200:
            got = r.json()["total"]["value"]
            if got >= n:
                return got
        time.sleep(0.05)
    raise AssertionError("%r: %r of %d searchable after %ds" % (query, got, n, timeout))


def test_ingest_acknowledges_counts_and_rejects_bad_lines(siftd_factory):
    s = siftd_factory(args=FAST).start()
    s.wait_ready()
    body = ('{"@timestamp":"2026-11-22T10:00:00Z","message":"disk full on sda1","log.level":"error"}\n'
            'this is not json\n'
            '{"@timestamp":"2026-11-22T10:00:01Z","message":"disk ok","log.level":"info"}\n')
    r = s.post("/api/v1/ingest", data=body,
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["accepted"] == 2
    assert j["rejected"] == 1
    assert j["errors"][0]["line"] == 2
    assert "JSON" in j["errors"][0]["reason"] or "json" in j["errors"][0]["reason"]
    wait_searchable(s, "disk", 2)
    st = s.get("/api/v1/store").json()
    assert st["docs"] + st["docs_buffered"] == 2
    # Once both are in a segment file the WAL holds nothing (its last file
    # is deleted too), and the next batch starts a new WAL file.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = s.get("/api/v1/store").json()
        if st["docs"] == 2 and st["segments"]["disk"] >= 1 and st["bytes"]["wal"] == 0:
            break
        time.sleep(0.05)
    assert st["bytes"]["wal"] == 0 and st["segments"]["disk"] >= 1, st
    wal_dir = os.path.join(s.data_dir, "wal")
    assert [f for f in os.listdir(wal_dir) if f.endswith(".wal")] == []
    # A kill -9 with an empty WAL: the next seq comes from the manifest,
    # and a batch after the restart is kept beside the first two.
    s.kill9()
    s.start()
    s.wait_ready()
    r = s.post("/api/v1/ingest", data=body.splitlines()[0] + "\n",
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert wait_searchable(s, "disk", 3) == 3
    s.kill9()
    s.start()
    s.wait_ready()
    assert wait_searchable(s, "disk", 3) == 3


def test_bulk_answers_in_elasticsearch_shape_and_honours_filter_path(siftd_factory):
    """_bulk as Filebeat's elasticsearch output uses it: gzip body, create
    actions, and filter_path=errors,items.*.error,items.*.status in the
    URL, which trims each created item to its status."""
    import gzip
    s = siftd_factory(args=FAST).start()
    s.wait_ready()
    body = ('{"create":{"_index":"filebeat-8"}}\n'
            '{"@timestamp":"2026-11-22T10:00:00Z","message":"bulk alpha"}\n'
            '{"delete":{"_index":"filebeat-8","_id":"x"}}\n'
            '{"create":{"_index":"filebeat-8","_id":"b2"}}\n'
            '{"@timestamp":"2026-11-22T10:00:01Z","message":"bulk beta"}\n')
    nd = {"Content-Type": "application/x-ndjson"}
    r = s.post("/_bulk", data=body, headers=nd)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["errors"] is True and isinstance(j["took"], int)
    assert [list(i)[0] for i in j["items"]] == ["create", "delete", "create"]
    ok = j["items"][2]["create"]
    assert ok["status"] == 201 and ok["_id"] == "b2" and ok["result"] == "created"
    assert ok["_index"] == "filebeat-8"
    assert j["items"][1]["delete"]["status"] == 400
    r = s.post("/_bulk?filter_path=errors,items.*.error,items.*.status",
               # a new _id: creating b2 again is a 409, as in Elasticsearch
               data=gzip.compress(body.replace("bulk", "filtered")
                                  .replace('"b2"', '"b3"').encode()),
               headers=dict(nd, **{"Content-Encoding": "gzip"}))
    assert r.status_code == 200, r.text
    assert r.json() == {"errors": True, "items": [
        {"create": {"status": 201}},
        {"delete": {"status": 400, "error": r.json()["items"][1]["delete"]["error"]}},
        {"create": {"status": 201}}]}
    assert r.json()["items"][1]["delete"]["error"]["type"] == "illegal_argument_exception"
    # Nothing but the flag: an all-good batch answers {"errors":false}.
    r = s.post("/api/v1/_bulk?filter_path=errors,items.*.error",
               data='{"index":{"_index":"i"}}\n{"message":"bulk gamma"}\n',
               headers=nd)
    assert r.status_code == 200, r.text
    assert r.text == '{"errors":false}\n'  # every JSON reply ends with a newline
    wait_searchable(s, "bulk", 3)
    wait_searchable(s, "filtered", 2)


def test_ingest_rejects_wrong_content_type_and_empty_body(siftd_factory):
    s = siftd_factory(args=FAST).start()
    s.wait_ready()
    r = s.post("/api/v1/ingest", data=b"x", headers={"Content-Type": "image/png"})
    assert r.status_code == 415
    assert r.json()["error"]["type"] == "unsupported_media_type"
    # curl --data without -H sends form-urlencoded: taken as lines (auto).
    r = s.post("/api/v1/ingest", data=b'{"message":"curl default type"}\nplain line two\n',
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    r = s.post("/api/v1/ingest", data=b"x", headers={"Content-Type": "image/png"})
    assert r.status_code == 415
    assert r.json()["error"]["type"] == "unsupported_media_type"
    r = s.post("/api/v1/ingest", data=b"", headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "empty_body"


def test_plain_text_lines_get_sniffed_timestamps(siftd_factory):
    s = siftd_factory(args=FAST).start()
    s.wait_ready()
    lines = ("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating\n"
             "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster\n")
    r = s.post("/api/v1/ingest", data=lines, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    wait_searchable(s, "packetresponder OR mrappmaster", 2)
    hits = all_hits(s, "*")
    times = sorted(h["time"] for h in hits)
    assert times[0].startswith("2008-11-09T20:36:15")
    assert times[1].startswith("2015-10-18T18:01:47.978")


def test_restart_keeps_everything_exactly_once(siftd_factory):
    s = siftd_factory(args=FAST).start()
    s.wait_ready()
    evs = [{"@timestamp": "2026-11-22T10:%02d:%02dZ" % (i // 60, i % 60),
            "message": "restart event %d" % i, "seq": i} for i in range(500)]
    for k in range(0, 500, 100):
        assert ingest(s, evs[k:k + 100]).status_code == 200
    assert s.stop(signal.SIGTERM) == 0
    s.start()
    s.wait_ready()
    hits = all_hits(s, "restart")
    seqs = sorted(int(hit_field(h, "seq")) for h in hits)
    assert seqs == list(range(500))


def test_kill9_crash_loses_nothing_acknowledged(siftd_factory):
    """Ingest from two clients while siftd is killed with SIGKILL at random
    moments, several times.  Afterwards: every acknowledged event is
    searchable exactly once, and nothing appears that was never sent."""
    rng = random.Random(20261122)
    s = siftd_factory(args=FAST).start()
    s.wait_ready()
    acked = set()
    sent = set()
    lock = threading.Lock()
    next_seq = [0]
    stop = threading.Event()

    def client():
        while not stop.is_set():
            with lock:
                base = next_seq[0]
                next_seq[0] += 40
                if next_seq[0] > 200000:  # hard bound on the load
                    return
            batch = [{"@timestamp": "2026-11-22T11:00:00.%06dZ" % ((base + i) % 1000000),
                      "message": "crash test event %d" % (base + i),
                      "seq": base + i} for i in range(40)]
            with lock:
                sent.update(range(base, base + 40))
            try:
                r = ingest(s, batch, timeout=5)
                if r.status_code == 200 and r.json()["accepted"] == 40:
                    with lock:
                        acked.update(range(base, base + 40))
            except requests.RequestException:
                time.sleep(0.05)  # siftd is down; retry with a new batch

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            time.sleep(rng.uniform(0.3, 1.5))
            s.kill9()
            s.start()
            s.wait_ready()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acked) > 400, "too little was acknowledged to prove anything"
    s.kill9()
    s.start()
    s.wait_ready()
    hits = all_hits(s, "*", timeout=120)
    seqs = [int(hit_field(h, "seq")) for h in hits]
    dupes = len(seqs) - len(set(seqs))
    assert dupes == 0, "%d events are stored twice" % dupes
    missing = acked - set(seqs)
    assert not missing, "%d acknowledged events lost, e.g. %r" % (
        len(missing), sorted(missing)[:10])
    assert set(seqs) <= sent
