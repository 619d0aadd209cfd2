#!/usr/bin/python3
"""Cluster bench (issue 23): Kafka ingest rate of one node vs two nodes
sharing the group, each pinned to one core; and what a fanned-out query
costs against one node holding all the data.

  nice bench/cluster_bench.py --siftd build/relw/siftd \\
      --build-dir build/relw --records 1440000 --partitions 72

Ingest measures siftd's side only: all --records JSON lines are produced
(kcat) into a topic of --partitions partitions of the librdkafka mock
cluster *before* any node starts, so neither the producer nor the
broker's intake is timed.  Then one node (taskset -c 0), or two nodes
(taskset -c 0 and -c 1) sharing a group, start; each node's clock starts
at its first partition assignment (its log line) and stops when its
stored count stops growing with every record stored: consume to durable
and searchable.  The cluster's rate is all records over the first
assignment to the last node done; with two nodes that includes the
rebalance (the librdkafka mock cluster often assigns every partition to
the first node to join, then moves half to the second), so the rate
while every node is storing is printed too: all records stored between
the first poll where each node has stored some and the first node done.
On a shared machine the wall-clock rates follow the other load on the
pinned cores, so the CPU time each node used (utime + stime) is printed
as well: records over the busiest node's CPU seconds is what the nodes
ingest with a core each to themselves, the figure that does not depend
on what else runs.  Target: two nodes >= 1.8x one node.
The mock's partitions hold a bounded log (the oldest records of a full
one are dropped: 1.44M in 72 partitions lost 0 to 1.7%), so --records /
--partitions stays at ~20k lines of ~110 bytes; the rate counts the
records stored.

Queries: the one node and the two nodes (whose data together equal the
one node's) each answer --queries searches (newest 100), terms
(service, size 10) and histograms (1m buckets); medians and p90 per
kind, and the cluster/single ratio.

Only loopback addresses; every wait is bounded; every process started
here is stopped by its own handle.  Uses the black-box test helpers
(tests/blackbox; scripts/deps.sh --test).
"""
import argparse
import datetime
import json
import re
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))

TOPICS = {1: "bench-one", 2: "bench-two"}
SERVICES = ["api", "web", "db", "auth", "payments", "batch", "mail", "cdn"]


def produce(kafka, topic, n):
    lines = []
    for i in range(n):
        lines.append(json.dumps({
            "message": "request %d served in %d ms user=u%d path=/p/%d"
                       % (i, i % 997, i % 5003, i % 89),
            "service": SERVICES[i % len(SERVICES)],
            "level": ["info", "warn", "error"][i % 3]}))
    data = "\n".join(lines) + "\n"
    subprocess.run(["kcat", "-P", "-b", kafka.bootstrap, "-t", topic,
                    "-X", "log_level=2"], input=data, text=True, check=True,
                   timeout=600)


def total(s, local=False):
    p = {"q": "*", "limit": 0, "track_total_hits": "true"}
    if local:
        p["local"] = "true"
    r = s.get("/api/v1/search", params=p, timeout=60)
    r.raise_for_status()
    return r.json()["total"]["value"]


def start_nodes(tmp, names, kafka, group, cores, free_port, write_config,
                Siftd):
    ports = {n: free_port() for n in names}
    peers = ", ".join("http://127.0.0.1:%d" % ports[n] for n in names)
    nodes = []
    for n, core in zip(names, cores):
        cfg = {"store": {"refresh": "100ms"},
               "tiers": {"retention": "off"},
               "kafka": {"brokers": kafka.bootstrap,
                         "topics": TOPICS[len(names)],
                         "group": group}}
        if len(names) > 1:
            cfg["cluster"] = {"peers": peers, "node_id": "bench-" + n}
        path = write_config(os.path.join(tmp, "%s-%s.conf" % (group, n)), cfg)
        logs = os.path.join(tmp, "logs-%s-%s" % (group, n))
        os.makedirs(logs)
        s = Siftd(os.path.join(tmp, "data-%s-%s" % (group, n)), config=path,
                  args=["--listen", "127.0.0.1:%d" % ports[n]], log_dir=logs)
        # Pinned to one core: the command runs under taskset.
        cmd = s.command

        def pinned(cmd=cmd, core=core):
            return ["taskset", "-c", str(core)] + cmd()
        s.command = pinned
        nodes.append(s)
    for s in nodes:
        s.start()
    return nodes


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z .*kafka: assigned",
                    re.M)


def first_assigned(s):
    """Wall time (s since the epoch) of the node's first assignment."""
    m = LOG_TS.search(s.stderr())
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def watch(nodes, n, timeout):
    """Polls every node's stored count until the n records are stored and
    no count grew for three seconds.  Returns, per node, (first assignment,
    last growth) as wall times and its count, and the series of (time,
    counts) polled."""
    deadline = time.monotonic() + timeout
    counts = [0] * len(nodes)
    last_growth = [None] * len(nodes)
    series = []
    while time.monotonic() < deadline:
        now = time.time()
        for i, s in enumerate(nodes):
            c = total(s, local=True)
            if c != counts[i]:
                counts[i], last_growth[i] = c, now
        series.append((now, list(counts)))
        # The mock broker may have dropped some of the oldest records of
        # a full partition: done once 90% are stored and none came for 3 s
        # (what is stored is counted).
        if sum(counts) >= n * 0.9 and \
                now - max(t for t in last_growth if t) > 3.0:
            return [(first_assigned(s), last_growth[i], counts[i])
                    for i, s in enumerate(nodes)], series
        time.sleep(0.05)
    raise SystemExit("timed out: %d of %d stored" % (sum(counts), n))


