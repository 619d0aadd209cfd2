#!/usr/bin/python3
"""Cluster bench (issue 23): Kafka ingest rate of one node vs two nodes
sharing the group, each pinned to one core; and what a fanned-out query
costs against one node holding all the data.

  bench/cluster_bench.py --siftd build/release-test/siftd \\
      --build-dir build/release-test --records 100000

Ingest: one node (taskset -c 0), then two nodes (taskset -c 0 and -c 1)
sharing a group, each on a 6-partition topic of the librdkafka mock
cluster of its own; once every node holds its partitions, --records JSON
lines are produced (kcat) and the time from the start of producing until
every record is searchable gives the rate.  Target: two nodes >= 1.8x
one node's rate.

Queries: the one node and the two nodes (whose data together equal the
one node's) each answer --queries searches (newest 100), terms
(service, size 10) and histograms (1m buckets); medians and p90 per
kind, and the cluster/single ratio.

Only loopback addresses; every wait is bounded; every process started
here is stopped by its own handle.  Uses the black-box test helpers
(tests/blackbox; scripts/deps.sh --test).
"""
import argparse
import json
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
        cfg = {"store": {"refresh": "500ms"},
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
    # Every node holds its partitions before the records come.
    for s in nodes:
        s.wait_for_log(r"kafka: assigned", timeout=120)
    time.sleep(2.0)
    return nodes


def wait_all(nodes, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sum(total(s, local=True) for s in nodes)
        if got >= n:
            return time.monotonic(), got
        time.sleep(0.2)
    raise SystemExit("timed out: %d of %d stored" % (got, n))


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
    ap.add_argument("--records", type=int, default=100000,
                    help="at most ~100000: the mock cluster drops the "
                         "oldest records of a partition beyond its log size "
                         "(300000 lost some before they were read)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    os.environ["SIFTD"] = os.path.abspath(args.siftd)
    os.environ["SIFT_BUILD_DIR"] = os.path.abspath(args.build_dir)
    os.environ.setdefault("SIFT_SOURCE_DIR", ROOT)
    from conftest import Siftd
    from ingest_helpers import KafkaMock, free_port, write_config

    tmp = tempfile.mkdtemp(prefix="sift-cluster-bench-")
    kafka = KafkaMock(list(TOPICS.values()), partitions=6)
    started = []
    try:
        rates = {}
        sets = {}
        for label, names, cores in (("one node", ["a"], [0]),
                                    ("two nodes", ["a", "b"], [0, 1])):
            group = "bench-%d" % len(names)
            nodes = start_nodes(tmp, names, kafka, group, cores, free_port,
                                write_config, Siftd)
            started += nodes
            t0 = time.monotonic()
            produce(kafka, TOPICS[len(names)], args.records)
            t1, got = wait_all(nodes, args.records, args.timeout)
            rates[label] = got / (t1 - t0)
            sets[label] = nodes
            print("%-9s %d records in %.1f s: %.0f records/s (%s)"
                  % (label, got, t1 - t0, rates[label],
                     ", ".join("%d" % total(s, local=True) for s in nodes)))
        print("ingest two/one: %.2fx (target >= 1.8x)"
              % (rates["two nodes"] / rates["one node"]))

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
