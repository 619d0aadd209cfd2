"""Alert rules, silences and saved searches (issue 25) through the real
siftd binary and a real webhook receiver started here.

siftd's clock is frozen with the debug endpoint (POST /api/v1/debug/clock
{"freeze_ms": T}); rules are evaluated on a loop timer against "now", so a
rule is evaluated once when created and once more each time the test
steps the clock past its next interval.  Events carry timestamps relative
to the frozen "now".  Every wait is a bounded poll on a condition.

What is checked (docs/alerting.md): a rule fires once when its condition
becomes true and resolves when it stops; the notification goes through
the sink's outbox with the rule's name, and Grafana's annotations show
the rule, its value and labels; a silence keeps the transition
from the sinks (stored, marked silenced) and its expiry sends it; an
absence rule fires when a source stops; rules, saved searches and
silences survive a restart; the webhook gets Alertmanager's body when
asked; bad input gets a 4xx naming the problem; a broken rules file is
refused by --check-config and by the start, and a file rule naming a
field the store does not know is reported in the log and its status.
"""
import http.server
import json
import os
import re
import subprocess
import threading
import time

from conftest import run_siftd
from ingest_helpers import ingest, wait_for, write_config

RULE_ERRORS = {
    "name": "payments-errors",
    "query": "service:payments AND level:error",
    "condition": "count > 5",
    "window": "1m",
    "interval": "10s",
    "delay": "0s",
    "severity": "critical",
    "labels": {"team": "payments"},
}


class Webhook:
    """Records every POSTed body (a real HTTP receiver)."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                with outer.lock:
                    outer.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rule_bodies(self, rule):
        """sift-format bodies of rule's alerts (learned alerts left out)."""
        with self.lock:
            return [b for b in self.bodies if b.get("rule") == rule]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def start(siftd_factory, tmp_path, webhook=None, extra=(), config=None):
    args = ["--set", "server.debug_endpoints=true",
            "--set", "store.refresh=100ms",
            "--set", "alerts.retry_backoff=100ms"]
    if webhook:
        args += ["--set", "alerts.webhook_url=" + webhook.url]
    s = siftd_factory(args=args + list(extra), config=config)
    s.start()
    return s


def freeze(s, t_ms):
    r = s.post("/api/v1/debug/clock", json={"freeze_ms": int(t_ms)})
    assert r.status_code == 200, r.text


def events(t_ms, n, service, level="error", msg="payment failed"):
    return [{"@timestamp": int(t_ms) - 1000 - i * 10, "service": service,
             "level": level, "message": "%s %d" % (msg, i)} for i in range(n)]


def searchable(s, q, n):
    def got():
        r = s.get("/api/v1/search", params={"q": q, "limit": 0,
                                             "from": "now-1h"})
        return r.status_code == 200 and r.json()["total"]["value"] >= n
    wait_for(got, "%d events for %r" % (n, q))


