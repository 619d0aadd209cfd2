"""Every example request in the user docs runs against the real siftd.

For each page (README.md and docs/*.md; docs/internals is design notes),
in order, against a fresh siftd per page:

- every `curl` command in a code block (fenced, or indented and written
  `$ curl`) is run with the real curl, `localhost:7700` and
  `127.0.0.1:7700` pointing at the test's siftd and `@/path/file` at a
  fixture file of that name.  It must succeed (2xx), or answer the status
  of the error the docs show after it.  When the docs show the answer (a
  JSON block right after the command, or the lines after it in the same
  block), the real answer must have the same shape: the same keys at
  every level and values of the same JSON types.  So a renamed key, a new
  key or a changed type fails the test until the page shows it;
- every ```ini block must pass `siftd --check-config` (the page's keys
  exist and their values are valid);
- every line of a ```json block marked `<!-- grafana-payloads: m1, m2 -->`
  is sent to /grafana/query as the payload of a target with that metric.

A block may be left out with `<!-- example: skip (why) -->` on the line
before it; the reason is required and the page must still have examples
that run or skips that say why.  `<!-- example-siftd: --set k=v ... -->`
anywhere in a page gives its siftd more arguments.  Requests to an ingest
endpoint are followed by a wait until everything sent is searchable, so
the next example sees it.

The parameter tables of the docs are checked in test_api_answers.py
(generated from siftd --print-api-params); the sift client's examples in
docs/cli.md are its own tests' business (test_cli.py).
"""
import glob
import json
import os
import re
import shlex
import subprocess
import time

import pytest

from conftest import SIFTD, SOURCE_DIR, run_siftd

FAST = ["--set", "store.wal_sync=20ms", "--set", "store.refresh=100ms",
        "--set", "store.flush=500ms"]
PAGES = ["README.md"] + sorted(
    os.path.relpath(p, SOURCE_DIR)
    for p in glob.glob(os.path.join(SOURCE_DIR, "docs", "*.md")))

# Files the examples name (`--data-binary @events.ndjson`); '@/var/log/x'
# becomes '@x' in the page's working directory.
FIXTURES = {
    "events.ndjson":
        '{"message":"payment failed","log.level":"error",'
        '"service.name":"checkout"}\n'
        '{"message":"payment ok","log.level":"info",'
        '"service.name":"checkout"}\n',
    # Syslog dates have no year: today's, so they are within retention.
    "syslog":
        time.strftime("%b %e %H:%M:%S", time.gmtime()) +
        " web-01 sshd[19939]: Accepted publickey for alice\n" +
        time.strftime("%b %e %H:%M:%S", time.gmtime()) +
        " web-01 CRON[20001]: (root) CMD (run-parts)\n",
}

MARK_SKIP = re.compile(r"<!--\s*example:\s*skip\s*\((.+?)\)\s*-->")
MARK_GRAFANA = re.compile(r"<!--\s*grafana-payloads:\s*(.+?)\s*-->")
MARK_ARGS = re.compile(r"<!--\s*example-siftd:\s*(.+?)\s*-->")


# ---- reading the pages ----------------------------------------------------

def blocks(text):
    """Code blocks of a page: (lang, first line number, lines, marker)."""
    lines = text.split("\n")
    out = []
    i = 0
    last_comment = None
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("<!--"):
            last_comment = line.strip()
        if line.startswith("```"):
            lang = line[3:].strip()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append((lang, i + 1, lines[i + 1:j], last_comment))
            last_comment = None
            i = j + 1
            continue
        if line.startswith("    $ ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or
                                      not lines[j].strip()):
                j += 1
            body = [l[4:] for l in lines[i:j]]
            while body and not body[-1].strip():
                body.pop()
            out.append(("console", i + 1, body, last_comment))
            last_comment = None
            i = j
            continue
        if line.strip() and not line.strip().startswith("<!--"):
            last_comment = None if not line.startswith("<!--") else \
                last_comment
        i += 1
    return out


