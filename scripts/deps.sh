#!/usr/bin/env bash
# Installs everything sift needs from Debian 12 packages (run as root).
# Usage: scripts/deps.sh [--test]   (--test adds the test-only tools)
set -euo pipefail

build_pkgs=(
    build-essential cmake pkg-config
    libevent-dev librdkafka-dev libhiredis-dev libjansson-dev libzstd-dev
    libcmocka-dev libinih-dev libroaring-dev libxxhash-dev libsystemd-dev
    libpcre2-dev libjsmn-dev libssl-dev zlib1g-dev libjemalloc-dev
    libcurl4-openssl-dev scdoc libsnappy-dev
)
test_pkgs=(
    clang clang-format clang-tidy libclang-rt-14-dev
    redis-server kcat curl rsyslog rsyslog-kafka rsyslog-hiredis
    rsyslog-elasticsearch rsyslog-openssl systemd-journal-remote
    libprotobuf-c-dev
    python3 python3-pytest python3-requests python3-redis
    systemd prometheus sqlite3 libsqlite3-dev ripgrep wrk openssl
    lintian zsh bash-completion
    chromium fonts-dejavu-core
)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    want+=("${test_pkgs[@]}")
    # The web UI's build check and browser tests run on Node (npm packages
    # pinned by ui/package-lock.json); Debian's packages when none is on PATH.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        want+=(nodejs npm)
    fi
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root to install" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services shipped by these packages (redis, rsyslog) must not be started by
# the package scripts; the tests start their own instances on free ports.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
