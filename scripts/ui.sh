#!/usr/bin/env bash
# The web UI's build and its checks (ui/, docs/ui.md).  Needs Node >= 18 and
# npm (scripts/deps.sh --test installs Debian's when none is on PATH); the
# npm packages come from each package-lock.json (npm ci, no scripts run).
#
# Usage: scripts/ui.sh COMMAND
#   build         rebuild ui/dist from ui/src (commit the result)
#   check         type-check, rebuild in memory and fail when the committed
#                 ui/dist differs or is over its size budget; then the unit
#                 tests of the UI's own logic (what the lint stage runs)
#   unit          the unit tests only
#   browser-deps  install playwright-core for tests/browser (the browser
#                 tests run as the CTest entry blackbox.ui_browser)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "ui.sh: node and npm are needed: run scripts/deps.sh --test" >&2
        exit 1
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    if [ "$major" -lt 18 ]; then
        echo "ui.sh: node $(node --version) is too old (18 or newer)" >&2
        exit 1
    fi
}

# npm ci in $1, skipped when node_modules was installed from the same lock.
npm_ci() {
    "$root/scripts/npm-ci.sh" "$1"
}

cmd=${1:-}
case "$cmd" in
build)
    need_node
    npm_ci "$root/ui"
    node ui/build.mjs
    ;;
check)
    need_node
    npm_ci "$root/ui"
    node ui/build.mjs --check
    node ui/build.mjs --unit
    ;;
unit)
    need_node
    npm_ci "$root/ui"
    node ui/build.mjs --unit
    ;;
browser-deps)
    need_node
    npm_ci "$root/tests/browser"
    ;;
*)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
