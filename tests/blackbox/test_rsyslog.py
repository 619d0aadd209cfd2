"""A real shipper: rsyslog (Debian 12, 8.2302) as an unprivileged
foreground process with its own config and work dir, imtcp input on a
free loopback port, omkafka to the kafka_mock broker and omhiredis (queue
mode, RPUSH) to a test redis-server.  Lines sent to rsyslog must become
searchable in siftd."""
import os
import socket
import subprocess
import time

import pytest

from ingest_helpers import (KafkaMock, RedisServer, free_port,
                            wait_total, write_config)


RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imtcp")
module(load="omkafka")
module(load="omhiredis")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="json_lines" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host"       name="hostname"            format="jsonf")
  property(outname="severity"   name="syslogseverity-text" format="jsonf")
  property(outname="program"    name="programname"         format="jsonf")
  property(outname="message"    name="msg"                 format="jsonf")
}}
action(type="omkafka" broker=["{bootstrap}"] topic="syslog"
       template="json_lines" partitions.auto="on"
       confParam=["log_level=2"])
action(type="omhiredis" server="127.0.0.1" serverport="{redis_port}"
       mode="queue" key="logs:syslog" userpush="on")
"""


def test_rsyslog_to_kafka_and_redis_is_searchable(tmp_path, siftd_factory):
    kafka = KafkaMock(["syslog"], partitions=1)
    redis_srv = RedisServer(tmp_path)
    rs = None
    try:
        work = tmp_path / "rsyslog"
        work.mkdir()
        port = free_port()
        conf = tmp_path / "rsyslog.conf"
        conf.write_text(RSYSLOG_CONF.format(
            work=work, port=port, bootstrap=kafka.bootstrap,
            redis_port=redis_srv.port))
        rs = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf),
                               "-i", str(tmp_path / "rsyslog.pid")],
                              stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "rsyslog.err", "w"))
        cfg = write_config(tmp_path / "siftd.conf", {
            "kafka": {"brokers": kafka.bootstrap, "topics": "syslog",
                      "group": "sift-rs"},
            "redis": {"address": redis_srv.address, "lists": "logs:syslog",
                      "consumer": "rs1"},
            "store": {"refresh": "200ms"},
        })
        s = siftd_factory(config=cfg).start()
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), 1)
                break
            except OSError:
                assert time.monotonic() < deadline, "rsyslog imtcp not up"
                time.sleep(0.1)
        with conn:
            for i in range(50):
                conn.sendall(("<13>Nov 22 10:00:00 web-01 sshd[22]: "
                              "rsysloglinetest accepted n%d\n" % i).encode())
        # Each line goes both ways: once via Kafka, once via Redis.
        wait_total(s, "rsysloglinetest", 100, timeout=60)
    finally:
        if rs:
            rs.terminate()
            rs.wait(timeout=10)
        redis_srv.close()
        kafka.close()
