"""Black-box tests of tiers, merges, retention, the size cap and
delete-by-query through the real siftd binary, with the debug clock
endpoint shifting "now" so that days pass in seconds.  Contents are
checked with tests/tools/sift_store_dump (the real store, offline)."""
import json
import os
import subprocess
import time

from conftest import SOURCE_DIR

DAY_MS = 86400 * 1000
BASE = ["--set", "server.debug_endpoints=true",
        "--set", "store.wal_sync=10ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=300ms",
        "--set", "tiers.check_interval=1h",  # the tests drive the policy
        "--set", "tiers.hot_max_age=1h", "--set", "tiers.warm_max_age=2d",
        "--set", "tiers.retention=10d", "--set", "tiers.merge_factor=4",
        "--set", "tiers.hot_segment_bytes=1MiB",
        "--set", "tiers.warm_segment_bytes=4MiB",
        "--set", "tiers.cold_zstd_level=9", "--set", "tiers.cold_dict_bytes=16KiB"]


def dump_tool():
    build = os.environ.get("SIFT_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
    return os.path.join(build, "sift_store_dump")


def dump(data_dir):
    p = subprocess.run([dump_tool(), data_dir], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def ingest(s, events):
    body = "".join(json.dumps(e) + "\n" for e in events)
    r = s.post("/api/v1/ingest", data=body,
               headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    assert r.status_code == 200, r.text


def events(now_ms, n, span_ms, first=0, secret_every=0):
    out = []
    for i in range(first, first + n):
        msg = "ev%06d user login from 10.0.%d.%d took %d ms" % (
            i, i % 7, i % 13, i % 250)
        if secret_every and i % secret_every == 0:
            msg += " apikey=hunter2leak"
        out.append({"@timestamp": now_ms - span_ms + (i - first) * span_ms // n,
                    "message": msg, "service": {"name": "auth"}})
    return out


def wait_flushed(s, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = s.get("/api/v1/store").json()
        if j["docs_buffered"] == 0 and j["segments"]["memory"] == 0:
            return j
        time.sleep(0.1)
    raise AssertionError("not flushed: %r" % j)


def settle(s, timeout=60):
    """Runs the policy until nothing is left to do."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        busy = s.post("/api/v1/debug/lifecycle", json={}).json()["busy"]
        quiet = quiet + 1 if not busy else 0
        if quiet >= 3:
            return s.get("/api/v1/tiers").json()
        time.sleep(0.2)
    raise AssertionError("lifecycle did not settle")


def messages(evs):
    return sorted(e["message"] for e in evs)


def test_tiers_move_by_age_and_contents_stay_identical(siftd_factory):
    s = siftd_factory(args=BASE).start()
    s.wait_ready()
    now = int(time.time() * 1000)
    evs = events(now, 4000, 4 * DAY_MS)
    for k in range(0, len(evs), 500):
        ingest(s, evs[k:k + 500])
        wait_flushed(s)
    t = settle(s)["tiers"]
    assert t["hot"]["segments"] >= 1
    assert t["warm"]["segments"] >= 1
    assert t["cold"]["segments"] >= 2
    assert sum(t[x]["docs"] for x in ("hot", "warm", "cold")) == 4000
    assert t["cold"]["compression_ratio"] > 1
    assert t["cold"]["max_ts_ms"] < now - 2 * DAY_MS + DAY_MS
    s.stop()
    got = dump(s.data_dir)
    assert messages(got) == messages(evs)
    # No temp or orphan files; cold files where the tiers endpoint said.
    cold = os.path.join(s.data_dir, "cold")
    assert len([f for f in os.listdir(cold) if f.endswith(".seg")]) == t["cold"]["segments"]
    assert not [f for f in os.listdir(cold) if f.endswith(".tmp")]

    # Nine simulated days later only what is younger than 10 days stays.
    s.start()
    s.wait_ready()
    r = s.post("/api/v1/debug/clock", json={"offset_ms": 9 * DAY_MS})
    assert r.status_code == 200
    t0 = time.monotonic()
    t2 = settle(s)
    assert t2["retention"]["deleted_segments"] >= 1
    # Retention holds per event: the daemon's own "now" (plus the seconds
    # settle took) decides the line, not this test's clock.
    cut = r.json()["now_ms"] - 10 * DAY_MS
    slack = int((time.monotonic() - t0) * 1000) + 1000
    s.stop()
    kept = dump(s.data_dir)
    assert 0 < len(kept) < 4000
    young = [e for e in evs if e["@timestamp"] >= cut + slack]
    assert set(messages(young)) <= set(messages(kept))
    ts_of = {e["message"]: e["@timestamp"] for e in evs}
    assert all(ts_of[e["message"]] >= cut for e in kept)
    assert "deleted segment" in s.stderr() and "retention" in s.stderr()


def test_size_cap_deletes_oldest_first(siftd_factory):
    s = siftd_factory(args=BASE + ["--set", "tiers.merge_factor=100"]).start()
    s.wait_ready()
    now = int(time.time() * 1000)
    evs = events(now, 2000, 40 * 60 * 1000)  # 40 minutes: all hot
    for k in range(0, len(evs), 500):
        ingest(s, evs[k:k + 500])
        wait_flushed(s)
    st = s.get("/api/v1/store").json()
    assert st["segments"]["disk"] == 4
    cap = st["bytes"]["disk"] * 6 // 10
    s.restart(args=BASE + ["--set", "tiers.merge_factor=100",
                           "--set", "tiers.max_disk_bytes=%d" % cap])
    s.wait_ready()
    t = settle(s)
    assert sum(t["tiers"][x]["bytes"] for x in ("hot", "warm", "cold")) <= cap
    assert t["retention"]["size_cap_deleted_segments"] >= 1
    s.stop()
    kept = dump(s.data_dir)
    assert 0 < len(kept) < 2000
    # Oldest first: what is kept is the newest suffix.
    oldest_kept = min(e["message"] for e in kept)
    assert messages(kept) == [m for m in messages(evs) if m >= oldest_kept]


def test_delete_by_query_immediate_durable_and_physical(siftd_factory):
    s = siftd_factory(args=BASE).start()
    s.wait_ready()
    now = int(time.time() * 1000)
    evs = events(now, 1500, 3 * 3600 * 1000, secret_every=10)
    ingest(s, evs[:1000])
    wait_flushed(s)
    ingest(s, evs[1000:])  # partly in memory when the delete arrives
    r = s.post("/api/v1/delete", json={"query": "hunter2leak", "all_time": True})
    assert r.status_code == 200, r.text
    assert r.json()["matched"] == 150
    t = s.get("/api/v1/tiers").json()
    assert sum(t["tiers"][x]["docs"] for x in ("memory", "hot", "warm", "cold")) == 1350
    assert t["deletes"]["events"] == 150
    # Bad requests never reach the WAL.
    assert s.post("/api/v1/delete", json={"from": 5}).status_code == 400
    assert s.post("/api/v1/delete", json={"query": ""}).status_code == 400
    # kill -9 right after the answer: the delete must survive.
    s.kill9()
    kept = dump(s.data_dir)
    assert len(kept) == 1350
    assert not [e for e in kept if "hunter2leak" in e["message"]]
    # Physically gone after a forced rewrite.
    s.start()
    s.wait_ready()
    r = s.post("/api/v1/delete", json={"query": "hunter2leak", "force_rewrite": True,
                                       "all_time": True})
    assert r.status_code == 200 and r.json()["matched"] == 0
    r = s.post("/api/v1/delete", json={"query": "ev000001", "force_rewrite": True,
                                       "from": now - 4 * 3600 * 1000, "to": "now"})
    assert r.status_code == 200 and r.json()["matched"] == 1
    wait_flushed(s)
    t = settle(s)
    # Rewritten: the deleted docs were dropped by a merge, no tombstones
    # are left (images are compressed, so grep cannot prove absence; the
    # unit test decodes every doc of every file for that).
    assert t["merges"]["deleted_docs_dropped"] >= 1
    assert all(t["tiers"][x]["deleted_docs"] == 0 for x in ("hot", "warm", "cold"))
    s.stop()
    for d in ("segments", "warm", "cold"):
        assert not [f for f in os.listdir(os.path.join(s.data_dir, d))
                    if f.endswith(".del")]
    kept = dump(s.data_dir)
    assert len(kept) == 1349


def test_delete_speaks_the_query_language(siftd_factory):
    """Deletes accept what searches accept (boolean logic, phrases, field
    clauses, ranges); a malformed query is a precise 400 and deletes
    nothing."""
    s = siftd_factory(args=BASE).start()
    s.wait_ready()
    evs = []
    base = int(time.time() * 1000) - 3600 * 1000  # inside tiers.retention
    for i in range(60):
        evs.append({"@timestamp": base + i * 1000,
                    "message": "user %s logged in from gate %d" % (
                        "alice" if i % 2 else "bob", i % 3),
                    "log.level": "error" if i % 5 == 0 else "info",
                    "latency_ms": i})
    ingest(s, evs)
    r = s.post("/api/v1/delete", json={"query": "(alice OR bob"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "query_parse" and err["position"] >= 0
    # Error lines of bob, or anything slower than 55 ms.
    q = '("user bob" AND log.level:error) OR latency_ms:>55'
    want = {e["message"] + "|%d" % e["latency_ms"] for e in evs
            if (("user bob" in e["message"] and e["log.level"] == "error")
                or e["latency_ms"] > 55)}
    r = s.post("/api/v1/delete", json={"query": q, "all_time": True})
    assert r.status_code == 200, r.text
    assert r.json()["matched"] == len(want)
    r = s.post("/api/v1/search", json={"query": q, "limit": 100})
    assert r.status_code == 200, r.text
    assert r.json()["total"]["value"] == 0
    r = s.post("/api/v1/search", json={"query": "*", "limit": 100})
    assert r.json()["total"]["value"] == 60 - len(want)
