"""Run retention (``RUNWIRE_RUN_RETENTION``): old finished runs are deleted in batches, others kept,
and a deleted run gets, at every front door, the answer of an id that never existed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import update

from runwire.records import Status
from runwire_server.settings import Settings, store_url
from runwire_server.store import Store, open_database, utcnow
from runwire_server.store.sync import SyncStore
from runwire_server.store.tables import runs
from runwire_server.testing import running_server
from tests.helpers import api, create_workflow, hello_data, server_env, start_run, wait_for_run

DAY = timedelta(days=1)


def age(store: SyncStore, run_ids: list[str], by: timedelta) -> None:
    """Make runs look last written ``by`` ago (the test's own rows, through SQL)."""
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id.in_(run_ids)).values(updated_at=utcnow() - by))


def test_only_finished_runs_past_the_cutoff_are_deleted_a_batch_at_a_time(store: Store) -> None:
    sync = store.sync
    workflow = sync.create_workflow(1, "kept or not", hello_data())

    def made(status: str) -> str:
        return sync.create_run(str(uuid.uuid4()), workflow, {}, status=status).id

    old_done = [made(Status.SUCCEED), made(Status.FAILED), made(Status.SUCCEED)]
    old_unfinished = [made(Status.IN_QUEUE), made(Status.IN_PROGRESS)]
    recent = made(Status.SUCCEED)
    age(sync, old_done + old_unfinished, 2 * DAY)

    cutoff = utcnow() - DAY
    assert sync.delete_finished_runs(cutoff, limit=2) == 2  # the limit holds
    assert sync.delete_finished_runs(cutoff, limit=2) == 1
    assert sync.delete_finished_runs(cutoff, limit=2) == 0
    assert all(sync.get_run(run_id) is None for run_id in old_done)
    assert all(sync.get_run(run_id) is not None for run_id in [*old_unfinished, recent])


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("", None), ("30d", 30 * 86_400), ("12h", 43_200), ("90m", 5400), ("3600s", 3600), ("120", 120)],
)
def test_retention_takes_a_duration(value: str, seconds: int | None) -> None:
    assert Settings(run_retention=value).run_retention_s == seconds


@pytest.mark.parametrize("value", ["30 days", "-5d", "1.5h", "59s", "0", "d", "9999999999w"])
def test_retention_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValidationError, match="run_retention"):
        Settings(run_retention=value)


def test_serve_refuses_a_bad_retention_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    env.update(RUNWIRE_DATA_DIR=str(tmp_path), RUNWIRE_RUN_RETENTION="30 days")
    done = subprocess.run(
        [sys.executable, "-m", "runwire_server", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "run_retention" in done.stderr and "is not a duration" in done.stderr
    assert "Traceback" not in done.stderr


def _replies(client: httpx.Client, run_id: str, task_id: str, job_id: str) -> list[tuple[int, Any]]:
    """What the three front doors answer for these ids (status and body)."""
    replies = (
        client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}),
        client.get(f"/task/{task_id}"),
        client.get(f"/api/execute/{job_id}"),
    )
    return [(reply.status_code, reply.json()) for reply in replies]


def test_a_live_server_deletes_old_runs_and_answers_for_them_as_for_unknown_ids() -> None:
    env = {
        **server_env(),
        "RUNWIRE_RUN_RETENTION": "1h",
        "RUNWIRE_RETENTION_SWEEP_S": "0.2",
        "RUNWIRE_HEARTBEAT_S": "0.2",
        "RUNWIRE_PROCESS_TIMEOUT_S": "5",
    }
    with running_server(env=env) as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, hello_data()), '{"name": "Ada", "age": 36}')
        assert wait_for_run(client, run_id)["status"] == "succeed"
        task_id = client.post("/task/Paris", params={"season": "spring"}).json()["id"]
        job = client.post("/api/execute/", json={"executable_name": "hello.sh", "is_async": False})
        job_id = job.json()["job_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/task/{task_id}").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the task never finished"
            time.sleep(0.05)
        ids = [run_id, task_id, job_id]
        assert all(status == 200 for status, _ in _replies(client, *ids))  # recent: kept

        store = open_database(store_url("", server.data_dir))
        try:
            age(store.sync, ids, 2 * timedelta(hours=1))
            deadline = time.monotonic() + 10
            while any(store.sync.get_run(i) is not None for i in ids):
                assert time.monotonic() < deadline, "the aged runs were not deleted"
                time.sleep(0.05)
        finally:
            store.dispose()

        unknown = [str(uuid.uuid4()) for _ in ids]
        deleted, never = _replies(client, *ids), _replies(client, *unknown)
        assert [status for status, _ in deleted] == [404, 404, 404]
        assert deleted[0][1]["data"]["status"] == "not found"  # ScriptRun: "may be expired or invalid"
        deleted[0][1]["data"]["id"] = never[0][1]["data"]["id"]
        assert deleted == never
        assert "deleted 3 finished run(s) older than RUNWIRE_RUN_RETENTION" in server.logs()
