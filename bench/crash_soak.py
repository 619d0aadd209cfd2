#!/usr/bin/python3
"""Crash soak (issue 16): live producers write to a Redis stream, a Redis
list and a Kafka topic while siftd is killed with SIGKILL --kills times;
then every produced entry is counted: lost and duplicated, per source.
Target: 0 lost, 0 duplicated, for every source.

  bench/crash_soak.py --siftd build/release-test/siftd \\
      --build-dir build/release-test --kills 120

Each kill lands 0.1-0.8 s after the Kafka partitions were assigned (so
Kafka records, stream entries and list values are all being read,
written and acknowledged when it comes), or, with --kafka-every N, only
every Nth kill, the others 0.15-0.6 s after the start (as the suite's
tests/blackbox/test_crash.py does with N = 5).  Each restart joins a new
Kafka group: the librdkafka mock cluster does not know static membership
and would hold the group for a dead member for ~2 session timeouts; the
positions stored with the data, not the group, decide where reading
resumes.  Uses the black-box test helpers (tests/blackbox, which need
scripts/deps.sh --test): a redis-server on a free loopback port, the
kafka_mock broker and kcat.  Every wait is bounded; every process it
starts is stopped by its own handle.
"""
import argparse
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--siftd", default=os.path.join(ROOT, "build", "siftd"))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                    help="where kafka_mock was built")
    ap.add_argument("--kills", type=int, default=120)
    ap.add_argument("--kafka-every", type=int, default=1,
                    help="every Nth kill waits for the Kafka assignment, "
                         "the others come soon after the start")
    ap.add_argument("--burst", type=int, default=40,
                    help="entries per producer burst (per source)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp dir (data, logs)")
    args = ap.parse_args()
    os.environ["SIFTD"] = os.path.abspath(args.siftd)
    os.environ["SIFT_BUILD_DIR"] = os.path.abspath(args.build_dir)
    os.environ.setdefault("SIFT_SOURCE_DIR", ROOT)

    # Imported after the environment names the binaries.
    from conftest import Siftd
    from crash_helpers import (KafkaProducer, RedisProducer, account,
                               kill_loop, redis_settled, report_line,
                               write_crash_config)
    from ingest_helpers import KafkaMock, RedisServer

    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="sift-soak-")
    redis_srv = RedisServer(tmp)
    kafka = KafkaMock(["crash-logs"], partitions=3)
    cfg = os.path.join(tmp, "siftd.conf")
    s = None
    rprod = kprod = None
    try:
        write_crash_config(cfg, redis_srv.address, kafka.bootstrap, "soak-0")
        s = Siftd(os.path.join(tmp, "data"), config=cfg, log_dir=tmp).start()
        rprod = RedisProducer(redis_srv.port, burst=args.burst,
                              max_n=10 ** 7)
        kprod = KafkaProducer(kafka.bootstrap, burst=args.burst,
                              max_n=10 ** 7)
        rprod.start()
        kprod.start()
        t0 = time.monotonic()

        def progress(msg):
            k = int(msg.split()[1].split("/")[0])
            if k % 10 == 0:
                print("%s, %.0f s, %d+%d entries produced"
                      % (msg, time.monotonic() - t0, rprod.n, kprod.n),
                      flush=True)

        kill_loop(s, args.kills, rng, kafka_every=args.kafka_every,
                  restart=lambda k: write_crash_config(
                      cfg, redis_srv.address, kafka.bootstrap,
                      "soak-%d" % (k + 1)),
                  log=progress)
        rprod.stop.set()
        rprod.join(timeout=30)
        kprod.finish()
        for p in (rprod, kprod):
            if p.error:
                raise p.error
        produced = {"stream": rprod.n, "list": rprod.n, "kafka": kprod.n}
        result = account(s, produced, timeout=600)
        left = redis_settled(redis_srv.r)
        print(report_line(args.kills, produced, result) +
              "; redis unacknowledged %r (seed %d, %.0f s)"
              % (left, seed, time.monotonic() - t0))
        ok = all(len(lost) == 0 and dups == 0
                 for lost, dups in result.values()) and not any(left)
        for tag, (lost, _) in result.items():
            if lost:
                print("%s lost: %r" % (tag, lost[:20]))
        print("target 0 lost, 0 duplicated: %s" % ("met" if ok else "NOT met"))
        return 0 if ok else 1
    finally:
        if rprod:
            rprod.stop.set()
        if kprod and kprod.proc.poll() is None:
            kprod.proc.kill()
        if s:
            s.stop()
        kafka.close()
        redis_srv.close()
        if args.keep:
            print("kept", tmp)
        else:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
