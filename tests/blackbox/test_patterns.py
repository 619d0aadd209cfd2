"""Black-box tests of templates on whole raw lines through the real siftd
binary (issue 18): the header of each line is split off by the shape
learned for its file, its parts become fields, templates are mined on the
rest; a template merged into another keeps its id searchable, also after a
restart; a burst of new services raises at most one alert per service (none
while they are learning) and a burst of new templates one grouped alert;
/api/v1/patterns has a series per template.

Windows are 1 s of arrival time; the scoring test steps siftd's clock
with the debug endpoint before each window's events (anomaly.idle_flush=1h
keeps the wall clock from closing windows), so it is deterministic.
"""
import os
import random
import time

from conftest import SOURCE_DIR
from ingest_helpers import ingest, wait_for

LOGHUB = os.path.join(SOURCE_DIR, "tests", "data", "loghub-2k")
SYSTEMS = ["HDFS", "Hadoop", "Spark", "Zookeeper", "BGL", "HPC", "Linux",
           "Apache", "OpenSSH", "OpenStack"]

FAST = ["--set", "store.wal_sync=10ms", "--set", "store.refresh=100ms"]
SCORING = FAST + ["--set", "anomaly.window=1s",
                  "--set", "anomaly.warmup_windows=3",
                  "--set", "anomaly.hold_windows=1",
                  "--set", "anomaly.idle_flush=1h",
                  "--set", "server.debug_endpoints=true"]

BODIES = [
    "Starting service: version 3",
    "worker 3 ready",
    "connection from 10.0.0.7 closed",
    "cache miss for key user:42",
    "disk usage at 81 percent",
    "retrying in 5 seconds",
]


def search(s, q, limit=1000):
    r = s.get("/api/v1/search", params={"q": q, "limit": limit})
    assert r.status_code == 200, r.text
    return r.json()


def wait_total(s, q, n):
    return wait_for(lambda: search(s, q)["total"]["value"] == n,
                    "%d hits for %s" % (n, q), timeout=60)


def filebeat(ts_ms, message, path, **fields):
    """Filebeat's event for one line of a file: the message is the line."""
    ev = {"@timestamp": ts_ms, "message": message,
          "log": {"file": {"path": path}, "offset": ts_ms % 100000},
          "host": {"name": "web-1"}, "agent": {"type": "filebeat"},
          "input": {"type": "filestream"}}
    ev.update(fields)
    return ev


def java_line(i, body, t_s):
    return "2024-03-01 10:%02d:%02d.%03d %d %s com.example.Svc%d: %s" % (
        t_s // 60 % 60, t_s % 60, i % 1000, 4000 + i % 3,
        "WARN" if i % 2 else "INFO", i % len(BODIES), body)


