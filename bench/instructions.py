"""Server instructions per request, counted by valgrind's callgrind: a figure the load from other
jobs on a shared machine does not move (issue #17; wall-clock figures there move by +-20 %).

Run: ``python bench/instructions.py [--items 200] [--kinds healthz,run-wait,run-poll,task-wait]
[--baseline DIR]``.

One ``runwire serve`` (embedded, SQLite) runs under ``valgrind --tool=callgrind`` with its
instrumentation off; after a warm-up of each kind of item, instrumentation is switched on for
``--items`` items sent one at a time by one client (``bench/harness.py``'s), then off, and the
instructions the server process executed in that window are divided by the items. Kernel work
(system calls) is not counted, nor is the time spent waiting. The kinds:

- ``healthz``: ``GET /healthz`` (public: the cost of the HTTP path and middleware alone);
- ``run-wait``: a trigger → output workflow run, ``POST /run/`` with ``Prefer: wait=30``;
- ``run-poll``: the same run, ``POST /run/`` then ``GET workflow_result?wait=30``;
- ``task-wait``: ``POST /task`` with ``Prefer: wait=30`` for a config.json task that runs
  ``/bin/echo [1]`` (the spawned program is not counted).

A tree that predates ``Prefer: wait`` answers those starts at once; its clients then long-poll
(``GET ...?wait=30``), so there ``run-wait`` and ``task-wait`` count two requests.

``--baseline DIR`` (a directory holding another tree's ``core/src`` and ``server/src``, e.g. a
``git worktree`` of an earlier commit) measures that tree's server the same way, after this
one, for an A/B comparison. Without valgrind the script says so and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from harness import KEY, client, start_headers, use_client, workflow_runner

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("healthz", "run-wait", "run-poll", "task-wait")
WARM_UP = 30


def _callgrind(pid: int, *command: str) -> None:
    subprocess.run(
        ["callgrind_control", *command, str(pid)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _dumps(out: str) -> list[Path]:
    """The numbered callgrind dumps (``out.1``, ``out.2``, ...) so far, oldest first."""
    found = [path for path in Path(out).parent.glob(Path(out).name + ".*") if path.suffix[1:].isdigit()]
    return sorted(found, key=lambda path: int(path.suffix[1:]))


def _counted(pid: int, out: str) -> int:
    """Dump the counts since the last dump (callgrind zeroes them at each dump) and read them."""
    before = len(_dumps(out))
    _callgrind(pid, "-d")
    deadline = time.monotonic() + 60
    while len(dumps := _dumps(out)) <= before or "totals:" not in dumps[-1].read_text():
        if time.monotonic() > deadline:
            raise SystemExit("callgrind wrote no dump")
        time.sleep(0.2)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return 0


async def _calls(port: int, data_dir: Path) -> dict[str, Callable[[], Awaitable[None]]]:
    import httpx

    http = client(port, 1)
    http.timeout = httpx.Timeout(300)  # a server under valgrind answers ~50x slower
    use_client("wait")
    run_wait = await workflow_runner(http)

    async def run_poll() -> None:
        use_client("long-poll")
        try:
            await run_wait()
        finally:
            use_client("wait")

    async def healthz() -> None:
        (await http.get("/healthz")).raise_for_status()

    async def task_wait() -> None:
        reply = await http.post("/task", headers=start_headers())
        assert reply.status_code == 200, reply.text
        if reply.json()["status"] == "not-ready":  # a tree without Prefer: wait: a long-poll
            reply = await http.get(f"/task/{reply.json()['id']}", params={"wait": "30"})
        assert reply.json()["status"] == "ready", reply.text

    return {"healthz": healthz, "run-wait": run_wait, "run-poll": run_poll, "task-wait": task_wait}


def measure(kinds: list[str], items: int, sources: str | None) -> dict[str, float]:
    """Instructions per item of each kind, for the tree whose sources are ``sources`` (a
    PYTHONPATH; ``None``: this tree)."""
    from runwire_server.testing import free_port

    work = Path(tempfile.mkdtemp(prefix="runwire-instructions-"))
    try:
        config = work / "task.json"
        task = {"command": ["/bin/echo", "[1]"], "outputs": {"results": {"kind": "stdout", "format": "json"}}}
        config.write_text(json.dumps(task))
        port, out = free_port(), str(work / "callgrind.out")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
        env |= {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATA_DIR": str(work / "data"),
            "RUNWIRE_TASK_CONFIG": str(config),
            "PYTHONUNBUFFERED": "1",
        }
        if sources:
            env["PYTHONPATH"] = sources
        argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        argv += [sys.executable, "-m", "runwire_server", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with (work / "valgrind.log").open("w") as log:
            server = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            _wait_healthy(port, server, work)
            return asyncio.run(_measure_all(server.pid, port, work, kinds, items, out))
        finally:
            if server.poll() is None:
                os.killpg(server.pid, 15)
                server.wait(120)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _measure_all(
    pid: int, port: int, work: Path, kinds: list[str], items: int, out: str
) -> dict[str, float]:
    calls = await _calls(port, work)
    figures: dict[str, float] = {}
    for kind in kinds:
        call = calls[kind]
        for _ in range(WARM_UP):  # instrumentation off: at native speed
            await call()
        _counted(pid, out)  # starts the window at zero
        _callgrind(pid, "-i", "on")
        for _ in range(items):
            await call()
        _callgrind(pid, "-i", "off")
        figures[kind] = _counted(pid, out) / items
    return figures


def _wait_healthy(port: int, server: subprocess.Popen[bytes], work: Path) -> None:
    import httpx

    deadline = time.monotonic() + 300
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                log = (work / "valgrind.log").read_text()[-2000:]
                code = server.poll()
                raise SystemExit(f"the server under valgrind did not answer (exit {code}):\n{log}") from None
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200, help="items counted per kind")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated: {', '.join(KINDS)}")
    parser.add_argument(
        "--baseline", type=Path, help="another tree (its core/src and server/src) to measure too"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install valgrind): no instruction counts")
        return
    kinds = [kind for kind in args.kinds.split(",") if kind]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")
    trees: dict[str, str | None] = {"this tree": None}
    if args.baseline is not None:
        trees["baseline"] = os.pathsep.join(str(args.baseline / part) for part in ("core/src", "server/src"))
    results = {name: measure(kinds, args.items, sources) for name, sources in trees.items()}
    print(f"server instructions per item ({args.items} items, one client, callgrind):")
    for kind in kinds:
        line = "  ".join(f"{name}: {results[name][kind] / 1e3:8,.0f}k" for name in trees)
        if args.baseline is not None and results["baseline"][kind]:
            line += f"  ({results['this tree'][kind] / results['baseline'][kind] - 1:+.1%})"
        print(f"  {kind:10s} {line}")


if __name__ == "__main__":
    main()
