#!/usr/bin/python3
"""Rewrites the generated parameter tables in docs/*.md from the binary.

Usage: scripts/update-api-docs.py [SIFTD]   (default build/release/siftd)

Every block between "<!-- BEGIN GENERATED PARAMS <path> -->" and
"<!-- END GENERATED PARAMS -->" is replaced by what `siftd
--print-api-params` prints for <path>; tests/blackbox/test_api_answers.py
fails when a block differs or an endpoint has none.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(<!-- BEGIN GENERATED PARAMS (\S+) -->\n)(.*?)"
                   r"(<!-- END GENERATED PARAMS -->)", re.S)


def main():
    siftd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "build", "release", "siftd")
    out = subprocess.run([siftd, "--print-api-params"], check=True,
                         capture_output=True, text=True).stdout
    blocks = {m.group(2): m.group(3) for m in BLOCK.finditer(out)}
    docs = os.path.join(ROOT, "docs")
    seen = set()
    for name in sorted(os.listdir(docs)):
        path = os.path.join(docs, name)
        if not name.endswith(".md"):
            continue
        with open(path) as f:
            text = f.read()

        def repl(m):
            seen.add(m.group(2))
            if m.group(2) not in blocks:
                sys.exit("%s: no endpoint %s any more" % (name, m.group(2)))
            return m.group(1) + blocks[m.group(2)] + m.group(4)
        new = BLOCK.sub(repl, text)
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            print("updated", path)
    for missing in sorted(set(blocks) - seen):
        print("not in any page yet: %s" % missing)


if __name__ == "__main__":
    main()
