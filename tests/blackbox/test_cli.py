"""Black-box tests of `sift`, the command-line client, against the real
siftd: every subcommand, pipes, error lines and exit statuses, the
configuration file and environment, retries against a siftd that answers
429 (its ingest rate limit), 503 (its query slots, taken by a running
export) and 413 (its body limit), and a tail that survives a siftd
restart.

Environment (set by ctest): SIFTD, SIFT_CLI (the built `sift`),
SIFT_SOURCE_DIR.  Every wait is bounded; each siftd gets a free port and
a temporary data directory.
"""
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import SOURCE_DIR, Siftd

SIFT = os.environ.get("SIFT_CLI") or os.path.join(SOURCE_DIR, "build", "sift")
FAST = ["--set", "store.refresh=100ms", "--set", "store.wal_sync=10ms"]
N_SHARED = 2500
SERVICES = ["api", "db", "web", "auth", "pay"]
LEVELS = ["info", "info", "info", "warn", "error"]


def wait_for(fn, what, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def sift_env(home, url=None, extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SIFT_URL", "SIFT_TOKEN", "SIFT_CONFIG", "SIFT_CACERT",
                        "NO_COLOR", "XDG_CONFIG_HOME")}
    env["HOME"] = str(home)
    env["LC_ALL"] = "C.UTF-8"
    if url:
        env["SIFT_URL"] = url
    env.update(extra or {})
    return env


def sift(home, args, url=None, input=None, env=None, timeout=60):
    """Runs sift to completion; returns CompletedProcess (text)."""
    return subprocess.run([SIFT] + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout,
                          env=sift_env(home, url, env))


def event(i, ts_ms, marker="ev"):
    return {"@timestamp": ts_ms, "message": "%s number %d of the set" % (marker, i),
            "service.name": SERVICES[i % 5], "log.level": LEVELS[i % 5],
            "status": 200 + (i % 5) * 100, "seq": i}


def start(tmp_path_factory, name, args=()):
    d = tmp_path_factory.mktemp(name)
    s = Siftd(d / "data", args=FAST + list(args), log_dir=d)
    s.start()
    s.wait_ready()
    return s


def search_total(s, q):
    r = s.get("/api/v1/search", params={"q": q, "limit": 0,
                                        "track_total_hits": "true"})
    assert r.status_code == 200, r.text
    return r.json()["total"]["value"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory, home):
    """A siftd holding N_SHARED events, loaded through `sift ingest`."""
    s = start(tmp_path_factory, "shared")
    base = int(time.time() * 1000) - 600000
    src = tmp_path_factory.mktemp("input") / "events.ndjson"
    with open(src, "w") as f:
        for i in range(N_SHARED):
            f.write(json.dumps(event(i, base + i * 100)) + "\n")
    r = sift(home, ["ingest", "--batch", "700", "--json", str(src)], url=s.url)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["accepted"] == N_SHARED and summary["rejected"] == 0
    assert summary["batches"] == 4  # 700 + 700 + 700 + 400
    wait_for(lambda: search_total(s, "ev") == N_SHARED, "the events searchable")
    s.base_ms = base
    yield s
    s.kill9()


# ---- help, usage, configuration ---------------------------------------

COMMANDS = ["search", "tail", "ingest", "hist", "terms", "stats", "fields",
            "patterns", "alerts", "delete", "status"]


