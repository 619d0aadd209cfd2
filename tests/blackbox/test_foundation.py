"""Black-box tests of the daemon skeleton: start, health, errors, config
checking, overrides, signals and start-up failures (issue 2)."""
import os
import shutil
import subprocess
import re
import signal
import socket
import time

import pytest

from conftest import SIFTD, SOURCE_DIR, run_siftd


def write(path, text):
    path.write_text(text)
    return str(path)


def test_start_prints_and_writes_bound_address(siftd):
    addr = open(os.path.join(siftd.data_dir, "siftd.addr")).read().strip()
    assert re.fullmatch(r"127\.0\.0\.1:\d+", addr)
    assert int(addr.split(":")[1]) > 0
    assert siftd.addr == addr
    deadline = time.monotonic() + 5
    while "listening" not in siftd.stdout() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "siftd listening on http://%s\n" % addr in siftd.stdout()


def test_healthz(siftd):
    r = siftd.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_readyz_becomes_ready(siftd):
    r = siftd.wait_ready()
    assert r.json()["status"] == "ready"


def test_unknown_path_is_404_json(siftd):
    r = siftd.get("/no/such/thing")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()["error"]
    assert err["type"] == "not_found"
    assert "/no/such/thing" in err["reason"]


def test_wrong_method_is_405_json(siftd):
    r = siftd.post("/healthz", data="{}")
    assert r.status_code == 405
    assert r.json()["error"]["type"] == "method_not_allowed"
    assert r.headers["Allow"] == "GET"


def test_head_is_routed_like_get(siftd):
    r = siftd.request("HEAD", "/healthz")
    assert r.status_code == 200
    assert r.content == b""


def test_keepalive_serves_many_requests(siftd):
    import requests
    with requests.Session() as s:
        for _ in range(50):
            assert s.get(siftd.url + "/healthz", timeout=5).status_code == 200


def test_version():
    p = run_siftd(["--version"])
    assert p.returncode == 0
    assert re.fullmatch(r"siftd \d+\.\d+\.\d+\n", p.stdout)


def test_help():
    p = run_siftd(["--help"])
    assert p.returncode == 0
    for opt in ("--check-config", "--listen", "--data-dir", "--set", "--version", "-c"):
        assert opt in p.stdout


def test_unknown_option_is_usage_error():
    p = run_siftd(["--frobnicate"])
    assert p.returncode == 2
    assert "unknown option '--frobnicate'" in p.stderr


def test_check_config_sample_file_ok():
    p = run_siftd(["--check-config", "-c", os.path.join(SOURCE_DIR, "conf", "siftd.conf")])
    assert p.returncode == 0, p.stderr
    assert p.stdout == "OK\n"


def test_check_config_without_file_ok():
    p = run_siftd(["--check-config"])
    assert p.returncode == 0
    assert p.stdout == "OK\n"


def test_check_config_reports_every_error_with_line(tmp_path):
    path = write(tmp_path / "bad.conf",
                 "[server]\n"
                 "log_level = chatty\n"        # 2 bad value
                 "frobs = 3\n"                 # 3 unknown key
                 "[query]\n"
                 "max_hits = 0\n"              # 5 out of range
                 "timeout = soon\n"            # 6 bad duration
                 "[store]\n"
                 "block_bytes = 1TiB\n")       # 8 out of range
    p = run_siftd(["--check-config", "-c", path])
    assert p.returncode == 1
    assert "OK" not in p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 5, p.stderr
    assert lines[0].startswith(path + ":2: server.log_level: must be one of error|warn|info|debug")
    assert lines[1] == path + ":3: server.frobs: unknown key"
    assert lines[2].startswith(path + ":5: query.max_hits: 0 is out of range (1 to 1000000)")
    assert lines[3].startswith(path + ":6: query.timeout: expected a duration")
    assert lines[4].startswith(path + ":8: store.block_bytes: 1TiB is out of range")


def test_check_config_unknown_section(tmp_path):
    path = write(tmp_path / "bad.conf", "[bogus]\nx = 1\n")
    p = run_siftd(["--check-config", "-c", path])
    assert p.returncode == 1
    assert p.stderr.strip() == path + ":1: [bogus]: unknown section"


