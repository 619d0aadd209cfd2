"""Elasticsearch outputs: the probes Filebeat, Logstash, Vector and Fluent
Bit make before sending (answered so they proceed with default settings),
the index paths (/<index>/_bulk keeps the index in _index), and a real
shipper, rsyslog's omelasticsearch (Debian rsyslog-elasticsearch), with
its default settings (one document per message to /system/events) and in
bulk mode, a few hundred messages each, every one searchable exactly
once."""
import socket
import time

import pytest
import requests

from conftest import Siftd
from ingest_helpers import free_port
from shipper_helpers import Rsyslog, total, wait_exactly_once

N = 200
ES = "Elasticsearch"


@pytest.fixture(scope="module")
def s(tmp_path_factory):
    d = tmp_path_factory.mktemp("es")
    cfg = d / "siftd.conf"
    cfg.write_text("[store]\nrefresh = 200ms\nwal_sync = 10ms\n")
    sd = Siftd(d / "data", config=cfg, log_dir=d).start()
    yield sd
    sd.kill9()


def test_root_answers_like_elasticsearch(s):
    r = requests.get(s.url + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Elastic-Product"] == ES
    v = r.json()["version"]
    assert v["number"].split(".")[0] == "8"  # Vector: 6, 7 or 8
    assert v["build_flavor"] == "default"  # not serverless
    assert r.json()["tagline"].startswith("You Know, for Search")
    h = requests.head(s.url + "/", timeout=10)
    assert h.status_code == 200 and h.headers["X-Elastic-Product"] == ES
    # a browser still lands on the web UI
    b = requests.get(s.url + "/", headers={"Accept": "text/html"},
                     allow_redirects=False, timeout=10)
    assert b.status_code == 302 and b.headers["Location"] == "/ui/"


def test_probes_let_shippers_proceed(s):
    def get(path, **kw):
        r = requests.get(s.url + path, timeout=10, **kw)
        assert r.headers.get("X-Elastic-Product") == ES, path
        return r

    lic = get("/_license", params={"human": "false"})
    assert lic.json()["license"]["status"] == "active"
    xp = get("/_xpack").json()
    assert xp["features"]["ilm"]["available"] is True
    h = get("/_cluster/health", params={"wait_for_status": "yellow",
                                        "timeout": "5s"})
    assert h.status_code == 200 and h.json()["status"] == "green"
    assert " green " in get("/_cat/health").text
    assert get("/_cat/health", params={"format": "json"}).json()[0][
        "status"] == "green"
    nodes = get("/_nodes/http").json()["nodes"]
    assert list(nodes.values())[0]["http"]["publish_address"]
    # Filebeat / Logstash: template and ILM checks, then creation.
    for path in ("/_index_template/filebeat-8.17.0", "/_template/logstash",
                 "/_ilm/policy/filebeat", "/_data_stream/logs-app-default",
                 "/_alias/logstash", "/_component_template/x"):
        assert requests.head(s.url + path, timeout=10).status_code == 404
        g = get(path)
        assert g.status_code == 404 and "sift keeps none" in g.text, path
        p = requests.put(s.url + path, json={"x": 1}, timeout=10)
        assert p.status_code == 200 and p.json() == {"acknowledged": True}
    assert requests.head(s.url + "/logstash-2024", timeout=10
                         ).status_code == 404
    c = requests.put(s.url + "/logstash-2024", json={}, timeout=10)
    assert c.json()["acknowledged"] is True


def test_index_paths_keep_the_index(s):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = "".join('{"create":{}}\n{"@timestamp":"%s","message":'
                   '"esindexpath n%d"}\n' % (now, i) for i in range(5))
    body += '{"create":{"_index":"other"}}\n{"message":"esindexpath n5"}\n'
    r = requests.post(s.url + "/filebeat-8.17.0/_bulk", data=body,
                      params={"filter_path": "errors,items.*.error"},
                      headers={"Content-Type": "application/x-ndjson"},
                      timeout=30)
    assert r.status_code == 200 and r.json() == {"errors": False}, r.text
    d = requests.post(s.url + "/app-logs/_doc", json={"message":
                                                       "esindexpath n6"},
                      timeout=30)
    assert d.status_code == 201 and d.json()["result"] == "created"
    assert d.json()["_index"] == "app-logs"
    d = requests.put(s.url + "/app-logs/_create/id-7",
                     json={"message": "esindexpath n7"}, timeout=30)
    assert d.status_code == 201 and d.json()["_id"] == "id-7"
    # the _bulk rules for an _id of one's own: create twice is a conflict,
    # index twice replaces (one copy stored, the later one)
    again = requests.put(s.url + "/app-logs/_create/id-7",
                         json={"message": "esindexpath n7 again"}, timeout=30)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["type"] == \
        "version_conflict_engine_exception"
    for word, status, result in (("first", 201, "created"),
                                 ("second", 200, "updated")):
        d = requests.put(s.url + "/app-logs/_doc/id-8",
                         json={"message": "esindexpath n8 " + word},
                         timeout=30)
        assert d.status_code == status and d.json()["result"] == result, \
            d.text
    # a pretty-printed document is one document
    d = requests.post(s.url + "/app-logs/_doc",
                      data='{\n  "message": "esindexpath n9"\n}\n',
                      headers={"Content-Type": "application/json"},
                      timeout=30)
    assert d.status_code == 201, d.text
    bad = requests.post(s.url + "/app-logs/_bulk", params={"pipeline": "x"},
                        data=body, timeout=10)
    assert bad.status_code == 400 and "pipeline" in bad.text
    docs = wait_exactly_once(s, "esindexpath", 10)
    assert [docs[i]["fields"]["_index"] for i in range(10)] == (
        ["filebeat-8.17.0"] * 5 + ["other"] + ["app-logs"] * 4)
    assert docs[8]["message"] == "esindexpath n8 second"
    assert docs[7]["fields"]["_id"] == "id-7" 
    assert total(s, "_index:filebeat-8.17.0") == 5
    # siftd's own namespaces are never taken for an index
    for path in ("/api/v1/nothing", "/api/v2", "/grafana/x/y"):
        r = requests.post(s.url + path, data="{}", timeout=10)
        assert r.status_code == 404 and "no such endpoint" in r.text, path


RSYSLOG = """
module(load="imtcp")
module(load="omelasticsearch")
input(type="imtcp" address="127.0.0.1" port="{port}")
action(type="omelasticsearch" server="127.0.0.1" serverport="{es_port}")
action(type="omelasticsearch" server="127.0.0.1" serverport="{es_port}"
       searchIndex="rsyslog-bulk" bulkmode="on")
"""


def test_rsyslog_omelasticsearch_default_and_bulk(s, tmp_path):
    port = free_port()
    es_port = s.url.rsplit(":", 1)[1]
    rs = Rsyslog(tmp_path, RSYSLOG.format(port=port, es_port=es_port))
    try:
        with rs.wait_tcp(port) as conn:
            for i in range(N):
                conn.sendall(("<14>Nov 22 10:00:00 web-01 app[7]: "
                              "rsyslogestag n%d\n" % i).encode())
        # Each message goes both ways: /system/events and _bulk.
        docs = wait_exactly_once(s, "rsyslogestag", N,
                                 query="rsyslogestag AND _index:system")
        assert docs[0]["fields"]["fromhost"]
        assert docs[0]["fields"]["facility"] == "user"
        wait_exactly_once(s, "rsyslogestag", N,
                          query="rsyslogestag AND _index:rsyslog-bulk")
        assert "omelasticsearch" not in rs.stderr() or \
            "error" not in rs.stderr().lower(), rs.stderr()
    finally:
        rs.close()