def test_help_for_every_command_matches_the_manual(home):
    man = open(os.path.join(SOURCE_DIR, "docs", "man", "sift.1.scd")).read()
    top = sift(home, ["--help"])
    assert top.returncode == 0
    for cmd in COMMANDS:
        assert re.search(r"^  %s " % cmd, top.stdout, re.M), cmd
        r = sift(home, [cmd, "--help"])
        assert r.returncode == 0 and r.stderr == ""
        assert r.stdout.startswith("Usage: sift " + cmd)
        assert sift(home, ["help", cmd]).stdout == r.stdout
        assert "*%s*" % cmd in man, "sift(1) lacks the %s command" % cmd
        for opt in set(re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", r.stdout, re.M)):
            assert "*%s*" % opt in man, "sift(1) lacks %s of %s" % (opt, cmd)
    assert sift(home, ["--version"]).stdout.startswith("sift ")


def test_usage_errors_exit_2_with_a_hint(home):
    r = sift(home, ["serch", "x"])
    assert r.returncode == 2
    assert "unknown command 'serch'; did you mean 'search'?" in r.stderr
    r = sift(home, ["search", "--form", "now-1h", "x"])
    assert r.returncode == 2
    assert "unknown option '--form'; did you mean '--from'?" in r.stderr
    r = sift(home, ["search", "-level:debug"])
    assert r.returncode == 2 and "goes after '--'" in r.stderr
    r = sift(home, ["search", "--limit", "-3", "x"])
    assert r.returncode == 2 and "--limit" in r.stderr
    r = sift(home, ["search", "--json", "--raw", "x"])
    assert r.returncode == 2
    r = sift(home, ["terms"])
    assert r.returncode == 2 and "which field?" in r.stderr
    r = sift(home, ["search", "--color", "sometimes", "x"])
    assert r.returncode == 2
    r = sift(home, [])
    assert r.returncode == 2 and "Usage:" in r.stderr
    for r in (sift(home, ["serch"]), sift(home, ["search", "--form", "x"])):
        assert len(r.stderr.strip().splitlines()) == 1


def test_unreachable_server_is_one_line_and_exit_1(home):
    # A port nothing listens on: connection refused, retried, then one line.
    r = sift(home, ["--retries", "1", "search", "x"], url="http://127.0.0.1:9")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sift: search: cannot reach http://127.0.0.1:9")


def test_config_file_env_and_flags(tmp_path_factory, tmp_path):
    tokens = "ro:reader:reader-token-0123456789,adm:admin:admin-token-0123456789"
    s = start(tmp_path_factory, "tokens", ["--set", "auth.tokens=" + tokens])
    try:
        home = tmp_path / "h"
        cfgdir = home / ".config" / "sift"
        cfgdir.mkdir(parents=True)
        cfg = cfgdir / "config"
        # No token anywhere: 401 with a hint, exit 1.
        r = sift(home, ["search", "x"], url=s.url)
        assert r.returncode == 1
        assert r.stderr.startswith("sift: search: 401 unauthorized")
        assert "--token" in r.stderr
        # The default file gives url and token.
        cfg.write_text("# sift\nurl = %s\ntoken = reader-token-0123456789\n" % s.url)
        cfg.chmod(0o600)
        r = sift(home, ["search", "x"])
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        # A file others may read earns a warning (and still works).
        cfg.chmod(0o644)
        r = sift(home, ["search", "x"])
        assert r.returncode == 0 and "chmod 600" in r.stderr
        cfg.chmod(0o600)
        # The environment beats the file, flags beat the environment.
        r = sift(home, ["search", "x"], env={"SIFT_TOKEN": "wrong-token-0123456789"})
        assert r.returncode == 1 and "401" in r.stderr
        r = sift(home, ["--token", "reader-token-0123456789", "search", "x"],
                 env={"SIFT_TOKEN": "wrong-token-0123456789"})
        assert r.returncode == 0, r.stderr
        # A reader may not ingest or delete: 403 with a hint.
        r = sift(home, ["ingest"], input='{"message":"x marks"}\n')
        assert r.returncode == 1 and "403" in r.stderr
        r = sift(home, ["--token", "admin-token-0123456789", "ingest"],
                 input='{"message":"x marks"}\n')
        assert r.returncode == 0, r.stderr
        wait_for(lambda: sift(home, ["search", "--count", "x"]).stdout == "1\n",
                 "the event searchable")
        r = sift(home, ["delete", "x", "--all-time", "--yes"])
        assert r.returncode == 1 and "403" in r.stderr
        r = sift(home, ["alerts", "--feedback", "1", "fp"])
        assert r.returncode == 1 and "403" in r.stderr and "role" in r.stderr
        # status without an admin token leaves the store out, says why.
        r = sift(home, ["status"])
        assert r.returncode == 0, r.stderr
        assert "needs an admin token" in r.stdout
        assert "access   token 'ro' (reader)" in r.stdout
        r = sift(home, ["--token", "admin-token-0123456789", "status"])
        assert "needs an admin token" not in r.stdout
        # SIFT_CONFIG and --config name other files; they must exist.
        other = tmp_path / "other.conf"
        other.write_text("url = %s\ntoken_file = %s\n" % (s.url, tmp_path / "tok"))
        (tmp_path / "tok").write_text("admin-token-0123456789\n")
        r = sift(home, ["--config", str(other), "status", "--json"])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["store"] is not None
        r = sift(home, ["status"], env={"SIFT_CONFIG": str(tmp_path / "missing")})
        assert r.returncode == 2 and "missing" in r.stderr
        # A typo in the file is an error naming line and key.
        cfg.write_text("url = %s\ntokne = x\n" % s.url)
        r = sift(home, ["search", "x"])
        assert r.returncode == 2
        assert "config:2: unknown key 'tokne'; did you mean 'token'?" in r.stderr
    finally:
        s.kill9()


# ---- search -------------------------------------------------------------

def test_search_pages_follow_the_cursor(shared, home):
    r = sift(home, ["search", "--json", "--limit", "2300", "ev"], url=shared.url)
    assert r.returncode == 0, r.stderr
    hits = [json.loads(l) for l in r.stdout.splitlines()]
    seqs = [h["fields"]["seq"] for h in hits]
    assert len(seqs) == 2300 and len(set(seqs)) == 2300
    assert seqs == sorted(seqs, reverse=True)  # newest first across pages
    assert seqs[0] == N_SHARED - 1
    # --limit 0: every match; --oldest reverses.
    r = sift(home, ["search", "--json", "--limit", "0", "--oldest", "ev"],
             url=shared.url)
    seqs = [json.loads(l)["fields"]["seq"] for l in r.stdout.splitlines()]
    assert seqs == list(range(N_SHARED))
    # The hits are the server's bytes: the same as the API's.
    api = shared.get("/api/v1/search", params={"q": "ev", "limit": 3}).json()
    r = sift(home, ["search", "--json", "-n", "3", "ev"], url=shared.url)
    assert [json.loads(l) for l in r.stdout.splitlines()] == api["hits"]


def test_search_output_forms(shared, home):
    url = shared.url
    r = sift(home, ["search", "-n", "5", "level:error"], url=url)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 5
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR pay ev number "
                    r"\d+ of the set$", lines[0]), lines[0]
    assert "\033[" not in r.stdout  # no colour into a pipe
    r = sift(home, ["--color", "always", "search", "-n", "1", "level:error"], url=url)
    assert "\033[31mERROR\033[0m" in r.stdout
    r = sift(home, ["search", "-n", "1", "level:error"], url=url,
             env={"NO_COLOR": "1"})
    assert "\033[" not in r.stdout
    r = sift(home, ["search", "--raw", "-n", "2", "--oldest", "ev"], url=url)
    assert r.stdout == "ev number 0 of the set\nev number 1 of the set\n"
    r = sift(home, ["search", "--fields", "seq,service.name,message,nope",
                    "-n", "2", "--oldest", "ev"], url=url)
    assert r.stdout.splitlines() == ["0\tapi\tev number 0 of the set\t",
                                     "1\tdb\tev number 1 of the set\t"]
    r = sift(home, ["search", "--count", "service:api"], url=url)
    assert r.stdout == "%d\n" % (N_SHARED // 5)
    r = sift(home, ["search", "--count", "--json", "ev"], url=url)
    assert json.loads(r.stdout) == {"total": N_SHARED, "relation": "eq"}
    # The words of the query are joined: two words = both must match.
    r = sift(home, ["search", "--count", "number", "0"], url=url)
    assert r.stdout == "1\n"
    # What siftd read differently from the letter is said on stderr.
    r = sift(home, ["search", "--count", "set", "or", "nothing"], url=url)
    assert r.returncode == 0 and r.stdout == "%d\n" % N_SHARED
    assert re.match(r"sift: search: warning: 'or' at 4 read as the operator OR",
                    r.stderr), r.stderr
    # A time range passes through to the server.
    frm = str(shared.base_ms + 100 * 100)
    to = str(shared.base_ms + 110 * 100)
    r = sift(home, ["search", "--count", "--from", frm, "--to", to, "ev"], url=url)
    assert r.stdout == "10\n"


def test_terminal_escapes_in_logs_are_defused(shared, home):
    msg = "evil \x1b]0;owned\x07 \x1b[2J cleared"
    r = sift(home, ["ingest", "--format", "ndjson"], url=shared.url,
             input=json.dumps({"message": msg, "tag": "escape-test"}) + "\n")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: search_total(shared, "tag:escape-test") == 1, "the event")
    r = sift(home, ["search", "tag:escape-test"], url=shared.url)
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "evil \\x1b]0;owned\\x07 \\x1b[2J cleared" in r.stdout
    r = sift(home, ["search", "--raw", "tag:escape-test"], url=shared.url)
    assert r.stdout == msg + "\n"  # --raw is the message as stored


