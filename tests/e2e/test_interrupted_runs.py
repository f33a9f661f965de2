"""A run interrupted by a killed server or worker is run again only when that is safe.

A Run Script node's program appends a line to a marker file and sleeps; the process executing
it is SIGKILLed (or SIGTERMed past its grace) while it sleeps. After the restart the run ends
``failed``, saying it was interrupted, and the program ran once, unless re-running was allowed
(the node's ``rerun_if_interrupted``, ``RUNWIRE_RERUN_INTERRUPTED=always``); a run interrupted in
a node safe to repeat starts over and succeeds.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import (
    KEY,
    SHORT_LEASES,
    api,
    create_workflow,
    poll_job,
    script_workflow,
    sleep_data,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)

ENV = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_PRIVILEGED_PROJECTS": "1", **SHORT_LEASES}
if os.geteuid() == 0:  # as root, programs run as root (tests only)
    ENV["RUNWIRE_RUN_AS_USER"] = "root"


def marking_command(marker: Path) -> list[str]:
    """A program that appends a line to ``marker``, then sleeps 20 s the first time only."""
    script = f'echo ran >> "{marker}"; [ "$(wc -l < "{marker}")" -ge 2 ] || sleep 20; echo done'
    return ["/bin/sh", "-c", script]


def wait_for_lines(marker: Path, count: int = 1, timeout: float = 20.0) -> None:
    """Wait until ``marker`` has ``count`` lines."""
    deadline = time.monotonic() + timeout
    while not (marker.exists() and len(marker.read_text().splitlines()) >= count):
        assert time.monotonic() < deadline, f"{marker} never got {count} line(s)"
        time.sleep(0.02)


def lines(marker: Path) -> int:
    """How many times the program ran."""
    return len(marker.read_text().splitlines())


def kill_mid_script(tmp_path: Path, env: dict[str, str], **node: Any) -> dict[str, Any]:
    """Start a run of the marking program, SIGKILL the server while it sleeps, restart the
    server on the same store and return the run's result."""
    marker = tmp_path / "marker.txt"
    data_dir = tmp_path / "data"
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, script_workflow(marking_command(marker), **node)))
        wait_for_lines(marker)
        time.sleep(0.1)
        server.kill()
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:
        return wait_for_run(client, run_id, timeout=30)


def test_a_run_killed_in_a_run_script_node_ends_failed_and_is_not_run_again(tmp_path: Path) -> None:
    result = kill_mid_script(tmp_path, ENV)
    assert result["status"] == "failed", result
    error = result["error"] or ""
    assert "interrupted while node 'Run Script' (s) was running" in error, result
    assert "not safe to repeat" in error and "rerun_if_interrupted" in error
    assert result["data"]["s"]["status"] == "failed" and result["data"]["s"]["error"] == error
    assert lines(tmp_path / "marker.txt") == 1


def test_the_node_field_lets_an_interrupted_run_script_run_again(tmp_path: Path) -> None:
    result = kill_mid_script(tmp_path, ENV, rerun_if_interrupted=True)
    assert result["status"] == "succeed", result
    assert lines(tmp_path / "marker.txt") == 2


def test_the_server_setting_lets_an_interrupted_run_script_run_again(tmp_path: Path) -> None:
    result = kill_mid_script(tmp_path, {**ENV, "RUNWIRE_RERUN_INTERRUPTED": "always"})
    assert result["status"] == "succeed", result
    assert lines(tmp_path / "marker.txt") == 2


def test_a_sigterm_past_the_grace_does_not_run_a_script_twice(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    data_dir = tmp_path / "data"
    with running_server(env=ENV, data_dir=data_dir) as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, script_workflow(marking_command(marker))))
        wait_for_lines(marker)
        server.stop(timeout=1)  # SIGTERM; the program sleeps on past the wait: SIGKILL
    with running_server(env=ENV, data_dir=data_dir) as server, api(server.url) as client:
        result = wait_for_run(client, run_id, timeout=30)
    assert result["status"] == "failed" and "interrupted" in (result["error"] or ""), result
    assert lines(marker) == 1


def test_a_run_killed_in_a_node_safe_to_repeat_starts_over(tmp_path: Path, sleep_plugin_path: str) -> None:
    env = with_plugin(ENV, sleep_plugin_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    data_dir = tmp_path / "data"
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:
        workflow_id = create_workflow(client, sleep_data(3.0, markers))
        run_id = start_run(client, workflow_id)
        wait_for_marker(markers, run_id)
        server.kill()
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:
        result = wait_for_run(client, run_id, timeout=30)
    assert result["status"] == "succeed", result
    assert len(list(markers.glob(f"{run_id}.*"))) == 2  # run again, by the new server


def test_a_blocking_execute_is_stored_before_it_runs_and_never_run_again(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    executables = tmp_path / "bin"
    executables.mkdir()
    program = executables / "deploy.sh"
    program.write_text(f'#!/bin/sh\necho ran >> "{marker}"\nsleep 20\n')
    program.chmod(0o755)
    env = {**ENV, "RUNWIRE_EXECUTABLES_DIR": str(executables)}
    data_dir = tmp_path / "data"
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:

        def blocking_call() -> None:
            body = {"executable_name": "deploy.sh", "is_async": False}
            with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
                httpx.post(f"{server.url}/api/execute/", json=body, headers={"X-Api-Key": KEY}, timeout=30)

        caller = threading.Thread(target=blocking_call, daemon=True)
        caller.start()
        wait_for_lines(marker)
        server.kill()
        caller.join(10)
    with sqlite3.connect(data_dir / "runwire.db") as db:  # stored before its program started
        stored = db.execute("SELECT id, status FROM runwire_runs").fetchall()
    assert len(stored) == 1 and stored[0][1] == "in progress", stored
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as client:
        job = poll_job(client, stored[0][0])
    assert job["status"] == "failed", job
    assert job["result"]["status"] == "failed" and "interrupted" in job["result"]["output"], job
    assert lines(marker) == 1


@pytest.fixture
def distributed_env(broker_env: dict[str, str]) -> Any:
    """A Redis or RabbitMQ queue and a PostgreSQL store, a short (Redis) heartbeat."""
    with postgres_database() as database_url:
        yield {
            **ENV,
            "RUNWIRE_DATABASE_URL": database_url,
            **broker_env,
            "RUNWIRE_BROKER_HEARTBEAT_TIMEOUT_MS": "3000",
            "RUNWIRE_WORKER_THREADS": "1",
        }


def test_a_worker_killed_in_a_run_script_node_leaves_its_run_failed(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "marker.txt"
    with (
        running_server(env=distributed_env) as server,
        api(server.url) as client,
        running_worker(env=distributed_env) as victim,
    ):
        run_id = start_run(client, create_workflow(client, script_workflow(marking_command(marker))))
        wait_for_lines(marker)
        time.sleep(0.1)
        victim.kill()
        with running_worker(env=distributed_env):  # gets the message again
            result = wait_for_run(client, run_id, timeout=60)
    assert result["status"] == "failed", result
    assert "interrupted while node 'Run Script' (s) was running" in (result["error"] or ""), result
    assert lines(marker) == 1