def commands(lines):
    """(command, answer text) pairs of the curl commands in a block."""
    out = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line.startswith("curl "):
            i += 1
            continue
        cmd = line
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd[:-1] + " " + lines[i].strip()
        # A quoted body may span lines (--data-binary '...').
        while cmd.count("'") % 2 == 1 and i + 1 < len(lines):
            i += 1
            cmd = cmd + "\n" + lines[i]
        i += 1
        answer = []
        while i < len(lines):
            nxt = lines[i].strip()
            if nxt.startswith("curl ") or nxt.startswith("$ "):
                break
            answer.append(lines[i])
            i += 1
        out.append((cmd, "\n".join(answer).strip()))
    return out


def examples(page):
    """The runnable examples of a page, in order."""
    with open(os.path.join(SOURCE_DIR, page)) as f:
        text = f.read()
    args = []
    for m in MARK_ARGS.finditer(text):
        args += shlex.split(m.group(1))
    out, skipped = [], []
    bl = blocks(text)
    for k, (lang, lineno, lines, mark) in enumerate(bl):
        where = "%s:%d" % (page, lineno)
        if mark and MARK_SKIP.search(mark):
            skipped.append((where, MARK_SKIP.search(mark).group(1)))
            continue
        if lang == "ini":
            out.append(("ini", where, "\n".join(lines), None))
            continue
        if lang == "json" and mark and MARK_GRAFANA.search(mark):
            metrics = [x.strip() for x in
                       MARK_GRAFANA.search(mark).group(1).split(",")]
            payloads = [l for l in lines if l.strip()]
            assert len(metrics) == len(payloads), where
            out.append(("grafana", where, list(zip(metrics, payloads)), None))
            continue
        for cmd, answer in commands(lines):
            if not answer and k + 1 < len(bl) and bl[k + 1][0] == "json" \
                    and bl[k + 1][1] <= lineno + len(lines) + 4:
                answer = "\n".join(bl[k + 1][2]).strip()
            out.append(("curl", where, cmd, answer))
    return args, out, skipped


# ---- comparing answers ----------------------------------------------------