def test_search_errors_are_one_line_exit_1(shared, home):
    r = sift(home, ["search", "(unclosed"], url=shared.url)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("sift: search: 400 query_parse: expected ')' at 9 "
                        "(to close '(' at 0)\n")
    r = sift(home, ["search", "--from", "yesterday-ish", "x"], url=shared.url)
    assert r.returncode == 1 and r.stderr.startswith("sift: search: 400 ")
    assert "'from'" in r.stderr


def test_search_into_a_closed_pipe_ends_quietly(shared, home):
    r = subprocess.run(["bash", "-o", "pipefail", "-c",
                        "'%s' search --limit 0 ev | head -n 1" % SIFT],
                       capture_output=True, text=True, timeout=60,
                       env=sift_env(home, shared.url))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert len(r.stdout.splitlines()) == 1


# ---- aggregations -------------------------------------------------------

def test_hist_terms_stats_fields_patterns(shared, home):
    url = shared.url
    r = sift(home, ["hist", "--interval", "1m", "ev"], url=url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("%d events, " % N_SHARED) and "of 1m" in lines[0]
    rows = [l.split() for l in lines[1:]]
    assert sum(int(x[2]) for x in rows) == N_SHARED
    assert all(re.match(r"\d{4}-\d\d-\d\d$", x[0]) and re.match(r"\d\d:\d\d$", x[1])
               for x in rows)
    assert any("\u2588" in l for l in lines[1:])  # bars in a UTF-8 locale
    r = sift(home, ["hist", "--interval", "1m", "--json", "ev"], url=url)
    assert json.loads(r.stdout)["interval_ms"] == 60000
    # --by: a column per value, most frequent first, each summing right
    r = sift(home, ["hist", "--interval", "1m", "--by", "log.level", "ev"], url=url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith(", by log.level")
    assert lines[1].split() == ["time", "count", "info", "error", "warn"]
    rows = [l.split() for l in lines[2:]]
    # rows: date, time, count, info, error, warn, bar
    assert [sum(int(x[k]) for x in rows) for k in (2, 3, 4, 5)] == \
        [N_SHARED, 3 * N_SHARED // 5, N_SHARED // 5, N_SHARED // 5]
    assert all(int(x[2]) == int(x[3]) + int(x[4]) + int(x[5]) for x in rows)
    r = sift(home, ["hist", "--size", "2", "ev"], url=url)
    assert r.returncode == 2 and "--size goes with --by" in r.stderr

    r = sift(home, ["terms", "service.name", "ev"], url=url)
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()[1:]]
    assert sorted((x[0], int(x[1])) for x in rows) == \
        sorted((s, N_SHARED // 5) for s in SERVICES)
    r = sift(home, ["terms", "service.nmae", "ev"], url=url)
    assert r.returncode == 0
    assert re.search(r"^sift: terms: warning: no field 'service.nmae' .*did you "
                     r"mean 'service.name'", r.stderr, re.M), r.stderr
    r = sift(home, ["terms", "--size", "2", "--json", "log.level"], url=url)
    body = json.loads(r.stdout)
    assert [b["key"] for b in body["buckets"]] == ["info", "error"]
    assert body["buckets"][0]["count"] == 3 * N_SHARED // 5

    r = sift(home, ["stats", "status", "service:db"], url=url)
    assert r.returncode == 0, r.stderr
    st = dict(l.split() for l in r.stdout.splitlines())
    assert st["count"] == str(N_SHARED // 5)
    assert st["min"] == "300" and st["max"] == "300" and st["avg"] == "300"

    r = sift(home, ["fields", "--names"], url=url)
    names = r.stdout.splitlines()
    assert {"seq", "status", "log.level", "service.name", "message"} <= set(names)
    r = sift(home, ["fields"], url=url)
    assert re.search(r"^status\s+number\s+\d+$", r.stdout, re.M)
    assert re.search(r"^log\.level\s+keyword\s+\d+$", r.stdout, re.M)

    r = sift(home, ["patterns", "ev"], url=url)
    assert r.returncode == 0, r.stderr
    assert "ev number <num> of the set" in r.stdout
    assert r.stdout.splitlines()[-1] == "%d events, 1 patterns" % N_SHARED
    r = sift(home, ["patterns", "--json", "ev"], url=url)
    assert json.loads(r.stdout)["total"] == N_SHARED


# ---- ingest -------------------------------------------------------------

def test_ingest_reports_rejected_lines_and_exits_1(shared, home, tmp_path):
    f = tmp_path / "mixed.ndjson"
    f.write_text('{"message":"mixed one","batch":"mixed"}\n'
                 '\n'
                 'this is not json\n'
                 '{"message":"mixed two","batch":"mixed","v":0.1}\n'
                 '{"message": broken\n')
    r = sift(home, ["ingest", str(f)], url=shared.url)
    assert r.returncode == 1
    assert r.stdout == "accepted 2, rejected 2 (1 request, ndjson)\n"
    err = r.stderr.splitlines()
    assert err[0].startswith("sift: ingest: %s:3: " % f)
    assert err[1].startswith("sift: ingest: %s:5: " % f)
    wait_for(lambda: search_total(shared, "batch:mixed") == 2, "the two events")
    # Numbers reach the server exactly as written (no 0.10000000000000001).
    r = sift(home, ["search", "--json", "mixed two"], url=shared.url)
    assert '"v":0.1}' in r.stdout


def test_ingest_counts_expired_and_future_events(shared, home):
    # 2005 is past the retention (30d): not stored, exit 1.  2099 is past
    # ingest.max_future: stored at arrival (clamp, the default), exit 0.
    r = sift(home, ["ingest"], url=shared.url,
             input='{"@timestamp":"2005-12-04T04:47:44Z","message":"ancient one"}\n'
                   '{"message":"recent one","k":"timecheck"}\n')
    assert r.returncode == 1
    assert r.stdout.startswith("accepted 1, rejected 0, expired 1")
    assert "1 events were older than the server's retention" in r.stderr
    r = sift(home, ["ingest", "--json"], url=shared.url,
             input='{"@timestamp":"2099-01-01T00:00:00Z","message":"futuristic",'
                   '"k":"timecheck"}\n')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["future"] == 1
    assert "stamped too far in the future" in r.stderr
    wait_for(lambda: search_total(shared, "k:timecheck") == 2, "both stored")


def test_ingest_text_keeps_a_stack_trace_in_one_request(shared, home):
    # One event per batch: the trace's lines still go with their event,
    # so siftd joins them into one event.
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    text = ("%s,000 ERROR tracetest checkout failed\n"
            "java.lang.NullPointerException: cart is null\n"
            "\tat shop.Checkout.total(Checkout.java:42)\n"
            "Caused by: java.io.IOException: tracetest gone\n"
            "\t... 3 more\n"
            "%s,001 INFO tracetest next one\n" % (now, now))
    r = sift(home, ["ingest", "--format", "text", "--batch", "1", "--json"],
             url=shared.url, input=text)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["accepted"] == 2 and out["batches"] == 2
    assert out["joined"] == 4
    wait_for(lambda: search_total(shared, "tracetest") == 2, "two events")
    assert search_total(shared, "NullPointerException AND Checkout AND "
                                "tracetest AND failed") == 1


def test_ingest_text_stdin_labels_and_bulk(shared, home, tmp_path):
    url = shared.url
    text = "".join("textline %d from stdin\n" % i for i in range(25))
    r = sift(home, ["ingest", "--batch", "10", "--json"], url=url, input=text)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accepted"] == 25
    assert json.loads(r.stdout)["batches"] == 3
    wait_for(lambda: search_total(shared, "textline") == 25, "text events")

    evs = ('{"message":"labelled a"}\n'
           '{"message":"labelled b","service.name":"own"}\n'
           '{"message":"labelled c","service":{"name":"nested"}}\n')
    r = sift(home, ["ingest", "--field", "service.name=lbl", "--field", "env=ci",
                    "-"], url=url, input=evs)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: search_total(shared, "labelled") == 3, "labelled events")
    assert search_total(shared, "labelled env:ci") == 3
    assert search_total(shared, "labelled service.name:lbl") == 1
    assert search_total(shared, "labelled service.name:own") == 1
    assert search_total(shared, "labelled service.name:nested") == 1
    # Text lines get their labels from siftd (?_fields=).
    r = sift(home, ["ingest", "--format", "text", "--field", "service.name=txt",
                    "--field", "env=a:b"], url=url,
             input="labelled text one\nlabelled text two\n")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: search_total(shared, "labelled text service.name:txt") == 2,
             "labelled text")
    assert search_total(shared, 'labelled text env:"a:b"') == 2
    # a value with ',' cannot be said in that list: refused, nothing sent
    r = sift(home, ["ingest", "--field", "a=b,c"], url=url, input="plain text\n")
    assert r.returncode == 2 and "cannot hold ','" in r.stderr

    bulk = ('{"index":{"_index":"x"}}\n{"message":"bulky one"}\n'
            '{"delete":{"_id":"1"}}\n'
            '{"create":{}}\n{"message":"bulky two"}\n')
    r = sift(home, ["ingest", "--format", "bulk", "--index", "logs"], url=url,
             input=bulk)
    assert r.returncode == 1  # the delete action is refused
    assert r.stdout.startswith("accepted 2, rejected 1")
    assert re.search(r"<stdin>:3: 400 unsupported action: delete", r.stderr)
    wait_for(lambda: search_total(shared, "bulky") == 2, "bulk events")

    # No input on a terminal: a usage error, not a hang.
    master, slave = pty.openpty()
    try:
        p = subprocess.run([SIFT, "ingest"], stdin=slave, capture_output=True,
                           text=True, timeout=30, env=sift_env(home, url))
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 2 and "no input" in p.stderr


# ---- retries against a siftd at its limits --------------------------------

def metric(s, name, labels=""):
    total = 0.0
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(name + ("{" if labels else " ")) and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_ingest_retries_after_429(tmp_path_factory, home, tmp_path):
    # One request a second, no burst: back-to-back batches get 429 with
    # Retry-After: 1 and go through on a later try.
    s = start(tmp_path_factory, "limited", [
        "--set", "ratelimit.ingest_rate=1", "--set", "ratelimit.ingest_burst=1"])
    try:
        f = tmp_path / "rl.ndjson"
        f.write_text("".join(json.dumps({"message": "ratelimited %d" % i, "k": "rl"})
                             + "\n" for i in range(30)))
        # Without retries the first 429 ends it: reported, exit 1.
        r = sift(home, ["--retries", "0", "ingest", "--batch", "1", str(f)],
                 url=s.url)
        assert r.returncode == 1
        assert re.search(r"^sift: ingest: 429 rate_limited: ", r.stderr, re.M)
        m = re.search(r"stopped at line (\d+) of %s" % re.escape(str(f)), r.stderr)
        assert m and int(m.group(1)) >= 2, r.stderr
        first = int(m.group(1)) - 1
        assert r.stdout.startswith("accepted %d, rejected 0" % first)

        refused = metric(s, "sift_http_refused_total", 'reason="rate_limited"')
        r = sift(home, ["ingest", "--batch", "10", "--json", str(f)], url=s.url)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["accepted"] == 30 and out["batches"] == 3
        # every 429 was retried: the CLI counts what siftd refused
        assert out["retries"] >= 1
        assert metric(s, "sift_http_refused_total",
                      'reason="rate_limited"') - refused == out["retries"]
        # every event exactly once
        assert metric(s, "sift_events_ingested_total", 'source="http"') == first + 30
        wait_for(lambda: search_total(s, "k:rl") == first + 30, "every event once")
    finally:
        s.kill9()


def server_has_unread_bytes(port):
    """An established connection to port whose bytes nobody read yet
    (siftd stopped: the kernel accepted and queued them)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            local, state, queues = cols[1], cols[3], cols[4]
            if int(local.split(":")[1], 16) == port and state == "01" and \
                    int(queues.split(":")[1], 16) > 0:
                return True
    return False


def test_ingest_never_resends_a_batch_whose_fate_is_unknown(tmp_path_factory,
                                                            home, tmp_path):
    s = start(tmp_path_factory, "unknown")
    port = int(s.addr.rsplit(":", 1)[1])
    f = tmp_path / "ten.ndjson"
    f.write_text("".join(json.dumps({"message": "fate %d" % i}) + "\n"
                         for i in range(10)))
    s.send_signal(signal.SIGSTOP)
    try:
        p = subprocess.Popen([SIFT, "ingest", "--batch", "5", str(f)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=sift_env(home, s.url))
        # The first batch reached the kernel of a siftd that cannot answer.
        wait_for(lambda: server_has_unread_bytes(port), "the batch sent")
    finally:
        s.kill9()  # the connection breaks after the body was sent
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1
    assert ("connection lost after sending lines 1-5 of %s" % f) in err, err
    assert "not resent, to avoid duplicates" in err
    assert out.startswith("accepted 0, rejected 0")


def hold_export(s, q):
    """An export nobody reads: with a 4 KiB receive window it stalls and
    keeps its query slot until the socket is closed."""
    host, port = s.addr.rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(b"GET /api/v1/export?q=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                 % q.encode())
    return sock


def test_ingest_splits_413_and_search_retries_503(tmp_path_factory, home,
                                                   tmp_path):
    s = start(tmp_path_factory, "busy", [
        "--set", "query.max_concurrent=1", "--set", "http.max_body_bytes=256KiB",
        "--set", "http.max_line_bytes=16KiB", "--set", "query.max_hits=500",
        "--set", "query.default_hits=200"])
    try:
        # ~2 MB in one batch: 413 (256 KiB), halved until the parts fit.
        f = tmp_path / "slot.ndjson"
        f.write_text("".join(json.dumps({"message": "slot %d %s" % (i, "z" * 300),
                                         "k": "slot"}) + "\n" for i in range(6000)))
        r = sift(home, ["ingest", "--batch", "6000", "--json", str(f)], url=s.url)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["accepted"] == 6000 and out["rejected"] == 0
        assert out["batches"] > 8
        wait_for(lambda: search_total(s, "k:slot") == 6000, "every event once")

        # Pages of 1000 are over query.max_hits (500): sift falls back to
        # the server's page size (200) and stops at its own limit.
        r = sift(home, ["search", "--json", "--limit", "1100", "k:slot"], url=s.url)
        assert r.returncode == 0, r.stderr
        ids = [json.loads(l)["_id"] for l in r.stdout.splitlines()]
        assert len(ids) == 1100 and len(set(ids)) == 1100

        # An event larger than any request may be: rejected, the rest kept.
        f = tmp_path / "huge.ndjson"
        f.write_text(json.dumps({"message": "y" * 300000, "k": "huge"}) + "\n" +
                     json.dumps({"message": "small one", "k": "huge"}) + "\n")
        r = sift(home, ["ingest", str(f)], url=s.url)
        assert r.returncode == 1
        assert "%s:1: larger than the server accepts" % f in r.stderr
        assert r.stdout.startswith("accepted 1, rejected 1")

        sock = hold_export(s, "k:slot")
        try:
            wait_for(lambda: s.get("/api/v1/search", params={"q": "x"}).status_code
                     == 503, "the slot taken")
            # No retries: the 503 is the answer, one line, exit 1.
            r = sift(home, ["--retries", "0", "search", "--count", "k:slot"],
                     url=s.url)
            assert r.returncode == 1
            assert r.stderr.startswith("sift: search: 503 too_many_queries: ")
            # With retries: sift waits (Retry-After) until the slot frees.
            p = subprocess.Popen([SIFT, "search", "--count", "k:slot"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=sift_env(home, s.url))
            before = metric(s, "sift_query_errors_total", 'endpoint="search"')
            wait_for(lambda: metric(s, "sift_query_errors_total",
                                    'endpoint="search"') > before,
                     "sift's search refused with 503")
            assert p.poll() is None  # still retrying
        finally:
            sock.close()
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out == "6000\n" and err == ""
    finally:
        s.kill9()


# ---- tail ---------------------------------------------------------------

class Lines:
    """Collects a process's output lines without blocking the test."""

    def __init__(self, f):
        self.f = f
        self.lines = []
        self.buf = b""
        os.set_blocking(f.fileno(), False)

    def poll(self):
        while True:
            try:
                chunk = os.read(self.f.fileno(), 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        self.lines += [l.decode() for l in done]
        return self.lines


def test_tail_follows_and_survives_a_siftd_restart(tmp_path_factory, home):
    s = start(tmp_path_factory, "tail")
    p = subprocess.Popen([SIFT, "tail", "--json", "k:tail"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=sift_env(home, s.url))
    out, err = Lines(p.stdout), Lines(p.stderr)
    n = [0]

    def post(tag):
        s.post("/api/v1/ingest", data=json.dumps(
            {"message": "tail %s" % tag, "k": "tail"}) + "\n", timeout=10)

    def seen():
        # One more marker per poll: the tail shows events that arrive
        # after it subscribed, so keep sending until one comes through.
        n[0] += 1
        post("m%d" % n[0])
        s.post("/api/v1/ingest", data='{"message":"not for the tail"}\n',
               timeout=10)
        return [l for l in out.poll() if '"k":"tail"' in l]

    try:
        wait_for(seen, "the tail to show an event")
        # siftd dies and comes back on the same port while the tail is
        # stopped; events arrive before the tail can reconnect.
        p.send_signal(signal.SIGSTOP)
        addr = s.addr
        s.restart(sig=None, args=FAST + ["--listen", addr])  # kill -9, start
        assert s.addr == addr
        s.wait_ready()
        for i in range(5):
            post("gap%d" % i)
        wait_for(lambda: search_total(s, "k:tail AND gap*") == 5, "the gap events")
        p.send_signal(signal.SIGCONT)
        before = n[0]
        wait_for(lambda: [l for l in seen() if '"tail m%d"' % (before + 1) in l],
                 "the tail to resume", timeout=30)
        text = "\n".join(err.poll())
        assert "sift: tail: connection to %s lost" % s.url in text
        assert "sift: tail: reconnected to %s; the events of the gap follow" \
            % s.url in text
        # Every event exactly once: the gap ones (found by the backfill)
        # and those shown before, which the backfill's search found again.
        msgs = [json.loads(l)["message"] for l in out.poll()]
        assert all(json.loads(l)["fields"]["k"] == "tail" for l in out.poll())
        assert len(msgs) == len(set(msgs)), msgs
        for i in range(5):
            assert "tail gap%d" % i in msgs
        assert p.poll() is None
        p.send_signal(signal.SIGINT)  # Ctrl-C: a clean end, status 0
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait(timeout=10)
        s.kill9()
    assert "Traceback" not in "".join(err.poll())


def test_tail_from_shows_the_last_events_first(shared, home):
    # like tail -n 3: the newest three matches, oldest first, then follow
    p = subprocess.Popen([SIFT, "tail", "--json", "-n", "3", "--from", "now-1d",
                          "service:api"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=sift_env(home, shared.url))
    out = Lines(p.stdout)
    try:
        lines = wait_for(lambda: len(out.poll()) >= 3 and out.poll(), "3 lines")
        seqs = [json.loads(l)["fields"]["seq"] for l in lines[:3]]
        last = N_SHARED - 5 + [i for i in range(5) if SERVICES[i] == "api"][0]
        assert seqs == [last - 10, last - 5, last]
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0


def test_tail_shows_what_siftd_says_of_the_query(shared, home):
    # a tail's answer is a stream: siftd's warnings come as headers
    p = subprocess.Popen([SIFT, "tail", "--json", "-n", "1", "--from",
                          "now-1d", "service:api or service:db"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=sift_env(home, shared.url))
    out = Lines(p.stdout)
    try:
        wait_for(lambda: len(out.poll()) >= 1, "1 line")
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0
    err = p.stderr.read().decode()
    assert err.count("sift: tail: warning: 'or' at 12 read as the operator "
                     "OR (as in KQL)") == 1, err


def test_tail_refuses_a_bad_query_and_an_absent_server(shared, home):
    r = sift(home, ["tail", "(x"], url=shared.url, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith("sift: tail: 400 query_parse")
    r = sift(home, ["--retries", "0", "tail", "x"], url="http://127.0.0.1:9",
             timeout=30)
    assert r.returncode == 1 and "cannot reach" in r.stderr


# ---- delete -------------------------------------------------------------

def run_on_pty(home, args, url, answer):
    """Runs sift with a terminal on stdin and types answer."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([SIFT] + args, stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=sift_env(home, url))
        os.write(master, answer.encode())
        out, err = p.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    return p.returncode, out, err


def test_delete_dry_run_asks_then_deletes(tmp_path_factory, home):
    s = start(tmp_path_factory, "delete")
    url = s.url
    try:
        now = int(time.time() * 1000)
        evs = "".join(json.dumps({"@timestamp": now - 1000 * i, "message":
                                  "gdpr request jane %d" % i, "k": "gdpr"}) + "\n"
                      for i in range(5))
        evs += "".join(json.dumps({"message": "keep me %d" % i, "k": "keep"}) + "\n"
                       for i in range(3))
        r = sift(home, ["ingest"], url=url, input=evs)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: search_total(s, "k:gdpr OR k:keep") == 8, "the events")
        rng = ["--from", "now-1h", "--to", "now+1m"]

        # the server's dry run counts; nothing goes
        r = sift(home, ["delete", "k:gdpr", "jane"] + rng + ["--dry-run"], url=url)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "5 events match (dry run: nothing deleted)\n"
        r = sift(home, ["delete", "--json", "--dry-run", "k:gdpr"] + rng, url=url)
        assert json.loads(r.stdout)["matched"] == 5
        assert json.loads(r.stdout)["dry_run"] is True
        # usage: a query and a range (or --all-time) are needed
        r = sift(home, ["delete", "k:gdpr"], url=url)
        assert r.returncode == 2 and "--from and/or --to" in r.stderr
        r = sift(home, ["delete", "--all-time"], url=url)
        assert r.returncode == 2 and "give a query" in r.stderr
        # no terminal and no --yes: refused, nothing deleted
        r = subprocess.run([SIFT, "delete", "k:gdpr"] + rng, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60,
                           env=sift_env(home, url))
        assert r.returncode == 2 and "without --yes" in r.stderr
        rc, out, err = run_on_pty(home, ["delete", "k:gdpr"] + rng, url, "no\n")
        assert rc == 1 and "not confirmed; nothing deleted" in err
        assert re.search(r"5 events match 'k:gdpr' from \d{4}-\d\d-\d\dT[\d:.]+Z "
                         r"to \d{4}-\d\d-\d\dT[\d:.]+Z\.", err), err
        assert search_total(s, "k:gdpr") == 5
        rc, out, err = run_on_pty(home, ["delete", "k:gdpr"] + rng, url, "yes\n")
        assert rc == 0, err
        assert out == "deleted 5 events\n"
        assert search_total(s, "k:gdpr") == 0
        r = sift(home, ["delete", "k:gdpr", "--yes"] + rng, url=url)
        assert r.returncode == 0 and r.stdout == "0 events match; nothing to delete\n"

        # a query that matches everything needs --match-all, and sift
        # never adds it by itself; the same for no range and --all-time
        r = sift(home, ["delete", "*", "--yes"] + rng, url=url)
        assert r.returncode == 2 and "--match-all" in r.stderr
        r = sift(home, ["delete", "*", "--dry-run"] + rng, url=url)
        assert r.returncode == 0 and r.stdout.startswith("3 events match")
        assert "a real run needs --match-all" in r.stderr
        assert search_total(s, "k:keep") == 3
        r = sift(home, ["delete", "*", "--all-time", "--yes"], url=url)
        assert r.returncode == 2 and "--match-all" in r.stderr
        assert search_total(s, "k:keep") == 3
        r = sift(home, ["delete", "*", "--all-time", "--match-all", "--yes"], url=url)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "deleted 3 events\n"
        assert search_total(s, "*") == 0
    finally:
        s.kill9()


# ---- alerts -------------------------------------------------------------

def test_alerts_list_and_feedback(tmp_path_factory, home):
    # The incident of test_anomaly.py: steady windows, then a burst of
    # errors (its helpers step siftd's debug clock window by window).
    from test_anomaly import scenario_args, ingest_window
    s = start(tmp_path_factory, "alerts", scenario_args())
    try:
        r = sift(home, ["alerts"], url=s.url)
        assert r.returncode == 0 and r.stdout == "no alerts\n"
        t0_ms = (int(time.time()) - 3600) * 1000
        for w in range(8):
            ingest_window(s, t0_ms, w)
        ingest_window(s, t0_ms, 8, n_err=20)
        ingest_window(s, t0_ms, 9)
        firing = wait_for(lambda: s.get("/api/v1/alerts", params={
            "state": "firing"}).json()["alerts"], "a firing alert")
        r = sift(home, ["alerts", "--state", "firing", "--json"], url=s.url)
        assert r.returncode == 0, r.stderr
        listed = [json.loads(l) for l in r.stdout.splitlines()]
        assert [a["id"] for a in listed] == [a["id"] for a in firing]
        aid = firing[0]["id"]
        r = sift(home, ["alerts"], url=s.url)
        assert re.search(r"^\s*%d  firing\s+%s" % (aid, firing[0]["kind"]),
                         r.stdout, re.M), r.stdout
        assert firing[0]["series"] in r.stdout
        r = sift(home, ["alerts", "--feedback", str(aid), "fp"], url=s.url)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("alert %d marked false_positive" % aid)
        a = s.get("/api/v1/alerts/%d" % aid).json()
        assert (a.get("alert") or a)["label"] == "false_positive"
        r = sift(home, ["alerts"], url=s.url)
        assert "[false_positive]" in r.stdout
        r = sift(home, ["alerts", "--feedback", "999999", "tp"], url=s.url)
        assert r.returncode == 1
        assert r.stderr.startswith("sift: alerts: 404 alert_not_found")
        r = sift(home, ["alerts", "--feedback", "x", "fp"], url=s.url)
        assert r.returncode == 2
        r = sift(home, ["alerts", "--feedback", str(aid), "maybe"], url=s.url)
        assert r.returncode == 2
    finally:
        s.kill9()


# ---- status -------------------------------------------------------------

def test_status_human_json_and_down(shared, home, tmp_path_factory):
    r = sift(home, ["status"], url=shared.url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("server   %s (siftd " % shared.url)
    assert lines[1] == "health   ok, ready"
    assert lines[2] == "access   no tokens configured (loopback clients only)"
    assert re.match(r"store    \d+ docs", lines[3])
    assert any(re.match(r"tiers    memory\s+\d+ segments", l) for l in lines)
    assert any(re.match(r"\s+cold\s+\d+ segments", l) for l in lines)
    src = [l for l in lines if "ingested" in l]
    assert src and src[0].startswith("sources  http")
    r = sift(home, ["status", "--json"], url=shared.url)
    st = json.loads(r.stdout)
    assert st["ok"] is True and st["health"]["status"] == "ok"
    assert st["access"]["tokens_configured"] is False
    assert st["store"]["docs"] >= N_SHARED
    assert set(st["tiers"]["tiers"]) >= {"hot", "warm", "cold"}
    http = [x for x in st["sources"] if x["source"] == "http"][0]
    assert http["ingested"] >= N_SHARED
    # Nobody there: exit 1.
    r = sift(home, ["--retries", "0", "status"], url="http://127.0.0.1:9")
    assert r.returncode == 1 and "cannot reach" in r.stderr


# ---- shell completion ---------------------------------------------------

COMPLETION = os.path.join(SOURCE_DIR, "src", "cli", "completion")

ZPTY = r"""
# complete.zsh DIR LINE...: types each LINE and a TAB into one interactive
# zsh with DIR in fpath, prints each completed line.
zmodload zsh/zpty
dir=$1; shift
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D; print READY"
out=""
for i in {1..400}; do
  zpty -r -t z chunk && out+=$chunk
  [[ $out == *READY*'> '* ]] && break
  sleep 0.05
done
n=0
for line in "$@"; do
  n=$((n + 1))
  zpty -w -n z "$line"$'\t'
  zpty -w z $'\C-a echo "<<<'$n$'" \C-e ">>>"'
  out=""
  for i in {1..400}; do
    zpty -r -t z chunk && out+=$chunk
    [[ $out == *$'\n<<<'$n' '*' >>>'* ]] && break
    sleep 0.05
  done
  print -r -- "${${out##*$'\n<<<'$n' '}%% >>>*}"
done
zpty -d z
"""


def test_bash_completion(shared, home):
    env = sift_env(home, shared.url, {"PATH": os.path.dirname(SIFT) + ":" +
                                      os.environ["PATH"]})

    def complete(*words):
        script = ("source '%s/sift.bash'; COMP_WORDS=(%s); "
                  "COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _sift; "
                  "printf '%%s\\n' \"${COMPREPLY[@]}\"" %
                  (COMPLETION, " ".join("'%s'" % w for w in words)))
        p = subprocess.run(["bash", "--norc", "-c", script], capture_output=True,
                           text=True, timeout=30, env=env)
        assert p.returncode == 0, p.stderr
        return sorted(l for l in p.stdout.splitlines() if l)

    assert complete("sift", "se") == ["search"]
    assert complete("sift", "--url", shared.url, "ta") == ["tail"]
    assert complete("sift", "search", "--f") == ["--fields", "--from"]
    assert complete("sift", "ingest", "--format", "") == ["auto", "bulk", "ndjson",
                                                           "text"]
    assert complete("sift", "alerts", "--feedback", "3", "") == ["fp", "tp"]
    assert complete("sift", "help", "st") == ["stats", "status"]
    # field names come from the server
    assert complete("sift", "terms", "log.l") == ["log.level"]
    assert complete("sift", "search", "--fields", "servi") == ["service.name"]
    assert complete("sift", "terms", "log.level", "x") == []  # then a query


def test_zsh_completion(shared, home, tmp_path):
    script = tmp_path / "complete.zsh"
    script.write_text(ZPTY)
    env = sift_env(home, shared.url, {"PATH": os.path.dirname(SIFT) + ":" +
                                      os.environ["PATH"]})
    typed = {"sift se": "sift search",
             "sift ingest --form": "sift ingest --format",
             "sift ingest --format b": "sift ingest --format bulk",
             "sift alerts --st": "sift alerts --state",
             "sift terms log.l": "sift terms log.level"}  # from the server
    p = subprocess.run(["zsh", "-f", str(script), COMPLETION] + list(typed),
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    got = [l.strip() for l in p.stdout.splitlines()]
    assert got == list(typed.values())
