#!/usr/bin/env python3
"""Test script: writes MEGABYTES (default 100) MiB to stdout and 1 MiB to stderr, then exits 0."""

import sys

megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
block = b"x" * (1024 * 1024 - 1) + b"\n"
for _ in range(megabytes):
    sys.stdout.buffer.write(block)
sys.stderr.write("e" * (1024 * 1024))
print("done", file=sys.stderr)
