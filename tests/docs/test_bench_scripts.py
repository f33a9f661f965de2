"""``make bench`` runs every script in ``bench/``: each one starts (its imports and options
hold), and the in-process ones run end to end at a tiny size. The figures themselves are the
benchmarks' business, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if "__main__" in p.read_text())


def bench(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python bench/<argv>`` from the bench directory, as ``make bench`` runs it."""
    return subprocess.run([sys.executable, *argv], cwd=BENCH, capture_output=True, text=True, timeout=timeout)


def test_make_bench_runs_every_script_with_a_main() -> None:
    makefile = (BENCH.parent / "Makefile").read_text()
    assert SCRIPTS and all(f"bench/{name}" in makefile for name in SCRIPTS), SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_starts(script: str) -> None:
    done = bench(script, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_the_check_benchmark_runs_to_its_end() -> None:
    done = bench("check.py", "--nodes", "50", "--big", "200", "--repeat", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reachability alone, chain of 200" in done.stdout
