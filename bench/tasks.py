"""Issue #17 targets 4, 5 and 7: the front doors and embedded workflow runs against their floors.

Run: ``python bench/tasks.py [--rounds 3] [--sequential 100] [--total 500] [--concurrency 8]
[--client wait|long-poll|short-poll] [--rundir-root DIR]``.

How every figure is taken (client, p50, throughput, polling) is in ``bench/harness.py``. The
workload is the references' one: ``tests/scripts/bench_csv.sh``, a ``/bin/sh`` script that writes
a 3-row CSV into the directory it is given and prints a line (without an argument it makes and
removes its own temp directory and prints the CSV). Against one real ``runwire serve``
(embedded, SQLite) and, beside it, one floor app (a Litestar app served by uvicorn as ``serve``
serves its app), each round measures, interleaved:

- spawn floor: the script spawned from asyncio with a directory argument (no HTTP);
- ``POST /task`` (+ polling ``GET /task/{id}`` as ``--client`` says; script-runner config,
  ``$RUNDIR`` passed) — target 5;
- sync execute floor: the floor app's ``POST /execute``, whose handler spawns the script (no
  argument) and returns its output;
- ``POST /api/execute/`` with ``is_async: false`` (no argument, as LSO clients call it) — target 4;
- HTTP floor: the floor app's ``GET /hello``;
- a trigger → output workflow: ``POST /run/`` (+ polling ``workflow_result``) — target 7.

The median of each figure over the rounds is compared with its floor and target: PASS/FAIL.

Each task makes and removes a run directory (two ``mkdir``, two ``rmdir``), each spawn of the
floor one directory: on a disk file system these calls cost far more than on a ``tmpfs`` (see
docs/server.md), so the file system they are made on is printed first. ``--rundir-root DIR``
makes both there (``RUNWIRE_RUNDIR_ROOT``), e.g. ``/dev/shm/runwire-bench`` to measure as on a
host whose ``/tmp`` is a ``tmpfs``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from harness import (
    KEY,
    Series,
    add_client_option,
    client,
    floor_server,
    measure,
    poll,
    poll_params,
    start_headers,
    use_client,
    verdict,
    workflow_runner,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "bench_csv.sh"
# issue #17's side-by-side figures for the peers (not measured here)
PEERS = "peers in the issue: LSO sync p50 6.13 ms, 316/s; script-runner-api /task 217/s"


async def spawn(argv: list[str]) -> None:
    """The floor: spawn the script from asyncio and collect its output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out, out


def file_system(path: Path) -> str:
    """The type and options of the file system holding ``path`` (Linux: /proc/mounts), e.g.
    ``ext4 (rw,relatime,discard)``; ``unknown`` elsewhere."""
    path = path.resolve()
    best: tuple[int, str] = (-1, "unknown")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best[1]
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (path == point or point in path.parents) and len(point.parts) > best[0]:
            best = (len(point.parts), f"{fields[2]} ({fields[3]})")
    return best[1]


