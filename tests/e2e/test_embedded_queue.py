"""Embedded mode: runs execute on the server's event loop, bounded, durable before each reply."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runwire_server.testing import running_server
from tests.helpers import (
    KEY,
    api,
    create_workflow,
    hello_data,
    sleep_data,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)

ENV = {"RUNWIRE_API_KEYS": KEY}


def test_runs_beyond_the_concurrency_limit_wait_for_a_free_slot(
    tmp_path: Path, sleep_plugin_path: str
) -> None:
    env = with_plugin({**ENV, "RUNWIRE_WORKER_THREADS": "1"}, sleep_plugin_path)
    with running_server(env=env) as server, api(server.url) as client:
        first = start_run(client, create_workflow(client, sleep_data(1.0, tmp_path)))
        second = start_run(client, create_workflow(client, sleep_data(0.0, tmp_path)))
        wait_for_marker(tmp_path, first)
        result = "/api/v1/workflows/workflow_result/"
        while True:
            # look at the second run first, then at the first: what the second showed can only
            # be a violation if the first was still unfinished afterwards
            started = bool(list(tmp_path.glob(f"{second}.*")))
            second_status = client.get(result, params={"id": second}).json()["data"]["status"]
            first_status = client.get(result, params={"id": first}).json()["data"]["status"]
            if first_status not in ("in queue", "in progress"):
                break
            assert not started, "the second run started while the first ran"
            assert second_status == "in queue"
            time.sleep(0.05)
        assert wait_for_run(client, second)["status"] == "succeed"


def test_stopping_lets_a_running_run_finish(tmp_path: Path, sleep_plugin_path: str) -> None:
    env = with_plugin(ENV, sleep_plugin_path)
    data_dir = tmp_path / "data"
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, sleep_data(1.0, tmp_path)))
        wait_for_marker(tmp_path, run_id)
        server.stop(timeout=30)  # SIGTERM while the run's node is still sleeping
        assert "Application shutdown complete" in server.logs()
    with sqlite3.connect(data_dir / "runwire.db") as db:
        (status,) = db.execute("SELECT status FROM runwire_runs WHERE id = ?", (run_id,)).fetchone()
    assert status == "succeed"


def test_every_replied_run_survives_a_sigkill(tmp_path: Path) -> None:
    """Writes share commits, but a reply is sent only once its run is committed: killing the
    server right after the last reply loses none of the runs it told clients about."""
    data_dir = tmp_path / "data"
    with running_server(env=ENV, data_dir=data_dir) as server, api(server.url) as client:
        workflow_id = create_workflow(client, hello_data())

        def start_some(_: int) -> list[str]:
            with api(server.url) as own:
                return [start_run(own, workflow_id, '{"name": "Ada", "age": 36}') for _ in range(50)]

        with ThreadPoolExecutor(8) as pool:
            replied = [run_id for batch in pool.map(start_some, range(8)) for run_id in batch]
        server.kill()
    with sqlite3.connect(data_dir / "runwire.db") as db:
        stored = {row[0] for row in db.execute("SELECT id FROM runwire_runs")}
    assert len(replied) == 400 and set(replied) <= stored