def cpu_seconds(s):
    """User + system CPU seconds the node's process has used."""
    with open("/proc/%d/stat" % s.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steady_rate(series, per):
    """Records per second while every node is storing: from the first poll
    where each node has stored something to the first poll where one of
    them is done (its last growth), all nodes' records together."""
    first_done = min(d for _, d, _ in per)
    both = [(t, c) for t, c in series if all(x > 0 for x in c) and
            t <= first_done]
    if len(both) < 2:
        return None, 0.0
    (t0, c0), (t1, c1) = both[0], both[-1]
    return (sum(c1) - sum(c0)) / (t1 - t0), t1 - t0


def timed(s, path, params, reps):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        r = s.get(path, params=params, timeout=60)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--siftd", default=os.path.join(ROOT, "build", "siftd"))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--records", type=int, default=1440000)
    ap.add_argument("--partitions", type=int, default=72,
                    help="the mock cluster keeps ~20k records of this "
                         "bench's size per partition")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    os.environ["SIFTD"] = os.path.abspath(args.siftd)
    os.environ["SIFT_BUILD_DIR"] = os.path.abspath(args.build_dir)
    os.environ.setdefault("SIFT_SOURCE_DIR", ROOT)
    from conftest import Siftd
    from ingest_helpers import KafkaMock, free_port, write_config

    tmp = tempfile.mkdtemp(prefix="sift-cluster-bench-")
    kafka = KafkaMock(list(TOPICS.values()), partitions=args.partitions)
    started = []
    try:
        rates = {}
        steadies = {}
        cpu_rates = {}
        sets = {}
        for label, names, cores in (("one node", ["a"], [0]),
                                    ("two nodes", ["a", "b"], [0, 1])):
            group = "bench-%d" % len(names)
            t = time.monotonic()
            produce(kafka, TOPICS[len(names)], args.records)
            print("%-9s %d records produced in %.1f s before any node "
                  "starts" % (label, args.records, time.monotonic() - t))
            nodes = start_nodes(tmp, names, kafka, group, cores, free_port,
                                write_config, Siftd)
            started += nodes
            per, series = watch(nodes, args.records, args.timeout)
            steady, span = steady_rate(series, per)
            cpus = [cpu_seconds(s) for s in nodes]
            # What the nodes could ingest with a core each to themselves:
            # the busiest node's CPU time bounds the run.
            cpu_rates[label] = sum(c for _, _, c in per) / max(cpus)
            print("%-9s CPU seconds per node %s: %.0f records per "
                  "CPU-second of the busiest node"
                  % (label, ", ".join("%.2f" % c for c in cpus),
                     cpu_rates[label]))
            t0 = min(a for a, _, _ in per)
            t1 = max(d for _, d, _ in per)
            got = sum(c for _, _, c in per)
            rates[label] = got / (t1 - t0)
            sets[label] = nodes
            print("%-9s %d records (%d the broker dropped) in %.2f s from "
                  "the first assignment: %.0f records/s; per node %s"
                  % (label, got, args.records - got, t1 - t0, rates[label],
                     ", ".join(
                      "%d in %.2f s (%.0f/s)" % (c, d - a, c / (d - a))
                      for a, d, c in per)))
            steadies[label] = steady
            print("%-9s while every node stores (%.2f s): %.0f records/s"
                  % (label, span, steady or 0))
        ok = steadies["two nodes"] and steadies["one node"]
        print("ingest two/one, first assignment to last record: %.2fx; "
              "while every node stores: %s (target >= 1.8x)"
              % (rates["two nodes"] / rates["one node"],
                 "%.2fx" % (steadies["two nodes"] / steadies["one node"])
                 if ok else "not measured (too short a run)"))
        print("ingest two/one by CPU time (records / the busiest node's "
              "CPU seconds): %.2fx (target >= 1.8x)"
              % (cpu_rates["two nodes"] / cpu_rates["one node"]))

        one, two = sets["one node"][0], sets["two nodes"][0]
        for kind, path, params in (
                ("search newest 100", "/api/v1/search", {"q": "*",
                                                         "limit": 100}),
                ("terms service", "/api/v1/terms", {"field": "service"}),
                ("histogram 1m", "/api/v1/histogram", {"q": "error",
                                                       "interval": "1m"})):
            a = timed(one, path, params, args.queries)
            b = timed(two, path, params, args.queries)
            qa = statistics.quantiles(a, n=10)
            qb = statistics.quantiles(b, n=10)
            print("%-18s one node p50 %.2f ms p90 %.2f ms; two nodes p50 "
                  "%.2f ms p90 %.2f ms; ratio p50 %.2fx"
                  % (kind, statistics.median(a), qa[8], statistics.median(b),
                     qb[8], statistics.median(b) / statistics.median(a)))
    finally:
        for s in started:
            s.kill9()
        kafka.close()


if __name__ == "__main__":
    main()