async def run(args: argparse.Namespace) -> bool:
    from runwire_server.testing import running_server

    work = Path(tempfile.mkdtemp(prefix="runwire-bench-"))
    dirs = work / "rundirs"
    if args.rundir_root:
        Path(args.rundir_root).mkdir(parents=True, exist_ok=True)
        dirs = Path(tempfile.mkdtemp(prefix="runwire-bench-", dir=args.rundir_root))
    dirs.mkdir(mode=0o700, exist_ok=True)
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
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_TASK_CONFIG": str(config),
            "RUNWIRE_EXECUTABLES_DIR": str(executables),
            "RUNWIRE_RUNDIR_ROOT": str(dirs),
            **({"RUNWIRE_WORKER_THREADS": str(args.worker_threads)} if args.worker_threads else {}),
        }
        print(f"run directories (of the tasks and of the spawn floor) on {file_system(dirs.parent)}: {dirs}")
        with (
            running_server(env=env, data_dir=work / "data") as server,
            floor_server(script) as (floor_port, floor_pid),
        ):
            http = client(server.port, args.concurrency)
            floor_http = client(floor_port, args.concurrency)

            async def spawn_floor() -> None:
                await spawn([script, tempfile.mkdtemp(dir=dirs)])

            async def task() -> None:
                started = await http.post("/task", headers=start_headers())
                assert started.status_code == 200, started.text
                path = f"/task/{started.json()['id']}"

                def ended(body: dict[str, Any]) -> bool:
                    if body["status"] == "not-ready":
                        return False
                    assert body["status"] == "ready" and len(body["results"]) == 3, body
                    return True

                async def ready(wait: float) -> bool:
                    return ended((await http.get(path, params=poll_params(wait))).json())

                if not ended(started.json()):  # Prefer: wait answers once the task has ended
                    await poll(ready)

            async def sync_floor() -> None:
                response = await floor_http.post("/execute", json={"is_async": False})
                assert response.status_code == 201 and response.json()["status"] == "successful"

            async def execute() -> None:
                response = await http.post(
                    "/api/execute/", json={"executable_name": SCRIPT.name, "is_async": False}
                )
                body = response.json()
                assert response.status_code == 201 and body["result"]["status"] == "successful", body

            async def hello() -> None:
                (await floor_http.get("/hello")).raise_for_status()

            ours, theirs = [server.process.pid], [floor_pid]
            plan: dict[str, tuple[str, Callable[[], Awaitable[None]], list[int] | None]] = {
                "spawn": ("spawn floor (asyncio, no HTTP)", spawn_floor, None),
                "task": ("POST /task + poll", task, ours),
                "sync_floor": ("sync floor (Litestar handler spawns)", sync_floor, theirs),
                "sync": ("POST /api/execute/ sync", execute, ours),
                "hello": ("HTTP floor (Litestar hello)", hello, theirs),
                "run": ("workflow run, embedded", await workflow_runner(http), ours),
            }
            series = {key: Series(name) for key, (name, *_) in plan.items()}
            counts = (args.sequential, args.total, args.concurrency)
            for round_no in range(1, args.rounds + 1):
                print(f"round {round_no}/{args.rounds}", flush=True)
                for key, (name, call, pids) in plan.items():
                    figures = await measure(name, call, *counts, pids=pids)
                    print("  " + figures.line(), flush=True)
                    series[key].rounds.append(figures)
            await http.aclose()
            await floor_http.aclose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dirs, ignore_errors=True)

    m = {key: s.median() for key, s in series.items()}
    print(f"\nmedian of {args.rounds} round(s), {args.total} items by {args.concurrency} clients:")
    for figures in m.values():
        print("  " + figures.line())
    print(PEERS)
    sync, sfloor = m["sync"], m["sync_floor"]
    over = sync.p50 - sfloor.p50
    share = sync.throughput / sfloor.throughput
    tasks_m, spawned, runs, hellos = m["task"], m["spawn"], m["run"], m["hello"]
    task_share = tasks_m.throughput / spawned.throughput
    run_share = runs.throughput / hellos.throughput
    checks = [
        (
            f"4. sync execute p50 {sync.p50:.2f} ms = floor {sfloor.p50:.2f} + {over:.2f} ms",
            "<= +0.5 ms",
            over <= 0.5,
        ),
        (
            f"4. sync execute {sync.throughput:.0f}/s = {share:.2f}x floor {sfloor.throughput:.0f}/s",
            ">= 0.90x",
            share >= 0.9,
        ),
        (
            f"5. /task {tasks_m.throughput:.0f}/s = {task_share:.2f}x spawn floor {spawned.throughput:.0f}/s",
            ">= 0.50x",
            task_share >= 0.5,
        ),
        (
            f"7. embedded {runs.throughput:.0f} runs/s = {run_share:.2f}x floor {hellos.throughput:.0f}/s",
            ">= 0.50x",
            run_share >= 0.5,
        ),
        (f"7. embedded run p50 {m['run'].p50:.2f} ms", "<= 2 ms", m["run"].p50 <= 2.0),
    ]
    for text, target, ok in checks:
        print(f"{text:<62} target {target:<10} {verdict(ok)}")
    return all(ok for *_, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=100, help="items one at a time for p50/p95 (100)")
    parser.add_argument("--total", type=int, default=500, help="items for throughput (default 500)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument(
        "--worker-threads", type=int, default=0, help="RUNWIRE_WORKER_THREADS (default: server's)"
    )
    parser.add_argument(
        "--rundir-root",
        default="",
        help="where run directories are made (RUNWIRE_RUNDIR_ROOT; default: under the temp dir)",
    )
    add_client_option(parser)
    args = parser.parse_args()
    use_client(args.client)
    if not SCRIPT.exists():
        sys.exit(f"missing workload script {SCRIPT}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