def test_check_config_set_validated_like_file():
    p = run_siftd(["--check-config", "--set", "query.max_hits=500",
                   "--set", "store.refresh=2s"])
    assert p.returncode == 0 and p.stdout == "OK\n"
    p = run_siftd(["--check-config", "--set", "query.max_hits=-5",
                   "--set", "nope.key=1", "--set", "server.workers=x",
                   "--set", "garbage"])
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith("--set query.max_hits: -5 is out of range")
    assert lines[1] == "--set nope.key: unknown section"
    assert lines[2].startswith("--set server.workers: expected an integer")
    assert lines[3].startswith("--set garbage: expected SECTION.KEY=VALUE")


def test_check_config_cross_key(tmp_path):
    p = run_siftd(["--check-config", "--set", "query.max_hits=10"])
    assert p.returncode == 1
    assert "query.default_hits: 100 is larger than query.max_hits (10)" in p.stderr


def test_set_applies_at_runtime(siftd_factory):
    s = siftd_factory(args=["--set", "query.max_hits=123",
                            "--set", "server.log_level=warn"]).start()
    cfg = s.get("/api/v1/config").json()
    assert cfg["query"]["max_hits"] == 123
    assert cfg["server"]["log_level"] == "warn"
    assert cfg["server"]["listen"] == "127.0.0.1:0"


def test_bad_config_refuses_to_start(siftd_factory, tmp_path):
    path = write(tmp_path / "bad.conf", "[http]\nmax_body_bytes = huge\n")
    s = siftd_factory(config=path)
    with pytest.raises(RuntimeError, match="exited with 1"):
        s.start(timeout=10)
    assert path + ":2: http.max_body_bytes: expected a size" in s.stderr()


def test_missing_config_file(tmp_path):
    missing = str(tmp_path / "nope.conf")
    p = run_siftd(["-c", missing, "--listen", "127.0.0.1:0",
                   "--data-dir", str(tmp_path / "d")])
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2, p.stderr
    assert missing + ": cannot open config file: No such file or directory" in lines[0]
    assert "exiting: siftd cannot start: the configuration" in lines[1]
    p = run_siftd(["--check-config", "-c", missing])
    assert p.returncode == 1
    assert "No such file or directory" in p.stderr


def test_sigterm_exits_zero_quickly(siftd):
    siftd.wait_ready()
    t0 = time.monotonic()
    assert siftd.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 5
    log = siftd.stderr()
    assert "SIGTERM received" in log
    assert "stopped" in log


def test_sigint_exits_zero(siftd):
    assert siftd.stop(signal.SIGINT) == 0


def test_restart_on_same_data_dir(siftd):
    assert siftd.restart() == 0
    assert siftd.get("/healthz").status_code == 200
    # After kill -9 the stale lock is gone with the process: restart works.
    assert siftd.restart(sig=None) == -signal.SIGKILL
    assert siftd.get("/healthz").status_code == 200


def test_second_daemon_on_same_data_dir_refused(siftd, siftd_factory):
    other = siftd_factory(data_dir=siftd.data_dir)
    with pytest.raises(RuntimeError, match="exited with 1"):
        other.start(timeout=10)
    assert "another siftd is running on it" in other.stderr()
    assert siftd.get("/healthz").status_code == 200


def test_sighup_reload_applies_log_level_and_reports_restart_keys(siftd_factory, tmp_path):
    conf = tmp_path / "siftd.conf"
    write(conf, "[server]\nlog_level = info\n[store]\nrefresh = 1s\n")
    s = siftd_factory(config=str(conf)).start()
    s.get("/healthz")
    assert "DEBUG" not in s.stderr()
    write(conf, "[server]\nlog_level = debug\n[store]\nrefresh = 5s\n")
    s.send_signal(signal.SIGHUP)
    s.wait_for_log(r"configuration reloaded: 1 key\(s\) applied, 1 need a restart")
    assert re.search(r"WARN config reload: store\.refresh changed from 1s to 5s: "
                     r"requires a restart", s.stderr())
    cfg = s.get("/api/v1/config").json()
    assert cfg["server"]["log_level"] == "debug"
    assert cfg["store"]["refresh"] == 1000  # kept: needs a restart
    s.get("/healthz")
    s.wait_for_log(r"DEBUG http: GET /healthz")
    assert s.stop() == 0


