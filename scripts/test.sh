#!/usr/bin/env bash
# Sets up and runs every test; exits non-zero on any failure.
#
# Stages (each in its own build directory under build/):
#   lint     clang-format check, banned-function check, clang-tidy over
#            src/ (scripts/tidy.sh, the checks in .clang-tidy; about 50 s
#            of CPU), the web UI's bundle rebuilt from its lockfile and
#            compared with ui/dist, and its unit tests (scripts/ui.sh check)
#   asan     debug build with AddressSanitizer + UBSan and -Werror:
#            all unit tests and the black-box tests of the real siftd
#            (but the browser test of the web UI)
#   tsan     ThreadSanitizer build: the unit tests of threaded code
#   fuzz     libFuzzer targets (clang), SIFT_FUZZ_SECONDS each (default 15)
#   release  -O2 -DNDEBUG build with jemalloc, as shipped: unit tests
#            (asserts have no side effects), the black-box tests and the
#            Debian package built from it (prefix /usr)
# SIFT_TEST_STAGES="asan tsan" runs a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh --test
# playwright-core for the browser tests (CTest blackbox.ui_browser), and
# the shippers' npm clients (OpenTelemetry SDK, a Loki client) for
# tests/blackbox/test_shippers_*.py.
scripts/ui.sh browser-deps
scripts/npm-ci.sh tests/shippers

stages=${SIFT_TEST_STAGES:-"lint asan tsan fuzz release"}
jobs=$(nproc)
tjobs=$((jobs + 2)) # ctest -j where black-box tests run (they mostly wait)
passed=0
failed=0
failed_names=()

run_stage() {
    local name=$1
    shift
    echo "=== stage $name ==="
    local t0=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "=== stage $name passed ($((SECONDS - t0)) s) ==="
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "=== stage $name FAILED ($((SECONDS - t0)) s) ==="
    fi
}

configure() {
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DSIFT_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log"; return 1; }
}

stage_lint() {
    scripts/check-format.sh && scripts/check-banned.sh && scripts/tidy.sh &&
        scripts/ui.sh check
}

stage_asan() {
    mkdir -p build
    configure build/asan -DCMAKE_BUILD_TYPE=Debug \
        -DSIFT_SANITIZE=address,undefined &&
    cmake --build build/asan -j"$jobs" &&
    # -LE browser: the web UI's browser test runs in the release stage.
    # SIFT_TEST_SCALE_DOWN=2: half of the differential test's random queries
    # (ASan is ~3x slower than a plain build; the release stage runs all).
    # -j$tjobs: black-box tests mostly wait (consumer-group joins, restarts,
    # polls), so two more than the cores keeps both busy.
    SIFT_TEST_SCALE_DOWN=2 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build/asan --output-on-failure -j"$tjobs" -LE browser
}

stage_tsan() {
    mkdir -p build
    configure build/tsan -DCMAKE_BUILD_TYPE=Debug -DSIFT_SANITIZE=thread \
        -DSIFT_BENCH=OFF &&
    cmake --build build/tsan -j"$jobs" &&
    # -LE rdkafka: librdkafka's threads crash gcc 12's TSan runtime (C11
    # thrd_create is not intercepted); see CMakeLists.txt.
    # SIFT_TEST_SCALE_DOWN: the differential query test runs an eighth of
    # its random queries here (TSan is 10-20x slower than a plain build).
    SIFT_TEST_SCALE_DOWN=8 \
    TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/tsan.supp" \
        ctest --test-dir build/tsan --output-on-failure -L unit -LE rdkafka \
        -j"$jobs"
}

stage_fuzz() {
    mkdir -p build
    CC=clang configure build/fuzz -DCMAKE_BUILD_TYPE=Debug -DSIFT_FUZZ=ON \
        -DSIFT_TESTS=OFF -DSIFT_BENCH=OFF \
        -DSIFT_SANITIZE=address,undefined \
        -DSIFT_FUZZ_SECONDS="${SIFT_FUZZ_SECONDS:-10}" &&
    cmake --build build/fuzz -j"$jobs" &&
    ctest --test-dir build/fuzz --output-on-failure -L fuzz -j"$jobs"
}

stage_release() {
    mkdir -p build
    configure build/release-test -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX=/usr &&
    cmake --build build/release-test -j"$jobs" &&
    ctest --test-dir build/release-test --output-on-failure -L 'unit|blackbox' \
        -j"$tjobs"
}

for s in $stages; do
    run_stage "$s" "stage_$s"
done

echo
if [ "$failed" -ne 0 ]; then
    echo "failed stages: ${failed_names[*]}"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
