#!/usr/bin/env python3
"""Test script: starts a child that ignores SIGTERM, records both pids, then sleeps forever.

Usage: never_exits.py PIDFILE. Writes "<own pid> <child pid>" to PIDFILE, prints "started".
"""

import os
import signal
import subprocess
import sys
import time

child = subprocess.Popen(
    [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)",
    ]
)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("started", flush=True)
while True:
    time.sleep(1)
