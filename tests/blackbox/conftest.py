"""Shared helpers for black-box tests: they drive the real siftd binary.

Environment (set by `ctest -L blackbox`):
  SIFTD            path of the built siftd binary
  SIFT_SOURCE_DIR  repository root
  SIFT_BUILD_DIR   build directory (optional)

`Siftd` starts the daemon on 127.0.0.1 with port 0 and a temporary data
dir, waits (bounded) for DATA_DIR/siftd.addr, and offers .url, .get(),
.post(), .stop(sig), .kill9(), .restart() and log helpers.  Every wait is
bounded in time; teardown kills whatever is still running.
"""
import os
import re
import signal
import subprocess
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIFT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
SIFTD = os.environ.get("SIFTD") or os.path.join(SOURCE_DIR, "build", "siftd")

START_TIMEOUT = float(os.environ.get("SIFT_TEST_START_TIMEOUT", "20"))
STOP_TIMEOUT = 20.0


def run_siftd(args, timeout=20, **kw):
    """Runs siftd to completion (e.g. --version); returns CompletedProcess."""
    return subprocess.run([SIFTD] + list(args), capture_output=True, text=True,
                          timeout=timeout, **kw)


class Siftd:
    """One siftd process bound to a data directory that outlives restarts."""

    def __init__(self, data_dir, args=(), config=None, env=None, log_dir=None):
        self.data_dir = str(data_dir)
        self.args = list(args)
        self.config = str(config) if config else None
        self.env = dict(os.environ)
        for k in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            self.env.pop(k, None)  # plain logs; no systemd unless asked
        if env:
            self.env.update(env)
        self.log_dir = str(log_dir or os.path.dirname(self.data_dir.rstrip("/")))
        self.proc = None
        self.addr = None
        self.url = None
        self.starts = 0
        self.stdout_path = None
        self.stderr_path = None
        # On a full disk siftd.addr cannot be written: read the address
        # from the "siftd listening on http://ADDR" line instead.
        self.addr_from_stdout = False

    # -- process control -------------------------------------------------
    def command(self):
        cmd = [SIFTD]
        if self.config:
            cmd += ["-c", self.config]
        cmd += ["--listen", "127.0.0.1:0", "--data-dir", self.data_dir]
        return cmd + self.args

    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        addr_file = os.path.join(self.data_dir, "siftd.addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        self.starts += 1
        base = os.path.join(self.log_dir, "siftd-%d-%d" % (os.getpid(), self.starts))
        self.stdout_path = base + ".out"
        self.stderr_path = base + ".err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                         env=self.env, cwd=self.log_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("siftd exited with %d during start-up:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            addr = None
            if self.addr_from_stdout:
                m = re.search(r"listening on http://(\S+)", self.stdout())
                addr = m.group(1) if m else None
            elif os.path.exists(addr_file):
                with open(addr_file) as f:
                    addr = f.read().strip()
            if addr:
                self.addr = addr
                self.url = "http://" + addr
                return self
            time.sleep(0.02)
        self.kill9()
        raise RuntimeError("siftd did not write %s within %.0fs:\n%s"
                           % (addr_file, timeout, self.stderr()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits; returns the exit code (negative = signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("siftd did not exit within %.0fs of %s"
                                     % (timeout, signal.Signals(sig).name))
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None

    def restart(self, sig=signal.SIGTERM, args=None, timeout=START_TIMEOUT):
        """Stops (sig; SIGKILL via kill9 if sig is None) and starts again on
        the same data dir.  Returns the previous exit code."""
        rc = self.kill9() if sig is None else self.stop(sig)
        if args is not None:
            self.args = list(args)
        self.start(timeout=timeout)
        return rc

    # -- HTTP ---------------------------------------------------------------
    def request(self, method, path, timeout=10, **kw):
        return requests.request(method, self.url + path, timeout=timeout, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.get("/readyz", timeout=2)
                if last.status_code == 200:
                    return last
            except requests.RequestException as e:
                last = e
            time.sleep(0.05)
        raise AssertionError("siftd not ready within %.0fs: %r" % (timeout, last))

    # -- logs ---------------------------------------------------------------
    def stderr(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stdout(self):
        if not self.stdout_path or not os.path.exists(self.stdout_path):
            return ""
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    def wait_for_log(self, pattern, timeout=10):
        """Waits until a stderr line matches the regex; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.stderr())
            if m:
                return m
            if not self.running():
                break
            time.sleep(0.05)
        raise AssertionError("no log line matching %r within %.0fs:\n%s"
                             % (pattern, timeout, self.stderr()))


@pytest.fixture
def siftd_factory(tmp_path):
    """Makes Siftd instances (not started); kills them all at teardown."""
    made = []

    def make(args=(), config=None, env=None, data_dir=None, name="data"):
        d = data_dir or (tmp_path / name)
        s = Siftd(d, args=args, config=config, env=env, log_dir=tmp_path)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill9()


@pytest.fixture
def siftd(siftd_factory):
    """A started siftd with default settings."""
    return siftd_factory().start()
