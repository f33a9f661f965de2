"""Process limits of a real embedded server: a FIFO results file fails its node while /healthz
keeps answering, and RUNWIRE_MAX_PROCESSES bounds Run Script nodes and blocking executes
together."""

from __future__ import annotations

import os
import runpy
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from runwire_server.testing import running_server
from tests.helpers import KEY, TERMINAL, api, create_workflow, start_run

PY = sys.executable
MARK = Path(__file__).resolve().parents[1] / "scripts" / "mark_interval.py"
most_at_once = runpy.run_path(str(MARK))["most_at_once"]


def env(**more: str) -> dict[str, str]:
    """Project 1 may hold Run Script nodes; as root, programs run as root (tests only)."""
    base = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_PRIVILEGED_PROJECTS": "1"}
    if os.geteuid() == 0:
        base["RUNWIRE_RUN_AS_USER"] = "root"
    return {**base, **more}


def scripts(*nodes: dict[str, Any]) -> dict[str, Any]:
    """trigger → each of ``nodes`` (Run Script data), all in parallel."""
    data: dict[str, Any] = {
        "start_node": "t",
        "nodes": [{"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}}],
        "edges": [],
    }
    for i, node in enumerate(nodes):
        data["nodes"].append({"id": f"s{i}", "type": "basic-node", "data": {"name": "Run Script", **node}})
        data["edges"].append({"id": f"e{i}", "source": "t", "target": f"s{i}"})
    return data


def healthy_until_done(client: httpx.Client, run_id: str) -> tuple[int, dict[str, Any]]:
    """Ask /healthz until the run is terminal (each must answer 200); return the count and the run."""
    answered = 0
    while True:
        assert client.get("/healthz").status_code == 200
        answered += 1
        reply = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}).json()["data"]
        if reply["status"] in TERMINAL:
            return answered, reply


def test_a_fifo_results_file_fails_its_node_and_the_server_keeps_answering() -> None:
    fifo = {
        "command": [PY, "-c", "import os; os.mkfifo('out/r.csv')"],
        "results": {"format": "csv", "input_path": "out/r.csv"},
    }
    with running_server(env=env()) as server, api(server.url) as client:
        run_id = start_run(client, create_workflow(client, scripts(fifo)))
        answered, run = healthy_until_done(client, run_id)
        assert answered >= 1 and run["status"] == "failed"
        assert "results file 'out/r.csv' is a FIFO (named pipe)" in run["data"]["s0"]["error"]
        assert client.get("/healthz").status_code == 200


def test_run_script_nodes_and_blocking_executes_share_max_processes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    executables = tmp_path / "bin"
    executables.mkdir()
    (executables / "mark.py").write_text(f"#!{PY}\n{MARK.read_text()}")
    (executables / "mark.py").chmod(0o755)
    tmp_path.chmod(0o755)  # the run-as user reaches the executables and the log
    settings = env(RUNWIRE_MAX_PROCESSES="2", RUNWIRE_EXECUTABLES_DIR=str(executables))
    with running_server(env=settings) as server, api(server.url) as client:
        workflow = create_workflow(client, scripts(*[{"command": [PY, str(MARK), str(log)]}] * 6))
        run_id = start_run(client, workflow)

        def blocking(_: int) -> dict[str, Any]:
            with api(server.url) as own:
                body = {"executable_name": "mark.py", "args": [str(log)], "is_async": False}
                reply = own.post("/api/execute/", json=body, timeout=60)
                assert reply.status_code == 201, reply.text
                return dict(reply.json()["result"])

        with ThreadPoolExecutor(3) as pool:
            executes = pool.map(blocking, range(3))
            answered, run = healthy_until_done(client, run_id)  # while programs wait for slots
            results = list(executes)
        assert answered >= 1 and run["status"] == "succeed", run
        assert all(result["status"] == "successful" for result in results), results
    most, started = most_at_once(str(log))
    assert started == 9 and 1 <= most <= 2
