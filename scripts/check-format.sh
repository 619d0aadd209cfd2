#!/usr/bin/env bash
# Fails when a C file is not formatted per .clang-format (clang-format 14).
# Fix with: scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests bench -name '*.[ch]')
[ "${#files[@]}" -gt 0 ] || exit 0
if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
if ! clang-format --dry-run -Werror "${files[@]}" 2>/tmp/sift-format.$$; then
    head -40 /tmp/sift-format.$$ >&2
    rm -f /tmp/sift-format.$$
    echo "check-format: run scripts/check-format.sh --fix" >&2
    exit 1
fi
rm -f /tmp/sift-format.$$
echo "check-format: ok (${#files[@]} files)"
