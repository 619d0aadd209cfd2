"""The Loki push API (POST /loki/api/v1/push) from a real Loki client
library, winston-loki (npm): snappy-compressed protobuf and JSON, a few
hundred lines each, every one searchable exactly once with its stream
labels and structured metadata as fields; and the API's answers to bad
bodies and partly refused pushes."""
import time

import pytest
import requests

from conftest import Siftd
from shipper_helpers import node, total, wait_exactly_once

N = 300


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    d = tmp_path_factory.mktemp("loki")
    cfg = d / "siftd.conf"
    cfg.write_text("[store]\nrefresh = 200ms\n")
    sd = Siftd(d / "data", config=cfg, log_dir=d).start()
    yield sd
    sd.kill9()


@pytest.mark.parametrize("mode", ["proto", "json"])
def test_winston_loki_every_line_once(s, mode):
    tag = "loki%stag" % mode
    assert "sent %d" % N in node("loki_send.mjs", s.url, mode, N, tag)
    docs = wait_exactly_once(s, tag, N)
    for i, d in docs.items():
        f = d["fields"]
        assert f["app"] == "winston-app" and f["env"] == "test", d
        assert f["service.name"] == "winston-app"
        assert f["log.level"] == ["info", "warn", "error"][i % 3], d
        if mode == "json":  # winston's meta as structured metadata
            assert f["seq"] == str(i)
    assert total(s, "%s AND log.level:error AND app:winston-app" % tag) == N // 3


def test_push_answers(s):
    now = time.time_ns()
    ok = {"streams": [{"stream": {"app": "manual"}, "values": [
        [str(now), "lokimanual n0"],
        [str(now), "lokimanual n1", {"trace_id": "t-1"}]]}]}
    r = requests.post(s.url + "/loki/api/v1/push", json=ok, timeout=30)
    assert r.status_code == 204 and r.content == b""
    old = {"streams": [{"stream": {"app": "manual"}, "values": [
        [str(now), "lokimanual n2"],
        [str(now - 90 * 86400 * 10**9), "lokimanual old"]]}]}
    r = requests.post(s.url + "/loki/api/v1/push", json=old, timeout=30)
    assert r.status_code == 400
    assert "1 of 2 entries were not stored" in r.text
    assert "older than tiers.retention" in r.text
    # not snappy, not a push request: nothing stored
    r = requests.post(s.url + "/loki/api/v1/push", data=b"\xff\xff\xff",
                      headers={"Content-Type": "application/x-protobuf"},
                      timeout=30)
    assert r.status_code == 400 and "snappy" in r.text
    r = requests.post(s.url + "/loki/api/v1/push",
                      data='{"streams":[{"stream":{"a":"b"},"values":'
                           '[["%d","lokibad n0"]]},{"values":[["x"]]}]}' % now,
                      headers={"Content-Type": "application/json"},
                      timeout=30)
    assert r.status_code == 400 and "invalid Loki push JSON" in r.text
    docs = wait_exactly_once(s, "lokimanual", 3)
    assert docs[1]["fields"]["trace_id"] == "t-1"
    assert total(s, "lokibad") == 0
