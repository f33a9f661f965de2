"""A finished run's record is final: the process still executing it cannot rewrite it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwire_server.store import Store
from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import (
    KEY,
    SERVICE_KEY,
    SHORT_LEASES,
    api,
    create_workflow,
    sleep_data,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)

RESULT = "/api/v1/workflows/workflow_result/"
STOPPED = 'runwire_runs_finished_total{door="workflow",status="cancelled"}'


async def test_no_progress_write_reopens_or_rewrites_a_finished_run(store: Store) -> None:
    """Whoever finished it (an execution update here), a late write of its executor changes nothing."""
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    assert await store.claim_run(run_id) is not None
    external = {"x": {"id": "x", "status": "failed", "error": "stopped"}}
    assert await store.apply_update(run_id, "failed", external)
    for status in ("in progress", "succeed", "failed"):  # the executor's late writes
        await store.save_run(run_id, status, {"a": {"id": "a", "status": "succeed"}}, 1.0, "late")
    row = await store.get_run(run_id)
    assert row is not None and (row.status, row.nodes, row.total_cost, row.error) == (
        "failed",
        external,
        0.0,
        None,
    )


def test_a_run_an_execution_update_ended_stays_as_it_said(sleep_plugin_path: str, tmp_path: Path) -> None:
    """An execution update may end a run this server is executing: the execution stops (its
    sleep of 60 s is cut short) and its own end, written as it stops, changes nothing."""
    markers = tmp_path / "markers"
    markers.mkdir()
    env = with_plugin({"RUNWIRE_API_KEYS": KEY, "RUNWIRE_SERVICE_API_KEY": SERVICE_KEY}, sleep_plugin_path)
    with running_server(env=env, data_dir=tmp_path / "data") as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, sleep_data(60.0, markers)))
        wait_for_marker(markers, run_id)  # its sleep node runs
        end_by_update(client, run_id)
        deadline = time.monotonic() + 30  # the executor stops, as for a cancel: counted so
        while f"{STOPPED} 1.0" not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the execution never stopped"
            time.sleep(0.05)
        data = client.get(RESULT, params={"id": run_id}).json()["data"]
    assert data["status"] == "failed" and data.get("error") is None
    assert data["data"]["external"]["error"] == "stopped"
    assert "cancelled by" not in str(data)  # the executor's own end was not written


@pytest.mark.parametrize("broker_env", ["redis"], indirect=True)
def test_a_worker_stops_a_run_an_execution_update_ended(
    broker_env: dict[str, str], sleep_plugin_path: str, tmp_path: Path
) -> None:
    """Distributed: the update is answered by the server, the run held by a worker, which finds it
    ended in the store and stops it: its one thread is free for the next run at once, not after
    the 60 s sleep; the run stays as the update left it."""
    markers = tmp_path / "markers"
    markers.mkdir()
    with postgres_database() as database_url:
        env = with_plugin(
            {
                "RUNWIRE_API_KEYS": KEY,
                "RUNWIRE_SERVICE_API_KEY": SERVICE_KEY,
                "RUNWIRE_DATABASE_URL": database_url,
                "RUNWIRE_WORKER_THREADS": "1",
                **broker_env,
                **SHORT_LEASES,
            },
            sleep_plugin_path,
        )
        with running_server(env=env) as server, running_worker(env=env) as worker, api(server.url) as c:
            run_id = start_run(c, create_workflow(c, sleep_data(60, markers)))
            assert wait_for_marker(markers, run_id) == worker.process.pid
            end_by_update(c, run_id)
            started = time.monotonic()
            after = wait_for_run(c, start_run(c, create_workflow(c, sleep_data(0, markers))), timeout=30)
            assert after["status"] == "succeed" and time.monotonic() - started < 30
            data = c.get(RESULT, params={"id": run_id}).json()["data"]
    assert data["status"] == "failed" and data.get("error") is None
    assert data["data"]["external"]["error"] == "stopped" and "cancelled by" not in str(data)


def end_by_update(client: httpx.Client, run_id: str) -> None:
    """End ``run_id`` ``failed`` by an execution update (the service key's), as an outside
    executor reporting it would."""
    update: dict[str, Any] = {
        "type": "workflow_execution_progress_change",
        "payload": {
            "id": run_id,
            "status": "failed",
            "data": {"external": {"status": "failed", "error": "stopped"}},
        },
    }
    reply = client.post(
        f"/api/v1/workflows/execution-update/{run_id}/",
        json=update,
        headers={"X-Service-Api-Key": SERVICE_KEY},
    )
    assert reply.status_code == 201, reply.text


async def test_the_watch_leaves_alone_a_run_its_own_executor_is_ending(store: Store) -> None:
    """The cancel watch stops a run found finished in the store, unless the process's own
    executor is writing that end (a workflow found invalid, say): then nothing is counted
    cancelled; a run an update ended is stopped."""
    import asyncio

    from runwire_server.cancellation import Cancellations, CancelWatch

    workflow = await store.create_workflow(1, "w", {})
    own, other = str(uuid.uuid4()), str(uuid.uuid4())
    cancellations = Cancellations()
    tickets = {}
    for run_id in (own, other):
        await store.create_run(run_id, workflow, {})
        assert await store.claim_run(run_id) is not None
        tickets[run_id] = cancellations.enter(run_id)
    tickets[own].ending = True  # as the executor sets it before writing its own end
    await store.save_run(own, "failed", {}, 0.0, "workflow is invalid: x")
    assert await store.apply_update(other, "failed", {})
    watch = CancelWatch(store.sync, cancellations)
    assert await asyncio.to_thread(watch.poll) == 2  # both are finished in the store
    await asyncio.sleep(0)  # the stops run on this loop
    await asyncio.sleep(0)
    assert tickets[own].reason is None
    assert tickets[other].reason == "cancelled by an execution update"
