"""Benchmark: how quickly ``/healthz`` answers while hostile requests are being refused.

    python bench/limits.py                  # each attack for 5 s, /healthz polled meanwhile
    python bench/limits.py --seconds 10

A real embedded ``runwire serve`` (privileged project 1 granted, programs as this user) is
sent, one kind at a time and over and over by 2 client processes (``--clients``): a 4 MB
workflow body (~20,000 nodes, over
``RUNWIRE_MAX_NODES``), a template bomb in an output node (``{{ "%300000000d" % 1 }}`` and
``{{ ["a"*1000000]*30 }}``) created and run, and a Run Script node whose results file is a FIFO.
Meanwhile one client polls ``/healthz``; printed per attack: the attack's answers (status
counts) and /healthz latency p50, p99 and max (issue #11's target: p99 <= 50 ms).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pwd
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from harness import KEY
from threaded import percentile

from runwire.records import TERMINAL
from runwire_server.testing import running_server

NODE = {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}}


def chain(count: int) -> dict[str, Any]:
    """A workflow of ``count`` output nodes in a chain after a trigger."""
    nodes = [NODE] + [{"id": f"n{i}", "type": "output-node", "data": {"output": "x"}} for i in range(count)]
    edges = [{"id": f"e{i}", "source": nodes[i]["id"], "target": nodes[i + 1]["id"]} for i in range(count)]
    return {"nodes": nodes, "edges": edges, "start_node": "t"}


def one_node(node: dict[str, Any]) -> dict[str, Any]:
    """trigger → ``node``."""
    return {
        "nodes": [NODE, node],
        "edges": [{"id": "e", "source": "t", "target": node["id"]}],
        "start_node": "t",
    }


FIFO = {
    "id": "s",
    "type": "basic-node",
    "data": {
        "name": "Run Script",
        "command": ["sh", "-c", "mkfifo out/r.csv"],
        "results": {"kind": "file", "format": "csv", "input_path": "out/r.csv"},
    },
}
BOMBS = ['{{ "%300000000d" % 1 }}', '{{ ["a"*1000000]*30 }}', '{{ (["a"*1000000]*300)|join }}']


def attacks(client: httpx.Client) -> dict[str, Callable[[], int]]:
    """Each attack as a callable returning the status code of its refusal."""
    big = json.dumps({"project": 1, "title": "big", "data": chain(20_000)})

    def big_body() -> int:
        return client.post(
            "/api/v1/workflows/", content=big, headers={"Content-Type": "application/json"}
        ).status_code

    def run(data: dict[str, Any]) -> int:
        made = client.post("/api/v1/workflows/", json={"project": 1, "title": "a", "data": data})
        if made.status_code != 201:
            return made.status_code
        started = client.post(f"/api/v1/workflows/{made.json()['id']}/run/", json={}).json()
        run_id = started["data"]["id"]
        while True:
            data_ = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}).json()["data"]
            if data_["status"] in TERMINAL:
                return 200 if data_["status"] == "failed" else 299  # 299: the attack was not refused
            time.sleep(0.01)

    bombs = iter(range(10**9))
    return {
        "4 MB workflow body": big_body,
        "template bombs": lambda: run(
            one_node({"id": "o", "type": "output-node", "data": {"output": BOMBS[next(bombs) % len(BOMBS)]}})
        ),
        "FIFO results file": lambda: run(one_node(FIFO)),
    }


def attacker(url: str, name: str, stop: Any, answers: Any) -> None:
    """Send attack ``name`` over and over until ``stop`` is set (in its own process, so the
    probe's latency is the server's, not this process's)."""
    with httpx.Client(base_url=url, headers={"X-Api-Key": KEY}, timeout=120) as client:
        hit = attacks(client)[name]
        while not stop.is_set():
            status = hit()
            answers[status] = answers.get(status, 0) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2, help="attacking processes at once")
    args = parser.parse_args()
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_PRIVILEGED_PROJECTS": "1",
        "RUNWIRE_RUN_AS_USER": pwd.getpwuid(os.geteuid()).pw_name,
    }
    with running_server(env=env, timeout=60) as server, multiprocessing.Manager() as manager:
        for name in attacks(httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY})):
            stop, answers = manager.Event(), manager.dict()
            workers = [
                multiprocessing.Process(target=attacker, args=(server.url, name, stop, answers))
                for _ in range(args.clients)
            ]
            for worker in workers:
                worker.start()
            time.sleep(1.0)  # let the attack get going
            latencies: list[float] = []
            with httpx.Client(base_url=server.url, timeout=30) as probe:
                deadline = time.monotonic() + args.seconds
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    probe.get("/healthz").raise_for_status()
                    latencies.append((time.perf_counter() - started) * 1000)
                    time.sleep(0.005)
            stop.set()
            for worker in workers:
                worker.join()
            print(
                f"{name}: answers {dict(answers)}; /healthz over {len(latencies)} probes: "
                f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                f"max {max(latencies):.1f} ms (target p99 <= 50)"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
