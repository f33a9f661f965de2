"""Issue #17 targets 6 and 7: workflow runs over HTTP, embedded and distributed, against the HTTP floor.

    python bench/api.py                                  # embedded, Redis and RabbitMQ modes
    python bench/api.py --modes redis --rounds 5         # one mode, more rounds
    python bench/api.py --workers 1                      # one runwire worker process (default 2)

How every figure is taken (client, p50, throughput, polling) is in ``bench/harness.py``. A
trigger → output workflow runs through real ``runwire serve`` (and, in the Redis and RabbitMQ
modes, ``--workers`` ``runwire worker`` processes) on 127.0.0.1: ``POST /run/``, then polling
``workflow_result`` until terminal. The HTTP floor, a one-route Litestar app served by uvicorn as
``serve`` serves its app, is measured by the same client in the same round, interleaved. Also
printed: the latency of single runs after the workers idled for 1.2 s (how fast an idle worker
wakes up) and the processes' RSS (from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from harness import (
    KEY,
    Series,
    add_client_option,
    client,
    floor_server,
    measure,
    rss_mib,
    use_client,
    verdict,
    workflow_runner,
)

from runwire_server.testing import rabbitmq_namespace, running_server, running_worker

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "bench_csv.sh"


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
        if mode in ("redis", "rabbitmq"):
            if mode == "redis":
                url, namespace = args.redis_url, f"runwire-bench-{uuid.uuid4().hex[:8]}"
                stack.callback(_clean_redis, url, namespace)
            else:
                url, namespace = stack.enter_context(rabbitmq_namespace(args.rabbitmq_url))
            data_dir = stack.enter_context(_temp_dir())
            env |= {
                "RUNWIRE_BROKER_URL": url,
                "RUNWIRE_BROKER_NAMESPACE": namespace,
                "RUNWIRE_DATABASE_URL": args.database_url or f"sqlite:///{data_dir}/bench.db",
            }
        server = stack.enter_context(running_server(env=env))
        pids = {"server": server.process.pid}
        if mode in ("redis", "rabbitmq"):
            for number in range(1, args.workers + 1):
                worker = stack.enter_context(running_worker(env=env))
                pids[f"worker{number}"] = worker.process.pid
        time.sleep(1.0)
        idle = {role: rss_mib(pid) for role, pid in pids.items()}
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


async def bench_mode(mode: str, floor: tuple[int, int], args: argparse.Namespace) -> bool:
    """Rounds of the HTTP floor (port, pid) and this mode's runs, interleaved; print figures and verdicts."""
    floor_port, floor_pid = floor
    with mode_processes(mode, args) as (port, pids):
        http = client(port, args.concurrency)
        floor_http = client(floor_port, args.concurrency)
        run = await workflow_runner(http)

        async def hello() -> None:
            (await floor_http.get("/hello")).raise_for_status()

        worker_pids = list(pids.values())
        hellos, runs = Series("HTTP floor (Litestar hello)"), Series(f"workflow run, {mode}")
        counts = (args.sequential, args.total, args.concurrency)
        for _ in range(args.rounds):
            for series, call, cpu_pids in ((hellos, hello, [floor_pid]), (runs, run, worker_pids)):
                figures = await measure(series.name, call, *counts, pids=cpu_pids)
                print("  " + figures.line(), flush=True)
                series.rounds.append(figures)
        idle: list[float] = []
        idle_floor: list[float] = []
        for _ in range(args.idle_samples):  # idle for over a second, then one run (and one hello)
            for samples, call in ((idle, run), (idle_floor, hello)):
                await asyncio.sleep(1.2)
                start = time.perf_counter()
                await call()
                samples.append((time.perf_counter() - start) * 1000)
        await http.aclose()
        await floor_http.aclose()
        rss = ", ".join(f"{r} {rss_mib(p):.0f} MiB" for r, p in pids.items())
    f, r = hellos.median(), runs.median()
    share = r.throughput / f.throughput
    p50_target, share_target = (2.0, 0.5) if mode == "embedded" else (3.0, 0.4)
    idle_p50 = statistics.median(idle) if idle else float("nan")
    idle_floor_p50 = statistics.median(idle_floor) if idle_floor else float("nan")
    print(f"  median of {args.rounds}: {r.line()}\n  {'':<12}{f.line()}")
    print(
        f"  p50 after idling 1.2 s: {idle_p50:.2f} ms (HTTP floor {idle_floor_p50:.2f} ms: a machine "
        f"waking from idle answers slower); RSS after load: {rss}"
    )
    checks = [
        (f"{mode} run p50 {r.p50:.2f} ms", f"<= {p50_target:g} ms", r.p50 <= p50_target),
        (
            f"{mode} runs {r.throughput:.0f}/s = {share:.2f}x HTTP floor {f.throughput:.0f}/s",
            f">= {share_target:.2f}x",
            share >= share_target,
        ),
    ]
    target_no = "7." if mode == "embedded" else "6."
    for text, target, ok in checks:
        print(f"{target_no} {text:<59} target {target:<10} {verdict(ok)}", flush=True)
    return all(ok for *_, ok in checks)


async def run_all(args: argparse.Namespace) -> None:
    with floor_server(str(SCRIPT)) as floor:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            if mode == "redis" and not redis_ready(args.redis_url):
                print(f"redis: skipped, no Redis at {args.redis_url}")
                continue
            if mode == "rabbitmq" and not rabbitmq_ready(args.rabbitmq_url):
                print(f"rabbitmq: skipped, no RabbitMQ at {args.rabbitmq_url}")
                continue
            workers = f", {args.workers} workers" if mode != "embedded" else ""
            print(f"{mode}{workers}: {args.total} runs by {args.concurrency} clients", flush=True)
            await bench_mode(mode, floor, args)


def main() -> None:
    """Parse flags, run every requested measurement, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sequential", type=int, default=100, help="runs one at a time for p50 (100)")
    parser.add_argument("--total", type=int, default=500, help="runs for throughput (default 500)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--idle-samples", type=int, default=5, help="runs after 1.2 s idle each (5)")
    parser.add_argument(
        "--modes", default="embedded,redis,rabbitmq", help="comma-separated: embedded, redis, rabbitmq"
    )
    parser.add_argument("--workers", type=int, default=2, help="runwire worker processes (default 2)")
    parser.add_argument(
        "--redis-url", default=os.environ.get("RUNWIRE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    )
    parser.add_argument(
        "--rabbitmq-url",
        default=os.environ.get("RUNWIRE_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RUNWIRE_BENCH_DATABASE_URL", ""),
        help="the distributed modes' store (an empty PostgreSQL database); default: SQLite in a temp dir",
    )
    add_client_option(parser)
    args = parser.parse_args()
    use_client(args.client)
    asyncio.run(run_all(args))


if __name__ == "__main__":
    main()
