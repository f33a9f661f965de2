"""Front-door throughput and latency against the floor of spawning the same script directly.

Run: ``python bench/tasks.py [--sequential 100] [--total 500] [--concurrency 8]``.

The workload is the references' one: ``tests/scripts/bench_csv.sh``, a ``/bin/sh`` script that
writes a 3-row CSV into the directory it is given and prints a line (without an argument it
makes and removes its own temp directory and prints the CSV). In one process and one run it
measures:

- floors: the script spawned directly from asyncio, with a directory argument and without;
- ``POST /task`` + polling ``GET /task/{id}`` (script-runner config, ``$RUNDIR`` passed);
- ``POST /api/execute/`` with ``is_async: false`` (no argument, as LSO clients call it);

each as sequential p50/p95 over ``--sequential`` calls and throughput with ``--concurrency``
clients over ``--total`` calls, against a real ``runwire serve`` (embedded workers, SQLite).
The four measurements are interleaved for ``--rounds`` rounds and the best figure of each is
kept, so load from other processes on a shared machine skews floors and front doors alike.
The client is a minimal keep-alive HTTP/1.1 client on asyncio streams, to leave the two cores
to the server; task clients poll every ``--poll-interval`` seconds. Ratios to the floors are
printed last (issue #17's targets: /task throughput >= 50 % of its floor; sync execute p50 <=
floor p50 + 0.5 ms and throughput >= 90 % of its floor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "bench_csv.sh"
KEY = "bench-key"


@dataclass
class Figures:
    """Sequential latency percentiles (ms) and concurrent throughput (calls/s)."""

    name: str
    p50: float
    p95: float
    throughput: float

    def line(self) -> str:
        return f"{self.name:<34} p50 {self.p50:7.2f} ms   p95 {self.p95:7.2f} ms   {self.throughput:8.1f} /s"

    def best(self, other: Figures | None) -> Figures:
        """The better of each figure of ``self`` and ``other``."""
        if other is None:
            return self
        return Figures(
            self.name,
            min(self.p50, other.p50),
            min(self.p95, other.p95),
            max(self.throughput, other.throughput),
        )


class Http:
    """A minimal HTTP/1.1 keep-alive client (JSON in, JSON out) on one connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nX-Api-Key: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        assert self.reader is not None
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(data) if data else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def measure(
    name: str,
    call: Callable[[Any], Awaitable[None]],
    make_state: Callable[[], Any],
    sequential: int,
    total: int,
    concurrency: int,
) -> Figures:
    """p50/p95 of ``sequential`` calls one by one; throughput of ``total`` calls by ``concurrency`` clients"""
    state = make_state()
    for _ in range(5):  # warm-up
        await call(state)
    times = []
    for _ in range(sequential):
        start = time.perf_counter()
        await call(state)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    remaining = total

    async def client() -> None:
        nonlocal remaining
        own = make_state()
        while remaining > 0:
            remaining -= 1
            await call(own)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Figures(name, statistics.median(times), times[int(len(times) * 0.95) - 1], total / elapsed)


async def spawn(argv: list[str]) -> None:
    """The floor: spawn the script from asyncio and collect its output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out, out


async def run(args: argparse.Namespace) -> None:
    from runwire_server.testing import running_server

    work = Path(tempfile.mkdtemp(prefix="runwire-bench-"))
    try:
        executables = work / "executables"
        executables.mkdir()
        shutil.copy2(SCRIPT, executables / SCRIPT.name)
        script = str(executables / SCRIPT.name)
        config = work / "config.json"
        config.write_text(
            json.dumps(
                {
                    "command": [script, "$RUNDIR"],
                    "outputs": {"results": {"kind": "file", "format": "csv", "input_path": "results.csv"}},
                }
            )
        )
        counts = (args.sequential, args.total, args.concurrency)

        def new_dir() -> str:
            return tempfile.mkdtemp(dir=work)

        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_TASK_CONFIG": str(config),
            "RUNWIRE_EXECUTABLES_DIR": str(executables),
            **({"RUNWIRE_WORKER_THREADS": str(args.worker_threads)} if args.worker_threads else {}),
        }
        best: dict[str, Figures | None] = dict.fromkeys(("floor_arg", "floor_none", "task", "sync"))
        with running_server(env=env, data_dir=work / "data") as server:

            def new_client() -> Http:
                return Http("127.0.0.1", server.port)

            async def task(client: Http) -> None:
                status, started = await client.request("POST", "/task")
                assert status == 200, started
                while True:
                    await asyncio.sleep(args.poll_interval)
                    status, body = await client.request("GET", f"/task/{started['id']}")
                    if body["status"] != "not-ready":
                        assert body["status"] == "ready" and len(body["results"]) == 3, body
                        return

            async def execute(client: Http) -> None:
                status, body = await client.request(
                    "POST", "/api/execute/", {"executable_name": SCRIPT.name, "is_async": False}
                )
                assert status == 201 and body["result"]["status"] == "successful", body

            def new_dir() -> str:
                return tempfile.mkdtemp(dir=work)

            plan = {
                "floor_arg": ("floor: spawn with directory", lambda d: spawn([script, d]), new_dir),
                "floor_none": ("floor: spawn without argument", lambda _: spawn([script]), lambda: None),
                "task": ("POST /task + poll (script-runner)", task, new_client),
                "sync": ("POST /api/execute/ sync (LSO)", execute, new_client),
            }
            for round_no in range(1, args.rounds + 1):
                print(f"round {round_no}/{args.rounds}", flush=True)
                for key, (name, call, make_state) in plan.items():
                    figures = await measure(name, call, make_state, *counts)
                    print("  " + figures.line(), flush=True)
                    best[key] = figures.best(best[key])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor_arg, floor_none, tasks, sync = (best[k] for k in ("floor_arg", "floor_none", "task", "sync"))
    assert floor_arg and floor_none and tasks and sync
    print(f"\nbest of {args.rounds} round(s):")
    for figures in (floor_arg, floor_none, tasks, sync):
        print("  " + figures.line())
    # issue #17's targets 4 and 5
    print(f"/task throughput: {tasks.throughput / floor_arg.throughput:6.1%} of its floor (target >= 50 %)")
    print(f"sync execute p50: floor + {sync.p50 - floor_none.p50:5.2f} ms (target <= 0.5 ms)")
    ratio = sync.throughput / floor_none.throughput
    print(f"sync execute throughput: {ratio:6.1%} of its floor (target >= 90 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=100, help="calls for p50/p95 (default 100)")
    parser.add_argument("--total", type=int, default=500, help="calls for throughput (default 500)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--poll-interval", type=float, default=0.002, help="seconds between task polls")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best figures are kept")
    parser.add_argument(
        "--worker-threads", type=int, default=0, help="RUNWIRE_WORKER_THREADS (default: server's)"
    )
    args = parser.parse_args()
    if not SCRIPT.exists():
        sys.exit(f"missing workload script {SCRIPT}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