def test_sighup_with_broken_config_keeps_running(siftd_factory, tmp_path):
    conf = tmp_path / "siftd.conf"
    write(conf, "[server]\nlog_level = info\n")
    s = siftd_factory(config=str(conf)).start()
    write(conf, "[server]\nlog_level = shouty\n")
    s.send_signal(signal.SIGHUP)
    s.wait_for_log(r"config reload failed; keeping the running configuration")
    assert ":2: server.log_level: must be one of" in s.stderr()
    assert s.get("/api/v1/config").json()["server"]["log_level"] == "info"
    assert s.stop() == 0


def test_port_in_use(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    try:
        p = run_siftd(["--listen", "127.0.0.1:%d" % port,
                       "--data-dir", str(tmp_path / "d")], timeout=20)
    finally:
        sock.close()
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    # The cause, then the line saying siftd exits and what failed.
    assert len(lines) == 2, p.stderr
    assert "cannot listen on 127.0.0.1:%d: Address already in use" % port in lines[0]
    assert "exiting: siftd cannot start: the listening socket failed" in lines[1]


def test_bad_listen_address_rejected():
    p = run_siftd(["--check-config", "--listen", "localhost"])
    assert p.returncode == 1
    assert p.stderr.startswith("--listen: expected host:port")
    p = run_siftd(["--check-config", "--data-dir", ""])
    assert p.returncode == 1
    assert p.stderr.startswith("--data-dir: must not be empty")


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    bad = str(blocker / "data")
    p = run_siftd(["--listen", "127.0.0.1:0", "--data-dir", bad])
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 2, p.stderr
    assert "cannot use data directory %s: Not a directory" % bad in lines[0]
    assert "exiting: siftd cannot start: the data directory failed" in lines[1]


def test_read_only_data_dir():
    """A data dir the daemon's user cannot write.  Root ignores directory
    permissions, so when the suite runs as root the daemon is started as
    nobody (setpriv) on a directory owned by root with mode 0555."""
    import tempfile
    base = tempfile.mkdtemp(prefix="sift-ro-", dir="/tmp")
    os.chmod(base, 0o755)
    ro = os.path.join(base, "ro")
    os.mkdir(ro)
    os.chmod(ro, 0o555)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    try:
        p = subprocess.run(prefix + [SIFTD, "--listen", "127.0.0.1:0", "--data-dir", ro],
                           capture_output=True, text=True, timeout=20)
    finally:
        os.chmod(ro, 0o700)
        shutil.rmtree(base, ignore_errors=True)
    assert p.returncode == 1, p.stderr
    assert "cannot use data directory %s: Permission denied" % ro in p.stderr


# ---------------------------------------------------------------------------
# systemd integration
# ---------------------------------------------------------------------------

def test_sd_notify_ready_watchdog_stopping(siftd_factory, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        s = siftd_factory(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}).start()
        msgs = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any("READY=1" in m for m in msgs):
            msgs.append(sock.recv(4096).decode())
        assert any("READY=1" in m for m in msgs), msgs
        # Pings every WATCHDOG_USEC/2 (100 ms): expect several within 1 s.
        pings = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and pings < 3:
            if "WATCHDOG=1" in sock.recv(4096).decode():
                pings += 1
        assert pings >= 3
        s.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        seen_stopping = False
        while time.monotonic() < deadline and not seen_stopping:
            seen_stopping = "STOPPING=1" in sock.recv(4096).decode()
        assert seen_stopping
        assert s.stop() == 0
    finally:
        sock.close()


def _copy_unit_with_binary(tmp_path):
    """The unit names /usr/sbin/siftd, which verify needs to exist: test a
    copy whose Exec lines point at the binary under test instead."""
    import conftest
    src = os.path.join(SOURCE_DIR, "conf", "siftd.service")
    text = open(src).read()
    assert "ExecStart=/usr/sbin/siftd -c /etc/sift/siftd.conf --data-dir /var/lib/sift" in text
    unit = tmp_path / "siftd.service"
    unit.write_text(text.replace("/usr/sbin/siftd", os.path.abspath(conftest.SIFTD)))
    return str(unit)


def test_systemd_unit_verifies(tmp_path):
    import subprocess
    unit = _copy_unit_with_binary(tmp_path)
    p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "siftd.service" not in p.stderr, p.stderr  # no warnings about us
    text = open(unit).read()
    for needed in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30",
                   "ExecReload=/bin/kill -HUP $MAINPID", "User=sift",
                   "StateDirectory=sift", "ProtectSystem=strict",
                   "NoNewPrivileges=yes"):
        assert needed in text


