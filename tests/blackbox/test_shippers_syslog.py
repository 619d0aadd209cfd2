"""Syslog listeners ([syslog] tcp, udp, tls) with real senders: util-linux
`logger` (TCP with LF framing and with RFC 6587 octet counting, UDP;
RFC 5424 and 3164), rsyslog's omfwd (TCP octet-counted, UDP, TLS with the
OpenSSL stream driver) and `openssl s_client` (TLS), a few
hundred messages each, every one searchable exactly once with its syslog
fields; then framing across writes, the message and connection limits
and durable mode from a raw socket."""
import re
import socket
import subprocess
import time

import pytest
import requests

from conftest import Siftd
from ingest_helpers import free_port
from shipper_helpers import Rsyslog, export, total, wait_exactly_once

N = 200


def start_siftd(tmp_path_factory, name, extra=""):
    d = tmp_path_factory.mktemp(name)
    tcp, tcp2, udp, tls = free_port(), free_port(), free_port(), free_port()
    crt, key = str(d / "syslog.crt"), str(d / "syslog.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    cfg = d / "siftd.conf"
    # a second TCP listener with fields of its own, and one in TLS
    cfg.write_text("[store]\nrefresh = 200ms\nwal_sync = 10ms\n"
                   "[tls]\ncert_file = %s\nkey_file = %s\n"
                   "[syslog]\ntcp = 127.0.0.1:%d, 127.0.0.1:%d site=dmz "
                   "env=edge host.name=fallback\nudp = 127.0.0.1:%d\n"
                   "tls = 127.0.0.1:%d\n"
                   "extra_fields = env=test,team=net\n%s"
                   % (crt, key, tcp, tcp2, udp, tls, extra))
    sd = Siftd(d / "data", config=cfg, log_dir=d).start()
    sd.tcp, sd.tcp2, sd.udp, sd.tls, sd.crt = tcp, tcp2, udp, tls, crt
    return sd


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    sd = start_siftd(tmp_path_factory, "syslog")
    yield sd
    sd.kill9()


def logger(s, tag, n, *args):
    lines = "".join("%s n%d\n" % (tag, i) for i in range(n))
    p = subprocess.run(["logger", "-n", "127.0.0.1", "-t", "billing",
                        "-p", "local3.err"] + list(args),
                       input=lines, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("mode", ["tcp", "octet", "udp", "rfc3164"])
def test_logger_every_message_once(s, mode):
    tag = "logger%stag" % mode
    args = {"tcp": ["--tcp", "-P", str(s.tcp), "--rfc5424"],
            "octet": ["--tcp", "-P", str(s.tcp), "--rfc5424",
                      "--octet-count", "--msgid", "M7",
                      "--sd-id", "meta@32473", "--sd-param", 'seq="x"'],
            "udp": ["--udp", "-P", str(s.udp), "--rfc5424"],
            "rfc3164": ["--tcp", "-P", str(s.tcp), "--rfc3164"]}[mode]
    logger(s, tag, N, *args)
    docs = wait_exactly_once(s, tag, N)
    f = docs[0]["fields"]
    assert f["service.name"] == "billing"
    assert f["log.level"] == "error"
    assert f["log.syslog.facility.code"] == 19  # local3
    assert f["syslog.peer"] == "127.0.0.1"
    assert f["syslog.transport"] == ("udp" if mode == "udp" else "tcp")
    assert f["env"] == "test"
    assert f["host.name"]
    assert docs[0]["message"] == "%s n0" % tag
    if mode == "octet":
        assert f["log.syslog.msgid"] == "M7"
        assert f["log.syslog.structured_data.meta@32473.seq"] == "x"


def test_listener_fields(s):
    # the listener's own fields; its env wins over [syslog] extra_fields,
    # the extra_fields it does not name still apply, and a message's own
    # field (the RFC 5424 HOSTNAME) wins over the listener's
    msgs = ["<13>1 - - app - - - lfields n0", "<13>1 - h9 app - - - lfields n1"]
    with socket.create_connection(("127.0.0.1", s.tcp2), 10) as c:
        c.sendall("".join("%d %s" % (len(m), m) for m in msgs).encode())
    logger(s, "lfields", 1, "--tcp", "-P", str(s.tcp), "--rfc5424")
    docs = wait_exactly_once(s, "lfields", 2, query="lfields AND site:dmz")
    for d in docs.values():
        assert d["fields"]["env"] == "edge"
        assert d["fields"]["team"] == "net"
        assert d["fields"]["syslog.transport"] == "tcp"
    assert docs[0]["fields"]["host.name"] == "fallback"
    assert docs[1]["fields"]["host.name"] == "h9"
    # the other listener's events have none of them
    assert total(s, "lfields AND NOT site:*") == 1
    assert total(s, "lfields AND env:test") == 1


RSYSLOG = """
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}")
action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{udp}" protocol="udp")
"""


def test_rsyslog_omfwd_tcp_octet_counted_and_udp(s, tmp_path):
    port = free_port()
    rs = Rsyslog(tmp_path, RSYSLOG.format(port=port, tcp=s.tcp, udp=s.udp))
    try:
        with rs.wait_tcp(port) as conn:
            for i in range(N):
                conn.sendall(("<30>Nov 22 10:00:00 web-01 app[7]: "
                              "omfwdtag n%d\n" % i).encode())
        # every message arrives once over each transport
        tcp = wait_exactly_once(s, "omfwdtag", N,
                                query="omfwdtag AND syslog.transport:tcp")
        udp = wait_exactly_once(s, "omfwdtag", N,
                                query="omfwdtag AND syslog.transport:udp")
        for docs in (tcp, udp):
            f = docs[5]["fields"]
            assert f["host.name"] == "web-01"
            assert f["service.name"] == "app"
            assert f["process.pid"] == 7
            assert f["log.level"] == "info"
    finally:
        rs.close()


RSYSLOG_TLS = """
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}")
action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
       StreamDriver="ossl" StreamDriverMode="1"
       StreamDriverAuthMode="x509/certvalid" streamDriver.CAFile="{ca}")
"""


def test_tls_rsyslog_ossl_and_openssl_client(s, tmp_path):
    # rsyslog's omfwd with the OpenSSL stream driver, checking siftd's
    # certificate: RFC 5425 (octet-counted frames in TLS)
    port = free_port()
    rs = Rsyslog(tmp_path, RSYSLOG_TLS.format(port=port, tls=s.tls, ca=s.crt))
    try:
        with rs.wait_tcp(port) as conn:
            for i in range(N):
                conn.sendall(("<30>Nov 22 10:00:00 web-01 app[7]: "
                              "tlstag n%d\n" % i).encode())
        docs = wait_exactly_once(s, "tlstag", N)
        f = docs[7]["fields"]
        assert f["syslog.transport"] == "tls"
        assert f["host.name"] == "web-01"
        assert f["env"] == "test"
    finally:
        rs.close()
    # openssl s_client with LF frames; the last one without LF counts
    lines = "<13>1 - h1 app - - - sclienttag n0\n<13>1 - h1 app - - - " \
            "sclienttag n1"
    p = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % s.tls, "-CAfile", s.crt,
                        "-verify_return_error", "-quiet", "-no_ign_eof"],
                       input=lines, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    wait_exactly_once(s, "sclienttag", 2)
    # plain text on the TLS port: nothing stored, the handshake failure logged
    with socket.create_connection(("127.0.0.1", s.tls), 10) as c:
        c.sendall(b"<13>1 - h1 app - - - plaintag n0\n")
        c.settimeout(10)
        try:
            assert c.recv(100) == b""
        except ConnectionResetError:
            pass
    deadline = time.monotonic() + 10
    while "TLS connection from 127.0.0.1" not in s.stderr():
        assert time.monotonic() < deadline, s.stderr()
        time.sleep(0.1)
    assert total(s, "plaintag") == 0


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    sd = start_siftd(tmp_path_factory, "syslog-durable",
                     "durable = true\nmax_message_bytes = 1KiB\n"
                     "max_connections = 2\n")
    yield sd
    sd.kill9()


def metric(s, name, source):
    text = s.get("/metrics").text
    m = re.search(r'^%s\{source="%s"\} (\S+)$' % (
        re.escape(name), re.escape(source)), text, re.M)
    return float(m.group(1)) if m else None


def test_framing_limits_durable(sd):
    src = "syslog-tcp:127.0.0.1:%d" % sd.tcp
    a = socket.create_connection(("127.0.0.1", sd.tcp), 10)
    b = socket.create_connection(("127.0.0.1", sd.tcp), 10)
    # octet-counted frames split anywhere, LF frames with CRLF, a NUL
    now = time.gmtime()
    rfc5424 = time.strftime("%Y-%m-%dT%H:%M:%SZ", now)
    rfc3164 = time.strftime("%b %e %H:%M:%S", now)  # read as UTC
    msgs = ["<13>1 %s h1 app - - - framing n%d" % (rfc5424, i)
            for i in range(4)]
    stream = "".join("%d %s" % (len(m), m) for m in msgs[:2]).encode()
    for i in range(0, len(stream), 7):
        a.sendall(stream[i:i + 7])
        time.sleep(0.01)
    a.sendall((msgs[2] + "\r\n").encode() + msgs[3].encode() + b"\0")
    # a message past max_message_bytes (1 KiB) is cut there, not dropped,
    # and the next frame is read as usual
    big = "<13>1 - h1 app - - - framing n4 " + "x" * 3000
    b.sendall(("%d %s" % (len(big), big)).encode())
    b.sendall(("<13>%s h2 app: framing n5\n" % rfc3164).encode())
    # a third connection is over max_connections: closed at once
    c = socket.create_connection(("127.0.0.1", sd.tcp), 10)
    c.settimeout(10)
    assert c.recv(1) == b""
    c.close()
    # the last message without LF counts when the peer closes
    a.sendall(("<13>%s h2 app: framing n6" % rfc3164).encode())
    a.close()
    b.close()
    docs = wait_exactly_once(sd, "framing", 7)
    assert len(docs[4]["message"]) < 1024 - 20
    assert docs[4]["message"].startswith("framing n4 xxx")
    assert docs[5]["fields"]["host.name"] == "h2"
    deadline = time.monotonic() + 30
    while metric(sd, "sift_source_messages_acked_total", src) != 7:
        assert time.monotonic() < deadline, sd.get("/metrics").text
        time.sleep(0.1)
    assert metric(sd, "sift_source_messages_truncated_total", src) == 1
    assert metric(sd, "sift_source_connections_refused_total", src) == 1
    assert "connection from 127.0.0.1 refused" in sd.stderr()
