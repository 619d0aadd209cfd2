"""Kafka -> siftd, black-box: the kafka_mock broker (librdkafka mock
cluster), records produced with the real kcat, searched over HTTP.
Restart and kill -9 mid-stream must leave every record searchable exactly
once (positions stored with the data)."""
import json

import pytest

from ingest_helpers import KafkaMock, wait_total, write_config



@pytest.fixture
def kafka():
    k = KafkaMock(["logs-app", "logs-web"], partitions=3)
    yield k
    k.close()


def events(tag, first, n):
    return [json.dumps({"@timestamp": "2026-11-22T10:00:00Z",
                        "message": "kafkatest %s n%d" % (tag, i),
                        "service.name": "app"}) for i in range(first, first + n)]


def config(tmp_path, kafka):
    return write_config(tmp_path / "siftd.conf", {
        "kafka": {"brokers": kafka.bootstrap, "topics": "^logs-.*",
                  "group": "sift-bb",
                  "properties": "topic.metadata.refresh.interval.ms=1000,"
                                "session.timeout.ms=6000,heartbeat.interval.ms=1000"},
        "store": {"refresh": "200ms"},
    })


def test_kafka_records_become_searchable_once_across_restarts(
        tmp_path, kafka, siftd_factory):
    s = siftd_factory(config=config(tmp_path, kafka)).start()
    kafka.produce("logs-app", events("alpha", 0, 300))
    kafka.produce("logs-web", events("alpha", 300, 200))
    wait_total(s, "kafkatest AND alpha", 500)

    s.restart()
    kafka.produce("logs-app", events("alpha", 500, 100))
    wait_total(s, "kafkatest AND alpha", 600)

    # kill -9 right after producing: what was acknowledged is kept, the
    # rest is re-read from the stored positions, nothing twice.
    kafka.produce("logs-web", events("alpha", 600, 400))
    s.kill9()
    s.start()
    wait_total(s, "kafkatest AND alpha", 1000)


def test_kafka_bad_records_go_to_dead_letters(tmp_path, kafka, siftd_factory):
    s = siftd_factory(config=config(tmp_path, kafka)).start()
    kafka.produce("logs-app", events("beta", 0, 10) + ['{"broken": '])
    wait_total(s, "kafkatest AND beta", 10)
    dlq = (tmp_path / "data" / "dlq.ndjson").read_text().splitlines()
    recs = [json.loads(l) for l in dlq]
    assert any(r["source"] == "kafka" and r["raw"] == '{"broken": '
               and r["position"]["key"].startswith("kafka/logs-app/")
               for r in recs)
