"""Benchmark of the workflow API over HTTP: run → terminal latency, throughput, idle memory.

    python bench/api.py                     # embedded and Redis modes, the floor, RSS
    python bench/api.py --runs 100 --throughput-runs 1000 --modes embedded
    python bench/api.py --modes redis,rabbitmq  # the distributed mode on each broker
    python bench/api.py --workers 1             # one runwire worker process (default 2)

A trigger → output workflow runs through real ``runwire serve`` (and ``runwire worker``)
processes on 127.0.0.1. Latency: ``POST /run/`` until ``workflow_result`` shows a terminal
status, over sequential runs (polls back off 0.5 → 8 ms), and for single runs after the
workers idled for 1.2 s (how fast an idle worker wakes up). Throughput: runs finished per second
with N concurrent clients. The floor: a minimal Litestar endpoint served by uvicorn the same
way, driven by the same client code (requests per second). RSS is read from /proc.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from runwire.records import TERMINAL
from runwire_server.testing import free_port, rabbitmq_namespace, running_server, running_worker

KEY = "bench-key"
WORKFLOW = {
    "nodes": [
        {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
        {"id": "output", "type": "output-node", "data": {"output": "Hello {{ input.name }}"}},
    ],
    "edges": [{"id": "e", "source": "trigger", "target": "output"}],
    "start_node": "trigger",
}


class Client:
    """A keep-alive HTTP/1.1 client (stdlib ``http.client``: cheap per request, one per thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"X-Api-Key": KEY, "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: str | None = None) -> Any:
        """Send a request; return the decoded JSON body (reconnects once if the server closed an idle one)."""
        try:
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def run_to_terminal(self, workflow_id: int, body: str) -> float:
        """Start a run and poll until terminal; return seconds taken."""
        start = time.perf_counter()
        run_id = self.request("POST", f"/api/v1/workflows/{workflow_id}/run/", body)["data"]["id"]
        delay = 0.0005
        while True:
            result = self.request("GET", f"/api/v1/workflows/workflow_result/?id={run_id}")["data"]
            if result["status"] in TERMINAL:
                if result["status"] != "succeed":
                    raise RuntimeError(f"run failed: {result}")
                return time.perf_counter() - start
            time.sleep(delay)
            delay = min(delay * 2, 0.008)


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def concurrently(clients: int, total: int, port: int, one: Callable[[Client], None]) -> float:
    """Run ``one`` ``total`` times across ``clients`` threads; return completions per second."""
    remaining = [total]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        client = Client(port)
        while True:
            with lock:
                if remaining[0] <= 0 or errors:
                    return
                remaining[0] -= 1
            try:
                one(client)
            except BaseException as exc:  # report, stop the others
                errors.append(exc)
                return

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return total / (time.perf_counter() - start)


def bench_mode(name: str, port: int, pids: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    """Latency and throughput of one server mode."""
    client = Client(port)
    payload = json.dumps({"project": 1, "title": "bench", "data": WORKFLOW})
    workflow_id = client.request("POST", "/api/v1/workflows/", payload)["id"]
    body = '{"name": "bench"}'
    for _ in range(50):
        client.run_to_terminal(workflow_id, body)
    time.sleep(1.5)  # let the queue consumers go idle: the first runs below measure waking them
    latencies = [client.run_to_terminal(workflow_id, body) * 1000 for _ in range(args.runs)]
    idle = []
    for _ in range(args.idle_samples):  # workers idle for over a second, then one run
        time.sleep(1.2)
        idle.append(client.run_to_terminal(workflow_id, body) * 1000)
    throughput = concurrently(
        args.clients, args.throughput_runs, port, lambda c: c.run_to_terminal(workflow_id, body) and None
    )
    time.sleep(1.0)
    return {
        "mode": name,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
        "idle_p50_ms": statistics.median(idle) if idle else float("nan"),
        "runs_per_s": throughput,
        "rss_after_load_mb": {k: rss_mb(v) for k, v in pids.items()},
    }


FLOOR_APP = """
from litestar import Litestar, get

@get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}

app = Litestar([hello], debug=False, logging_config=None)
"""


@contextmanager
def floor_server() -> Iterator[tuple[int, int]]:
    """uvicorn serving a one-route Litestar app exactly as ``runwire serve`` serves its app."""
    import subprocess

    port = free_port()
    code = FLOOR_APP + (
        f"\nimport uvicorn\nuvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', "
        "access_log=False, loop='auto', http='auto')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                Client(port).request("GET", "/hello")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def bench_floor(args: argparse.Namespace) -> dict[str, Any]:
    """Requests per second and latency of the minimal endpoint."""
    with floor_server() as (port, pid):
        client = Client(port)
        for _ in range(200):
            client.request("GET", "/hello")
        latencies = []
        for _ in range(args.runs):
            start = time.perf_counter()
            client.request("GET", "/hello")
            latencies.append((time.perf_counter() - start) * 1000)
        rps = concurrently(args.clients, args.throughput_runs * 3, port, lambda c: c.request("GET", "/hello"))
        return {"p50_ms": statistics.median(latencies), "requests_per_s": rps, "rss_mb": rss_mb(pid)}


def rabbitmq_ready(url: str) -> bool:
    """Whether RabbitMQ answers at ``url``."""
    import pika
    import pika.exceptions

    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
        return True
    except pika.exceptions.AMQPError:
        return False


def redis_ready(url: str) -> bool:
    """Whether Redis answers at ``url``."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@contextmanager
def mode_processes(mode: str, args: argparse.Namespace) -> Iterator[tuple[int, dict[str, int]]]:
    """Start the processes of ``mode``; yield (server port, {role: pid})."""
    env = {"RUNWIRE_API_KEYS": KEY}
    with ExitStack() as stack:
        if mode == "redis":
            namespace = f"runwire-bench-{uuid.uuid4().hex[:8]}"
            data_dir = stack.enter_context(_temp_dir())
            env |= {
                "RUNWIRE_BROKER_URL": args.redis_url,
                "RUNWIRE_BROKER_NAMESPACE": namespace,
                "RUNWIRE_DATABASE_URL": f"sqlite:///{data_dir}/bench.db",
            }
            stack.callback(_clean_redis, args.redis_url, namespace)
        if mode == "rabbitmq":
            url, namespace = stack.enter_context(rabbitmq_namespace(args.rabbitmq_url))
            data_dir = stack.enter_context(_temp_dir())
            env |= {
                "RUNWIRE_BROKER_URL": url,
                "RUNWIRE_BROKER_NAMESPACE": namespace,
                "RUNWIRE_DATABASE_URL": f"sqlite:///{data_dir}/bench.db",
            }
        server = stack.enter_context(running_server(env=env))
        pids = {"server": server.process.pid}
        if mode in ("redis", "rabbitmq"):
            for number in range(1, args.workers + 1):
                worker = stack.enter_context(running_worker(env=env))
                pids[f"worker{number}" if args.workers > 1 else "worker"] = worker.process.pid
        time.sleep(2.0)
        idle = {role: rss_mb(pid) for role, pid in pids.items()}
        print(f"  idle RSS after start: {', '.join(f'{r} {v:.0f} MiB' for r, v in idle.items())}", flush=True)
        yield server.port, pids


@contextmanager
def _temp_dir() -> Iterator[str]:
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="runwire-bench-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _clean_redis(url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)


def main() -> None:
    """Parse flags, run every requested measurement, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500, help="sequential runs for latency (default 500)")
    parser.add_argument(
        "--throughput-runs", type=int, default=5000, help="runs for throughput (default 5000)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--idle-samples", type=int, default=10, help="runs after 1.2 s idle each (default 10)"
    )
    parser.add_argument(
        "--modes", default="embedded,redis", help="comma-separated: embedded, redis, rabbitmq"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="runwire worker processes in redis/rabbitmq modes (default 2)"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("RUNWIRE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    )
    parser.add_argument(
        "--rabbitmq-url",
        default=os.environ.get("RUNWIRE_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
    args = parser.parse_args()

    print(f"floor: minimal Litestar endpoint, {args.clients} clients", flush=True)
    floor = bench_floor(args)
    rps, rss = floor["requests_per_s"], floor["rss_mb"]
    print(f"  p50 {floor['p50_ms']:.2f} ms, {rps:.0f} requests/s, RSS {rss:.0f} MiB")
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode == "redis" and not redis_ready(args.redis_url):
            print(f"redis: skipped, no Redis at {args.redis_url}")
            continue
        if mode == "rabbitmq" and not rabbitmq_ready(args.rabbitmq_url):
            print(f"rabbitmq: skipped, no RabbitMQ at {args.rabbitmq_url}")
            continue
        print(
            f"{mode}: {args.runs} sequential runs, {args.throughput_runs} runs with {args.clients} clients",
            flush=True,
        )
        with mode_processes(mode, args) as (port, pids):
            figures = bench_mode(mode, port, pids, args)
        share = 100 * figures["runs_per_s"] / floor["requests_per_s"]
        # issue #17: embedded p50 <= 2 ms and >= 50 % of the floor; distributed p50 <= 3 ms, >= 40 %
        target = "p50 <= 2 ms, >= 50 %" if mode == "embedded" else "p50 <= 3 ms, >= 40 %"
        rss = ", ".join(f"{r} {v:.0f} MiB" for r, v in figures["rss_after_load_mb"].items())
        print(
            f"  run→terminal p50 {figures['p50_ms']:.2f} ms, p95 {figures['p95_ms']:.2f} ms, "
            f"p50 after idling {figures['idle_p50_ms']:.2f} ms; "
            f"{figures['runs_per_s']:.0f} runs/s = {share:.0f}% of the floor (target {target}); "
            f"RSS after load: {rss}",
            flush=True,
        )


if __name__ == "__main__":
    main()
