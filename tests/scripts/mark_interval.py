#!/usr/bin/env python3
"""Test script: appends ``S <pid>`` to LOG when it starts and ``E <pid>`` when it ends.

Usage: mark_interval.py LOG [SECONDS]  (stays SECONDS, default 0.3, in between). Loaded as a
module (``runpy.run_path``), :func:`most_at_once` reads a LOG back: how many such programs
ran at once at the most, and how many ran. Appends of a few bytes are atomic, so the log's
order is the order the programs started and ended in.
"""

from __future__ import annotations

import os
import sys
import time


def mark(log: str, what: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, f"{what} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def most_at_once(log: str) -> tuple[int, int]:
    """The most programs running at once according to ``log``, and how many started."""
    running: set[str] = set()
    most = started = 0
    with open(log) as file:
        for line in file:
            what, pid = line.split()
            if what == "S":
                running.add(pid)
                started += 1
                most = max(most, len(running))
            else:
                running.remove(pid)
    assert not running, f"programs {sorted(running)} never recorded their end"
    return most, started


if __name__ == "__main__":
    mark(sys.argv[1], "S")
    time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.3)
    mark(sys.argv[1], "E")
