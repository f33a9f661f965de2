"""Benchmark: the embedded server's memory with many runs waiting in its queue.

    python bench/queue_memory.py                         # 10,000 waiting runs of 3 MB inputs
    python bench/queue_memory.py --runs 1000 --input-mb 1

A real ``runwire serve`` (embedded SQLite, one worker slot) first starts a run that sleeps
(the test plugin of tests/e2e), so every further run waits in the queue; then ``--runs`` runs
with an input of ``--input-mb`` MiB each are submitted by 4 clients. Printed: the server's RSS
idle (after the first run started) and with every run waiting, and the difference (issue #11's
target: at most 50 MB). Waiting runs are held by id; their inputs stay in the store.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import KEY, rss_mib
from threaded import Client

from runwire_server.testing import running_server

ROOT = Path(__file__).resolve().parents[1]
SLEEP_PLUGIN = ROOT / "tests" / "e2e" / "sleep_plugin" / "runwire_test_sleep.py"
SLEEPER = {
    "nodes": [
        {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
        {"id": "s", "type": "basic-node", "data": {"name": "Test Sleep", "seconds": 3600}},
    ],
    "edges": [{"id": "e", "source": "t", "target": "s"}],
    "start_node": "t",
}
ECHO = {
    "nodes": [
        {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
        {"id": "o", "type": "output-node", "data": {"output": "{{ input.n }}"}},
    ],
    "edges": [{"id": "e", "source": "t", "target": "o"}],
    "start_node": "t",
}


def plugin_path(into: Path) -> str:
    """A PYTHONPATH entry declaring the sleep test plugin (as tests/e2e's fixture makes it)."""
    shutil.copy(SLEEP_PLUGIN, into)
    info = into / "runwire_test_sleep-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: runwire-test-sleep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[runwire]\ntest-sleep = runwire_test_sleep\n")
    return str(into)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--input-mb", type=float, default=3.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="runwire-bench-queue-"))
    try:
        plugin = work / "plugin"
        plugin.mkdir()
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_WORKER_THREADS": "1",
            "RUNWIRE_QUEUE_MAX": str(args.runs),
            "RUNWIRE_MAX_BODY_BYTES": str(int(args.input_mb * 1024 * 1024) + 4096),
            "PYTHONPATH": os.pathsep.join(filter(None, [plugin_path(plugin), os.environ.get("PYTHONPATH")])),
        }
        with running_server(env=env, data_dir=work / "data", timeout=60) as server:
            client = Client(server.port)
            sleeper = client.request(
                "POST", "/api/v1/workflows/", json.dumps({"project": 1, "title": "s", "data": SLEEPER})
            )
            echo = client.request(
                "POST", "/api/v1/workflows/", json.dumps({"project": 1, "title": "e", "data": ECHO})
            )
            client.request("POST", f"/api/v1/workflows/{sleeper['id']}/run/", "{}")
            time.sleep(1.0)
            idle = rss_mib(server.process.pid)
            body = json.dumps({"n": "x" * int(args.input_mb * 1024 * 1024)})
            done, refused, lock = [0], [0], threading.Lock()
            started = time.monotonic()

            def submit(count: int) -> None:
                mine = Client(server.port)
                for _ in range(count):
                    reply = mine.request("POST", f"/api/v1/workflows/{echo['id']}/run/", body)
                    with lock:
                        done[0] += 1
                        refused[0] += reply.get("status") != 201
                        if done[0] % 1000 == 0:
                            print(
                                f"  {done[0]} submitted, {time.monotonic() - started:.0f} s", file=sys.stderr
                            )

            threads = [
                threading.Thread(target=submit, args=(args.runs // 4 + (i < args.runs % 4),))
                for i in range(4)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            time.sleep(1.0)
            full = rss_mib(server.process.pid)
            print(
                f"waiting runs: {done[0] - refused[0]} of {args.input_mb:g} MiB input each "
                f"({refused[0]} refused), "
                f"submitted in {time.monotonic() - started:.1f} s"
            )
            print(
                f"server RSS idle: {idle:.1f} MiB; with the runs waiting: {full:.1f} MiB; "
                f"difference: {full - idle:+.1f} MiB (target <= +50)"
            )
            server.kill()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
