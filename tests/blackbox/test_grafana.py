"""Black-box tests of the Grafana JSON datasource API (/grafana) on the real
siftd: request bodies shaped exactly as the simpod-json-datasource plugin
(and the legacy SimpleJSON plugin) sends them, with every extra key Grafana
adds, and every reply checked against what Grafana's toDataFrame() accepts
(grafana_shapes.py) and against counts computed here from the ingested
events."""
import copy
import json
import time

import pytest

from conftest import Siftd
from grafana_shapes import (check_error, check_frame, check_query_reply,
                            frame_columns)

T0 = 1715666400000  # 2024-05-14T06:00:00.000Z
STEP = 15000        # one event every 15 s
N = 240             # one hour of events
SERVICES = ["api", "db", "web"]
MESSAGES = ["user {i} logged in from 10.0.0.{j}",
            "payment declined for order {i}",
            "cache miss for key k{i}",
            "disk quota exceeded on volume {j}",
            "slow query took {i} ms"]


def make_event(i):
    return {"@timestamp": T0 + i * STEP,
            "message": MESSAGES[i % 5].format(i=i, j=i % 7),
            "service": SERVICES[i % 3],
            "log.level": "error" if i % 4 == 0 else "info",
            "host": "web-01" if i % 2 == 0 else "web-02",
            "duration_ms": float((i % 10) * 10 + 5)}