def syslog_line(i, body, t_s):
    return "Mar  1 10:%02d:%02d web-%d app[%d]: %s" % (
        t_s // 60 % 60, t_s % 60, i % 2, 100 + i, body)


def test_raw_lines_header_fields_and_templates(siftd_factory):
    s = siftd_factory(args=FAST).start()
    t0 = (int(time.time()) - 3600) * 1000
    evs = []
    for i in range(120):
        body = BODIES[i % len(BODIES)]
        evs.append(filebeat(t0 + i, java_line(i, body, i), "/var/log/a.log"))
        evs.append(filebeat(t0 + i, syslog_line(i, body, i), "/var/log/b.log"))
    ingest(s, evs)
    wait_total(s, "*", len(evs))

    hits = search(s, "closed")["hits"]
    assert len(hits) == 40
    sent = {e["message"] for e in evs}
    tmpl = set()
    for h in hits:
        assert h["message"] in sent  # byte-exact, header and all
        assert h["template"] == "connection from <ip> closed", h
        tmpl.add(h["template_id"])
        f = h["fields"]
        if f["log.file.path"] == "/var/log/a.log":
            assert f["log.level"] in ("info", "warn")
            assert f["log.logger"].startswith("com.example.Svc")
            assert f["process.pid"] in (4000, 4001, 4002)
        else:
            assert f["log.logger"] == "app"
            assert f["process.pid"] == int(h["message"].split("[")[1]
                                           .split("]")[0])
    # Both files' lines of one message share one template (after the
    # first lines of each file, whose shape was still being learned, are
    # merged into it: their old id is an alias of the same template).
    ids = {h["template_id"] for h in search(s, "_template_id:%d" % min(tmpl))["hits"]}
    assert ids == tmpl
    assert search(s, "_template_id:%d" % min(tmpl))["total"]["value"] == 40
    # Fields are searchable.
    assert search(s, "log.logger:app AND closed")["total"]["value"] == 20
    # "cache miss" lines come at odd i: WARN in a.log; b.log has no level.
    assert search(s, "log.level:warn AND cache")["total"]["value"] == 20
    assert search(s, "log.level:info AND closed")["total"]["value"] == 20


def test_template_id_survives_merge_and_restart(siftd_factory):
    s = siftd_factory(args=FAST).start()
    t0 = (int(time.time()) - 3600) * 1000
    path = "/var/log/c.log"
    first = "2024-03-01 10:00:00 INFO Starting service: version 3"
    ingest(s, [filebeat(t0, first, path)])
    wait_total(s, "*", 1)
    (h,) = search(s, "*")["hits"]
    old = h["template_id"]
    # The file's only line so far: "Starting service:" looks like a
    # logger, so the template holds just what follows it.
    assert h["template"] == "version <num>"

    evs = []
    for i in range(1, 60):
        body = BODIES[(i * 5) % len(BODIES)]
        evs.append(filebeat(t0 + i, "2024-03-01 10:00:%02d INFO %s"
                            % (i % 60, body), path))
    ingest(s, evs)
    wait_total(s, "*", 60)
    # Now the file's shape is known: the first template was merged into
    # the one its line gets now; searching by the old id finds every
    # "Starting service" line, old and new, and shows the merged text.
    starting = search(s, "_template_id:%d" % old)
    assert starting["total"]["value"] == 10
    assert {x["template"] for x in starting["hits"]} == \
        {"Starting service: version <num>"}
    new = {x["template_id"] for x in starting["hits"]} - {old}
    assert len(new) == 1
    (new,) = new
    assert search(s, "_template_id:%d" % new)["total"]["value"] == 10
    pj = s.get("/api/v1/patterns", params={"q": "Starting"}).json()
    assert [(p["template_id"], p["count"]) for p in pj["patterns"]] == [(new, 10)]
    st = s.get("/api/v1/anomaly").json()
    assert st["templates_merged"] >= 1 and st["template_aliases"] >= 1
    assert st["header_sources"] >= 1

    s.restart()
    s.wait_ready()
    again = search(s, "_template_id:%d" % old)
    assert again["total"]["value"] == 10
    assert {x["template"] for x in again["hits"]} == \
        {"Starting service: version <num>"}


def loghub_lines(system):
    with open(os.path.join(LOGHUB, system, system + "_2k.log"),
              encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\r\n") for line in f if line.strip()]


def alerts(s):
    r = s.get("/api/v1/alerts")
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


def test_onboarding_new_services_one_alert_at_most(siftd_factory):
    """Ten loghub systems start sending at once as ten new services (every
    template of each is new), each a steady 60 lines a window drawn at
    random from its 2,000 raw lines: nothing alerts while they learn; after
    the learning period, a burst of ten new templates from one of them is
    one new_pattern alert with the templates attached."""
    s = siftd_factory(args=SCORING + [
        "--set", "anomaly.warmup_windows=10",
        "--set", "anomaly.learning_period=30s"]).start()
    t0 = (int(time.time()) - 600) * 1000
    rng = random.Random(18)
    lines = {sysname: loghub_lines(sysname) for sysname in SYSTEMS}

    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
             "golf", "hotel", "india", "juliet"]

    def window(w):
        evs = [{"@timestamp": t0 + w * 1000 + i * 10, "service.name": "base",
                "message": "GET /api/cart/%d 200 in %d ms" % (i, 10 + i)}
               for i in range(20)]
        if w < 12:
            return evs
        for sysname in SYSTEMS:
            # Window 46: HDFS sends ten new templates, five lines each,
            # in place of 50 of its usual lines (its volume stays put).
            n = 10 if (w == 46 and sysname == "HDFS") else 60
            for i in range(n):
                evs.append(filebeat(t0 + w * 1000 + 200 + i,
                                    rng.choice(lines[sysname]),
                                    "/var/log/%s.log" % sysname,
                                    service={"name": sysname}))
        if w == 46:
            evs += [filebeat(t0 + w * 1000 + 900 + i,
                             "2024-03-01 10:00:00,000 INFO dfs.Burst: novel "
                             "event kind %s happened" % word,
                             "/var/log/HDFS.log", service={"name": "HDFS"})
                    for word in words for i in range(5)]
        return evs

    # Windows 0-11: one known service (the scorer's warm-up); from 12 the
    # ten new ones; from 42 they are past their learning period.
    for w in range(50):
        # The window's events arrive during it: siftd's clock stands just
        # before its end, after the events' own times.
        r = s.post("/api/v1/debug/clock", json={"freeze_ms": t0 + w * 1000 + 990})
        assert r.status_code == 200, r.text
        ingest(s, window(w))
    wait_for(lambda: s.get("/api/v1/anomaly").json()["windows"] >= 49,
             "window 48 scored", timeout=60)
    per_service = {}
    for a in alerts(s):
        svc = a["series"].split()[0]
        per_service.setdefault(svc, []).append(
            (a["kind"], a["series"], a["started_ms"] - t0))
    assert all(len(v) <= 1 for v in per_service.values()), per_service
    assert [k for k, _, _ in per_service.pop("service=HDFS")] == ["new_pattern"]
    assert per_service == {}
    (a,) = [x for x in alerts(s) if x["series"] == "service=HDFS"]
    assert a["templates_total"] == 10
    assert len(a["templates"]) == 8
    assert a["started_ms"] == t0 + 46 * 1000
    # The alert's query finds the burst's events it names (once the store's
    # refresh has made them searchable: scoring runs on the ingest path).
    wait_for(lambda: s.get("/api/v1/search", params={"q": a["query"], "limit": 1})
             .json()["total"]["value"] == 8 * 5, "the alert's query finds 40 events")
    # The evidence is kept across a restart.
    s.restart()
    s.wait_ready()
    (b,) = [x for x in alerts(s) if x["series"] == "service=HDFS"]
    assert b["templates"] == a["templates"]
    assert b["templates_total"] == 10 and b["query"] == a["query"]


def test_patterns_series_per_template(siftd_factory):
    s = siftd_factory(args=FAST).start()
    t0 = (int(time.time()) // 600 * 600 - 7200) * 1000  # 10-min aligned
    evs = []
    for m in range(10):  # ten minutes; template B grows from minute 6
        for i in range(5):
            evs.append({"@timestamp": t0 + m * 60000 + i * 1000,
                        "message": "request %d served in %d ms" % (i, m)})
        for i in range(1 if m < 6 else 20):
            evs.append({"@timestamp": t0 + m * 60000 + 30000 + i,
                        "message": "timeout talking to backend db-%d" % i})
    ingest(s, evs)
    wait_total(s, "*", len(evs))
    r = s.get("/api/v1/patterns", params={"from": t0, "to": t0 + 600000,
                                         "interval": "1m"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["interval_ms"] == 60000
    by_text = {p["template"]: p for p in j["patterns"]}
    grow = by_text["timeout talking to backend db-<num>"]
    steady = by_text["request <num> served in <num> ms"]
    assert [t for t, _ in grow["series"]] == [t0 + m * 60000 for m in range(10)]
    assert [c for _, c in grow["series"]] == [1] * 6 + [20] * 4
    assert [c for _, c in steady["series"]] == [5] * 10
    # Automatic interval: about 60 buckets over the range, counts add up.
    j = s.get("/api/v1/patterns", params={"from": t0, "to": t0 + 600000}).json()
    assert j["interval_ms"] == 10000
    for p in j["patterns"]:
        assert sum(c for _, c in p["series"]) == p["count"]
        assert len(p["series"]) == 60
    # Bad intervals are a 400 that says why.
    r = s.get("/api/v1/patterns", params={"interval": "soon"})
    assert r.status_code == 400 and "interval" in r.json()["error"]["reason"]
    r = s.get("/api/v1/patterns", params={"from": t0, "to": t0 + 600000,
                                         "interval": "100ms"})
    assert r.status_code == 400 and "buckets" in r.json()["error"]["reason"]
