#!/usr/bin/env python3
"""Test script: prints its argv, cwd, chosen environment variables and stdin as one JSON object.

Usage: show_args.py [ARG...]. Environment variables named in SHOW_ENV (comma-separated) are
included; stdin is read only when READ_STDIN=1.
"""

import json
import os
import sys

names = [n for n in os.environ.get("SHOW_ENV", "").split(",") if n]
report = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {n: os.environ.get(n) for n in names},
    "env_names": sorted(os.environ),
    "stdin": sys.stdin.read() if os.environ.get("READ_STDIN") == "1" else None,
}
json.dump(report, sys.stdout)
sys.stdout.write("\n")
if os.environ.get("EXIT_CODE"):
    sys.stderr.write("failing on purpose\n")
    sys.exit(int(os.environ["EXIT_CODE"]))
