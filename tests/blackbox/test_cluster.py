"""Black-box tests of a siftd cluster on loopback (docs/cluster.md): any
node answers a search or an aggregation for all nodes, the same as one
node holding all the data; a node that hangs or is gone is named under
_nodes (never a smaller answer without a mark); several nodes share a
Kafka topic (librdkafka mock cluster, 6 partitions) and a Redis stream
(real redis-server), every event stored exactly once across them, also
when a node is killed with SIGKILL and started again."""
import json
import os
import re
import signal
import time

import pytest

from conftest import Siftd
from ingest_helpers import KafkaMock, RedisServer, free_port, wait_for, write_config

FAST = {"wal_sync": "20ms", "refresh": "100ms", "flush": "500ms"}
BASE_MS = 1714557600000  # 2024-05-01T10:00:00Z
SERVICES = ["api", "web", "db", "auth", "payments", "batch", "mail"]


def events(node, n, first_seq):
    """n events of one node; numbers and services spread so that terms
    and stats differ per node."""
    out = []
    for i in range(n):
        seq = first_seq + i
        out.append({"@timestamp": BASE_MS + (seq * 7919 % 3600) * 1000 + seq,
                    "message": "cluster event %d from %s" % (seq, node),
                    "service": SERVICES[(seq * seq + len(node)) % len(SERVICES)],
                    "level": ["info", "warn", "error"][seq % 3],
                    "latency": (seq * 37) % 1000 / 10.0,
                    "seq": seq})
    return out


