"""Start-up time and idle memory of the ``runwire`` commands, each next to its floor.

Run: ``python bench/start.py [--repeat 7]``. Issue #17's targets 2 and 3:

- ``runwire serve`` (embedded SQLite store and queue): spawn until the first HTTP answer
  (``GET /healthz``), against the floor of a one-route Litestar app served by uvicorn the same
  way (spawn until ``GET /hello`` answers); target <= 1.15x the floor.
- ``runwire run`` of a one-node workflow, wall time (target <= 350 ms), and ``runwire plugins``
  (target <= 400 ms); the floor printed beside them is a bare ``python -c pass``.
- idle RSS (after 2 s) of ``serve`` and, when Redis answers, of ``worker`` (target <= 80 MiB
  each), against the Litestar floor's.

Each figure is the median of ``--repeat`` starts (min in brackets): other processes on a shared
machine make single starts noisy. The processes are started and polled with the stdlib only.

runwire's packages are byte-compiled first (as installing a wheel does), so that a start reads
``.pyc`` files like the floor's libraries do instead of compiling runwire's sources each time
(an editable install under ``PYTHONDONTWRITEBYTECODE=1`` never writes them: ~100 ms more per
``serve``); ``--no-compile`` measures the tree as it is.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import compile_runwire, rss_mib

from runwire_server.testing import WORKER_READY_LINE, free_port

BIN = Path(sys.executable).parent
FLOOR_APP = """
import sys
from litestar import Litestar, get

@get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}

app = Litestar([hello], debug=False, logging_config=None)
import uvicorn
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
ONE_NODE = {
    "nodes": [{"id": "start", "type": "trigger-node", "data": {}}],
    "edges": [],
    "start_node": "start",
}


def answers(port: int, path: str) -> bool:
    """Whether ``GET path`` on 127.0.0.1:``port`` answers 200 now."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start_until_answer(argv: list[str], port: int, path: str, env: dict[str, str]) -> tuple[float, float]:
    """Spawn ``argv``; seconds until ``GET path`` answers 200, and the idle RSS 2 s later."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not answers(port, path):
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[:3]} exited with {proc.returncode}")
            if time.perf_counter() - start > 60:
                raise RuntimeError(f"{argv[:3]} did not answer within 60 s")
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        time.sleep(2.0)
        return elapsed, rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds ``argv`` takes to run to its end (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def figure(samples: list[float], scale: float = 1000) -> str:
    """``median (min)`` of ``samples`` scaled (default: seconds to ms)."""
    return f"{statistics.median(samples) * scale:6.0f} ({min(samples) * scale:.0f})"


def repeat(times: int, measure: Callable[[], float]) -> list[float]:
    """``measure()`` ``times`` times."""
    return [measure() for _ in range(times)]


def redis_url() -> str | None:
    """The bench's Redis URL when it answers, else ``None``."""
    url = os.environ.get("RUNWIRE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    try:
        import redis

        return url if redis.Redis.from_url(url, socket_connect_timeout=1).ping() else None
    except Exception:
        return None


def worker_idle_rss(url: str, env: dict[str, str], data_dir: str) -> float:
    """Idle RSS of a ``runwire worker`` on Redis, 2 s after it is ready."""
    env = env | {
        "RUNWIRE_BROKER_URL": url,
        "RUNWIRE_BROKER_NAMESPACE": f"runwire-bench-start-{os.getpid()}",
        "RUNWIRE_DATABASE_URL": f"sqlite:///{data_dir}/worker.db",
    }
    log = Path(data_dir) / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "runwire"), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while WORKER_READY_LINE not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"runwire worker did not get ready: {log.read_text()[-500:]}")
            time.sleep(0.05)
        time.sleep(2.0)
        return rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)
        _forget_namespace(url, env["RUNWIRE_BROKER_NAMESPACE"])


def _forget_namespace(url: str, namespace: str) -> None:
    """Delete the keys the worker left under ``namespace`` (its heartbeat), once it has stopped."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def main() -> None:
    """Measure and print every start-up and idle-memory figure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="starts per figure (default 7)")
    parser.add_argument(
        "--no-compile", action="store_true", help="do not byte-compile runwire's packages first"
    )
    args = parser.parse_args()
    if not args.no_compile:
        compile_runwire()
    data_dir = tempfile.mkdtemp(prefix="runwire-bench-start-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
        env |= {"RUNWIRE_DATA_DIR": data_dir, "RUNWIRE_API_KEYS": "bench-key"}
        workflow = Path(data_dir) / "one-node.json"
        workflow.write_text(json.dumps(ONE_NODE))

        floor, serve = [], []
        floor_rss, serve_rss = [], []
        for _ in range(args.repeat):  # interleaved, so load from elsewhere hits both alike
            port = free_port()
            seconds, rss = start_until_answer(
                [sys.executable, "-c", FLOOR_APP, str(port)], port, "/hello", env
            )
            floor.append(seconds)
            floor_rss.append(rss)
            port = free_port()
            argv = [str(BIN / "runwire"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            seconds, rss = start_until_answer(argv, port, "/healthz", env)
            serve.append(seconds)
            serve_rss.append(rss)
        python = repeat(args.repeat, lambda: wall([sys.executable, "-c", "pass"]))
        run = repeat(args.repeat, lambda: wall([str(BIN / "runwire"), "run", "--json", str(workflow)], env))
        plugins = repeat(args.repeat, lambda: wall([str(BIN / "runwire"), "plugins"], env))

        ratio = statistics.median(serve) / statistics.median(floor)
        print(f"start-up, median (min) of {args.repeat} starts, ms")
        print(f"  floor: Litestar hello, spawn → first answer   {figure(floor)}")
        target = f"= {ratio:.2f}x the floor (target ≤ 1.15x)"
        print(f"  runwire serve, spawn → first answer (/healthz) {figure(serve)}   {target}")
        print(f"  floor: python -c pass                          {figure(python)}")
        print(f"  runwire run, one-node workflow                 {figure(run)}   (target ≤ 350 ms)")
        print(f"  runwire plugins                                {figure(plugins)}   (target ≤ 400 ms)")
        print("idle RSS 2 s after start, median, MiB (target ≤ 80 for serve and worker)")
        print(f"  floor: Litestar hello {statistics.median(floor_rss):6.1f}")
        print(f"  runwire serve         {statistics.median(serve_rss):6.1f}")
        url = redis_url()
        if url is None:
            print("  runwire worker: skipped, no Redis (RUNWIRE_BENCH_REDIS_URL)")
        else:
            worker = [worker_idle_rss(url, env, data_dir) for _ in range(min(args.repeat, 3))]
            print(f"  runwire worker (Redis) {statistics.median(worker):5.1f}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
