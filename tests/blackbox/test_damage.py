"""Fault injection on the real siftd: every kind of file in the data
directory is damaged (a flipped byte, cut, removed, zeroed, read-only),
with siftd stopped and after a kill -9, then siftd starts and every event
is accounted for: what the damage touched is reported, at most the events
that file alone held are missing, nothing deleted comes back, nothing
recovery touched is deleted.  Also: the manifest rebuilt automatically
and by `siftd repair`, a full disk at start (a small tmpfs), merges held
on a full disk, an unwritable WAL directory refused at start.

One populated data directory is made per module (module fixture) and
copied for each case; offsets are picked per file kind (header, checksum,
body), the unit tests walk every byte."""
import os
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest
import requests

from conftest import SIFTD, Siftd

BASE = ["--set", "store.wal_sync=10ms", "--set", "store.refresh=100ms",
        "--set", "tiers.retention=off", "--set", "tiers.check_interval=1h",
        "--set", "store.wal_file_bytes=1MiB"]
FLUSHING = BASE + ["--set", "store.flush=200ms"]
NO_FLUSH = BASE + ["--set", "store.flush=1h"]
PAD = "x" * 900
SECRET = "zqxsecret"


def ev_id(i):
    return "ev%06d" % i


def batch(first, n, pad=""):
    lines = []
    for i in range(first, first + n):
        msg = "%s user login from 10.0.%d.%d took %d ms%s%s" % (
            ev_id(i), i % 7, i % 13, i % 250,
            (" " + SECRET) if i % 10 == 0 else "", (" " + pad) if pad else "")
        lines.append('{"@timestamp":"2026-11-22T10:%02d:%02d.%03dZ","message":"%s"}\n'
                     % ((i // 60) % 60, i % 60, i % 1000, msg))
    return "".join(lines)


def post(s, body):
    r = s.post("/api/v1/ingest", data=body,
               headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    assert r.status_code == 200, r.text
    return r


def store(s):
    return s.get("/api/v1/store").json()


def wait(cond, what, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("%s not reached in %ds (last %r)" % (what, timeout, last))


def ids(s, timeout=30):
    """Every event id searchable, with how many times each is there."""
    seen = {}
    cursor = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = {"query": "*", "limit": 1000, "order": "asc"}
        if cursor:
            body["cursor"] = cursor
        r = s.post("/api/v1/search", json=body, timeout=20)
        assert r.status_code == 200, r.text
        j = r.json()
        for h in j["hits"]:
            k = h["message"][:8]
            seen[k] = seen.get(k, 0) + 1
        cursor = j.get("cursor")
        if not cursor or not j["hits"]:
            assert all(v == 1 for v in seen.values()), "duplicates"
            return set(seen)
    raise AssertionError("paging did not finish")


def wal_records(data_dir):
    """(file, offset, seq, payload) of every record in wal/, in order."""
    out = []
    wdir = os.path.join(data_dir, "wal")
    for name in sorted(os.listdir(wdir)):
        with open(os.path.join(wdir, name), "rb") as f:
            b = f.read()
        off = 0
        while off + 32 <= len(b) and b[off:off + 4] == b"SWAL":
            seq, plen = struct.unpack_from("<QI", b, off + 8)
            out.append((name, off, seq, b[off + 32:off + 32 + plen]))
            off += 32 + plen
    return out


def ids_in(payload):
    return {m.decode() for m in re.findall(rb"ev\d{6}", payload)}


def flip(path, off):
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        off = off % size
        f.seek(off)
        c = f.read(1)
        f.seek(off)
        f.write(bytes([c[0] ^ 0x20]))


def metric(s, name):
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    return None


class World:
    """The populated data directory and what it must hold."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    data = root / "pristine"
    w = World()
    w.root = root
    s = Siftd(data, args=FLUSHING, log_dir=root)
    s.start()
    s.wait_ready()
    # Six flushed segments of 100 events, then a delete of every tenth.
    for b in range(6):
        post(s, batch(b * 100, 100))
        wait(lambda: store(s)["segments"]["memory"] == 0 and
             store(s)["docs_buffered"] == 0, "flush")
    r = s.post("/api/v1/delete", json={"query": SECRET, "all_time": True},
               timeout=30)
    assert r.status_code == 200 and r.json()["matched"] == 60, r.text
    assert s.stop() == 0
    # Unflushed tail: 30 batches of 100 padded events (about 3 MiB of
    # WAL in three files), acknowledged, then kill -9.
    s.args = NO_FLUSH
    s.start()
    s.wait_ready()
    for b in range(6, 36):
        post(s, batch(b * 100, 100, PAD))
    s.kill9()
    w.data = str(data)
    w.deleted = {ev_id(i) for i in range(0, 600, 10)}
    w.live = {ev_id(i) for i in range(3600)} - w.deleted
    w.n = 0
    return w


def fresh(world, args=NO_FLUSH):
    """A copy of the populated directory and a siftd for it."""
    world.n += 1
    d = world.root / ("case%d" % world.n)
    shutil.copytree(world.data, d / "data")
    return Siftd(d / "data", args=args, log_dir=d)


def start(s):
    s.start()
    s.wait_ready()
    return s


def test_pristine_copy_holds_everything(world):
    """The baseline every case is measured against: all live events once,
    no deleted one, after the kill -9 (WAL replay)."""
    s = start(fresh(world))
    assert ids(s) == world.live
    assert store(s)["health"]["wal_records_lost"] == 0
    s.stop()


def test_manifest_lost_or_damaged_is_rebuilt(world):
    s = fresh(world)
    os.unlink(os.path.join(s.data_dir, "MANIFEST"))
    start(s)
    assert ids(s) == world.live
    j = store(s)
    assert j["health"]["manifest_rebuilt"] is True
    assert "rebuilding it from the segment files" in s.stderr()
    s.stop()
    # Damaged, and every kept generation gone: from the files alone.
    s = fresh(world)
    flip(os.path.join(s.data_dir, "MANIFEST"), 40)
    for name in os.listdir(s.data_dir):
        if name.startswith("MANIFEST."):
            os.unlink(os.path.join(s.data_dir, name))
    start(s)
    assert ids(s) == world.live
    s.stop()


def test_siftd_repair_rebuilds_and_deletes_nothing(world):
    s = fresh(world)
    m = os.path.join(s.data_dir, "MANIFEST")
    with open(m, "r+b") as f:
        f.truncate(10)
    files = sorted(os.listdir(os.path.join(s.data_dir, "segments")))
    dry = subprocess.run([SIFTD, "repair", "--dry-run", "--data-dir",
                          s.data_dir], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and os.path.getsize(m) == 10
    p = subprocess.run([SIFTD, "repair", "--data-dir", s.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("placed ") == len([f for f in files if f.endswith(".seg")])
    assert "saved      MANIFEST generation" in p.stdout
    assert sorted(os.listdir(os.path.join(s.data_dir, "segments"))) == files
    start(s)
    assert store(s)["health"]["manifest_rebuilt"] is False
    assert ids(s) == world.live
    s.stop()


def test_wal_record_damage_costs_that_batch_alone(world):
    s = fresh(world)
    # The unflushed tail (older records of the current file are flushed).
    recs = [r for r in wal_records(s.data_dir) if PAD.encode() in r[3]]
    assert len(recs) == 30
    name, off, seq, payload = recs[12]
    lost = ids_in(payload)
    assert len(lost) == 100
    flip(os.path.join(s.data_dir, "wal", name), off + 32 + len(payload) // 2)
    start(s)
    assert ids(s) == world.live - lost
    assert metric(s, "sift_wal_records_lost_total") == 1
    assert "records %d..%d lost" % (seq, seq) in s.stderr()
    ready = s.get("/readyz").json()
    assert "wal-" + name in ready["details"]["quarantined"]
    s.stop()


def test_missing_middle_wal_file_costs_its_records(world):
    s = fresh(world)
    recs = wal_records(s.data_dir)
    files = sorted({r[0] for r in recs})
    assert len(files) >= 3
    mid = files[1]
    lost = set()
    seqs = []
    for name, _, seq, payload in recs:
        if name == mid:
            lost |= ids_in(payload)
            seqs.append(seq)
    os.unlink(os.path.join(s.data_dir, "wal", mid))
    start(s)
    assert ids(s) == world.live - lost
    assert ("records %d..%d lost: the WAL file holding them is gone"
            % (min(seqs), max(seqs))) in s.stderr()
    s.stop()


def largest_section_middle(path):
    """The middle byte of a segment's largest section (the trailer's last
    32 bytes give the section table: segment_fmt.h).  A byte between
    sections is alignment padding, which no answer depends on."""
    with open(path, "rb") as f:
        b = f.read()
    tab, count = struct.unpack_from("<QI", b, len(b) - 32)
    secs = [struct.unpack_from("<IIQQ", b, tab + 32 * i) for i in range(count)]
    _, _, off, length = max(secs, key=lambda e: e[3])
    return off + length // 2


def test_damaged_segment_costs_its_events_only(world):
    s = fresh(world)
    segdir = os.path.join(s.data_dir, "segments")
    victim = sorted(f for f in os.listdir(segdir) if f.endswith(".seg"))[2]
    path = os.path.join(segdir, victim)
    flip(path, largest_section_middle(path))
    start(s)
    got = ids(s)
    missing = world.live - got
    assert got <= world.live
    # One flushed batch of 100 events, less its deleted tenth.
    assert 0 < len(missing) <= 100
    assert victim in s.get("/readyz").json()["details"]["quarantined"]
    s.stop()


@pytest.mark.parametrize("how", ["flip_header", "flip_bitmap", "cut", "gone",
                                 "zeros"])
def test_damaged_tombstones_never_resurrect(world, how):
    s = fresh(world)
    segdir = os.path.join(s.data_dir, "segments")
    side = sorted(f for f in os.listdir(segdir) if f.endswith(".del"))[1]
    path = os.path.join(segdir, side)
    if how == "flip_header":
        flip(path, 17)
    elif how == "flip_bitmap":
        flip(path, -2)
    elif how == "cut":
        with open(path, "r+b") as f:
            f.truncate(12)
    elif how == "zeros":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.write(b"\0" * size)
    else:
        os.unlink(path)
    start(s)
    assert ids(s) == world.live
    assert store(s)["health"]["tombstones_rebuilt"] == 1
    s.stop()


def test_tombstones_without_journal_hold_the_segment(world):
    s = fresh(world)
    segdir = os.path.join(s.data_dir, "segments")
    side = sorted(f for f in os.listdir(segdir) if f.endswith(".del"))[1]
    flip(os.path.join(segdir, side), 20)
    os.unlink(os.path.join(s.data_dir, "deletes.log"))
    start(s)
    got = ids(s)
    assert got <= world.live  # nothing deleted is back
    assert 0 < len(world.live - got) <= 100
    ready = s.get("/readyz")
    assert ready.status_code == 200
    j = ready.json()
    assert j["status"] == "degraded"
    assert j["details"]["held"] == [side[:-4]]
    assert any(d["reason"] == "segments_held" for d in j["details"]["degraded"])
    s.stop()


def test_damaged_state_files_cost_their_lines(world):
    s = fresh(world)
    tpath = os.path.join(s.data_dir, "templates.txt")
    with open(tpath) as f:
        lines = f.read().splitlines(True)
    assert len(lines) >= 2
    flip(tpath, len(lines[0]) + 2)  # the first template line
    start(s)
    assert ids(s) == world.live
    q = s.get("/readyz").json()["details"]["quarantined"]
    assert any(n.startswith("templates.txt.") for n in q)
    assert "line 2 is damaged" in s.stderr()
    s.stop()


def test_unwritable_wal_directory_refuses_to_start(world, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for a read-only bind mount")
    s = fresh(world)
    wal = os.path.join(s.data_dir, "wal")
    subprocess.run(["mount", "--bind", wal, wal], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", wal], check=True)
        with pytest.raises(RuntimeError):
            s.start()
        err = s.stderr()
        assert "cannot write to the WAL directory" in err
        assert "Read-only file system" in err
        assert "exiting: siftd cannot start" in err
        assert s.proc.returncode == 1
    finally:
        subprocess.run(["umount", wal], check=True)


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")


def fill(path):
    """Writes zeros until the file system is full; returns the file."""
    filler = os.path.join(path, "filler")
    # Unbuffered: a short last write raises here, and close() has nothing
    # left to flush (a buffered file raised ENOSPC again when closed).
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError:
            pass
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return filler


def test_full_disk_start_serves_reads(tmp_path):
    """siftd starts on a full disk after a crash, answers queries, says
    "degraded: disk_full" on /readyz, answers ingest with 503, and takes
    ingest again by itself once space returns."""
    need_root()
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                   check=True)
    s = None
    try:
        data = mnt / "data"
        # No tier check before the crash (FLUSHING: 1 h): one could merge
        # the flushed segments to warm while space was free, leaving no
        # merge to hold after the restart.
        s = Siftd(data, args=FLUSHING, log_dir=tmp_path)
        s.addr_from_stdout = True  # siftd.addr cannot be written when full
        s.start()
        s.wait_ready()
        for b in range(4):
            post(s, batch(b * 100, 100))
        # "docs" counts the buffer too: wait until nothing is left in memory.
        wait(lambda: store(s)["segments"]["memory"] == 0 and
             store(s)["docs_buffered"] == 0 and store(s)["docs"] == 400 and
             store(s)["segments"]["disk"] >= 1, "flushed")
        post(s, batch(400, 100))  # and a tail only in the WAL
        s.kill9()
        filler = fill(str(mnt))
        s.args = FLUSHING + ["--set", "tiers.check_interval=200ms"]
        s.start()
        s.wait_ready()
        r = s.get("/readyz")
        assert r.status_code == 200
        j = r.json()
        assert j["status"] == "degraded"
        assert any(d["reason"] == "disk_full" for d in j["details"]["degraded"])
        assert ids(s) == {ev_id(i) for i in range(500)}
        r = s.post("/api/v1/ingest", data=batch(500, 10),
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 503 and "disk_full" in r.text
        assert store(s)["health"]["disk_full"] is True
        # Old events (2026-11-22) are due for warm: the merge is held.
        wait(lambda: metric(s, 'sift_merges_held{reason="disk_space"}') == 1,
             "merges held")
        assert "merges held" in s.stderr()
        assert "exiting" not in s.stderr()
        os.unlink(filler)
        wait(lambda: s.get("/readyz").json()["status"] == "ready", "ready again")
        post(s, batch(500, 10))
        wait(lambda: metric(s, 'sift_merges_held{reason="disk_space"}') == 0,
             "merges resume")
        assert s.stop() == 0
    finally:
        # A failed assertion must not leave siftd running on the mount.
        if s is not None:
            s.kill9()
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_failing_merge_backs_off(world):
    """A merge whose output cannot be written (the cold tier, where the
    old events go, made read-only under a running siftd) fails once, then
    waits: the metrics show it backing off, and more policy runs do not
    retry it."""
    need_root()
    s = fresh(world, args=NO_FLUSH + ["--set", "server.debug_endpoints=true"])
    start(s)
    cold = os.path.join(s.data_dir, "cold")
    subprocess.run(["mount", "--bind", cold, cold], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", cold], check=True)
        s.post("/api/v1/debug/lifecycle", json={})
        wait(lambda: metric(s, "sift_merge_failures_total") == 1, "a failure")
        t0 = time.monotonic()
        assert metric(s, "sift_merges_backing_off") == 1
        assert "waits 5 s before it is tried again" in s.stderr()
        for _ in range(10):
            assert s.post("/api/v1/debug/lifecycle", json={}).status_code == 200
        # Without back-off each run would fail again (10 more); with it a
        # retry comes 5 s, then 10 s, after the failure.
        slow = int((time.monotonic() - t0) // 5)
        assert metric(s, "sift_merge_failures_total") <= 1 + slow
        wait(lambda: any(d["reason"] == "merges_held"
                         for d in s.get("/readyz").json()["details"]["degraded"]),
             "degraded")
        assert ids(s) == world.live  # nothing lost by the failures
        s.stop()
    finally:
        s.kill9()
        subprocess.run(["umount", "-l", cold], check=True)