EVENTS = [make_event(i) for i in range(N)]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def plugin_body(targets, frm=T0, to=T0 + 3600000, interval_ms=10000,
                max_points=1080, filters=None, adhoc=None, scoped=None):
    """A /query body as the plugin sends it (docs/internals/wire-formats.md 1.6)."""
    sv = {"__interval": {"text": "%ds" % (interval_ms // 1000),
                         "value": "%ds" % (interval_ms // 1000)},
          "__interval_ms": {"text": str(interval_ms), "value": interval_ms},
          "env": {"selected": False, "text": "prod", "value": "prod"}}
    sv.update(scoped or {})
    body = {
        "app": "dashboard", "requestId": "Q102", "timezone": "browser",
        "panelId": 2, "dashboardUID": "sift-overview", "dashboardId": 3,
        "panelName": "Errors", "panelPluginId": "timeseries",
        "range": {"from": iso(frm), "to": iso(to),
                  "raw": {"from": "now-1h", "to": "now"}},
        "rangeRaw": {"from": "now-1h", "to": "now"},
        "interval": "%ds" % max(1, interval_ms // 1000),
        "intervalMs": interval_ms, "maxDataPoints": max_points,
        "startTime": int(time.time() * 1000), "cacheTimeout": None,
        "queryCachingTTL": None, "liveStreaming": False,
        "targets": [], "scopedVars": sv,
    }
    for k, t in enumerate(targets):
        t = dict(t)
        t.setdefault("refId", chr(ord("A") + k))
        t.setdefault("editorMode", "code")
        t.setdefault("payload", {})
        t.setdefault("datasource", {"type": "simpod-json-datasource",
                                    "uid": "P1809F7CD0C75ACF3"})
        t.setdefault("key", "Q-%d" % k)
        body["targets"].append(t)
    if filters is not None:
        body["filters"] = filters
    if adhoc is not None:
        body["adhocFilters"] = adhoc
    return body


def matching(pred, frm=T0, to=T0 + 3600000):
    return [e for e in EVENTS if frm <= e["@timestamp"] <= to and pred(e)]


def percentile(vals, p):
    vals = sorted(vals)
    rank = p * (len(vals) - 1)
    i = int(rank)
    if i + 1 >= len(vals):
        return vals[-1]
    return vals[i] + (vals[i + 1] - vals[i]) * (rank - i)


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    d = tmp_path_factory.mktemp("grafana")
    # T0 is in 2024: keep it past tiers.retention.
    s = Siftd(d / "data", args=["--set", "store.refresh=200ms",
                                "--set", "tiers.retention=off"], log_dir=d)
    s.start()
    try:
        s.wait_ready()
        body = "".join(json.dumps(e) + "\n" for e in EVENTS)
        r = s.post("/api/v1/ingest", data=body,
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == N
        # Wait (bounded) until everything is searchable.
        deadline = time.monotonic() + 15
        total = -1
        while time.monotonic() < deadline:
            q = s.post("/grafana/query", json=plugin_body(
                [{"target": "count"}], max_points=1))
            if q.status_code == 200:
                total = sum(p[0] for p in q.json()[0]["datapoints"])
                if total == N:
                    break
            time.sleep(0.1)
        assert total == N, "only %d of %d events searchable" % (total, N)
        yield s
        # A clean shutdown (and, in sanitizer builds, no leak report).
        assert s.stop() == 0, s.stderr()
        assert "Sanitizer" not in s.stderr(), s.stderr()
    finally:
        s.kill9()


def query(sd, *args, **kw):
    r = sd.post("/grafana/query", json=plugin_body(*args, **kw))
    return check_query_reply(r)


# ---- health, metric list, options ---------------------------------------

def test_health_is_exactly_200(sd):
    for path in ("/grafana", "/grafana/"):
        r = sd.get(path)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("application/json")


def test_metrics_lists_every_metric_with_payloads(sd):
    for body in ({}, {"metric": "count", "payload": {"query": "x"}}):
        r = sd.post("/grafana/metrics", json=body)
        assert r.status_code == 200
        ms = r.json()
        assert isinstance(ms, list)
        assert [m["value"] for m in ms] == ["logs", "count", "terms", "stats",
                                            "patterns", "alerts"]
        for m in ms:
            assert isinstance(m["label"], str)
            for p in m["payloads"]:
                assert p["name"] in ("query", "by", "field", "limit")
                assert p["type"] in ("select", "multi-select", "input",
                                     "textarea")
    # An empty body is what the plugin sends before a metric is chosen.
    r = sd.post("/grafana/metrics", data="",
                headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and isinstance(r.json(), list)


def test_metric_payload_options_list_fields_and_values(sd):
    def opts(body):
        r = sd.post("/grafana/metric-payload-options", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert all(isinstance(o["value"], str) for o in out)
        return [o["value"] for o in out]

    by = opts({"metric": "count", "payload": {"query": ""}, "name": "by"})
    assert {"service", "host", "log.level"} <= set(by)
    assert "duration_ms" not in by and "message" not in by
    num = opts({"metric": "stats", "payload": {}, "name": "field"})
    assert num == ["duration_ms"]
    grp = opts({"metric": "terms", "payload": {}, "name": "field"})
    assert {"service", "host", "duration_ms"} <= set(grp)
    vals = opts({"metric": "logs", "payload": {}, "name": "service"})
    assert sorted(vals) == SERVICES


# ---- /query ----------------------------------------------------------------

def test_query_every_metric_full_plugin_body(sd):
    filters = [{"key": "service", "operator": "=", "value": "api"}]
    frames = query(sd, [
        {"target": "logs", "payload": {"query": "payment", "limit": 5}},
        {"target": "count", "payload": {"query": "", "by": ["host"]},
         "editorMode": "builder"},
        {"target": "terms", "payload": {"query": "log.level:error",
                                        "field": "host"}},
        {"target": "stats", "payload": {"field": "duration_ms"}},
        {"target": "patterns", "payload": {"limit": "3"}},
        {"target": "alerts", "payload": {}},
        {"target": "terms", "hide": True, "payload": {"field": "host"}},
        {"payload": {"query": "no metric chosen"}},
    ], filters=filters, max_points=1)
    by_ref = {}
    for kind, f in frames:
        by_ref.setdefault(f["refId"], []).append((kind, f))
    # Hidden and metric-less targets are not answered.
    assert sorted(by_ref) == ["A", "B", "C", "D", "E", "F"]

    # A: logs frame for Explore's logs view.
    [(kind, logs)] = by_ref["A"]
    assert kind == "frame"
    assert logs["meta"]["preferredVisualisationType"] == "logs"
    cols = frame_columns(logs)
    want = matching(lambda e: "payment" in e["message"] and
                    e["service"] == "api")
    want.sort(key=lambda e: -e["@timestamp"])
    assert cols["time"] == [e["@timestamp"] for e in want[:5]]
    assert cols["line"] == [e["message"] for e in want[:5]]
    assert cols["service"] == ["api"] * 5
    assert logs["fields"][0]["type"] == "time"
    assert logs["meta"]["custom"]["total"] == len(want)

    # B: one series per host, one point (maxDataPoints 1), exact counts.
    series = {f["target"]: f for k, f in by_ref["B"]}
    assert all(k == "series" for k, f in by_ref["B"])
    for host in ("web-01", "web-02"):
        pts = series[host]["datapoints"]
        assert len(pts) == 1
        assert pts[0][0] == len(matching(lambda e: e["service"] == "api" and
                                         e["host"] == host))
        assert series[host]["tags"] == {"host": host}

    # C: terms table.
    [(kind, terms)] = by_ref["C"]
    assert kind == "table"
    got = dict(zip(*frame_columns(terms).values()))
    want_terms = {}
    for e in matching(lambda e: e["service"] == "api" and
                      e["log.level"] == "error"):
        want_terms[e["host"]] = want_terms.get(e["host"], 0) + 1
    assert got == want_terms

    # D: avg/p50/p99 series.
    stats = {f["tags"]["stat"]: f["datapoints"] for k, f in by_ref["D"]}
    vals = [e["duration_ms"] for e in matching(lambda e: e["service"] == "api")]
    assert len(stats["avg"]) == 1
    assert stats["avg"][0][0] == pytest.approx(sum(vals) / len(vals))
    assert stats["p50"][0][0] == pytest.approx(percentile(vals, 0.5))
    assert stats["p99"][0][0] == pytest.approx(percentile(vals, 0.99))

    # E: patterns table (template ids exist once template mining is wired).
    [(kind, pat)] = by_ref["E"]
    assert kind == "table"
    assert [c["text"] for c in pat["columns"]] == ["template_id", "count",
                                                   "pattern", "example"]
    assert len(pat["rows"]) <= 3

    # F: annotations: default field names, no alert source wired -> empty.
    [(kind, alerts)] = by_ref["F"]
    assert kind == "table"
    assert [c["text"] for c in alerts["columns"]][:5] == [
        "time", "timeEnd", "title", "text", "tags"]
    assert alerts["rows"] == []


@pytest.mark.parametrize("max_points", [1, 2, 7, 50, 1000])
def test_query_never_more_points_than_max_data_points(sd, max_points):
    frames = query(sd, [{"target": "count"},
                        {"target": "count", "payload": {"by": "service"}},
                        {"target": "stats",
                         "payload": {"field": "duration_ms"}}],
                   interval_ms=1000, max_points=max_points)
    for kind, f in frames:
        assert kind == "series"
        assert 1 <= len(f["datapoints"]) <= max_points
        if f["refId"] == "A":
            assert sum(p[0] for p in f["datapoints"]) == N
        if f["refId"] == "B":
            want = len(matching(lambda e: e["service"] == f["target"]))
            assert sum(p[0] for p in f["datapoints"]) == want


def test_query_honours_range_and_interval(sd):
    frm, to = T0 + 10 * 60000, T0 + 20 * 60000
    frames = query(sd, [{"target": "count"}], frm=frm, to=to,
                   interval_ms=60000, max_points=1000)
    [(kind, s)] = frames
    pts = s["datapoints"]
    # "to" is inclusive: the event at exactly 06:20:00 counts.
    assert sum(p[0] for p in pts) == len(matching(lambda e: True, frm, to))
    assert sum(p[0] for p in pts) == 41
    # Epoch-aligned one-minute buckets, 4 events each.
    assert [p[1] for p in pts[:3]] == [frm, frm + 60000, frm + 120000]
    assert [p[0] for p in pts[:10]] == [4] * 10
    assert all(frm <= p[1] <= to for p in pts)


def test_query_adhoc_filters_both_spellings(sd):
    def total(**kw):
        frames = query(sd, [{"target": "count"}], max_points=1, **kw)
        return frames[0][1]["datapoints"][0][0]

    f = [{"key": "service", "operator": "=", "value": "db"},
         {"key": "log.level", "operator": "!=", "value": "error"}]
    want = len(matching(lambda e: e["service"] == "db" and
                        e["log.level"] != "error"))
    assert total(filters=f) == want
    assert total(adhoc=f) == want            # plugin <= 0.6.3
    assert total(filters=f[:1], adhoc=f[1:]) == want
    regex = [{"key": "host", "operator": "=~", "value": "web-0[2]"},
             {"key": "duration_ms", "operator": ">=", "value": "55"}]
    assert total(filters=regex) == len(matching(
        lambda e: e["host"] == "web-02" and e["duration_ms"] >= 55))


def test_query_scoped_vars_left_by_grafana(sd):
    # Grafana interpolates before sending; a variable it left is resolved
    # from scopedVars, a multi-value one becomes an OR group.
    frames = query(sd, [{"target": "count",
                         "payload": {"query": "service:$svc"}}],
                   max_points=1, scoped={
                       "svc": {"text": "db + web", "value": ["db", "web"]}})
    assert frames[0][1]["datapoints"][0][0] == len(
        matching(lambda e: e["service"] in ("db", "web")))


def test_query_no_targets_is_an_empty_array(sd):
    r = sd.post("/grafana/query", json=plugin_body(
        [{"target": "logs", "hide": True}]))
    assert check_query_reply(r) == []


def test_query_errors_are_shown_by_grafana(sd):
    j = check_error(sd.post("/grafana/query", json=plugin_body(
        [{"target": "logs", "payload": {"query": "service:(api"}}])))
    assert j["error"]["code"] == "query_parse"
    assert "query A" in j["message"]
    j = check_error(sd.post("/grafana/query", json=plugin_body(
        [{"target": "hits_per_minute"}])))
    assert j["error"]["code"] == "unknown_metric"
    j = check_error(sd.post("/grafana/query", json=plugin_body(
        [{"target": "terms", "payload": {"query": "x"}}])))
    assert "payload.field" in j["message"]
    j = check_error(sd.post("/grafana/query", json=plugin_body(
        [{"target": "count"}], filters=[{"key": "a", "operator": "<>",
                                          "value": "1"}])))
    assert j["error"]["code"] == "bad_filter"
    body = plugin_body([{"target": "count"}])
    body["range"]["from"], body["range"]["to"] = body["range"]["to"], \
        body["range"]["from"]
    check_error(sd.post("/grafana/query", json=body))
    j = check_error(sd.post("/grafana/query", data="{not json",
                            headers={"Content-Type": "application/json"}))
    assert j["error"]["code"] == "bad_json"


# ---- variables, ad-hoc filter keys and values -------------------------------

def test_variable_values(sd):
    rng = {"from": iso(T0), "to": iso(T0 + 3600000),
           "raw": {"from": "now-1h", "to": "now"}}

    def var(payload):
        r = sd.post("/grafana/variable", json={"payload": payload,
                                               "range": rng})
        assert r.status_code == 200, r.text
        out = r.json()
        for o in out:
            assert set(o) == {"__text", "__value"}
            assert o["__text"] == o["__value"]
        return sorted(o["__value"] for o in out)

    assert var({"target": "service"}) == SERVICES
    assert var({"target": "host service:api"}) == ["web-01", "web-02"]
    assert var({"target": "host log.level:error"}) == ["web-01"]
    assert var({"field": "service", "query": "payment"}) == sorted(
        {e["service"] for e in EVENTS if "payment" in e["message"]})
    assert "service" in var({"target": "fields"})
    check_error(sd.post("/grafana/variable", json={"payload": {}}))


def test_tag_keys_and_values(sd):
    r = sd.post("/grafana/tag-keys", json={})
    assert r.status_code == 200
    keys = {k["text"]: k["type"] for k in r.json()}
    assert keys["service"] == "string" and keys["duration_ms"] == "number"
    r = sd.post("/grafana/tag-values", json={"key": "service"})
    assert r.status_code == 200
    assert sorted(v["text"] for v in r.json()) == SERVICES
    # Newer Grafana sends the other active filters: they narrow the values.
    r = sd.post("/grafana/tag-values", json={
        "key": "host",
        "filters": [{"key": "log.level", "operator": "=", "value": "error"},
                    {"key": "host", "operator": "=", "value": "web-02"}]})
    assert [v["text"] for v in r.json()] == ["web-01"]
    check_error(sd.post("/grafana/tag-values", json={}))


# ---- legacy SimpleJSON ----------------------------------------------------

def test_legacy_simplejson(sd):
    r = sd.post("/grafana/search", json={"target": "select metric"})
    assert r.status_code == 200
    assert r.json() == ["logs", "count", "terms", "stats", "patterns",
                        "alerts"]
    body = {"panelId": 1, "range": {"from": iso(T0), "to": iso(T0 + 3600000),
                                    "raw": {"from": "now-1h", "to": "now"}},
            "rangeRaw": {"from": "now-1h", "to": "now"},
            "interval": "30s", "intervalMs": 30000, "maxDataPoints": 500,
            "format": "json",
            "targets": [{"target": "count service:api", "refId": "A",
                         "hide": False, "type": "timeserie"},
                        {"target": "select metric", "refId": "B",
                         "type": "timeserie"}],
            "adhocFilters": [{"key": "host", "operator": "=",
                              "value": "web-01"}]}
    frames = check_query_reply(sd.post("/grafana/query", json=body))
    assert len(frames) == 1
    kind, s = frames[0]
    assert kind == "series" and len(s["datapoints"]) <= 500
    assert sum(p[0] for p in s["datapoints"]) == len(matching(
        lambda e: e["service"] == "api" and e["host"] == "web-01"))
    r = sd.post("/grafana/annotations", json={
        "range": body["range"], "rangeRaw": body["rangeRaw"],
        "annotation": {"name": "alerts", "datasource": "sift",
                       "enable": True, "iconColor": "red", "query": ""}})
    assert r.status_code == 200 and r.json() == []


def test_unknown_grafana_path_is_json_404(sd):
    r = sd.post("/grafana/nope", json={})
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")


def test_example_dashboard_queries_work(sd):
    """Every target of conf/grafana/dashboards/sift-overview.json, with the
    $service variable at "All" (allValue "*") as Grafana interpolates it."""
    import os
    from conftest import SOURCE_DIR
    path = os.path.join(SOURCE_DIR, "conf", "grafana", "dashboards",
                        "sift-overview.json")
    with open(path) as f:
        dash = json.load(f)
    targets = [t for p in dash["panels"] for t in p["targets"]]
    targets += [a["target"] for a in dash["annotations"]["list"]
                if "target" in a]
    assert len(targets) >= 6
    for t in targets:
        t = json.loads(json.dumps(t).replace("${service:lucene}", "*"))
        frames = check_query_reply(sd.post("/grafana/query",
                                           json=plugin_body([t])))
        assert frames, t
    # The variable query and the ad-hoc filter keys it uses.
    r = sd.post("/grafana/variable", json={
        "payload": dash["templating"]["list"][0]["query"]["payload"],
        "range": {"from": iso(T0), "to": iso(T0 + 3600000)}})
    assert sorted(v["__value"] for v in r.json()) == SERVICES
