"""The Debian package, built from this build tree and installed into a
throwaway root.

scripts/package.sh --build-dir runs cpack on the release build (configured
with -DCMAKE_INSTALL_PREFIX=/usr; CMakeLists.txt registers this test only
for such builds).  The package is inspected (dpkg-deb -I/-c), checked by
lintian, and installed with `dpkg --root` into an empty directory: dpkg
runs the maintainer scripts without chroot and with DPKG_ROOT set, so
postinst creates the sift user and /var/lib/sift in that root and
deb-systemd-helper records the enablement there, while nothing touches
this machine's services.  The installed siftd then runs with the
installed configuration on a free port, the installed sift talks to it,
and remove/purge are checked (data and configuration kept on remove, gone
on purge).  Starting under systemd itself needs a machine with systemd as
PID 1: scripts/package-install-test.sh.

Environment (ctest): SIFT_BUILD_DIR, SIFT_SOURCE_DIR.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIFT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "blackbox"))
from conftest import Siftd  # noqa: E402

BUILD_DIR = os.environ.get("SIFT_BUILD_DIR") or os.path.join(SOURCE_DIR, "build",
                                                             "release-test")

EXPECTED = [
    "./usr/sbin/siftd",
    "./usr/bin/sift",
    "./etc/sift/siftd.conf",
    "./lib/systemd/system/siftd.service",
    "./usr/lib/sysusers.d/sift.conf",
    "./usr/lib/tmpfiles.d/sift.conf",
    "./usr/share/man/man1/sift.1.gz",
    "./usr/share/man/man8/siftd.8.gz",
    "./usr/share/bash-completion/completions/sift",
    "./usr/share/zsh/vendor-completions/_sift",
    "./usr/share/sift/grafana/provisioning/datasources/sift.yaml",
    "./usr/share/sift/grafana/provisioning/dashboards/sift.yaml",
    "./usr/share/sift/grafana/dashboards/sift-overview.json",
    "./usr/share/doc/sift/copyright",
    "./usr/share/doc/sift/changelog.gz",
]


def run(args, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(args, capture_output=True, text=True, **kw)


def cache(name):
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


@pytest.fixture(scope="module")
def deb():
    p = run([os.path.join(SOURCE_DIR, "scripts", "package.sh"), "--build-dir",
             BUILD_DIR])
    assert p.returncode == 0, p.stderr
    path = p.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), p.stdout
    return path


def dpkg_root(root, *args):
    p = run(["dpkg", "--root=%s" % root, "--force-script-chrootless",
             "--force-depends", "--log=/dev/null"] + list(args))
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
              "etc"):
        (r / d).mkdir(parents=True)
    for f in ("var/lib/dpkg/status", "var/lib/dpkg/available"):
        (r / f).touch()
    return r


def test_package_contents_and_control(deb):
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    version = cache("CMAKE_PROJECT_VERSION")
    assert os.path.basename(deb) == "sift_%s_%s.deb" % (version, arch)
    info = run(["dpkg-deb", "-I", deb]).stdout
    field = lambda k: re.search(r"^ %s: (.*)$" % k, info, re.M).group(1)
    assert field("Package") == "sift"
    assert field("Version") == version
    assert field("Architecture") == arch
    depends = field("Depends")
    # computed by dpkg-shlibdeps from both binaries
    for lib in ("libc6", "libcurl4", "libjansson4", "libevent-2.1-7",
                "librdkafka1", "libsystemd0", "libzstd1"):
        assert re.search(r"(^|, )%s( \([^)]*\))?(,|$)" % re.escape(lib), depends), \
            (lib, depends)
    assert "systemd | systemd-standalone-sysusers | systemd-sysusers" in depends
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(r"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+%s\b" % script, info,
                         re.M), script
    assert run(["dpkg-deb", "--info", deb, "conffiles"]).stdout == \
        "/etc/sift/siftd.conf\n"

    listing = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
    paths = {l.split()[-1] for l in listing}
    for want in EXPECTED:
        assert want in paths, want
    for l in listing:
        assert l.split()[1] == "root/root", l
        top = l.split()[-1].split("/")[1]
        assert top in ("etc", "lib", "usr", ""), l
    modes = {l.split()[-1]: l.split()[0] for l in listing}
    assert modes["./usr/sbin/siftd"] == "-rwxr-xr-x"
    assert modes["./etc/sift/siftd.conf"] == "-rw-r--r--"


def test_lintian_is_clean(deb):
    p = run(["lintian", "--fail-on", "error,warning", deb])
    assert p.returncode == 0, p.stdout + p.stderr
    assert not re.search(r"^[EW]: ", p.stdout, re.M), p.stdout


def test_install_run_remove_purge_in_a_throwaway_root(deb, root, tmp_path):
    p = dpkg_root(root, "-i", deb)
    assert "Setting up sift" in p.stdout
    # postinst: the user (systemd-sysusers), the data directory
    # (systemd-tmpfiles), the enablement (deb-systemd-helper), all in root.
    passwd = (root / "etc" / "passwd").read_text()
    m = re.search(r"^sift:x:(\d+):(\d+):[^:]*:/var/lib/sift:/usr/sbin/nologin$",
                  passwd, re.M)
    assert m, passwd
    data = root / "var" / "lib" / "sift"
    st = os.stat(data)
    assert st.st_uid == int(m.group(1)) and (st.st_mode & 0o777) == 0o750
    wants = root / "etc/systemd/system/multi-user.target.wants/siftd.service"
    assert os.readlink(wants) == "/lib/systemd/system/siftd.service"
    conf = root / "etc" / "sift" / "siftd.conf"
    assert conf.read_text() == open(os.path.join(SOURCE_DIR, "conf",
                                                 "siftd.conf")).read()
    status = (root / "var/lib/dpkg/status").read_text()
    assert re.search(r"^Package: sift\nStatus: install ok installed", status, re.M)
    assert "/etc/sift/siftd.conf" in status  # registered as a conffile

    # The installed binaries with the installed configuration.
    siftd = str(root / "usr/sbin/siftd")
    sift = str(root / "usr/bin/sift")
    p = run([siftd, "--check-config", "-c", str(conf), "--data-dir",
             str(tmp_path / "data")])
    assert p.returncode == 0, p.stdout + p.stderr

    class Installed(Siftd):
        def command(self):
            return [siftd, "-c", str(conf), "--listen", "127.0.0.1:0",
                    "--data-dir", self.data_dir, "--set", "store.refresh=100ms"]

    d = Installed(tmp_path / "data", log_dir=tmp_path)
    d.start()
    try:
        d.wait_ready()
        env = dict(os.environ, HOME=str(tmp_path), SIFT_URL=d.url)
        p = run([sift, "ingest"], env=env,
                input='{"message":"from the installed client","k":"deb"}\n')
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("accepted 1, rejected 0")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            p = run([sift, "search", "--count", "k:deb"], env=env)
            if p.stdout == "1\n":
                break
            time.sleep(0.05)
        assert p.stdout == "1\n", p.stderr
        p = run([sift, "status", "--json"], env=env)
        assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True
        # the web UI is inside siftd: nothing else to install
        r = d.get("/ui/")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/html")
        assert run([sift, "--version"]).stdout.strip() == \
            "sift %s" % cache("CMAKE_PROJECT_VERSION")
    finally:
        d.stop()
    # The manual pages render; the bash completion loads and completes.
    p = run(["man", "-l", str(root / "usr/share/man/man1/sift.1.gz")],
            env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    assert p.returncode == 0 and "sift - search, follow and feed" in p.stdout
    p = run(["man", "-l", str(root / "usr/share/man/man8/siftd.8.gz")],
            env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    assert p.returncode == 0 and "siftd - the sift log daemon" in p.stdout
    p = run(["bash", "-c", "source '%s'; COMP_WORDS=(sift sta); COMP_CWORD=1; "
             "_sift; echo \"${COMPREPLY[*]}\"" %
             (root / "usr/share/bash-completion/completions/sift")])
    assert p.stdout.split() == ["stats", "status"]

    # The installed unit verifies (paths pointed into the root).
    unit = tmp_path / "siftd.service"
    text = (root / "lib/systemd/system/siftd.service").read_text()
    text = text.replace("/usr/sbin/siftd", siftd).replace("/etc/sift/siftd.conf",
                                                           str(conf))
    unit.write_text(text)
    p = run(["systemd-analyze", "verify", str(unit)])
    assert p.returncode == 0, p.stderr
    assert "siftd.service" not in p.stderr, p.stderr

    # Reinstalling (postinst configure with the old version: the upgrade
    # path) keeps a changed configuration.
    with open(conf, "a") as f:
        f.write("# changed by the operator\n")
    (data / "marker").write_text("data\n")
    dpkg_root(root, "-i", deb)
    assert conf.read_text().endswith("# changed by the operator\n")

    # remove: binaries go; data, configuration and the user stay; masked.
    dpkg_root(root, "-r", "sift")
    assert not (root / "usr/sbin/siftd").exists()
    assert not (root / "usr/bin/sift").exists()
    assert (data / "marker").read_text() == "data\n"
    assert conf.exists()
    assert os.readlink(root / "etc/systemd/system/siftd.service") == "/dev/null"
    # purge: data, configuration and the enablement go.
    dpkg_root(root, "--purge", "sift")
    assert not data.exists()
    assert not conf.exists() and not (root / "etc/sift").exists()
    assert not (root / "etc/systemd/system/siftd.service").exists()
    assert not wants.exists()
    assert "Package: sift" not in (root / "var/lib/dpkg/status").read_text()