def rule_alerts(s, rule):
    r = s.get("/api/v1/alerts", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return [a for a in r.json()["alerts"] if a.get("rule") == rule]


def rule_status(s, name):
    r = s.get("/api/v1/rules/" + name)
    assert r.status_code == 200, r.text
    return r.json()["status"]


def step(s, t_ms, name):
    """Moves the frozen clock to t_ms and waits for rule name's next
    evaluation at that time."""
    before = rule_status(s, name)["evaluations"]
    freeze(s, t_ms)
    wait_for(lambda: rule_status(s, name)["evaluations"] > before,
             "an evaluation of %s" % name)


def put_rule(s, rule):
    r = s.post("/api/v1/rules", json=rule)
    assert r.status_code == 201, r.text
    return r.json()


def test_rule_fires_once_resolves_and_silences(siftd_factory, tmp_path):
    hook = Webhook()
    try:
        s = start(siftd_factory, tmp_path, hook)
        now = time.time() * 1000
        freeze(s, now)
        ingest(s, events(now, 6, "payments") + events(now, 20, "checkout"))
        searchable(s, "*", 26)

        # Created: evaluated at once; 6 errors > 5 -> one fire.
        body = put_rule(s, RULE_ERRORS)
        assert body["created"] is True
        fires = wait_for(lambda: hook.rule_bodies("payments-errors"),
                         "the rule's notification")
        assert len(fires) == 1
        f = fires[0]
        assert f["event"] == "fire" and f["state"] == "firing"
        assert f["kind"] == "rule" and f["severity"] == "critical"
        assert f["value"] == 6 and f["threshold"] == 5
        assert f["labels"] == {"team": "payments"}
        assert f["query"] == "service:payments AND level:error"
        assert f["silenced"] is False
        al = rule_alerts(s, "payments-errors")
        assert [a["state"] for a in al] == ["firing"]
        assert al[0]["id"] == f["id"]

        # Grafana annotations name the rule and show its value (a learned
        # alert's score means nothing for a rule), severity and labels.
        r = s.post("/grafana/annotations", json={
            "range": {"from": "now-1h", "to": "now+1h"},
            "annotation": {"name": "alerts", "enable": True}})
        assert r.status_code == 200, r.text
        an = [a for a in r.json() if "payments-errors" in a["title"]]
        assert len(an) == 1, r.json()
        assert an[0]["title"] == "rule payments-errors"
        assert an[0]["text"] == "value 6 (threshold 5), critical, firing"
        assert set(an[0]["tags"]) == {"sift", "rule", "rule=payments-errors",
                                      "severity=critical", "team=payments"}

        # The CLI lists it with its value, not a score.
        env = dict(os.environ, HOME=str(tmp_path))
        r = subprocess.run([os.environ["SIFT_CLI"], "--url", s.url, "alerts"],
                           capture_output=True, text=True, env=env,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        line = [x for x in r.stdout.splitlines() if "payments-errors" in x]
        assert len(line) == 1, r.stdout
        assert re.search(r"^\s*%d  firing\s+rule\s+-  " % f["id"], line[0]), \
            line[0]
        assert line[0].endswith("rule=payments-errors  value 6 (threshold 5)")

        # Still true on the next evaluations: no second notification.
        step(s, now + 10000, "payments-errors")
        step(s, now + 20000, "payments-errors")
        assert len(hook.rule_bodies("payments-errors")) == 1
        st = rule_status(s, "payments-errors")
        assert st["firing"] == 1 and st["health"] == "ok"

        # The events leave the 1 m window: resolved, one notification.
        step(s, now + 70000, "payments-errors")
        got = wait_for(lambda: [b for b in hook.rule_bodies("payments-errors")
                                if b["event"] == "resolve"], "the resolve")
        assert len(got) == 1 and got[0]["id"] == f["id"]
        assert got[0]["state"] == "resolved"
        assert [a["state"] for a in rule_alerts(s, "payments-errors")] == \
            ["resolved"]

        # A silence on the team's label: the next incident is stored,
        # marked silenced, and not sent.
        r = s.post("/api/v1/silences", json={
            "matchers": [{"name": "team", "value": "payments"}],
            "duration": "1h", "comment": "deploying"})
        assert r.status_code == 200, r.text
        sid = r.json()["silenceID"]
        t2 = now + 30 * 60 * 1000  # past rules.cooldown: a new alert
        freeze(s, t2)
        ingest(s, events(t2, 7, "payments"))
        searchable(s, "service:payments", 13)
        step(s, t2 + 10000, "payments-errors")
        al = wait_for(lambda: [a for a in rule_alerts(s, "payments-errors")
                               if a["state"] == "firing"], "the silenced fire")
        assert al[0]["silenced"] is True
        assert len(hook.rule_bodies("payments-errors")) == 2  # fire, resolve

        # The silence ends: the firing alert is sent now.
        r = s.delete("/api/v1/silences/" + sid)
        assert r.status_code == 200, r.text
        sent = wait_for(lambda: [b for b in hook.rule_bodies("payments-errors")
                                 if b["id"] == al[0]["id"]],
                        "the alert after the silence")
        assert sent[0]["event"] == "fire" and sent[0]["silenced"] is False
        r = s.get("/api/v1/silences", params={"state": "expired"})
        assert [x["id"] for x in r.json()["silences"]] == [sid]

        # /metrics: per rule.
        m = s.get("/metrics").text
        assert 'sift_rule_evaluations_total{rule="payments-errors"}' in m
    finally:
        hook.close()


def test_absence_group_by_and_restart(siftd_factory, tmp_path):
    hook = Webhook()
    try:
        s = start(siftd_factory, tmp_path, hook)
        # The scenario lies 10 minutes in the past, so the real clock
        # between a restart and the next freeze sees no event at all
        # (a group that is missing stays missing).
        now = time.time() * 1000 - 600000
        freeze(s, now)
        ingest(s, events(now, 3, "billing", "info", "heartbeat")
               + events(now, 3, "api", "info", "heartbeat"))
        searchable(s, "*", 6)
        put_rule(s, {"name": "heartbeat", "query": "message:heartbeat",
                     "condition": "absent", "group_by": "service",
                     "window": "2m", "interval": "30s", "delay": "0s"})
        put_rule(s, RULE_ERRORS)
        step(s, now + 30000, "heartbeat")
        step(s, now + 100000, "heartbeat")
        assert hook.rule_bodies("heartbeat") == []

        # api keeps beating; billing stops: only billing fires.
        ingest(s, events(now + 100000, 2, "api", "info", "heartbeat"))
        searchable(s, "service:api", 5)
        t = now + 150000
        step(s, t, "heartbeat")
        fires = wait_for(lambda: hook.rule_bodies("heartbeat"), "absence")
        assert len(fires) == 1
        assert fires[0]["labels"] == {"service": "billing"}
        assert fires[0]["query"] == 'message:heartbeat AND service:"billing"' \
            or fires[0]["query"] == '(message:heartbeat) AND service:"billing"'

        # Saved search and silence, then a restart: everything is kept.
        r = s.post("/api/v1/saved", json={"name": "pay-errors",
                                          "query": "service:payments"})
        assert r.status_code == 201, r.text
        r = s.post("/api/v1/silences", json={
            "matchers": [{"name": "rule", "value": "nothing.*",
                          "isRegex": True}], "endsAt": "now+1d"})
        assert r.status_code == 200, r.text
        rules_before = s.get("/api/v1/rules").json()["rules"]
        s.restart()
        rules_after = s.get("/api/v1/rules").json()["rules"]
        assert [x["name"] for x in rules_after] == \
            [x["name"] for x in rules_before]
        assert rules_after[0]["condition"] == rules_before[0]["condition"]
        assert s.get("/api/v1/saved/pay-errors").json()["query"] == \
            "service:payments"
        assert len(s.get("/api/v1/silences").json()["silences"]) == 1
        # The firing group is still firing after the restart, and the
        # next evaluations send nothing new for it.
        t3 = t + 60000
        step(s, t3 - 500, "heartbeat")
        assert [a["state"] for a in rule_alerts(s, "heartbeat")] == ["firing"]
        assert len(hook.rule_bodies("heartbeat")) == 1
        # billing beats again (api too): resolved.
        ingest(s, events(t3, 1, "billing", "info", "heartbeat")
               + events(t3, 1, "api", "info", "heartbeat"))
        searchable(s, "message:heartbeat", 9)
        step(s, t3 + 30000, "heartbeat")
        wait_for(lambda: [b for b in hook.rule_bodies("heartbeat")
                          if b["event"] == "resolve"], "the resolve")
        assert len(hook.rule_bodies("heartbeat")) == 2
    finally:
        hook.close()


def test_alertmanager_body(siftd_factory, tmp_path):
    hook = Webhook()
    try:
        s = start(siftd_factory, tmp_path, hook,
                  extra=["--set", "alerts.webhook_format=alertmanager",
                         "--set", "alerts.external_url=http://sift.example"])
        now = time.time() * 1000
        freeze(s, now)
        ingest(s, events(now, 6, "payments"))
        searchable(s, "*", 6)
        put_rule(s, RULE_ERRORS)

        def am():
            with hook.lock:
                return [b for b in hook.bodies
                        if b.get("commonLabels", {}).get("alertname")
                        == "payments-errors"]
        b = wait_for(am, "an Alertmanager body")[0]
        assert b["version"] == "4" and b["status"] == "firing"
        a = b["alerts"][0]
        assert a["labels"]["alertname"] == "payments-errors"
        assert a["labels"]["team"] == "payments"
        assert a["labels"]["severity"] == "critical"
        assert a["endsAt"] == "0001-01-01T00:00:00Z"
        assert a["generatorURL"].startswith("http://sift.example/api/v1/alerts/")
        assert "rule payments-errors: value 6" in a["annotations"]["summary"]
        assert a["annotations"]["sift_event"] == "fire"
        assert set(b) == {"version", "groupKey", "truncatedAlerts", "status",
                          "receiver", "groupLabels", "commonLabels",
                          "commonAnnotations", "externalURL", "alerts"}
        assert set(a) == {"status", "labels", "annotations", "startsAt",
                          "endsAt", "generatorURL", "fingerprint"}

        # The events leave the window: Alertmanager's resolved body, with
        # the resolution time as endsAt and the same fingerprint.
        step(s, now + 70000, "payments-errors")
        res = wait_for(lambda: [x for x in am() if x["status"] == "resolved"],
                       "the resolved Alertmanager body")[0]
        ra = res["alerts"][0]
        assert ra["status"] == "resolved"
        assert ra["annotations"]["sift_event"] == "resolve"
        assert ra["fingerprint"] == a["fingerprint"]
        assert ra["startsAt"] == a["startsAt"]
        assert ra["endsAt"] != "0001-01-01T00:00:00Z"
        assert ra["endsAt"] > ra["startsAt"]
    finally:
        hook.close()


def test_saved_searches_and_errors(siftd_factory, tmp_path):
    s = start(siftd_factory, tmp_path)
    now = time.time() * 1000
    ingest(s, events(now, 4, "payments") + events(now, 2, "checkout"))
    searchable(s, "*", 6)

    r = s.post("/api/v1/saved", json={"name": "pay", "query": "service:payments",
                                      "from": "now-1h", "fields": "message"})
    assert r.status_code == 201, r.text
    assert r.json()["query"] == "service:payments"
    r = s.post("/api/v1/saved", json={"name": "pay", "query": "x"})
    assert r.status_code == 409, r.text
    assert "pay" in r.json()["error"]["reason"]
    # Used by name: q=@name and saved=name.
    for params in ({"q": "@pay"}, {"saved": "pay"}):
        r = s.get("/api/v1/search", params=params)
        assert r.status_code == 200, r.text
        assert r.json()["total"]["value"] == 4
    r = s.get("/api/v1/search", params={"q": "@nosuch"})
    assert r.status_code == 404 and "nosuch" in r.text
    r = s.get("/api/v1/search", params={"q": "x", "saved": "pay"})
    assert r.status_code == 400
    # A rule on the saved search (4 payments events in its window).
    r = s.post("/api/v1/rules", json={"name": "on-saved", "saved": "pay",
                                      "condition": "count > 100",
                                      "interval": "1s", "delay": "0s"})
    assert r.status_code == 201, r.text
    wait_for(lambda: rule_status(s, "on-saved")["last_value"] == 4,
             "the rule's value over the saved search")
    # Replace the saved search: searches and the rule read the new query.
    r = s.request("PUT", "/api/v1/saved/pay",
                  json={"query": "service:checkout", "from": "now-1h"})
    assert r.status_code == 200, r.text
    r = s.get("/api/v1/search", params={"saved": "pay"})
    assert r.json()["total"]["value"] == 2
    wait_for(lambda: rule_status(s, "on-saved")["last_value"] == 2,
             "the rule reading the new query")
    assert [x["name"] for x in s.get("/api/v1/saved").json()["saved"]] == ["pay"]
    for bad, what in (({"name": "b", "query": "level:(error"}, "query"),
                      ({"name": "b", "query": "a", "qurey": "x"}, "qurey"),
                      ({"name": "b c", "query": "a"}, "name"),
                      ({"name": "b"}, "query")):
        r = s.post("/api/v1/saved", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert what in r.json()["error"]["reason"], (bad, r.text)
    r = s.post("/api/v1/saved", data="{not json",
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert s.get("/api/v1/saved/nosuch").status_code == 404

    # Grafana targets read it as "@pay": the same frames as its query.
    def grafana(q):
        iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
            ms / 1000)) + ".000Z"
        return s.post("/grafana/query", json={
            "range": {"from": iso(now - 3600000), "to": iso(now + 60000)},
            "intervalMs": 60000, "maxDataPoints": 100,
            "targets": [{"refId": "A", "target": "count",
                         "payload": {"query": q}}]})
    def points(r):
        assert r.status_code == 200, r.text
        return [f["datapoints"] for f in r.json()]
    got = points(grafana("@pay"))
    assert got == points(grafana("service:checkout"))
    assert got != points(grafana("service:payments"))
    r = grafana("@nosuch")
    assert r.status_code == 404 and "nosuch" in r.text

    # The saved search cannot be deleted under its rule.
    r = s.delete("/api/v1/saved/pay")
    assert r.status_code == 409, r.text
    assert "on-saved" in r.text
    # Rules: errors name the rule and the problem.
    for bad, what in (
            ({"name": "r1", "query": "level:(error", "condition": "count > 1"},
             'rule \\"r1\\": query'),
            ({"name": "r2", "query": "a", "condition": "count > 1",
              "window": "90d"}, "tiers.retention"),
            ({"name": "r3", "query": "nosuchfield:x", "condition": "count > 1"},
             "unknown field"),
            ({"name": "r4", "query": "a", "condition": "count >> 1"},
             "condition"),
            ({"name": "r5", "query": "a", "condition": "count > 1",
              "windw": "1m"}, "windw")):
        r = s.post("/api/v1/rules", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert what in r.text, (bad, r.text)
    assert s.post("/api/v1/rules", json=dict(RULE_ERRORS)).status_code == 201
    assert s.post("/api/v1/rules", json=dict(RULE_ERRORS)).status_code == 409
    assert s.get("/api/v1/rules/nosuch").status_code == 404
    assert s.delete("/api/v1/rules/nosuch").status_code == 404
    r = s.post("/api/v1/rules", params={"dry_run": "true"},
               json=dict(RULE_ERRORS, name="dry"))
    assert r.status_code == 200 and r.json()["valid"] is True
    assert s.get("/api/v1/rules/dry").status_code == 404
    assert s.delete("/api/v1/rules/on-saved").status_code == 200
    assert s.delete("/api/v1/saved/pay").status_code == 200
    # Silences: matchers required, end after start.
    for bad in ({"duration": "1h"}, {"matchers": [], "duration": "1h"},
                {"matchers": [{"name": "rule", "value": "("  , "isRegex": True}],
                 "duration": "1h"},
                {"matchers": [{"name": "rule", "value": "x"}]}):
        r = s.post("/api/v1/silences", json=bad)
        assert r.status_code == 400, (bad, r.text)


def test_rules_file_and_check_config(siftd_factory, tmp_path):
    good = tmp_path / "rules.json"
    good.write_text(json.dumps({"rules": [RULE_ERRORS]}))
    bad = tmp_path / "bad-rules.json"
    bad.write_text(json.dumps([RULE_ERRORS,
                               {"name": "broken", "query": "level:(error",
                                "condition": "count > 1"},
                               {"name": "payments-errors", "query": "x",
                                "condition": "count > 1"}]))
    conf_good = write_config(tmp_path / "good.conf",
                             {"server": {"data_dir": str(tmp_path / "d1")},
                              "rules": {"file": str(good)}})
    conf_bad = write_config(tmp_path / "bad.conf",
                            {"server": {"data_dir": str(tmp_path / "d2")},
                             "rules": {"file": str(bad)}})
    r = run_siftd(["-c", conf_good, "--check-config"])
    assert r.returncode == 0, r.stderr
    r = run_siftd(["-c", conf_bad, "--check-config"])
    assert r.returncode != 0
    assert 'rule "broken": query' in r.stderr, r.stderr
    assert 'rule "payments-errors" is defined twice' in r.stderr, r.stderr

    # The start refuses the broken file too; the good one is served,
    # read-only through the API, and re-read on SIGHUP.
    s = siftd_factory(config=conf_good, name="d1")
    s.start()
    rules = s.get("/api/v1/rules").json()["rules"]
    assert [(x["name"], x["source"]) for x in rules] == \
        [("payments-errors", "file")]
    r = s.delete("/api/v1/rules/payments-errors")
    assert r.status_code in (400, 409) and "file" in r.text, r.text
    good.write_text(json.dumps([RULE_ERRORS, dict(RULE_ERRORS, name="second")]))
    s.send_signal(1)  # SIGHUP
    wait_for(lambda: len(s.get("/api/v1/rules").json()["rules"]) == 2,
             "the reloaded rules file")
    # A field the store does not know (a typo, as the API refuses it): the
    # reload logs it and the rule's status says it, naming the rule.
    ingest(s, events(time.time() * 1000, 2, "payments"))
    searchable(s, "service:payments", 2)
    typo = dict(RULE_ERRORS, name="second", query="servce:payments")
    good.write_text(json.dumps([RULE_ERRORS, typo]))
    s.send_signal(1)
    s.wait_for_log(r'WARN rules: .*rule "second": query: unknown field '
                   r"'servce' \(closest: service\)")
    st = s.get("/api/v1/rules/second").json()["status"]
    assert st["warning"] == ('rule "second": query: unknown field '
                             "'servce' (closest: service)"), st
    assert s.get("/api/v1/rules/payments-errors").json()["status"][
        "warning"] == ""
    good.write_text("[{]")
    s.send_signal(1)
    s.wait_for_log(r"rules:.*rules\.json.*(line|errors)")
    assert len(s.get("/api/v1/rules").json()["rules"]) == 2
    s.stop()
    s2 = siftd_factory(config=conf_bad, name="d2")
    try:
        s2.start(timeout=10)
        started = True
    except RuntimeError as e:
        started = False
        assert "broken" in str(e)
    assert not started
