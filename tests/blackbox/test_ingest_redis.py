"""Redis -> siftd, black-box: a real redis-server, entries written with
redis-py (XADD for streams, RPUSH as rsyslog's omhiredis queue mode does),
searched over HTTP; acknowledgements (XACK, LREM) checked in Redis."""
import json
import time

import pytest

from ingest_helpers import RedisServer, wait_total, write_config



@pytest.fixture
def redis_srv(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    r.close()


def config(tmp_path, redis_srv):
    return write_config(tmp_path / "siftd.conf", {
        "redis": {"address": redis_srv.address, "streams": "logs:stream",
                  "lists": "logs:syslog", "group": "sift",
                  "consumer": "bb1", "field": "message"},
        "store": {"refresh": "200ms"},
    })


def wait_until(fn, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in %ds" % timeout)


def test_redis_stream_and_list_become_searchable_and_acked(
        tmp_path, redis_srv, siftd_factory):
    r = redis_srv.r
    for i in range(200):
        r.xadd("logs:stream", {"message": "redistest streamrec n%d" % i,
                               "env": "prod"})
    for i in range(150):
        r.rpush("logs:syslog", json.dumps(
            {"message": "redistest listrec n%d" % i,
             "@timestamp": "2026-11-22T10:00:00Z"}))
    s = siftd_factory(config=config(tmp_path, redis_srv)).start()
    wait_total(s, "redistest AND streamrec", 200)
    wait_total(s, "redistest AND listrec", 150)
    wait_total(s, "streamrec AND env:prod", 200)
    wait_until(lambda: r.xpending("logs:stream", "sift")["pending"] == 0)
    wait_until(lambda: r.llen("logs:syslog:inflight:bb1") == 0)
    assert r.llen("logs:syslog") == 0

    s.kill9()
    for i in range(200, 300):
        r.xadd("logs:stream", {"message": "redistest streamrec n%d" % i})
    s.start()
    wait_total(s, "redistest AND streamrec", 300)
