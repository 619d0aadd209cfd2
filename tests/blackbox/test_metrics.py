"""Black-box tests of GET /metrics on the real siftd: the Prometheus text
exposition format 0.0.4, checked by `promtool check metrics` and by the
strict parser below, and the values of the families after real traffic."""
import json
import math
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import SIFTD, Siftd

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE_RE = re.compile(r"^(%s)(\{(.*)\})? (\S+)( -?\d+)?$" % NAME)
LABEL_RE = re.compile(r'(%s)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)' % LABEL)
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    assert re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s), s
    return float(s)


def parse_labels(s):
    out = {}
    pos = 0
    while pos < len(s):
        m = LABEL_RE.match(s, pos)
        assert m, "bad label syntax at %r" % s[pos:]
        k, v = m.group(1), m.group(2)
        assert k not in out, "duplicate label %s" % k
        out[k] = v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = m.end()
    return out


def parse_exposition(text):
    """Strict parser: returns {family: {"type", "help", "samples": [(name,
    labels, value)]}}; asserts every rule of the text format we rely on."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    fams = {}
    cur = None
    seen_series = set()
    for ln, line in enumerate(text.split("\n")[:-1], 1):
        assert line == line.rstrip(), "trailing space on line %d" % ln
        assert line, "empty line %d" % ln
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert re.fullmatch(NAME, name), line
            assert name not in fams, "family %s declared twice" % name
            assert help_, "empty HELP for %s" % name
            fams[name] = {"help": help_, "type": None, "samples": []}
            cur = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == cur, "TYPE %s does not follow its HELP" % name
            assert typ in TYPES, line
            assert fams[name]["type"] is None and not fams[name]["samples"]
            fams[name]["type"] = typ
            continue
        assert not line.startswith("#"), "unexpected comment: %s" % line
        m = SAMPLE_RE.match(line)
        assert m, "bad sample line %d: %r" % (ln, line)
        name, labels, value = m.group(1), parse_labels(m.group(3) or ""), \
            parse_value(m.group(4))
        assert cur is not None, "sample before any family: %s" % line
        typ = fams[cur]["type"]
        base = name
        if typ == "histogram":
            for suf in ("_bucket", "_sum", "_count"):
                if name.endswith(suf):
                    base = name[: -len(suf)]
            assert base == cur and name != cur, \
                "%s is not a sample of histogram %s" % (name, cur)
        else:
            assert name == cur, "sample %s outside its family %s" % (name, cur)
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen_series, "duplicate series %r" % (key,)
        seen_series.add(key)
        fams[cur]["samples"].append((name, labels, value))
    for name, f in fams.items():
        assert f["type"], "family %s has no TYPE" % name
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter %s needs _total" % name
            assert all(v >= 0 for _, _, v in f["samples"]), name
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
        assert name.startswith(("sift_", "process_")), name
    return fams


def check_histogram(name, samples):
    groups = {}
    for n, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if n.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"]), v))
        elif n.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        assert les == sorted(les) and les[-1] == math.inf, (name, rest)
        counts = [c for _, c in g["buckets"]]
        assert counts == sorted(counts), "%s buckets not cumulative" % name
        assert g["count"] == counts[-1], "%s _count != +Inf bucket" % name
        assert g["sum"] is not None and g["sum"] >= 0, name


def value(fams, family, name=None, **labels):
    for n, l, v in fams[family]["samples"]:
        if n == (name or family) and all(l.get(k) == x
                                         for k, x in labels.items()):
            return v
    raise AssertionError("no sample %s %r" % (name or family, labels))


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics")
    s = Siftd(d / "data", args=["--set", "store.refresh=200ms",
                                "--set", "store.flush=500ms"], log_dir=d)
    s.start()
    try:
        s.wait_ready()
        yield s
        # A clean shutdown (and, in sanitizer builds, no leak report).
        assert s.stop() == 0, s.stderr()
        assert "Sanitizer" not in s.stderr(), s.stderr()
    finally:
        s.kill9()


def scrape(sd):
    r = sd.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "version=0.0.4" in r.headers["Content-Type"]
    return r.text


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "promtool:\n%s%s" % (p.stdout, p.stderr)
    assert p.stdout.strip() == "" and p.stderr.strip() == "", p.stdout + p.stderr


def build_allocator():
    """SIFT_ALLOCATOR of the build under test, from its CMake cache."""
    build = os.environ.get("SIFT_BUILD_DIR") or os.path.dirname(SIFTD)
    cache = os.path.join(build, "CMakeCache.txt")
    with open(cache) as f:
        for line in f:
            if line.startswith("SIFT_ALLOCATOR:"):
                return line.split("=", 1)[1].strip()
    raise AssertionError("SIFT_ALLOCATOR not in " + cache)


def test_metrics_at_start_pass_promtool(sd):
    text = scrape(sd)
    promtool_check(text)
    fams = parse_exposition(text)
    assert value(fams, "sift_build_info") == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+",
                        fams["sift_build_info"]["samples"][0][1]["version"])
    assert value(fams, "process_resident_memory_bytes") > 1 << 20
    assert value(fams, "process_open_fds") >= 3
    start = value(fams, "process_start_time_seconds")
    assert abs(start - time.time()) < 3600
    assert value(fams, "sift_uptime_seconds") >= 0
    # The allocator siftd runs on is the one this build was configured
    # with: jemalloc in release builds (peak memory flat whatever the
    # backlog), glibc where sanitizers bring their own malloc.
    want = build_allocator()
    label = fams["sift_build_info"]["samples"][0][1]["allocator"]
    assert label == ("jemalloc" if want == "jemalloc" else "glibc"), label
    if want == "jemalloc":
        # jemalloc counts every allocation; in sanitizer builds the
        # runtime serves malloc and siftd leaves the heap gauges out.
        assert value(fams, "sift_heap_in_use_bytes") > 1 << 20
        assert value(fams, "sift_heap_free_bytes") >= 0


def test_metrics_after_traffic(sd):
    before = parse_exposition(scrape(sd))
    events = [{"@timestamp": int(time.time() * 1000) - i,
               "message": "request %d served" % i, "service": "api"}
              for i in range(50)]
    body = "".join(json.dumps(e) + "\n" for e in events)
    r = sd.post("/api/v1/ingest", data=body,
                headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["accepted"] == 50
    # Two unparseable lines: rejected and dead-lettered.
    r = sd.post("/api/v1/ingest", params={"format": "json"},
                data='{"message":"ok"}\n{broken\n[1,2\n',
                headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    # Queries through the Grafana API are timed per endpoint.
    for _ in range(3):
        q = sd.post("/grafana/query", json={
            "range": {"from": "now-1h", "to": "now"}, "maxDataPoints": 10,
            "targets": [{"refId": "A", "target": "count"}]})
        assert q.status_code == 200
    q = sd.post("/grafana/query", json={"targets": [
        {"refId": "A", "target": "logs", "payload": {"query": "(bad"}}]})
    assert q.status_code == 400

    # Wait (bounded) for the flush to show segments on disk.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = scrape(sd)
        fams = parse_exposition(text)
        if value(fams, "sift_store_segments", location="disk") >= 1:
            break
        time.sleep(0.1)
    promtool_check(text)

    assert value(fams, "sift_events_ingested_total", source="http") == 51
    assert value(fams, "sift_ingested_bytes_total", source="http") > 0
    assert value(fams, "sift_events_rejected_total", source="http") == 2
    assert value(fams, "sift_events_dead_lettered_total", source="http") == 2
    assert value(fams, "sift_store_docs") == 51
    assert value(fams, "sift_segments", tier="hot") >= 1
    assert value(fams, "sift_segment_docs", tier="hot") == 51
    assert value(fams, "sift_segment_bytes", tier="hot") > 0
    assert value(fams, "sift_store_segments", location="disk") >= 1
    assert value(fams, "sift_wal_bytes") >= 0
    assert fams["sift_wal_fsync_duration_seconds"]["type"] == "histogram"
    # Every group commit is observed: the acknowledged batches were synced.
    assert value(fams, "sift_wal_fsync_duration_seconds",
                 "sift_wal_fsync_duration_seconds_count") >= 1
    assert (value(fams, "sift_wal_fsync_duration_seconds",
                  "sift_wal_fsync_duration_seconds_count")
            <= value(fams, "sift_wal_fsyncs_total"))
    assert value(fams, "sift_buffer_max_bytes") > 0
    assert value(fams, "sift_buffer_full") == 0
    # the flush's segment build ran on a worker and its CPU is counted;
    # 51 docs leave nothing to merge
    assert value(fams, "sift_segment_build_cpu_seconds_total") > 0
    assert value(fams, "sift_merge_cpu_seconds_total") == 0
    st = sd.get("/api/v1/store").json()
    assert st["cpu_seconds"]["build"] > 0
    assert st["cpu_seconds"]["merge"] == 0
    n_q = value(fams, "sift_query_duration_seconds",
                "sift_query_duration_seconds_count", endpoint="grafana_query")
    n_q0 = 0
    try:
        n_q0 = value(before, "sift_query_duration_seconds",
                     "sift_query_duration_seconds_count",
                     endpoint="grafana_query")
    except AssertionError:
        pass
    assert n_q - n_q0 == 4
    assert value(fams, "sift_query_errors_total",
                 endpoint="grafana_query") >= 1
    assert value(fams, "sift_alerts_total", kind="spike", event="fire") == 0
    # Counters never go down between scrapes.
    for name, f in before.items():
        if f["type"] != "counter":
            continue
        for n, labels, v in f["samples"]:
            assert value(fams, name, n, **labels) >= v, (name, labels)


def query_count(fams, endpoint, family="sift_query_duration_seconds"):
    name = family + "_count" if family.endswith("seconds") else family
    try:
        return value(fams, family, name, endpoint=endpoint)
    except (AssertionError, KeyError):
        return 0


def test_search_api_latency_per_endpoint(sd):
    before = parse_exposition(scrape(sd))
    calls = [("search", "/api/v1/search", {"q": "*"}),
             ("search", "/api/v1/search", {"q": "served"}),
             ("histogram", "/api/v1/histogram", {"q": "*"}),
             ("terms", "/api/v1/terms", {"q": "*", "field": "service"}),
             ("stats", "/api/v1/stats", {"q": "*", "field": "n"}),
             ("fields", "/api/v1/fields", {}),
             ("export", "/api/v1/export", {"q": "*"})]
    for _, path, params in calls:
        r = sd.get(path, params=params)
        assert r.status_code == 200, r.text
    r = sd.get("/api/v1/search", params={"q": "(bad"})
    assert r.status_code == 400
    after = parse_exposition(scrape(sd))
    want = {"search": 3, "histogram": 1, "terms": 1, "stats": 1, "fields": 1,
            "export": 1}
    for ep, n in want.items():
        assert query_count(after, ep) - query_count(before, ep) == n, ep
    errs = "sift_query_errors_total"
    assert query_count(after, "search", errs) - \
        query_count(before, "search", errs) == 1


def test_strict_parser_rejects_bad_exposition():
    good = ("# HELP sift_x_total X.\n# TYPE sift_x_total counter\n"
            "sift_x_total{a=\"b\"} 1\n")
    parse_exposition(good)
    bad = [
        good.replace("sift_x_total{", "sift_y_total{"),  # outside family
        good.replace("counter", "countr"),
        good + "sift_x_total{a=\"b\"} 2\n",               # duplicate series
        good.replace("_total", ""),                        # counter name
        good.replace('a="b"', "a=b"),
        good.rstrip("\n"),
        ("# HELP sift_h X.\n# TYPE sift_h histogram\n"
         "sift_h_bucket{le=\"1\"} 3\nsift_h_bucket{le=\"+Inf\"} 2\n"
         "sift_h_sum 1\nsift_h_count 2\n"),                # not cumulative
    ]
    for b in bad:
        with pytest.raises(AssertionError):
            parse_exposition(b)
