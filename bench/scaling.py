"""Per-run costs and throughput of the distributed mode, for docs/scaling.md.

    python bench/scaling.py                          # Redis, 1, 2 and 4 workers, 300 runs each
    python bench/scaling.py --runs 1000 --workers 1,2,4,8 --broker rabbitmq

``runwire serve`` and N ``runwire worker`` processes (``RUNWIRE_WORKER_THREADS`` default) on a
fresh PostgreSQL database and a fresh Redis (or RabbitMQ) namespace run the trigger → output
workflow of ``bench/api.py``: ``--runs`` runs per worker count, started and polled to the end by
``--clients`` client threads. Workers are added between rounds (1, then 2, then 4 ...).

Per run, each round measures: broker commands (Redis ``INFO commandstats``; RabbitMQ: not
measured, the management plugin is not assumed) and broker network bytes; PostgreSQL commits,
rows inserted + updated (``pg_stat_database`` of the run's database) and WAL bytes
(``pg_current_wal_lsn()``); API bytes (request and response, headers included); CPU ms of
``serve`` and of the workers together (``/proc``), and of Redis. Before each round the same
counters are read over an idle window (11 s: an idle PostgreSQL backend may take 10 s to publish
its counters) and that background rate (leases, reconcilers) is subtracted. Redis and WAL
counters are server-wide: other clients of the same Redis or PostgreSQL add noise.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import KEY, WORKFLOW
from threaded import Client, concurrently, percentile

from runwire_server.testing import (
    postgres_database,
    rabbitmq_namespace,
    redis_namespace,
    running_server,
    running_worker,
)

# An idle PostgreSQL backend publishes its pending counters within 10 s (PGSTAT_IDLE_INTERVAL);
# this wait is also the idle window the background rate is measured over.
STATS_FLUSH_S = 11.0


class CountingClient(Client):
    """``bench/api.py``'s client, counting requests and the bytes of both directions."""

    def __init__(self, port: int, tally: dict[str, int], lock: threading.Lock) -> None:
        super().__init__(port)
        self.tally, self.lock = tally, lock

    def request(self, method: str, path: str, body: str | None = None) -> Any:
        """Send a request as :class:`Client` does; add its size to the tally."""
        sent = len(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n".encode())
        sent += sum(len(f"{k}: {v}\r\n") for k, v in self.headers.items()) + 2 + len((body or "").encode())
        sent += len(f"Content-Length: {len((body or '').encode())}\r\nAccept-Encoding: identity\r\n")
        original = self.conn.getresponse

        def counted() -> http.client.HTTPResponse:
            response = original()
            head = 17 + sum(len(f"{k}: {v}\r\n") for k, v in response.getheaders()) + 2
            body_len = int(response.getheader("Content-Length") or 0)
            with self.lock:
                self.tally["requests"] += 1
                self.tally["bytes"] += sent + head + body_len
            return response

        conn = self.conn
        conn.getresponse = counted  # type: ignore[method-assign]
        try:
            return super().request(method, path, body)
        finally:
            del conn.getresponse  # a reconnect's new connection goes uncounted (rare)


def cpu_ms(pid: int) -> float:
    """User + system CPU time of ``pid`` in ms (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


@dataclass
class Probe:
    """Reads the counters of the broker, the store and the processes."""

    database_url: str
    broker: str
    broker_url: str
    pids: Callable[[], dict[str, list[int]]]

    def read(self) -> dict[str, float]:
        """One snapshot of every counter."""
        import psycopg

        figures: dict[str, float] = {}
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') "
                "FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            assert row is not None
            figures["pg_commits"], figures["pg_rows"], figures["wal_bytes"] = map(float, row)
        if self.broker == "redis":
            import redis

            client = redis.Redis.from_url(self.broker_url)
            stats = client.info("commandstats")
            net = client.info("stats")
            cpu = client.info("cpu")
            client.close()
            figures["broker_ops"] = float(sum(v["calls"] for v in stats.values()))
            figures |= {
                f"redis {name.removeprefix('cmdstat_')}": float(v["calls"]) for name, v in stats.items()
            }
            figures["broker_bytes"] = float(net["total_net_input_bytes"] + net["total_net_output_bytes"])
            figures["broker_cpu_ms"] = 1000 * float(cpu["used_cpu_user"] + cpu["used_cpu_sys"])
        for role, pids in self.pids().items():
            figures[f"{role}_cpu_ms"] = sum(cpu_ms(pid) for pid in pids)
        return figures


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """``after - before`` per counter."""
    return {k: after[k] - before[k] for k in after if k in before}


def measure_round(probe: Probe, port: int, workflow_id: int, args: argparse.Namespace) -> dict[str, float]:
    """Idle baseline, then ``args.runs`` runs; per-run costs, runs/s and latencies."""
    time.sleep(STATS_FLUSH_S)  # the warm-up's counters land before the idle window
    start = probe.read()
    time.sleep(STATS_FLUSH_S)
    idle = diff(probe.read(), start)

    tally = {"requests": 0, "bytes": 0}
    lock = threading.Lock()
    latencies: list[float] = []
    body = '{"name": "bench"}'
    clients: dict[int, CountingClient] = {}

    def one(plain: Client) -> None:
        client = clients.get(id(plain))
        if client is None:
            client = clients[id(plain)] = CountingClient(port, tally, lock)
        seconds = client.run_to_terminal(workflow_id, body)
        with lock:
            latencies.append(seconds * 1000)

    before = probe.read()
    began = time.perf_counter()
    runs_per_s = concurrently(args.clients, args.runs, port, one)
    elapsed = time.perf_counter() - began
    time.sleep(STATS_FLUSH_S)
    busy = diff(probe.read(), before)
    scale = (elapsed + STATS_FLUSH_S) / STATS_FLUSH_S
    # a counter that first appears during the runs (a command not yet called) idled at 0
    per_run = {k: max(0.0, v - idle.get(k, 0.0) * scale) / args.runs for k, v in busy.items()}
    per_run |= {
        "api_requests": tally["requests"] / args.runs,
        "api_bytes": tally["bytes"] / args.runs,
        "runs_per_s": runs_per_s,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
    }
    return per_run


COLUMNS = [
    ("workers", "{:.0f}"),
    ("runs_per_s", "{:.0f}"),
    ("p50_ms", "{:.1f}"),
    ("p95_ms", "{:.1f}"),
    ("api_requests", "{:.1f}"),
    ("api_bytes", "{:.0f}"),
    ("broker_ops", "{:.1f}"),
    ("broker_bytes", "{:.0f}"),
    ("pg_commits", "{:.1f}"),
    ("pg_rows", "{:.1f}"),
    ("wal_bytes", "{:.0f}"),
    ("serve_cpu_ms", "{:.2f}"),
    ("worker_cpu_ms", "{:.2f}"),
    ("broker_cpu_ms", "{:.2f}"),
]


def print_table(rows: list[dict[str, float]]) -> None:
    """The figures as a Markdown table (per-run costs, throughput, latency under load)."""
    present = [(name, fmt) for name, fmt in COLUMNS if any(name in row for row in rows)]
    print("| " + " | ".join(name for name, _ in present) + " |")
    print("|" + "---|" * len(present))
    for row in rows:
        cells = [fmt.format(row[name]) if name in row else "n/a" for name, fmt in present]
        print("| " + " | ".join(cells) + " |")


def main() -> int:
    """Start the deployment, run one round per worker count, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300, help="runs per worker count (default 300)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts (default 1,2,4)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.workers.split(",") if n.strip()})
    namespace = redis_namespace if args.broker == "redis" else rabbitmq_namespace
    rows: list[dict[str, float]] = []
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        broker_url, name = stack.enter_context(namespace())
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": database_url,
            "RUNWIRE_BROKER_URL": broker_url,
            "RUNWIRE_BROKER_NAMESPACE": name,
        }
        server = stack.enter_context(running_server(env=env, timeout=60))
        workers: list[int] = []
        probe = Probe(
            database_url, args.broker, broker_url, lambda: {"serve": [server.process.pid], "worker": workers}
        )
        client = Client(server.port)
        payload = json.dumps({"project": 1, "title": "scaling", "data": WORKFLOW})
        workflow_id = client.request("POST", "/api/v1/workflows/", payload)["id"]
        for count in counts:
            while len(workers) < count:
                workers.append(stack.enter_context(running_worker(env=env, timeout=60)).process.pid)
            for _ in range(30):  # warm up: connections, caches, the new workers
                client.run_to_terminal(workflow_id, '{"name": "warm"}')
            print(f"{count} worker(s): {args.runs} runs, {args.clients} clients", flush=True)
            rows.append({"workers": count} | measure_round(probe, server.port, workflow_id, args))
    print(f"\nper run, {args.broker} + PostgreSQL (counters minus the idle rate; *_cpu_ms: CPU ms per run):")
    print_table(rows)
    for row in rows:
        commands = sorted(
            ((v, k[6:]) for k, v in row.items() if k.startswith("redis ") and v >= 0.5), reverse=True
        )
        if commands:
            listed = ", ".join(f"{name} {calls:.1f}" for calls, name in commands)
            print(f"Redis commands per run, {row['workers']:.0f} worker(s): {listed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
