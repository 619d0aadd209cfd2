"""Black-box tests of the web UI's server side through the real siftd: the
files under /ui/ (compiled in from ui/dist) with their caching and
compression headers, the redirect of a browser's GET /, the same files over
the HTTPS listener, and GET /api/v1/whoami with each kind of credential.
The UI itself is tested in a browser (tests/browser/)."""
import gzip
import os
import re
import subprocess
import time

import requests

from conftest import SOURCE_DIR

DIST = os.path.join(SOURCE_DIR, "ui", "dist")
BROWSER_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,"
                  "image/avif,image/webp,*/*;q=0.8")

TOKENS = {"reader": "reader-token-0123456789abcdef",
          "writer": "writer-token-0123456789abcdef",
          "admin": "admin-token-0123456789abcdef01"}
TOKENS_SET = " ".join("%s1:%s:%s" % (r, r, t) for r, t in TOKENS.items())


def dist_files():
    out = []
    for root, _, names in os.walk(DIST):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), DIST))
    return sorted(out)


def raw_get(s, path, **headers):
    # requests would inflate gzip itself; ask for the bytes as sent.
    return requests.get(s.url + path, headers=headers, timeout=10,
                        allow_redirects=False, stream=True)


def test_root_redirects_browsers_only(siftd):
    for method in ("GET", "HEAD"):
        r = requests.request(method, siftd.url + "/", timeout=10,
                             headers={"Accept": BROWSER_ACCEPT},
                             allow_redirects=False)
        assert r.status_code == 302, (method, r.status_code)
        assert r.headers["Location"] == "/ui/"
    for accept in (None, "*/*", "application/json"):
        h = {"Accept": accept} if accept else {}
        r = requests.get(siftd.url + "/", headers=h, timeout=10,
                         allow_redirects=False)
        assert r.status_code != 302, accept
        assert r.headers["Content-Type"].startswith("application/json")
    r = requests.get(siftd.url + "/ui", timeout=10, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/ui/"


def test_ui_files_headers_and_revalidation(siftd):
    files = dist_files()
    assert "index.html" in files, "ui/dist has no index.html: run scripts/ui.sh build"
    for rel in files:
        with open(os.path.join(DIST, rel), "rb") as f:
            want = f.read()
        path = "/ui/" + ("" if rel == "index.html" else rel)
        r = raw_get(siftd, path, **{"Accept-Encoding": "gzip, deflate, br"})
        assert r.status_code == 200, (rel, r.status_code)
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Vary"] == "Accept-Encoding"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        body = r.raw.read()
        assert gzip.decompress(body) == want, rel
        etag = r.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
        if rel.startswith("assets/"):
            assert "immutable" in r.headers["Cache-Control"]
            assert "max-age=31536000" in r.headers["Cache-Control"]
        else:
            assert r.headers["Cache-Control"] == "no-cache"
        # A client without gzip gets the plain bytes.
        r = raw_get(siftd, path, **{"Accept-Encoding": "identity"})
        assert r.status_code == 200 and "Content-Encoding" not in r.headers
        assert r.raw.read() == want and r.headers["ETag"] == etag
        # Revalidation: 304 without a body for the same ETag only.
        r = raw_get(siftd, path, **{"If-None-Match": etag})
        assert r.status_code == 304 and r.raw.read() == b""
        r = raw_get(siftd, path, **{"If-None-Match": '"0000000000000000"'})
        assert r.status_code == 200
    r = raw_get(siftd, "/ui/")
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    r = raw_get(siftd, "/ui/assets/no-such-file.js")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found"


def test_ui_is_served_over_tls_with_tokens(siftd_factory, tmp_path):
    d = str(tmp_path)
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=t",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    s = siftd_factory(args=["--set", "auth.tokens=" + TOKENS_SET,
                            "--set", "tls.listen=127.0.0.1:0",
                            "--set", "tls.cert_file=" + crt,
                            "--set", "tls.key_file=" + key]).start()
    m = None
    deadline = time.monotonic() + 10
    while not m and time.monotonic() < deadline:
        m = re.search(r"siftd listening on https://(\S+)", s.stdout())
        time.sleep(0.05)
    assert m, s.stdout()
    url = "https://" + m.group(1)
    # The page needs no token (it asks for one); the API does.
    r = requests.get(url + "/ui/", verify=crt, timeout=10)
    assert r.status_code == 200 and "<html" in r.text.lower()
    r = requests.get(url + "/api/v1/fields", verify=crt, timeout=10)
    assert r.status_code == 401
    r = requests.get(url + "/api/v1/fields", verify=crt, timeout=10,
                     headers={"Authorization": "Bearer " + TOKENS["reader"]})
    assert r.status_code == 200


def test_whoami(siftd_factory):
    # No tokens: loopback clients are admin, as for every endpoint.
    s = siftd_factory().start()
    j = s.get("/api/v1/whoami").json()
    assert j == {"authenticated": True, "role": "admin",
                 "principal": "loopback", "tokens_configured": False}
    s.stop()

    s = siftd_factory(args=["--set", "auth.tokens=" + TOKENS_SET],
                      name="secured").start()
    r = s.get("/api/v1/whoami")
    assert r.status_code == 200  # never 401: the UI asks before it prompts
    assert r.headers["Cache-Control"] == "no-store"
    j = r.json()
    assert j["authenticated"] is False and j["role"] is None
    assert j["tokens_configured"] is True and "Authorization" in j["reason"]
    j = s.get("/api/v1/whoami",
              headers={"Authorization": "Bearer not-a-valid-token-000000"}).json()
    assert j["authenticated"] is False and j["reason"] == "invalid token"
    for role, tok in TOKENS.items():
        j = s.get("/api/v1/whoami",
                  headers={"Authorization": "Bearer " + tok}).json()
        assert j["authenticated"] is True, role
        assert j["role"] == role and j["principal"] == role + "1"
        assert "reason" not in j or role == "writer"
