#!/usr/bin/env bash
# The full installation test of the Debian package, on a Debian 12 machine
# (or VM/container) whose PID 1 is systemd -- which the test suite's
# throwaway-root install (tests/package/test_deb.py) cannot have.  As root:
#
#   scripts/package-install-test.sh [path/to/sift_<version>_<arch>.deb]
#
# It installs the package with apt (dependencies resolved), checks that
# siftd runs under systemd with the shipped configuration and answers the
# installed sift, restarts it, checks that policy-rc.d can forbid the start,
# removes (service stopped, data kept) and purges (data gone).  It refuses
# to run where sift is installed already: it would remove that.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "package-install-test: FAIL: $*" >&2; exit 1; }
wait_until() { # seconds command...
    local t=$1
    shift
    for _ in $(seq $((t * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

[ "$(id -u)" -eq 0 ] || fail "run as root"
[ -d /run/systemd/system ] || fail "systemd is not PID 1 here (use a VM or a systemd container)"
if dpkg-query -W -f='${Status}' sift 2>/dev/null | grep -q "install ok installed"; then
    fail "sift is installed already; this test would remove it"
fi
deb=${1:-$(scripts/package.sh | tail -1)}
deb=$(readlink -f "$deb")
[ ! -e /usr/sbin/policy-rc.d ] || fail "/usr/sbin/policy-rc.d exists; the first install must start the service"

echo "== install $deb"
apt-get install -y -q "$deb" >/dev/null
wait_until 60 systemctl is-active --quiet siftd || {
    journalctl -u siftd --no-pager | tail -20
    fail "siftd.service is not active after install"
}
systemctl is-enabled --quiet siftd || fail "siftd.service is not enabled"
getent passwd sift >/dev/null || fail "no sift user"
[ "$(stat -c %U /var/lib/sift)" = sift ] || fail "/var/lib/sift is not owned by sift"
[ "$(systemctl show -p User --value siftd)" = sift ] || fail "siftd does not run as sift"

echo "== the installed sift against it"
wait_until 60 sift status || fail "sift status: not healthy and ready"
echo '{"message":"package install test","k":"pkgtest"}' | sift ingest >/dev/null
wait_until 30 sh -c '[ "$(sift search --count k:pkgtest)" = 1 ]' || fail "the event is not searchable"

echo "== restart keeps the data"
systemctl restart siftd
wait_until 60 sift status || fail "not ready after a restart"
[ "$(sift search --count k:pkgtest)" = 1 ] || fail "the event is gone after a restart"

echo "== remove: stopped, data and configuration kept"
apt-get remove -y -q sift >/dev/null
systemctl is-active --quiet siftd && fail "siftd still runs after remove"
[ -d /var/lib/sift ] || fail "remove deleted /var/lib/sift"
[ -f /etc/sift/siftd.conf ] || fail "remove deleted the configuration"

echo "== policy-rc.d forbids the start"
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
dpkg -i "$deb" >/dev/null
sleep 2
systemctl is-active --quiet siftd && fail "siftd started although policy-rc.d said 101"
rm -f /usr/sbin/policy-rc.d
trap - EXIT
systemctl start siftd
wait_until 60 sift status || fail "siftd does not start by hand"
[ "$(sift search --count k:pkgtest)" = 1 ] || fail "the data kept on remove is not back"

echo "== purge: data and configuration gone"
apt-get purge -y -q sift >/dev/null
[ ! -e /var/lib/sift ] || fail "purge left /var/lib/sift"
[ ! -e /etc/sift/siftd.conf ] || fail "purge left the configuration"
systemctl is-enabled --quiet siftd 2>/dev/null && fail "siftd.service still enabled after purge"

echo "package-install-test: ok"
