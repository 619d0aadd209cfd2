"""systemd-journal-upload (Debian systemd-journal-remote) sending a
journal to POST /upload: a journal file written by systemd-journal-remote
from known entries (text and binary fields), uploaded with the uploader's
documented options, every entry searchable exactly once with its fields;
the same journal uploaded again (a lost state file) stores nothing twice;
and the endpoint's answers to bodies that are not the export format."""
import struct
import subprocess
import time

import pytest
import requests

from conftest import Siftd
from shipper_helpers import wait_exactly_once

N = 200
REMOTE = "/lib/systemd/systemd-journal-remote"
UPLOAD = "/lib/systemd/systemd-journal-upload"


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    d = tmp_path_factory.mktemp("journald")
    cfg = d / "siftd.conf"
    cfg.write_text("[store]\nrefresh = 200ms\nwal_sync = 10ms\n")
    sd = Siftd(d / "data", config=cfg, log_dir=d).start()
    yield sd
    sd.kill9()


def export_text(tag, n):
    now = int(time.time() * 1e6)
    out = b""
    for i in range(n):
        out += (b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n"
                b"_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                b"_HOSTNAME=web-01\nSYSLOG_IDENTIFIER=billing\n"
                b"PRIORITY=%d\n_PID=42\n_SYSTEMD_UNIT=billing.service\n"
                % (now + i, 1000 + i, 3 + i % 4))
        msg = b"%s n%d" % (tag.encode(), i)
        if i % 10 == 0:  # a binary field: a message with a line break
            msg += b"\n  at frame"
            out += b"MESSAGE\n" + struct.pack("<Q", len(msg)) + msg + b"\n"
            blob = b"\xff\xfe"  # not UTF-8: left out
            out += b"BLOB\n" + struct.pack("<Q", len(blob)) + blob + b"\n"
        else:
            out += b"MESSAGE=" + msg + b"\n"
        out += b"\n"
    return out


def upload(s, journal, state):
    p = subprocess.run([UPLOAD, "--file=%s" % journal, "--url=%s" % s.url,
                        "--save-state=%s" % state, "--follow=no"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_journal_upload_every_entry_once(s, tmp_path):
    tag = "journaltag"
    journal = tmp_path / "in.journal"
    p = subprocess.run([REMOTE, "--output=%s" % journal, "-"],
                       input=export_text(tag, N), capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    upload(s, journal, tmp_path / "state")
    docs = wait_exactly_once(s, tag, N)
    f = docs[1]["fields"]
    assert f["host.name"] == "web-01"
    assert f["service.name"] == "billing"
    assert f["process.pid"] == 42
    assert f["log.level"] == "warn"  # PRIORITY 4
    assert f["_SYSTEMD_UNIT"] == "billing.service"
    assert docs[0]["message"] == "%s n0\n  at frame" % tag
    assert "BLOB" not in docs[0]["fields"]
    assert docs[3]["fields"]["log.level"] == "info"  # PRIORITY 6
    assert docs[4]["fields"]["log.level"] == "error"  # PRIORITY 3
    # the uploader's state file lost: everything is sent again, nothing
    # is stored twice (positions per journal seqnum id)
    upload(s, journal, tmp_path / "state-lost")
    wait_exactly_once(s, tag, N)
    m = s.get("/metrics").text
    assert 'sift_ingest_requests_total{source="journald",outcome="ok"}' in m


def test_upload_answers(s):
    hdr = {"Content-Type": "application/vnd.fdo.journal"}
    r = requests.post(s.url + "/upload", data=b"MESSAGE\n\x05\x00", headers=hdr,
                      timeout=30)
    assert r.status_code == 400 and "journal export format" in r.text
    r = requests.post(s.url + "/upload", data=b"lower=case\n\n",
                      headers=hdr, timeout=30)
    assert r.status_code == 400 and "field name" in r.text
    r = requests.post(s.url + "/upload", data=b"MESSAGE=x\n",
                      headers={"Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 415
    r = requests.post(s.url + "/upload",
                      data=b"MESSAGE=journalmanual n0\nPRIORITY=6\n\n",
                      headers=hdr, timeout=30)
    assert r.status_code == 202, r.text
    docs = wait_exactly_once(s, "journalmanual", 1)
    assert docs[0]["fields"]["log.level"] == "info"
