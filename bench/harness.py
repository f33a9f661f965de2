"""The measuring harness shared by ``bench/tasks.py`` and ``bench/api.py`` (issue #17, targets 4-7).

One definition for every figure, floors included, so each ratio compares like with like:

- **client**: one ``httpx.AsyncClient`` (HTTP/1.1 keep-alive, up to ``concurrency`` connections)
  in the benchmark process, driven by asyncio: the "Python client" of the issue.
- **p50 / p95**: latency of one item, submit → terminal (a task or run polled by its client until
  it is terminal; a synchronous call is its request), over ``sequential`` items sent one at a time
  by one client. Under ``concurrency`` clients an item's latency is ``concurrency / throughput``
  (Little's law), so it says nothing the throughput does not; it is printed as ``p50@N``.
- **throughput**: ``total`` items (default 500) by ``concurrency`` clients (default 8), each client
  taking the next item when its previous one is terminal; items per second over the whole batch.
- the client's style (``--client``): by default (``wait``) a start carries ``Prefer: wait=30``,
  so the server answers the ``POST`` when the task or run has ended: an item is one request (a
  long-poll follows only if it had not). With ``long-poll`` the ``POST`` answers at once and the
  client long-polls (``GET ...?wait=30``, answered when the item ends): an item is its ``POST``
  and one ``GET``. With ``short-poll`` (as the reference clients poll, and as runwire was
  measured before it had ``wait``) it polls after 0.5 ms, then doubles its wait up to 4 ms;
  under 8 clients an item then takes several polls, each a full request.
- **CPU/item**: CPU time of the serving processes (server, workers, floor app; children not
  counted) over the throughput batch, per item: steadier than wall times on a loaded machine.

Floors run through the same client at the same concurrency, in the same process and run, and
``measure`` calls are interleaved round by round (median of the rounds is reported), so load from
other jobs on a shared machine skews a figure and its floor alike.
"""

from __future__ import annotations

import asyncio
import compileall
import importlib.metadata
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY = "bench-key"
POLL_FIRST, POLL_MAX = 0.0005, 0.004
CLIENT_STYLES = ("wait", "long-poll", "short-poll")
LONG_POLL_S = [30.0]
"""The ``wait`` of a poll (seconds); ``[0.0]``: short polls (:func:`use_client`)."""
START_WAIT_S = [30.0]
"""The ``Prefer: wait`` of a start (seconds); ``[0.0]``: none (:func:`use_client`)."""


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def compile_runwire(*trees: Path) -> None:
    """Byte-compile runwire, the server and every plugin package (and each of ``trees``, another
    tree's sources), where they are not yet, as installing a wheel does: a benchmarked start then
    reads ``.pyc`` files like its floor's libraries, instead of compiling runwire's sources each
    time (an editable install under ``PYTHONDONTWRITEBYTECODE=1`` never writes them)."""
    names = {"runwire", "runwire_server"}
    names |= {ep.value.split(":")[0].split(".")[0] for ep in importlib.metadata.entry_points(group="runwire")}
    locations = [*trees]
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        locations += [Path(p) for p in ((spec.submodule_search_locations or []) if spec else [])]
    for location in locations:
        compileall.compile_dir(location, quiet=1)


@dataclass
class Figures:
    """One measurement: sequential p50/p95 (ms), concurrent p50 (ms), throughput (items/s)."""

    name: str
    p50: float
    p95: float
    p50_concurrent: float
    throughput: float
    cpu_ms: float = float("nan")

    def line(self) -> str:
        """The figures on one line."""
        return (
            f"{self.name:<40} p50 {self.p50:7.2f} ms  p95 {self.p95:7.2f} ms  "
            f"p50@N {self.p50_concurrent:7.2f} ms  {self.throughput:8.1f} /s  CPU/item {self.cpu_ms:5.2f} ms"
        )


@dataclass
class Series:
    """The rounds of one measurement; :meth:`median` reports each figure's median."""

    name: str
    rounds: list[Figures] = field(default_factory=list)

    def median(self) -> Figures:
        """Each figure's median over the rounds."""
        pick = self.rounds
        return Figures(
            self.name,
            statistics.median(r.p50 for r in pick),
            statistics.median(r.p95 for r in pick),
            statistics.median(r.p50_concurrent for r in pick),
            statistics.median(r.throughput for r in pick),
            statistics.median(r.cpu_ms for r in pick),
        )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (from /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def client(port: int, concurrency: int = 8) -> Any:
    """The benchmark's HTTP client for ``127.0.0.1:port``."""
    import httpx

    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"X-Api-Key": KEY},
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=60,
    )