def ingest(s, evs):
    r = s.post("/api/v1/ingest",
               data="".join(json.dumps(e) + "\n" for e in evs),
               headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    assert r.status_code == 200, r.text


def local_total(s, q="*"):
    r = s.get("/api/v1/search", params={"q": q, "limit": 0, "local": "true"})
    assert r.status_code == 200, r.text
    return r.json()["total"]["value"]


def start_nodes(tmp_path, names, extra=None, peers_of=None):
    """Starts one siftd per name on fixed free ports, all listed in every
    node's [cluster] peers (the node's own address included)."""
    ports = {n: free_port() for n in names}
    peers = ", ".join("http://127.0.0.1:%d" % ports[n] for n in names)
    nodes = {}
    for n in names:
        cfg = {"store": dict(FAST), "tiers": {"retention": "off"},
               "cluster": {"peers": peers, "node_id": "node-" + n,
                           "timeout": "2s"}}
        for sec, kv in (extra(n) if extra else {}).items():
            cfg.setdefault(sec, {}).update(kv)
        path = write_config(tmp_path / ("%s.conf" % n), cfg)
        logs = tmp_path / ("logs-" + n)  # one per node: names repeat
        logs.mkdir()
        s = Siftd(tmp_path / ("data-" + n), config=path,
                  args=["--listen", "127.0.0.1:%d" % ports[n]],
                  log_dir=logs)
        nodes[n] = s
    try:
        for s in nodes.values():
            s.start()
        for s in nodes.values():
            s.wait_ready()
    except BaseException:
        for s in nodes.values():  # none left running for the next test
            s.kill9()
        raise
    return nodes


@pytest.fixture
def cluster3(tmp_path):
    nodes = start_nodes(tmp_path, ["a", "b", "c"], extra=lambda n: {
        "server": {"debug_endpoints": "true"}})
    yield nodes
    for s in nodes.values():
        if s.proc and s.proc.poll() is None:
            try:
                s.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            s.kill9()


def test_any_node_answers_for_all(tmp_path, cluster3, siftd_factory):
    a, b, c = cluster3["a"], cluster3["b"], cluster3["c"]
    per = {"a": events("a", 60, 0), "b": events("b", 40, 60),
           "c": events("c", 25, 100)}
    for n, s in cluster3.items():
        ingest(s, per[n])
    # One node holding everything: the answer every node must give.
    one = siftd_factory(args=["--set", "store.refresh=100ms",
                              "--set", "tiers.retention=off"],
                        name="single").start()
    ingest(one, per["a"] + per["b"] + per["c"])
    wait_for(lambda: all(local_total(s) == len(per[n])
                         for n, s in cluster3.items()), "nodes searchable")
    wait_for(lambda: local_total(one) == 125, "single node searchable")

    for s in (a, b, c):
        r = s.get("/api/v1/search", params={"q": "cluster", "limit": 0})
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["total"] == {"value": 125, "relation": "eq"}
        assert j["_nodes"] == {"total": 3, "successful": 3, "failed": 0,
                               "failures": []}

    # Pages: same hits in the same order as one node, cursor included,
    # newest and oldest first, through every page.
    for order in ("newest", "oldest"):
        want, got = [], []
        for src, acc in ((one, want), (b, got)):
            cursor = None
            for _ in range(40):
                params = {"q": "cluster", "limit": 17, "order": order}
                if cursor:
                    params["cursor"] = cursor
                r = src.get("/api/v1/search", params=params)
                assert r.status_code == 200, r.text
                acc.extend(h["fields"]["seq"] for h in r.json()["hits"])
                cursor = r.json()["cursor"]
                if not cursor:
                    break
        assert len(got) == 125 and sorted(got) == list(range(125))
        assert got == want, order

    # POST search with a body, fanned out the same way.
    r = c.post("/api/v1/search", json={"q": "level:error", "limit": 5,
                                       "fields": ["seq"]})
    assert r.status_code == 200, r.text
    ref = one.post("/api/v1/search", json={"q": "level:error", "limit": 5,
                                           "fields": ["seq"]}).json()
    assert [h["fields"]["seq"] for h in r.json()["hits"]] == \
        [h["fields"]["seq"] for h in ref["hits"]]
    assert r.json()["total"] == ref["total"]

    # Histogram, terms, fields: equal to one node.  Terms within its
    # reported error bound (0 when no node left keys out).
    for path, params, keys in [
            ("/api/v1/histogram", {"q": "cluster", "interval": "5m",
                                   "from": BASE_MS, "to": BASE_MS + 3600000},
             ["buckets", "interval_ms"]),
            ("/api/v1/histogram", {"q": "cluster", "interval": "10m",
                                   "by": "service", "size": 3,
                                   "from": BASE_MS, "to": BASE_MS + 3600000},
             ["buckets"]),
            ("/api/v1/terms", {"field": "service", "size": 3},
             ["buckets", "other", "missing"])]:
        got = a.get(path, params=params)
        assert got.status_code == 200, got.text
        want = one.get(path, params=params).json()
        for k in keys:
            assert got.json()[k] == want[k], (path, params, k)
        assert got.json()["_nodes"]["successful"] == 3
    # Fields: the same names and kinds; cardinality is a lower bound (the
    # largest of the nodes'), as over segments on one node.
    got = {f["name"]: f for f in a.get("/api/v1/fields").json()["fields"]}
    want = {f["name"]: f for f in one.get("/api/v1/fields").json()["fields"]}
    assert sorted(got) == sorted(want)
    for name, f in got.items():
        for k in ("text", "keyword", "number"):
            assert f[k] == want[name][k], (name, k)
        assert 1 <= f["cardinality"] <= want[name]["cardinality"]
    r = a.get("/api/v1/terms", params={"field": "service", "size": 3}).json()
    assert r["doc_count_error_upper_bound"] == 0

    # Stats: exact count/min/max/sum/avg, and percentiles from the union
    # of the nodes' values: the same numbers as one node, also filtered.
    for q in ("*", "level:error"):
        got = c.get("/api/v1/stats", params={"field": "latency", "q": q})
        assert got.status_code == 200, got.text
        got = got.json()
        want = one.get("/api/v1/stats",
                       params={"field": "latency", "q": q}).json()
        for k in ("count", "min", "max", "p50", "p90", "p99",
                  "percentiles_exact"):
            assert got[k] == want[k], (q, k, got, want)
        assert want["percentiles_exact"] is True and want["p90"] is not None
        assert abs(got["sum"] - want["sum"]) < 1e-6
        assert abs(got["avg"] - want["avg"]) < 1e-9
        assert "_sample" not in got

    # local=true: this node's data only, no _nodes.
    r = b.get("/api/v1/search", params={"q": "cluster", "limit": 0,
                                        "local": "true"}).json()
    assert r["total"]["value"] == 40 and "_nodes" not in r
    # A bad query is the query's error, not a node failure.
    r = a.get("/api/v1/search", params={"q": "level:(error"})
    assert r.status_code == 400 and r.json()["error"]["type"] != \
        "cluster_unavailable", r.text
    # Export: every node's stream merged in time order, the same lines
    # as one node holding everything, then the _nodes line.
    for params in ({"q": "cluster"}, {"q": "cluster", "order": "oldest"},
                   {"q": "level:error", "limit": 9}):
        got = export_lines(a, params)
        want = export_lines(one, params)
        assert got[-1] == {"_nodes": {"total": 3, "successful": 3,
                                      "failed": 0, "failures": []}}
        assert "_nodes" not in want[-1]
        # (each node hashes its own copy: compare the events, not ids)
        assert [h["fields"]["seq"] for h in got[:-1]] == \
            [h["fields"]["seq"] for h in want]
        assert len(want) == params.get("limit", len(want))
    r = a.get("/api/v1/export", params={"q": "cluster"})
    assert r.headers["X-Sift-Nodes"] == "total=3, successful=3, failed=0"
    # Context: the events of the same service around one event, from
    # every node, the same as on one node holding everything.
    def seq_id(s, seq, local):
        r = s.get("/api/v1/search", params={
            "q": "seq:%d" % seq, "limit": 1,
            "local": "true" if local else "false"})
        return r.json()["hits"][0]["_id"]
    for seq, by in ((70, "service"), (3, "all"), (110, "service")):
        params = {"before": 6, "after": 4, "by": by}
        got = a.get("/api/v1/context", params=dict(
            params, id=seq_id(a, seq, False)))
        assert got.status_code == 200, got.text
        got = got.json()
        want = one.get("/api/v1/context", params=dict(
            params, id=seq_id(one, seq, True))).json()
        for k in ("before", "after"):
            assert [h["fields"]["seq"] for h in got[k]] == \
                [h["fields"]["seq"] for h in want[k]], (seq, by, k)
        assert got["anchor"]["fields"]["seq"] == seq
        assert got["query"] == want["query"]
        assert got["_nodes"] == {"total": 3, "successful": 3, "failed": 0,
                                 "failures": []}
        assert len(got["before"]) == 6 or seq == 3
    r = a.get("/api/v1/context", params={"id": "AQAAAAAAAAAAAAAAAAAAAAA"})
    assert r.status_code == 404, r.text
    # The cluster view names every peer by the id it answered with.
    v = a.get("/api/v1/cluster").json()
    assert v["enabled"] is True and v["node_id"] == "node-a"
    assert sorted(p["node_id"] for p in v["peers"]) == \
        ["node-a", "node-b", "node-c"]

    # Patterns: templates merged by their text across nodes (each node
    # mines its own ids): a template's count is the sum of the nodes'.
    r = b.get("/api/v1/patterns", params={"size": 50, "interval": "1h"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["total"] == 125 and got["_nodes"]["successful"] == 3
    per_node = {}
    for n, s in cluster3.items():
        lp = s.get("/api/v1/patterns", params={"size": 50, "interval": "1h",
                                               "local": "true"}).json()
        assert "_nodes" not in lp
        for t in lp["patterns"]:
            per_node.setdefault(t["template"], []).append(t["count"])
    assert {t["template"]: t["count"] for t in got["patterns"]} == \
        {k: sum(v) for k, v in per_node.items()}
    assert sum(t["count"] for t in got["patterns"]) == 125
    for t in got["patterns"]:
        assert sum(c for _, c in t["series"]) == t["count"]
    counts = [t["count"] for t in got["patterns"]]
    assert counts == sorted(counts, reverse=True)
    assert got["distinct"] == len(per_node)

    # Alerts: every node's, newest first, each naming its node.
    for s, k in ((a, 2), (c, 1)):
        r = s.post("/api/v1/debug/alerts", json={"count": k})
        assert r.status_code == 200, r.text
    r = b.get("/api/v1/alerts")
    assert r.status_code == 200, r.text
    al = r.json()
    assert al["total"] == 3 and al["_nodes"]["failed"] == 0
    assert sorted(x["node_id"] for x in al["alerts"]) == \
        ["node-a", "node-a", "node-c"]
    started = [x["started_ms"] for x in al["alerts"]]
    assert started == sorted(started, reverse=True)
    assert b.get("/api/v1/alerts", params={"local": "true"}).json()[
        "total"] == 0

    # A delete sent to one node is applied on every node; the reply names
    # each with its counts.  A refused one is refused before any node.
    r = b.post("/api/v1/delete", json={"query": "level:error"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "confirmation_required"
    want = {n: sum(1 for e in per[n] if e["level"] == "error") for n in per}
    assert min(want.values()) > 0
    r = b.post("/api/v1/delete", json={"query": "level:error",
                                       "all_time": True})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["deleted"] == j["matched"] == sum(want.values())
    assert j["_nodes"]["failed"] == 0 and j["_nodes"]["total"] == 3
    assert {x["node_id"]: x["deleted"] for x in j["_nodes"]["applied"]} == \
        {"node-" + n: c for n, c in want.items()}
    for s in (a, b, c):
        assert local_total(s, "level:error") == 0
        assert local_total(s, "cluster") > 0


def test_hung_or_dead_node_is_reported(tmp_path, cluster3):
    a, b, c = cluster3["a"], cluster3["b"], cluster3["c"]
    ingest(a, events("a", 10, 0))
    ingest(b, events("b", 10, 10))
    ingest(c, events("c", 10, 20))
    wait_for(lambda: local_total(c) == 10 and local_total(a) == 10 and
             local_total(b) == 10, "searchable")
    c.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = a.get("/api/v1/search", params={"q": "cluster", "limit": 3},
                  timeout=30)
        took = time.monotonic() - t0
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["total"]["value"] == 20
        assert j["_nodes"]["total"] == 3 and j["_nodes"]["failed"] == 1
        f = j["_nodes"]["failures"][0]
        assert f["node"] == c.url and "cluster.timeout" in f["reason"]
        assert "partial" in r.headers.get("Warning", "")
        assert took < 25  # the 2 s cluster.timeout, not the client's
        r = a.get("/api/v1/terms", params={"field": "service",
                                           "allow_partial": "false"},
                  timeout=30)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["type"] == "cluster_partial"
        assert c.url in r.json()["error"]["reason"]
        # Streams: the export of the two other nodes, and a trailer that
        # names the hung one; a tail says so in its first line.
        t0 = time.monotonic()
        lines = export_lines(a, {"q": "cluster"})
        assert time.monotonic() - t0 < 25
        assert len(lines) == 21
        assert lines[-1]["_nodes"]["failed"] == 1
        assert lines[-1]["_nodes"]["failures"][0]["node"] == c.url
        hid = a.get("/api/v1/search", params={
            "q": "cluster", "limit": 1, "local": "true"}).json()["hits"][0]
        r = a.get("/api/v1/context", params={"id": hid["_id"], "by": "all"},
                  timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["_nodes"]["failed"] == 1
        assert r.json()["_nodes"]["failures"][0]["node"] == c.url
        near = r.json()["before"] + r.json()["after"]
        assert len(near) == 10 and {"a", "b"} == \
            {h["message"].split()[-1] for h in near}
        with a.get("/api/v1/tail", params={"q": "cluster"}, stream=True,
                   timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["X-Sift-Nodes"] == \
                "total=3, successful=2, failed=1"
            first = json.loads(next(r.iter_lines()))
            assert first["_nodes"]["failed"] == 1
        # `sift tail` names the node on stderr.
        import subprocess
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SIFT_") and k != "XDG_CONFIG_HOME"}
        env.update(HOME=str(tmp_path), SIFT_URL=a.url)
        cli = subprocess.Popen([os.environ["SIFT_CLI"], "tail", "cluster"],
                               env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            # The Warning header, then the node.
            import select
            # stderr is unbuffered: the line arrives in pieces, so wait
            # for its end, not for its first words.
            want = "sift: tail: node %s does not stream: no answer " \
                   "within cluster.timeout" % c.url
            err, deadline = "", time.monotonic() + 20
            while not ("does not stream" in err and
                       err.endswith("\n")) and \
                    time.monotonic() < deadline:
                if select.select([cli.stderr], [], [], 0.5)[0]:
                    err += os.read(cli.stderr.fileno(), 4096).decode()
            assert "partial result: 1 of 3 nodes failed" in err, err
            assert want in err, err
        finally:
            cli.kill()
            cli.wait(timeout=10)
    finally:
        c.send_signal(signal.SIGCONT)
    c.kill9()
    r = b.get("/api/v1/histogram", params={"q": "cluster", "interval": "1h"})
    assert r.status_code == 200, r.text
    assert sum(x["count"] for x in r.json()["buckets"]) == 20
    assert r.json()["_nodes"]["failed"] == 1
    assert r.json()["_nodes"]["failures"][0]["reason"] in (
        "cannot connect", "the connection closed before an answer")
    # A delete cannot reach c: a 502 that names the nodes which applied it.
    r = b.post("/api/v1/delete", json={"query": "level:warn",
                                       "all_time": True})
    assert r.status_code == 502, r.text
    j = r.json()
    assert j["error"]["type"] == "cluster_partial"
    assert j["_nodes"]["successful"] == 2 and j["_nodes"]["failed"] == 1
    assert sorted(x["node_id"] for x in j["_nodes"]["applied"]) == \
        ["node-a", "node-b"]
    assert j["_nodes"]["failures"][0]["node"] == c.url
    assert local_total(a, "level:warn") == 0
    # /metrics counts it per peer.
    m = a.get("/metrics").text
    assert re.search(r'sift_cluster_peer_requests_total\{peer="%s",'
                     r'outcome="failed"\} [1-9]' % re.escape(c.url), m), m
    assert re.search(r'sift_cluster_fanouts_total\{outcome="partial"\} '
                     r'[1-9]', m)
    assert re.search(r'sift_cluster_peer_up\{peer="%s"\} 0\n'
                     % re.escape(c.url), m), m
    assert re.search(r'sift_cluster_peer_up\{peer="%s"\} 1\n'
                     % re.escape(b.url), m), m
    assert re.search(r'sift_cluster_peer_request_seconds_count\{peer="%s"\} '
                     r'[1-9]' % re.escape(b.url), m), m


def test_tail_merges_every_node(cluster3):
    """A tail asked of one node streams the new events of every node;
    a node that stops streaming is named in a _nodes line at once."""
    a, b, c = cluster3["a"], cluster3["b"], cluster3["c"]
    with a.get("/api/v1/tail", params={"q": "tailword", "heartbeat": "1s"},
               stream=True, timeout=30) as r:
        assert r.status_code == 200, r.text
        assert r.headers["X-Sift-Nodes"] == "total=3, successful=3, failed=0"
        lines = r.iter_lines()
        time.sleep(0.3)
        for s, n in ((b, "b"), (c, "c"), (a, "a")):
            ingest(s, [{"message": "tailword from %s" % n, "seq": 1}])
        got, beats = set(), 0
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            j = json.loads(next(lines))
            if "heartbeat" in j:
                beats += 1
                continue
            got.add(j["message"])
        assert got == {"tailword from a", "tailword from b",
                       "tailword from c"}
        # This node's heartbeats only: at most one a second.
        t0 = time.monotonic()
        j = json.loads(next(lines))
        assert "heartbeat" in j and time.monotonic() - t0 > 0.3, j
        c.kill9()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            j = json.loads(next(lines))
            if "_nodes" in j:
                break
        assert j["_nodes"]["failed"] == 1, j
        assert j["_nodes"]["failures"][0]["node"] == c.url
        ingest(b, [{"message": "tailword again", "seq": 2}])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            j = json.loads(next(lines))
            if j.get("message") == "tailword again":
                break
        assert j.get("message") == "tailword again"


def test_export_larger_than_the_window(cluster3):
    """An export bigger than a node's merge window (each node is paused
    while ahead of the others and resumed): every event once, in time
    order across nodes, read by a client slower than the nodes."""
    pad = "x" * 300
    n = 0
    for name, s in cluster3.items():
        evs = events(name, 1500, n)
        for e in evs:
            e["pad"] = pad
        ingest(s, evs)
        n += 1500
    wait_for(lambda: sum(local_total(s) for s in cluster3.values()) == n,
             "searchable")
    r = cluster3["b"].get("/api/v1/export", params={"q": "*"}, stream=True,
                          timeout=60)
    assert r.status_code == 200, r.text
    got = []
    for i, line in enumerate(r.iter_lines(chunk_size=4096)):
        if line:
            got.append(json.loads(line))
        if i % 500 == 0:
            time.sleep(0.05)  # a slow reader: the merge waits for it
    assert got[-1]["_nodes"]["failed"] == 0
    hits = got[:-1]
    assert sorted(h["fields"]["seq"] for h in hits) == list(range(n))
    ts = [h["ts_ms"] for h in hits]
    assert ts == sorted(ts, reverse=True)


def export_lines(s, params):
    r = s.get("/api/v1/export", params=params, stream=True, timeout=60)
    assert r.status_code == 200, r.text
    return [json.loads(x) for x in r.iter_lines() if x]


def test_node_token_fans_out_and_does_nothing_else(tmp_path):
    """[cluster] token is a node-role token of the peers: fanned-out
    queries carry it and are answered by every node; with it a client can
    read, but not ingest, delete or administer.  A delete carries the
    admin's own token to every node."""
    tok = {"node": "n" * 24, "reader": "r" * 24, "writer": "w" * 24,
           "admin": "a" * 24}
    tokens = ",".join("%s1:%s:%s" % (r, r, t) for r, t in tok.items())
    nodes = start_nodes(tmp_path, ["a", "b"], extra=lambda n: {
        "auth": {"tokens": tokens}, "cluster": {"token": tok["node"]}})
    try:
        a, b = nodes["a"], nodes["b"]

        def auth(role):
            return {"Authorization": "Bearer " + tok[role]}
        for s, n in ((a, 3), (b, 4)):
            r = s.post("/api/v1/ingest", headers=dict(
                auth("writer"), **{"Content-Type": "application/x-ndjson"}),
                data="".join(json.dumps(e) + "\n"
                             for e in events(s.url, n, 0)))
            assert r.status_code == 200, r.text
        def total(role):
            r = a.get("/api/v1/search", params={"q": "cluster", "limit": 0},
                      headers=auth(role))
            assert r.status_code == 200, r.text
            return r.json()
        wait_for(lambda: total("reader")["total"]["value"] == 7, "searchable")
        assert total("reader")["_nodes"]["successful"] == 2
        assert total("node")["total"]["value"] == 7
        # The node role reads, nothing else.
        r = b.post("/api/v1/ingest", headers=auth("node"), data="{}\n")
        assert r.status_code == 403, r.text
        r = b.post("/api/v1/delete", headers=auth("node"),
                   json={"query": "cluster", "all_time": True})
        assert r.status_code == 403, r.text
        r = b.get("/api/v1/store", headers=auth("node"))
        assert r.status_code == 403, r.text
        # A delete by an admin reaches both nodes with the admin's token.
        r = b.post("/api/v1/delete", headers=auth("admin"),
                   json={"query": "cluster", "all_time": True})
        assert r.status_code == 200, r.text
        assert r.json()["deleted"] == 7 and r.json()["_nodes"]["failed"] == 0
    finally:
        for s in nodes.values():
            s.kill9()


def test_peers_over_tls(tmp_path):
    """https:// peers: reached over TLS, their certificate verified
    against cluster.ca_file; a peer whose certificate does not verify is
    a failed node under _nodes, never asked in clear."""
    import subprocess
    d = str(tmp_path)

    def cert(name):
        key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                        "-subj", "/CN=" + name,
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        return crt, key
    crt, key = cert("peer")
    other, _ = cert("other")
    tls = {n: free_port() for n in "ab"}
    peers = ", ".join("https://127.0.0.1:%d" % tls[n] for n in "ab")

    def extra(n):
        return {"tls": {"listen": "127.0.0.1:%d" % tls[n], "cert_file": crt,
                        "key_file": key},
                "cluster": {"peers": peers,
                            "ca_file": crt if n == "a" else other}}
    nodes = start_nodes(tmp_path, ["a", "b"], extra=extra)
    try:
        a, b = nodes["a"], nodes["b"]
        ingest(a, events("a", 5, 0))
        ingest(b, events("b", 6, 5))
        wait_for(lambda: local_total(a) == 5 and local_total(b) == 6,
                 "searchable")
        r = a.get("/api/v1/search", params={"q": "cluster", "limit": 0})
        assert r.status_code == 200, r.text
        assert r.json()["total"]["value"] == 11
        assert r.json()["_nodes"] == {"total": 2, "successful": 2,
                                      "failed": 0, "failures": []}
        # b trusts another CA: a's certificate fails, a is not asked.
        r = b.get("/api/v1/search", params={"q": "cluster", "limit": 0})
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["total"]["value"] == 6 and j["_nodes"]["failed"] == 1
        assert j["_nodes"]["failures"][0]["node"] == \
            "https://127.0.0.1:%d" % tls["a"]
    finally:
        for s in nodes.values():
            s.kill9()


def test_nodes_share_kafka_and_redis_exactly_once(tmp_path):
    """Three nodes in one Kafka group (6 partitions) and one Redis stream
    group, live producers throughout: a SIGTERM handoff and back; a
    SIGKILL of one node kept down until the group hands its partitions
    to the others, then its return; a SIGKILL and a return within a
    second.  Every produced entry is stored exactly once across the
    nodes, counted through every node."""
    from crash_helpers import STREAM, TOPIC, KafkaProducer, RedisProducer
    kafka = KafkaMock([TOPIC], partitions=6)
    redis_srv = RedisServer(tmp_path)
    nodes = {}
    try:
        def extra(n):
            return {"kafka": {"brokers": kafka.bootstrap, "topics": TOPIC,
                              "group": "sift-cluster",
                              "properties": "session.timeout.ms=3000,"
                                            "heartbeat.interval.ms=300"},
                    "redis": {"address": redis_srv.address,
                              "streams": STREAM, "group": "sift"}}
        nodes = start_nodes(tmp_path, ["a", "b", "c"], extra=extra)
        a, b, c = nodes["a"], nodes["b"], nodes["c"]
        rprod = RedisProducer(redis_srv.port, burst=30)
        kprod = KafkaProducer(kafka.bootstrap, burst=30)
        rprod.start()
        kprod.start()

        def assigned(s):
            return len(re.findall(r"kafka: assigned", s.stderr()))
        try:
            wait_for(lambda: all(local_total(s, "crashkafka") > 0
                                 for s in nodes.values()),
                     "every node reading Kafka", timeout=90)
            # SIGTERM: c leaves the group, a and b take its partitions; c
            # comes back and gets some of them back.
            c.restart()
            c.wait_for_log(r"kafka: assigned", timeout=60)
            time.sleep(0.5)
            # SIGKILL, and c stays down until the group has handed its
            # partitions to a or b (they wait for c's answer before
            # reading them: what c made durable is not read again).
            before = assigned(a) + assigned(b)
            c.kill9()
            wait_for(lambda: assigned(a) + assigned(b) > before,
                     "c's partitions handed to a or b", timeout=30)
            time.sleep(0.5)
            c.start()
            c.wait_for_log(r"kafka: assigned", timeout=60)
            time.sleep(0.5)
            # SIGKILL mid-stream and back within a second: a node taking
            # one of a's partitions must not re-read what a made durable
            # and had not committed yet.
            a.kill9()
            time.sleep(0.3)
            a.start()
            a.wait_for_log(r"kafka: assigned", timeout=60)
            time.sleep(0.5)
        finally:
            rprod.stop.set()
            rprod.join(timeout=30)
            kprod.finish()
        assert rprod.error is None and kprod.error is None
        produced = {"stream": rprod.n, "kafka": kprod.n}
        assert min(produced.values()) >= 200

        # Counted through any node, every entry once.
        for tag, n in produced.items():
            word = {"stream": "crashstream", "kafka": "crashkafka"}[tag]
            wait_for(lambda: a.get("/api/v1/search", params={
                "q": word, "limit": 0}).json()["total"]["value"] >= n,
                "%s: %d stored" % (tag, n), timeout=90)
        time.sleep(1.0)  # a late duplicate would show after a refresh
        for tag, n in produced.items():
            word = {"stream": "crashstream", "kafka": "crashkafka"}[tag]
            per_node = [export_counts_local(s, tag) for s in (a, b, c)]
            counts = per_node[0] + per_node[1] + per_node[2]
            lost = [i for i in range(n) if counts.get(i, 0) == 0]
            dups = sorted(i for i, k in counts.items() if k > 1)
            assert not lost and not dups, \
                "%s: %d produced, lost %r, duplicated %r" % (
                    tag, n, lost[:10], dups[:10])
            # More than one node did part of the work.
            assert sum(1 for k in per_node if sum(k.values()) > 0) >= 2, tag
            for s in (a, b, c):
                r = s.get("/api/v1/search", params={"q": word, "limit": 0})
                assert r.json()["total"]["value"] == n, (tag, r.text)
                assert r.json()["_nodes"]["successful"] == 3

        # The cluster view: every node with its partitions, each Kafka
        # partition on exactly one node, nothing left to read.
        def kafka_parts():
            v = b.get("/api/v1/cluster").json()
            assert v["_nodes"] == {"total": 3, "successful": 3, "failed": 0}
            assert sorted(x["node_id"] for x in v["nodes"]) == \
                ["node-a", "node-b", "node-c"]
            return sorted((p["key"], p["lag"]) for x in v["nodes"]
                          for p in x["partitions"]
                          if p["key"].startswith("kafka/"))
        want = sorted(("kafka/%s/%d" % (TOPIC, i), 0) for i in range(6))
        seen = [None]
        deadline = time.monotonic() + 15
        while seen[-1] != want and time.monotonic() < deadline:
            seen.append(kafka_parts())
            time.sleep(0.1)
        assert seen[-1] == want, seen[-1]
        local = a.get("/api/v1/cluster", params={"local": "true"}).json()
        assert "nodes" not in local and local["node_id"] == "node-a"
    finally:
        for s in nodes.values():
            s.kill9()
        kafka.close()
        redis_srv.close()


def export_counts_local(s, tag):
    """export_counts of crash_helpers on one node's own data."""
    import collections
    import re
    from crash_helpers import TAGS
    word, prefix = TAGS[tag]
    rx = re.compile(r"%s %s(\d+)" % (word, prefix))
    counts = collections.Counter()
    r = s.get("/api/v1/export", params={"q": word, "local": "true"},
              stream=True, timeout=120)
    assert r.status_code == 200, r.text
    for line in r.iter_lines():
        if line:
            counts[int(rx.search(json.loads(line)["message"]).group(1))] += 1
    return counts