def test_sysusers_and_tmpfiles_apply(tmp_path):
    import subprocess
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    p = subprocess.run(["systemd-sysusers", "--root=%s" % root,
                        os.path.join(SOURCE_DIR, "conf", "siftd.sysusers")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^sift:x:\d+:\d+:", (root / "etc" / "passwd").read_text(), re.M)
    p = subprocess.run(["systemd-tmpfiles", "--root=%s" % root, "--create",
                        os.path.join(SOURCE_DIR, "conf", "siftd.tmpfiles")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (root / "var" / "lib" / "sift").is_dir()


def test_sample_config_is_what_siftd_prints():
    p = run_siftd(["--print-sample-config"])
    assert p.returncode == 0
    with open(os.path.join(SOURCE_DIR, "conf", "siftd.conf")) as f:
        assert f.read() == p.stdout


def test_configuration_doc_has_current_reference():
    p = run_siftd(["--print-config-reference"])
    assert p.returncode == 0
    with open(os.path.join(SOURCE_DIR, "docs", "configuration.md")) as f:
        doc = f.read()
    begin = doc.index("<!-- BEGIN GENERATED REFERENCE -->\n") + len("<!-- BEGIN GENERATED REFERENCE -->\n")
    end = doc.index("<!-- END GENERATED REFERENCE -->")
    # Regenerate with scripts or: siftd --print-config-reference
    assert doc[begin:end] == p.stdout


def test_check_config_reports_every_start_error(tmp_path):
    """--check-config refuses what the start refuses, all at once: per-key
    and cross-key errors together, tokens and the token file, redaction in
    hash mode without a key and a malformed rule, librdkafka properties it
    does not know or values it rejects (issue 16)."""
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "[query]\nmax_hits = 10\ndefault_hits = 100\n"
        "[http]\nmax_body_bytes = lots\n"
        "[auth]\ntokens = justonefield\ntoken_file = %s\n"
        "[redact]\nenabled = true\nmode = hash\nrules = broken=(unclosed\n"
        "[kafka]\nbrokers = 127.0.0.1:9\ntopics = logs\n"
        "properties = no.such.property=1,fetch.wait.max.ms=abc\n"
        % (tmp_path / "missing-tokens"))
    p = run_siftd(["--check-config", "-c", str(conf)])
    assert p.returncode == 1 and "OK" not in p.stdout
    for want in ("http.max_body_bytes", "default_hits: 100 is larger",
                 "redact.hash_key: mode = hash needs a key",
                 "auth.tokens: entry 1", "missing-tokens: No such file",
                 "redact.rules: line 1",
                 'kafka.properties: no.such.property: No such configuration',
                 "kafka.properties: fetch.wait.max.ms: Invalid value"):
        assert want in p.stderr, (want, p.stderr)
    # Each of them alone also stops the start: --check-config said so.
    for body in ("[auth]\ntoken_file = %s\n" % (tmp_path / "missing-tokens"),
                 "[kafka]\nbrokers = 127.0.0.1:9\ntopics = logs\n"
                 "properties = no.such.property=1\n"):
        one = tmp_path / "one.conf"
        one.write_text(body)
        assert run_siftd(["--check-config", "-c", str(one)]).returncode == 1
        p = run_siftd(["-c", str(one), "--listen", "127.0.0.1:0",
                       "--data-dir", str(tmp_path / "d")])
        assert p.returncode == 1 and "exiting" in p.stderr, p.stderr
