#!/usr/bin/env bash
# Fails when src/ or include/ call a banned function (docs/internals/style.md, Errors).
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|gets)[[:space:]]*\('
if grep -rnE "$pattern" src include | grep -vE '^\S+:[0-9]+:\s*(/\*|\*)'; then
    echo "check-banned: banned functions used (see docs/internals/style.md)" >&2
    exit 1
fi
echo "check-banned: ok"
