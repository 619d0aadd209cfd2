"""Crash test (issue 16): live producers write to a Redis stream, a Redis
list and a Kafka topic while siftd is killed with SIGKILL twenty times;
after the last restart every produced entry must be searchable exactly
once.  Real parts: a redis-server on a free loopback port, the kafka_mock
broker (librdkafka's mock cluster) and kcat.  Every entry's number is
counted (crash_helpers.py), so losses and duplicates are both reported.

Bounded: 20 kills, 0.15-0.6 s after each start; every 5th one 0.1-0.8 s
after the Kafka partitions were assigned (each Kafka join costs the mock's
3 s rebalance delay, so not every kill can wait for one).
bench/crash_soak.py runs the same with 100+ kills, each after the Kafka
assignment."""
import os
import random
import time

import pytest

from crash_helpers import (KafkaProducer, RedisProducer, account, kill_loop,
                           redis_settled, report_line, write_crash_config)
from ingest_helpers import KafkaMock, RedisServer

KILLS = 20


@pytest.fixture
def redis_srv(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    r.close()


@pytest.fixture
def kafka():
    k = KafkaMock(["crash-logs"], partitions=3)
    yield k
    k.close()


def test_every_source_exactly_once_under_kill9(tmp_path, redis_srv, kafka,
                                               siftd_factory):
    seed = int(os.environ.get("SIFT_CRASH_SEED", time.time()))
    rng = random.Random(seed)
    cfg = tmp_path / "siftd.conf"
    write_crash_config(cfg, redis_srv.address, kafka.bootstrap, "crash-0")
    s = siftd_factory(config=cfg).start()
    rprod = RedisProducer(redis_srv.port, burst=50)
    kprod = KafkaProducer(kafka.bootstrap, burst=50)
    t0 = time.monotonic()
    rprod.start()
    kprod.start()
    try:
        kill_loop(s, KILLS, rng, kafka_every=5,
                  restart=lambda k: write_crash_config(
                      cfg, redis_srv.address, kafka.bootstrap,
                      "crash-%d" % (k + 1)))
    finally:
        rprod.stop.set()
        rprod.join(timeout=30)
        kprod.finish()
    assert rprod.error is None, rprod.error
    assert kprod.error is None, kprod.error
    produced = {"stream": rprod.n, "list": rprod.n, "kafka": kprod.n}
    assert min(produced.values()) >= 1000

    t1 = time.monotonic()
    result = account(s, produced)
    line = report_line(KILLS, produced, result) + (
        " (seed %d; kills %.0f s, accounting %.0f s)"
        % (seed, t1 - t0, time.monotonic() - t1))
    print(line)
    assert all(len(lost) == 0 and dups == 0
               for lost, dups in result.values()), line + "; lost: %r" % {
                   tag: lost[:10] for tag, (lost, _) in result.items()}
    assert redis_settled(redis_srv.r) == (0, 0, 0, 0)
