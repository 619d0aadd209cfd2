#!/usr/bin/env bash
# Installs the npm packages of one folder from its package-lock.json
# (npm ci, no install scripts run), skipped when node_modules was
# installed from the same lockfile.  Needs Node >= 18 and npm
# (scripts/deps.sh --test installs Debian's when none is on PATH).
#
# Usage: scripts/npm-ci.sh DIR    (ui, tests/browser, tests/shippers)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/npm-ci.sh DIR}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "npm-ci.sh: node and npm are needed: run scripts/deps.sh --test" >&2
    exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "npm-ci.sh: node $(node --version) is too old (18 or newer)" >&2
    exit 1
fi
stamp=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$dir/node_modules/.sift-lock" ] &&
    [ "$(cat "$dir/node_modules/.sift-lock")" = "$stamp" ]; then
    exit 0
fi
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
echo "$stamp" >"$dir/node_modules/.sift-lock"
