"""A finished run's record is final: the process still executing it cannot rewrite it."""

from __future__ import annotations

import time
from pathlib import Path

from runwire_server.testing import running_server
from tests.helpers import (
    KEY,
    SERVICE_KEY,
    SLEEP,
    api,
    create_workflow,
    sleep_data,
    start_run,
    wait_for_marker,
    with_plugin,
)

RESULT = "/api/v1/workflows/workflow_result/"
FINISHED = 'runwire_runs_finished_total{door="workflow",status="succeed"}'


def test_a_run_an_execution_update_ended_stays_as_it_said(sleep_plugin_path: str, tmp_path: Path) -> None:
    """An execution update may end a run its executor is still running; when the executor's node
    then finishes, its writes (the node's success, the run's) must not reopen or rewrite the run."""
    markers = tmp_path / "markers"
    markers.mkdir()
    env = with_plugin({"RUNWIRE_API_KEYS": KEY, "RUNWIRE_SERVICE_API_KEY": SERVICE_KEY}, sleep_plugin_path)
    with running_server(env=env, data_dir=tmp_path / "data") as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, sleep_data(1.0, markers)))
        wait_for_marker(markers, run_id)  # its sleep node runs
        update = {
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
        deadline = time.monotonic() + 30  # the executor ends the run as it sees it: counted in the metrics
        while f"{FINISHED} 1.0" not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the executor never finished the run"
            time.sleep(0.05)
        data = client.get(RESULT, params={"id": run_id}).json()["data"]
    assert data["status"] == "failed"
    assert data["data"]["external"]["error"] == "stopped"
    assert SLEEP not in data["data"] or data["data"][SLEEP]["status"] != "succeed"
