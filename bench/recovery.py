"""Recovery time after a worker SIGKILL: from the kill to the run's end, over N kills.

    python bench/recovery.py --kills 20             # Redis, default heartbeat settings
    python bench/recovery.py --kills 5 --broker rabbitmq

``runwire serve`` and two ``runwire worker`` processes (one thread each) on a fresh PostgreSQL
store and a Redis (or RabbitMQ) namespace, with the default ``RUNWIRE_HEARTBEAT_S`` and
``RUNWIRE_PROCESS_TIMEOUT_S`` and Dramatiq's own 60 s Redis heartbeat timeout. Each round starts
a run of one 0.5 s sleep node, SIGKILLs the worker executing it once the node has started, and
times until the run is terminal (the sleep runs again on the other worker: included); the
killed worker is then replaced. Prints p50 and max.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from runwire.records import TERMINAL
from runwire_server.testing import (
    postgres_database,
    rabbitmq_namespace,
    redis_namespace,
    running_server,
    running_worker,
)

KEY = "bench-key"
ROOT = Path(__file__).resolve().parent.parent
SLEEP_PLUGIN = ROOT / "tests" / "e2e" / "sleep_plugin"
SLEEP_S = 0.5


def workflow(markers: Path) -> dict[str, object]:
    """trigger → Test Sleep (writes ``<run_id>.<pid>`` in ``markers`` as it starts) → output."""
    sleep = {"name": "Test Sleep", "seconds": SLEEP_S, "marker_dir": str(markers)}
    return {
        "nodes": [
            {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": "sleep", "type": "basic-node", "data": sleep},
            {"id": "output", "type": "output-node", "data": {"output": "done"}},
        ],
        "edges": [
            {"id": "a", "source": "trigger", "target": "sleep"},
            {"id": "b", "source": "sleep", "target": "output"},
        ],
        "start_node": "trigger",
    }


def install_sleep_plugin(root: Path) -> str:
    """A ``PYTHONPATH`` entry holding the tests' sleep plugin and a dist-info declaring it."""
    info = root / "runwire_test_sleep-0.1.dist-info"
    info.mkdir(parents=True)
    shutil.copy(SLEEP_PLUGIN / "runwire_test_sleep.py", root)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: runwire-test-sleep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[runwire]\ntest-sleep = runwire_test_sleep\n")
    return str(root)


def wait_for(predicate: object, timeout: float, what: str) -> object:
    """Poll ``predicate()`` every 20 ms until truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()  # type: ignore[operator]
        if found:
            return found
        time.sleep(0.02)
    raise TimeoutError(what)


def main() -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    args = parser.parse_args()
    namespace = redis_namespace if args.broker == "redis" else rabbitmq_namespace
    times: list[float] = []
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        broker_url, name = stack.enter_context(namespace())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        markers = scratch / "markers"
        markers.mkdir()
        paths = [install_sleep_plugin(scratch / "plugin"), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": database_url,
            "RUNWIRE_BROKER_URL": broker_url,
            "RUNWIRE_BROKER_NAMESPACE": name,
            "RUNWIRE_WORKER_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(paths),
        }
        server = stack.enter_context(running_server(env=env))
        client = stack.enter_context(httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}))
        workers = {}
        for _ in range(2):
            worker = stack.enter_context(running_worker(env=env))
            workers[worker.process.pid] = worker
        made = client.post(
            "/api/v1/workflows/", json={"project": 1, "title": "recovery", "data": workflow(markers)}
        )
        assert made.status_code == 201, made.text
        workflow_id = made.json()["id"]
        for round_ in range(args.kills):
            reply = client.post(f"/api/v1/workflows/{workflow_id}/run/", json={}).json()
            assert reply["status"] == 201, reply
            run_id = reply["data"]["id"]

            def started(run_id: str = run_id) -> list[Path]:
                return sorted(markers.glob(f"{run_id}.*"))

            marker = wait_for(started, 30, "the run did not start")
            victim = workers.pop(int(marker[0].suffix[1:]))  # type: ignore[index]
            killed = time.monotonic()
            victim.kill()

            def status(run_id: str = run_id) -> str | None:
                params = {"id": run_id}
                found = client.get("/api/v1/workflows/workflow_result/", params=params).json()["data"][
                    "status"
                ]
                return found if found in TERMINAL else None

            ended = wait_for(status, 120, "the run did not end")
            times.append(time.monotonic() - killed)
            print(f"kill {round_ + 1}: {ended} after {times[-1]:.2f} s", file=sys.stderr)
            worker = stack.enter_context(running_worker(env=env))
            workers[worker.process.pid] = worker
    times.sort()
    print(
        f"recovery after a worker SIGKILL ({args.broker}, {len(times)} kills, "
        f"the {SLEEP_S:g} s node run again included): "
        f"p50 {statistics.median(times):.2f} s, max {times[-1]:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
