"""OTLP/HTTP logs (POST /v1/logs) from the OpenTelemetry JS SDK's real
exporters (@opentelemetry/exporter-logs-otlp-http: OTLP/JSON;
-proto: binary protobuf, also gzip'd), each run once with a few hundred
records, every one searchable exactly once with the right fields; and the
protocol's answers to what the SDK does not send (partial success, bad
bodies, backpressure shape)."""
import gzip
import json
import time

import pytest
import requests

from conftest import Siftd
from shipper_helpers import node, total, wait_exactly_once

N = 300


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    d = tmp_path_factory.mktemp("otlp")
    cfg = d / "siftd.conf"
    cfg.write_text("[store]\nrefresh = 200ms\n[ingest]\nmax_fields = 40\n")
    sd = Siftd(d / "data", config=cfg, log_dir=d).start()
    yield sd
    sd.kill9()


@pytest.mark.parametrize("proto,gz", [("http", ""), ("proto", "gzip")])
def test_otel_sdk_exporter_every_record_once(s, proto, gz):
    tag = "otel%stag" % proto
    out = node("otlp_send.mjs", s.url, proto, N, tag, gz)
    assert "sent %d" % N in out
    docs = wait_exactly_once(s, tag, N)
    levels = {0: "info", 1: "warn", 2: "error"}
    for i, d in docs.items():
        f = d["fields"]
        assert f["service.name"] == "otel-" + proto, d
        assert f["host.name"] == "node-host-1"
        assert f["deployment.environment"] == "test"
        assert f["otel.scope.name"] == "checkout-lib"
        assert f["otel.scope.version"] == "1.4.2"
        assert f["log.level"] == levels[i % 3], d
        assert f["seq"] == i and f["http.status_code"] == 200 + i % 5
        assert d["message"] == "%s n%d" % (tag, i)
        if i % 10 == 9:  # structured body: message + flattened fields
            assert f["order.id"] == "A-%d" % i
            assert f["order.total"] == i * 1.5
    # the fields are searchable, not only stored
    assert total(s, "%s AND service.name:otel-%s AND log.level:error" %
                 (tag, proto)) == N // 3


def _otlp_json(records, service="manual"):
    return {"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service}}]},
        "scopeLogs": [{"scope": {"name": "t"}, "logRecords": records}]}]}


def test_otlp_json_partial_success_and_ids(s):
    now = time.time_ns()
    big = [{"key": "k%d" % i, "value": {"intValue": str(i)}}
           for i in range(60)]  # over ingest.max_fields = 40
    recs = [
        {"timeUnixNano": str(now), "body": {"stringValue": "otlppartial n0"},
         "traceId": "5B8EFFF798038103D269B633813FC60C",
         "spanId": "EEE19B7EC3C1B174", "severityText": "Warning"},
        {"timeUnixNano": str(now), "body": {"stringValue": "otlppartial n1"},
         "attributes": big},
        # older than the retention (30 d): refused by the time checks
        {"timeUnixNano": str(now - 90 * 86400 * 10**9),
         "body": {"stringValue": "otlppartial n2"}},
        {"observedTimeUnixNano": now,
         "body": {"stringValue": "otlppartial n3"}},
    ]
    r = requests.post(s.url + "/v1/logs", json=_otlp_json(recs), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    ps = r.json()["partialSuccess"]
    assert int(ps["rejectedLogRecords"]) == 2
    assert "2 of 4 log records were not stored" in ps["errorMessage"]
    assert "record 2: more than 40 fields" in ps["errorMessage"]
    assert "older than tiers.retention" in ps["errorMessage"]
    time.sleep(0.5)
    for _ in range(50):
        if total(s, "otlppartial") == 2:
            break
        time.sleep(0.1)
    assert total(s, "otlppartial") == 2
    assert total(s, "trace.id:5b8efff798038103d269b633813fc60c AND "
                 "span.id:eee19b7ec3c1b174 AND log.level:warn") == 1


def test_otlp_bad_bodies_store_nothing(s):
    # truncated protobuf: 400 with a google.rpc.Status in protobuf
    r = requests.post(s.url + "/v1/logs", data=b"\x0a\x05\x12\x03",
                      headers={"Content-Type": "application/x-protobuf"},
                      timeout=30)
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/x-protobuf"
    assert b"not a valid OTLP protobuf" in r.content
    # malformed JSON after a valid record: nothing of it is stored
    body = json.dumps(_otlp_json([{"body": {"stringValue": "otlpbad n0"}}]))
    r = requests.post(s.url + "/v1/logs", data=body[:-3],
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400
    assert "invalid OTLP/JSON at byte" in r.json()["message"]
    r = requests.post(s.url + "/v1/logs", data="x",
                      headers={"Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 415
    # a gzip'd JSON body, and an empty request, are fine
    r = requests.post(s.url + "/v1/logs",
                      data=gzip.compress(json.dumps(_otlp_json(
                          [{"body": {"stringValue": "otlpgz n0"}}])).encode()),
                      headers={"Content-Type": "application/json",
                               "Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 200 and r.json() == {}, r.text
    r = requests.post(s.url + "/v1/logs", data=b"",
                      headers={"Content-Type": "application/x-protobuf"},
                      timeout=30)
    assert r.status_code == 200 and r.content == b""
    time.sleep(0.5)
    wait_exactly_once(s, "otlpgz", 1)
    assert total(s, "otlpbad") == 0
    m = requests.get(s.url + "/metrics", timeout=10).text
    assert 'sift_ingest_requests_total{source="otlp",outcome="bad"} 3' in m
    assert 'sift_ingest_ack_seconds_count{source="otlp"}' in m