def use_client(style: str) -> None:
    """Make the clients start and poll in ``style``, one of :data:`CLIENT_STYLES`."""
    START_WAIT_S[0] = 30.0 if style == "wait" else 0.0
    LONG_POLL_S[0] = 0.0 if style == "short-poll" else 30.0


def add_client_option(parser: Any) -> None:
    """The ``--client`` option of a benchmark's argument parser."""
    parser.add_argument(
        "--client",
        choices=CLIENT_STYLES,
        default="wait",
        help="wait: Prefer: wait=30 on the start (one request per item); long-poll: POST, then "
        "GET ?wait=30; short-poll: POST, then polls backing off 0.5-4 ms, as the reference clients",
    )


def start_headers() -> dict[str, str]:
    """The headers of a start: ``Prefer: wait`` unless the client style polls."""
    return {"Prefer": f"wait={START_WAIT_S[0]:g}"} if START_WAIT_S[0] else {}


def poll_params(wait: float) -> dict[str, str]:
    """The query parameters of a poll that may wait ``wait`` seconds (none for a short poll)."""
    return {"wait": f"{wait:g}"} if wait else {}


async def poll(check: Callable[[float], Awaitable[bool]]) -> None:
    """Call ``check(wait)`` until it is true: long-polls, each one waiting for the end; or short
    polls (``wait`` 0), first after 0.5 ms, then doubling the wait up to 4 ms."""
    wait = LONG_POLL_S[0]
    if wait:
        while not await check(wait):
            pass
        return
    delay = POLL_FIRST
    while True:
        await asyncio.sleep(delay)
        if await check(0.0):
            return
        delay = min(delay * 2, POLL_MAX)


async def measure(
    name: str,
    call: Callable[[], Awaitable[None]],
    sequential: int,
    total: int,
    concurrency: int,
    pids: list[int] | None = None,
) -> Figures:
    """Latency of ``sequential`` items one at a time; throughput of ``total`` by ``concurrency`` clients."""
    for _ in range(5):  # warm-up
        await call()
    times = []
    for _ in range(sequential):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    remaining = total
    concurrent: list[float] = []

    async def one_client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            await call()
            concurrent.append((time.perf_counter() - began) * 1000)

    cpu_start = cpu_seconds(pids) if pids else 0.0
    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = (cpu_seconds(pids) - cpu_start) * 1000 / total if pids else float("nan")
    return Figures(
        name,
        statistics.median(times),
        times[max(0, int(len(times) * 0.95) - 1)],
        statistics.median(concurrent),
        total / elapsed,
        cpu,
    )


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


FLOOR_APP = """
import asyncio
from litestar import Litestar, get, post

@get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}

@post("/execute", status_code=201)
async def execute(data: dict[str, object]) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        SCRIPT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return {"status": "successful" if proc.returncode == 0 else "failed", "output": out.decode()}

app = Litestar([hello, execute], debug=False, logging_config=None)
"""


@contextmanager
def floor_server(script: str) -> Iterator[tuple[int, int]]:
    """uvicorn serving the floor app as ``runwire serve`` serves its app; yields (port, pid).

    ``GET /hello`` answers a constant; ``POST /execute`` spawns ``script`` and returns its output.
    """
    from runwire_server.testing import free_port

    port = free_port()
    code = (
        f"SCRIPT = {script!r}\n"
        + FLOOR_APP
        + (
            f"\nimport uvicorn\nuvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', "
            "access_log=False, loop='auto', http='httptools', lifespan='on')\n"
        )
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/hello").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


WORKFLOW = {
    "nodes": [
        {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
        {"id": "output", "type": "output-node", "data": {"output": "Hello {{ input.name }}"}},
    ],
    "edges": [{"id": "e", "source": "trigger", "target": "output"}],
    "start_node": "trigger",
}


async def workflow_runner(http: Any) -> Callable[[], Awaitable[None]]:
    """Create the trigger → output workflow; return a call that runs it and polls until terminal."""
    from runwire.records import TERMINAL

    response = await http.post("/api/v1/workflows/", json={"project": 1, "title": "bench", "data": WORKFLOW})
    response.raise_for_status()
    run_path = f"/api/v1/workflows/{response.json()['id']}/run/"

    async def run() -> None:
        started = await http.post(run_path, json={"name": "bench"}, headers=start_headers())
        assert started.status_code < 300, started.text
        run_id = started.json()["data"]["id"]
        if started.json()["data"]["status"] in TERMINAL:  # Prefer: wait, and it ended in time
            assert started.json()["data"]["status"] == "succeed", started.text
            return

        async def terminal(wait: float) -> bool:
            params = {"id": run_id, **poll_params(wait)}
            data = (await http.get("/api/v1/workflows/workflow_result/", params=params)).json()["data"]
            if data["status"] in TERMINAL:
                assert data["status"] == "succeed", data
                return True
            return False

        await poll(terminal)

    return run
