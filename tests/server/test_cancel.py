"""Cancelling runs (``POST /api/v1/runs/{id}/cancel/``): queued, running, finished; every front
door's view of a cancelled run; a run held by a ``runwire worker`` process; the store's races."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runwire_server.store import Store
from runwire_server.store.runs import ENDED_BY_UPDATE
from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import (
    KEY,
    PY,
    SCRIPTS,
    SHORT_LEASES,
    SLEEP,
    MakeServer,
    api,
    create_workflow,
    output_workflow,
    samples,
    script_workflow,
    sleep_data,
    start_run,
    value,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)

RUNS = "/api/v1/runs"
RESULT = "/api/v1/workflows/workflow_result/"
BOUND_S = 2.0
"""A running run ends within this long of its cancel."""


def wait_until(check: Any, timeout: float) -> float:
    """Poll ``check()`` until it is true; return how long that took (fail after ``timeout``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - start


def group_gone(pgid: int) -> bool:
    """Whether process group ``pgid`` has no live member left (zombies, dead and waiting for
    init to reap them, count as gone: they hold no resources and run nothing)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(group) == pgid and state != "Z":
            return False
    return True


def test_cancel_in_every_state_embedded(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(worker_threads=1, privileged_projects="1")
    c, h = server.client, server.headers("bootstrap")
    before = samples(c.get("/metrics", headers=h).text)
    pidfile, marker = tmp_path / "pids", tmp_path / "ran"
    sleeper = script_workflow([PY, str(SCRIPTS / "never_exits.py"), str(pidfile)])
    toucher = script_workflow([PY, "-c", f"open({str(marker)!r}, 'w').close()"])
    running = start_run(c, create_workflow(c, sleeper, project=1, title="sleeper"))  # type: ignore[arg-type]
    wait_until(lambda: pidfile.exists() and pidfile.read_text(), 20)
    pgid = int(pidfile.read_text().split()[0])  # the program leads its own session and group

    # queued behind it (one run at a time): a workflow run, a task and an execute job
    queued = start_run(c, create_workflow(c, toucher, project=1, title="toucher"))  # type: ignore[arg-type]
    task = c.post("/task", headers=h).json()["id"]
    job = c.post("/api/execute/", json={"executable_name": "show_args.py"}, headers=h).json()["job_id"]
    for run_id in (queued, task, job):
        reply = c.post(f"{RUNS}/{run_id}/cancel/", headers=h)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body == {
            "id": run_id,
            "status": "failed",
            "cancelled": True,
            "cancelled_by": body["cancelled_by"],
        }
    reason = f"cancelled by {body['cancelled_by']}"
    result = c.get(RESULT, params={"id": queued}, headers=h).json()["data"]
    assert result["status"] == "failed" and result["error"] == reason
    assert c.get(f"/task/{task}", headers=h).json() == {"id": task, "status": "failed", "error": reason}
    polled = c.get(f"/api/execute/{job}", headers=h).json()
    assert polled["status"] == "failed"
    assert polled["result"] == {"output": reason, "return_code": -1, "status": "failed"}

    # not visible: 404, whether it exists or not
    assert c.post(f"{RUNS}/{running}/cancel/", headers=server.headers("p2")).status_code == 404
    assert c.post(f"{RUNS}/{uuid.uuid4()}/cancel/", headers=h).status_code == 404
    assert c.post(f"{RUNS}/not-a-uuid/cancel/", headers=h).status_code == 404
    assert c.post(f"{RUNS}/{running}/cancel/").status_code == 401

    reply = c.post(f"{RUNS}/{running}/cancel/", headers=h)
    assert reply.status_code == 202, reply.text
    assert reply.json() == {
        "id": running,
        "status": "in progress",
        "cancelled": True,
        "cancelled_by": body["cancelled_by"],
    }
    ended = wait_until(
        lambda: c.get(RESULT, params={"id": running}, headers=h).json()["data"]["status"] == "failed", BOUND_S
    )
    assert ended < BOUND_S
    assert wait_until(lambda: group_gone(pgid), BOUND_S - ended) < BOUND_S
    result = c.get(RESULT, params={"id": running}, headers=h).json()["data"]
    assert result["error"] == reason
    assert result["data"]["s"]["status"] == "failed" and result["data"]["s"]["error"] == reason

    finished = c.post(f"{RUNS}/{running}/cancel/", headers=h)
    assert finished.status_code == 409
    assert finished.json()["detail"] == "the run has already finished (failed)"
    # the slot is free again, and the cancelled runs never started
    after = start_run(c, create_workflow(c, output_workflow("x"), project=1, title="after"))  # type: ignore[arg-type]
    assert wait_for_run(c, after, h)["status"] == "succeed"  # type: ignore[arg-type]
    assert not marker.exists()
    assert c.get(RESULT, params={"id": queued}, headers=h).json()["data"]["status"] == "failed"
    # counted once each, as cancelled, by front door (the queued ones by the cancel, the running one
    # by its executor)
    after_metrics = samples(c.get("/metrics", headers=h).text)
    for door, count in (("workflow", 2), ("task", 1), ("execute", 1)):
        labels = {"door": door, "status": "cancelled"}
        finished = "runwire_runs_finished_total"
        assert value(after_metrics, finished, **labels) - value(before, finished, **labels) == count


def test_a_run_executing_before_its_first_progress_write_is_stopped_and_counted_once(
    sleep_plugin_path: str, tmp_path: Path
) -> None:
    """Embedded mode stores a run claimed and shows it ``in queue`` until its first progress
    write: a cancel then stops it as a running run (202), and it is counted once, cancelled."""
    markers = tmp_path / "markers"
    markers.mkdir()
    env = with_plugin({"RUNWIRE_API_KEYS": KEY}, sleep_plugin_path)
    with running_server(env=env, data_dir=tmp_path / "data") as server, api(server.url) as c:
        before = samples(c.get("/metrics").text)
        run_id = start_run(c, create_workflow(c, sleep_data(60, markers)))
        wait_for_marker(markers, run_id)  # its sleep node runs
        assert c.get(RESULT, params={"id": run_id}).json()["data"]["status"] == "in queue"
        reply = c.post(f"{RUNS}/{run_id}/cancel/")
        assert reply.status_code == 202, reply.text
        assert reply.json()["status"] == "in progress" and reply.json()["cancelled"] is True
        ended = wait_until(
            lambda: c.get(RESULT, params={"id": run_id}).json()["data"]["status"] == "failed", BOUND_S
        )
        assert ended < BOUND_S
        result = c.get(RESULT, params={"id": run_id}).json()["data"]
        reason = f"cancelled by {reply.json()['cancelled_by']}"
        assert result["error"] == reason
        assert result["data"][SLEEP]["status"] == "failed" and result["data"][SLEEP]["error"] == reason
        after = samples(c.get("/metrics").text)
        labels = {"door": "workflow", "status": "cancelled"}
        finished = "runwire_runs_finished_total"
        assert value(after, finished, **labels) - value(before, finished, **labels) == 1


def test_cancel_ends_a_blocking_execute_for_its_caller(make_server: MakeServer, tmp_path: Path) -> None:
    """A blocking ``/api/execute/`` runs in the API process: its caller gets the failed result."""
    server = make_server()
    c, h = server.client, server.headers("bootstrap")
    pidfile = tmp_path / "pids"
    body = {"executable_name": "never_exits.py", "args": [str(pidfile)], "is_async": False}
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(c.post, "/api/execute/", json=body, headers=h)
        wait_until(lambda: pidfile.exists() and pidfile.read_text(), 20)
        pgid = int(pidfile.read_text().split()[0])
        workflows = c.get("/api/v1/workflows/", params={"project": 0}, headers=h).json()["results"]
        histories = [c.get(f"/api/v1/workflows/{w['id']}/history/", headers=h).json() for w in workflows]
        (job,) = [r["id"] for page in histories for r in page["results"] if r["status"] == "in progress"]
        reply = c.post(f"{RUNS}/{job}/cancel/", headers=h)
        assert reply.status_code == 202, reply.text
        answer = call.result(timeout=BOUND_S)
    reason = f"cancelled by {reply.json()['cancelled_by']}"
    assert answer.status_code == 201
    assert answer.json() == {
        "job_id": job,
        "result": {"output": reason, "return_code": -1, "status": "failed"},
    }
    assert wait_until(lambda: group_gone(pgid), BOUND_S) < BOUND_S
    assert c.get(f"/api/execute/{job}", headers=h).json()["status"] == "failed"


def test_a_cancelled_run_whose_process_died_ends_instead_of_starting_over(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """Recovery hands a cancelled run of a dead process to a live one: it ends there, cancelled."""
    server = make_server(privileged_projects="1", heartbeat_s=0.2, process_timeout_s=1)
    c, h = server.client, server.headers("bootstrap")
    marker = tmp_path / "ran"
    workflow = create_workflow(c, script_workflow(["touch", str(marker)]), project=1, title="t")  # type: ignore[arg-type]
    store = c.app.state.services.store.sync
    run_id = str(uuid.uuid4())
    store.create_run(run_id, store.get_workflow_head(workflow), {})
    store.claim_run(run_id, "deadbeefdead:1")  # a process that no longer heartbeats
    store.save_run(run_id, "in progress", {"t": {"id": "t", "status": "in progress"}}, 0.0)
    assert store.cancel_run(run_id, "api-key:someone").status == "in progress"
    result = wait_for_run(c, run_id, h, timeout=10)  # type: ignore[arg-type]
    assert result["status"] == "failed" and result["error"] == "cancelled by api-key:someone"
    assert result["data"] == {"t": {"id": "t", "status": "failed", "error": "cancelled by api-key:someone"}}
    assert not marker.exists()


async def test_the_store_cancels_atomically(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    queued, running, done = (str(uuid.uuid4()) for _ in range(3))
    for run_id in (queued, running, done):
        await store.create_run(run_id, workflow, {})
    await store.claim_run(running, "m")
    await store.save_run(done, "succeed", {}, 0.0)

    ended = await store.cancel_run(queued, "api-key:a")
    assert ended is not None and ended.status == "failed" and ended.error == "cancelled by api-key:a"
    assert await store.claim_run(queued, "m2") is None  # a cancelled queued run never starts
    await store.save_run(queued, "in progress", {}, 0.0)  # a late write of its executor
    assert (await store.get_run(queued)).status == "failed"  # type: ignore[union-attr]

    marked = await store.cancel_run(running, "api-key:a")
    assert marked is not None and marked.status == "in progress" and marked.cancelled_by == "api-key:a"
    again = await store.cancel_run(running, "api-key:b")
    assert again is not None and again.cancelled_by == "api-key:a"  # the first canceller is kept
    found = sorted(await store.cancel_requests([running, done, queued]))
    # a finished run that a process still lists as executing was ended elsewhere (an execution
    # update): that process must stop it too
    assert found == sorted([(queued, "api-key:a"), (running, "api-key:a"), (done, ENDED_BY_UPDATE)])
    # a run that finishes as the cancel arrives records what happened
    await store.save_run(running, "succeed", {}, 0.0)
    assert (await store.get_run(running)).status == "succeed"  # type: ignore[union-attr]

    assert await store.cancel_run(done, "api-key:a") is None
    assert await store.cancel_run(str(uuid.uuid4()), "api-key:a") is None


@pytest.mark.parametrize("broker_env", ["redis"], indirect=True)
def test_a_worker_stops_a_run_cancelled_through_the_server(
    broker_env: dict[str, str], sleep_plugin_path: str, tmp_path: Path
) -> None:
    """Distributed: the run is held by a ``runwire worker`` process, the cancel answered by the
    server; the worker finds it in the store and stops it (Redis only: the broker plays no part).
    A run queued behind it (one worker thread) ends at once and never starts."""
    markers = tmp_path / "markers"
    markers.mkdir()
    with postgres_database() as database_url:
        env = with_plugin(
            {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_DATABASE_URL": database_url, **broker_env, **SHORT_LEASES},
            sleep_plugin_path,
        )
        env["RUNWIRE_WORKER_THREADS"] = "1"
        with running_server(env=env) as server, running_worker(env=env) as worker, api(server.url) as c:
            run_id = start_run(c, create_workflow(c, sleep_data(60, markers)))
            assert wait_for_marker(markers, run_id) == worker.process.pid
            quick = create_workflow(c, sleep_data(0, markers))
            queued = start_run(c, quick)
            assert c.post(f"{RUNS}/{queued}/cancel/").json()["status"] == "failed"  # at once
            reply = c.post(f"{RUNS}/{run_id}/cancel/")
            assert reply.status_code == 202, reply.text
            start = time.monotonic()
            result = wait_for_run(c, run_id, timeout=BOUND_S + 1)
            assert time.monotonic() - start < BOUND_S
            assert result["status"] == "failed" and result["error"].startswith("cancelled by ")
            assert c.post(f"{RUNS}/{run_id}/cancel/").status_code == 409
            # the queued run's message came next to the one worker thread: it did not start
            assert wait_for_run(c, start_run(c, quick))["status"] == "succeed"
            assert not list(markers.glob(f"{queued}.*"))
            assert wait_for_run(c, queued)["error"].startswith("cancelled by ")