def kind(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


# Objects whose keys are the events' own data (field names, values of a
# split), not the API's: only their type is compared.
DATA_MAPS = {"fields", "by"}


def same_shape(doc, got, path="$"):
    """Raises AssertionError naming the first place doc and got differ."""
    assert kind(doc) == kind(got), "%s: the docs show %s, siftd answers %s" \
        % (path, kind(doc), kind(got))
    if isinstance(doc, dict) and path.rsplit(".", 1)[-1] in DATA_MAPS:
        return
    if isinstance(doc, dict):
        missing = sorted(set(doc) - set(got))
        extra = sorted(set(got) - set(doc))
        assert not missing and not extra, \
            "%s: keys only in the docs %s, only in the answer %s" \
            % (path, missing, extra)
        for key in doc:
            same_shape(doc[key], got[key], "%s.%s" % (path, key))
    elif isinstance(doc, list) and doc:
        assert got, "%s: the docs show elements, the answer has none" % path
        same_shape(doc[0], got[0], path + "[0]")


def parse_answer(text):
    """The documented answer as JSON values (one, or one per line), or
    None when it is not JSON (an illustration with '…')."""
    if not text:
        return None
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    try:
        return [json.loads(l) for l in text.splitlines() if l.strip()]
    except ValueError:
        return None


# ---- running --------------------------------------------------------------

def wait_searchable(url):
    """Waits until nothing is buffered (what was sent is searchable)."""
    import requests
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st = requests.get(url + "/api/v1/store", timeout=5).json()
        if st.get("docs_buffered", 0) == 0:
            time.sleep(0.2)  # one refresh period more
            return
        time.sleep(0.05)
    raise AssertionError("events not searchable within 15 s")


def run_curl(cmd, url, cwd):
    cmd = cmd.replace("localhost:7700", url).replace("127.0.0.1:7700", url)
    cmd = re.sub(r"@/(?:[^\s'\"]*/)?([^\s'\"/]+)", r"@\1", cmd)
    is_tail = "/api/v1/tail" in cmd
    full = "%s --max-time %d -sS -w '\\n__STATUS__%%{http_code}\\n'" % (
        cmd, 3 if is_tail else 20)
    p = subprocess.run(["bash", "-c", full], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    out = p.stdout
    m = re.search(r"\n?__STATUS__(\d+)\n?$", out)
    status = int(m.group(1)) if m else 0
    body = out[:m.start()] if m else out
    # A tail streams until curl's --max-time: exit 28 is its normal end.
    ok_rc = (0, 28) if is_tail else (0,)
    assert p.returncode in ok_rc, (cmd, p.returncode, p.stderr)
    return status, body


def check_curl(where, cmd, answer, url, cwd):
    status, body = run_curl(cmd, url, cwd)
    want = parse_answer(answer)
    want_status = 200
    if want and isinstance(want[0], dict) and "error" in want[0] \
            and isinstance(want[0].get("status"), int):
        want_status = want[0]["status"]
    if want_status == 200:
        assert 200 <= status < 300, "%s: %s\n-> %d %s" % (where, cmd, status,
                                                           body[:500])
    else:
        assert status == want_status, "%s: %s\n-> %d %s" % (
            where, cmd, status, body[:500])
    if want is not None:
        got = [json.loads(l) for l in body.splitlines() if l.strip()] \
            if len(want) > 1 or body.count("\n") > 1 and \
            not body.lstrip().startswith("{\n") else [json.loads(body)]
        for d, g in zip(want, got):
            try:
                same_shape(d, g)
            except AssertionError as e:
                raise AssertionError("%s: %s\n%s\nanswer: %s"
                                     % (where, cmd, e, body[:800]))
    if re.search(r"/api/v1/ingest|/_bulk", cmd):
        wait_searchable(url)


def check_ini(where, text, tmp_path):
    path = tmp_path / ("check-%d.conf" % abs(hash(where)))
    path.write_text(text + "\n")
    p = run_siftd(["-c", str(path), "--check-config"])
    assert p.returncode == 0, "%s: siftd --check-config:\n%s%s" % (
        where, p.stdout, p.stderr)


def check_grafana(where, pairs, url):
    import requests
    for metric, payload in pairs:
        body = {"range": {"from": "2024-05-01T09:00:00Z",
                          "to": "2024-05-01T11:00:00Z"},
                "intervalMs": 60000, "maxDataPoints": 100,
                "targets": [{"refId": "A", "target": metric,
                             "payload": json.loads(payload)}]}
        r = requests.post(url + "/grafana/query", json=body, timeout=20)
        assert r.status_code == 200, "%s: %s %s -> %d %s" % (
            where, metric, payload, r.status_code, r.text[:300])


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(page, siftd_factory, tmp_path):
    args, exs, skipped = examples(page)
    for where, why in skipped:
        assert why.strip(), "%s: a skipped example must say why" % where
    if not exs:
        return
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name, content in FIXTURES.items():
        (cwd / name).write_text(content)
    s = None
    for what, where, a, b in exs:
        if what == "ini":
            check_ini(where, a, tmp_path)
            continue
        if s is None:
            s = siftd_factory(args=FAST + args).start()
            s.wait_ready()
        if what == "curl":
            check_curl(where, a, b, s.url, cwd)
        else:
            check_grafana(where, a, s.url)


def test_the_pages_have_examples():
    """The test reads what it should: the pages with requests have them."""
    counts = {p: len([e for e in examples(p)[1] if e[0] == "curl"])
              for p in PAGES}
    for page in ("README.md", "docs/search-api.md", "docs/ingest.md",
                 "docs/lifecycle.md", "docs/anomaly.md"):
        assert counts[page] > 0, (page, counts)
    assert sum(counts.values()) >= 20, counts


def test_documented_defaults_are_the_configs():
    """A docs table whose rows name a config key (`section.key`) in the
    first column and whose second column is "default" shows the default
    siftd has (siftd --print-config-reference)."""
    p = run_siftd(["--print-config-reference"])
    assert p.returncode == 0
    defaults = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| [a-z]+ \| `([^`]*)`",
                               p.stdout, re.M))
    assert "ingest.max_depth" in defaults
    checked = 0
    for page in PAGES:
        with open(os.path.join(SOURCE_DIR, page)) as f:
            lines = f.read().split("\n")
        header = None
        for line in lines:
            if not line.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if len(header) < 2 or header[1] != "default" or len(cells) < 2:
                continue
            m = re.match(r"^`([a-z_]+\.[a-z_]+)`$", cells[0])
            if not m or m.group(1) not in defaults:
                continue
            shown = cells[1].strip("`").replace(" ", "")
            assert shown == defaults[m.group(1)], (page, m.group(1), shown,
                                                    defaults[m.group(1)])
            checked += 1
    assert checked >= 5, checked
