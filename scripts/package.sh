#!/usr/bin/env bash
# Builds the Debian package sift_<version>_<arch>.deb: siftd as a systemd
# service, the sift client, manual pages, completions, Grafana examples.
#
# Usage: scripts/package.sh [--build-dir DIR] [--lintian]
#   --build-dir DIR  package an existing build configured with
#                    -DCMAKE_INSTALL_PREFIX=/usr (default: configure and
#                    build a Release tree in build/package)
#   --lintian        run lintian on the result (fails on errors and
#                    warnings the package does not override)
# Prints the path of the .deb on the last line.  Install it with
#   sudo apt install ./build/package/packages/sift_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/package
own_build=1
lint=0
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; own_build=0; shift 2 ;;
    --lintian) lint=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$own_build" = 1 ]; then
    scripts/deps.sh
    # Debian's hardening flags (stack protector, fortify, relro, bindnow),
    # as a distribution build would use them.
    export DEB_BUILD_MAINT_OPTIONS=hardening=+all
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
        -DCMAKE_EXE_LINKER_FLAGS="$(dpkg-buildflags --get LDFLAGS)" \
        -DCMAKE_INSTALL_PREFIX=/usr -DSIFT_TESTS=OFF -DSIFT_BENCH=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" >/dev/null
fi
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
if [ "$prefix" != /usr ]; then
    echo "package.sh: $build is configured for prefix '$prefix'; the package needs /usr" >&2
    exit 1
fi
sanitize=$(sed -n 's/^SIFT_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
if [ -n "$sanitize" ]; then
    echo "package.sh: $build is a sanitizer build ($sanitize); package a release build" >&2
    exit 1
fi

rm -f "$build"/packages/sift_*.deb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; exit 1; }
deb=$(ls "$build"/packages/sift_*.deb)
if [ "$lint" = 1 ]; then
    # --fail-on warning: errors and warnings fail; overrides (each with its
    # reason in packaging/deb/lintian-overrides) do not.
    lintian --fail-on error,warning "$deb" >&2
fi
echo "$deb"
