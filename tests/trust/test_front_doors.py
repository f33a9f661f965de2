"""Front-door workflows answer only through their front door, and their runs belong to whoever
started them; ids are never reused."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from tests.helpers import MakeServer, Server, output_workflow, script_workflow

WORKFLOWS = "/api/v1/workflows/"


def front_door_workflows(server: Server) -> dict[str, int]:
    listed = server.client.get(WORKFLOWS, params={"project": 0}, headers=server.headers("bootstrap")).json()
    return {w["title"]: w["id"] for w in listed["results"]}


def wait_task(server: Server, task_id: str, who: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body = server.client.get(f"/task/{task_id}", headers=server.headers(who)).json()
        if body["status"] != "not-ready" or time.monotonic() > deadline:
            return body  # type: ignore[no-any-return]
        time.sleep(0.01)


def test_front_door_workflows_refuse_the_generic_api(make_server: MakeServer) -> None:
    server = make_server()
    server.client.post(
        "/api/execute/", json={"executable_name": "hello.sh", "is_async": False}, headers=server.headers("p0")
    )
    doors = front_door_workflows(server)
    assert len(doors) == 2, doors  # the task's and execute's (blocking) workflows
    exploit = {"executable": "/bin/sh", "args": ["-c", "id"], "job_id": "x"}
    for workflow_id in doors.values():
        for who in ("p0", "bootstrap"):
            url = f"{WORKFLOWS}{workflow_id}/"
            run = server.client.post(f"{url}run/", json=exploit, headers=server.headers(who))
            assert run.status_code == 403 and "front door" in run.json()["detail"], run.text
            patch = server.client.patch(url, json={"title": "mine"}, headers=server.headers(who))
            assert patch.status_code == 403
            assert server.client.delete(url, headers=server.headers(who)).status_code == 403
        history = server.client.get(f"{WORKFLOWS}{workflow_id}/history/", headers=server.headers("bootstrap"))
        assert all(r["input_data"].get("executable") != "/bin/sh" for r in history.json()["results"])


def test_execute_jobs_keep_the_callers_name_and_resolve_it_when_they_run(make_server: MakeServer) -> None:
    server = make_server()
    reply = server.client.post(
        "/api/execute/",
        json={"executable_name": "hello.sh", "args": ["Ada"], "is_async": False},
        headers=server.headers("p0"),
    )
    assert reply.json()["result"]["output"] == "hello, Ada\n"
    queued = server.client.post(
        "/api/execute/", json={"executable_name": "hello.sh", "args": ["Bob"]}, headers=server.headers("p0")
    ).json()["job_id"]
    deadline = time.monotonic() + 30
    while server.client.get(f"/api/execute/{queued}", headers=server.headers("p0")).json()["result"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for workflow_id in front_door_workflows(server).values():
        history = server.client.get(f"{WORKFLOWS}{workflow_id}/history/", headers=server.headers("p0")).json()
        for item in history["results"]:
            if "executable" in item["input_data"]:
                assert item["input_data"]["executable"] == "hello.sh"  # never a server path


def test_the_run_script_node_checks_its_executables_dir_when_it_runs(
    make_server: MakeServer, executables: Path, tmp_path: Path
) -> None:
    """The node of the execute workflow resolves the program again at run time: a name that
    escapes the directory (here reached through `runwire run`, as the operator) is refused."""
    import json
    import subprocess
    import sys

    outside = tmp_path / "outside.sh"
    outside.write_text("#!/bin/sh\necho escaped\n")
    outside.chmod(0o755)
    (executables / "link.sh").symlink_to(outside)
    for name, expected in (("hello.sh", "hello, x\n"), ("../outside.sh", None), ("link.sh", None)):
        workflow = tmp_path / "wf.json"
        data = script_workflow([name, "x"], executables_dir=str(executables), check_exit=False)
        workflow.write_text(json.dumps(data))
        done = subprocess.run(
            [sys.executable, "-m", "runwire_server", "run", str(workflow), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        record = json.loads(done.stdout)
        node = record["data"]["s"]
        if expected is None:  # refused as a program that cannot start: a result, as check_exit is off
            assert node["result"]["return_code"] == -1, node
            assert "outside the executables directory" in node["result"]["error"], node
        else:
            assert node["result"]["content"] == expected, record


def test_a_front_door_run_is_seen_only_by_whoever_started_it(make_server: MakeServer) -> None:
    server = make_server()
    task_id = server.client.post("/task?who=alice", headers=server.headers("p0")).json()["id"]
    assert wait_task(server, task_id, "p0")["status"] == "ready"
    job_id = server.client.post(
        "/api/execute/",
        json={"executable_name": "hello.sh", "args": ["secret"], "is_async": False},
        headers=server.headers("p0"),
    ).json()["job_id"]
    for who, visible in (("p0", True), ("bootstrap", True), ("p0b", False), ("p1", False)):
        task = server.client.get(f"/task/{task_id}", headers=server.headers(who))
        job = server.client.get(f"/api/execute/{job_id}", headers=server.headers(who))
        result = server.client.get(
            f"{WORKFLOWS}workflow_result/", params={"id": task_id}, headers=server.headers(who)
        )
        if visible:
            assert (task.status_code, job.status_code, result.status_code) == (200, 200, 200), who
        else:
            assert task.status_code in (403, 404) and job.status_code in (403, 404), who
            assert result.status_code == 404 and result.json()["data"]["status"] == "not found"
    # a second project-0 key sees an unknown id and its own runs only, also in the history
    assert server.client.get(f"/task/{task_id}", headers=server.headers("p0b")).status_code == 404
    own = server.client.post("/task?who=bob", headers=server.headers("p0b")).json()["id"]
    wait_task(server, own, "p0b")
    task_workflow = front_door_workflows(server)["runwire front door: script-runner task"]
    url = f"{WORKFLOWS}{task_workflow}/history/"
    seen = {
        who: [r["id"] for r in server.client.get(url, headers=server.headers(who)).json()["results"]]
        for who in ("p0", "p0b", "bootstrap")
    }
    assert seen["p0"] == [task_id] and seen["p0b"] == [own] and set(seen["bootstrap"]) == {task_id, own}


def test_ids_are_never_reused_and_the_cache_never_runs_a_deleted_graph(make_server: MakeServer) -> None:
    server = make_server()
    first = server.client.post(
        WORKFLOWS,
        json={"project": 1, "title": "a", "data": output_workflow("old")},
        headers=server.headers("p1"),
    ).json()["id"]
    run = server.client.post(f"{WORKFLOWS}{first}/run/", json={}, headers=server.headers("p1")).json()
    assert server.wait(run["data"]["id"], "p1")["data"]["o"]["result"]["content"] == "old"
    assert server.client.delete(f"{WORKFLOWS}{first}/", headers=server.headers("p1")).status_code == 204
    second = server.client.post(
        WORKFLOWS,
        json={"project": 2, "title": "b", "data": output_workflow("new")},
        headers=server.headers("p2"),
    ).json()["id"]
    assert second > first
    run = server.client.post(f"{WORKFLOWS}{second}/run/", json={}, headers=server.headers("p2")).json()
    assert server.wait(run["data"]["id"], "p2")["data"]["o"]["result"]["content"] == "new"
    gone = server.client.post(f"{WORKFLOWS}{first}/run/", json={}, headers=server.headers("p1"))
    assert gone.status_code == 404


def test_run_directories_kept_for_debugging_outlive_the_server(
    make_server: MakeServer, tmp_path: Path
) -> None:
    import json

    from tests.helpers import echo_task

    config = tmp_path / "debug-task.json"
    config.write_text(json.dumps({**echo_task(), "debug": True}))
    server = make_server(task_config=str(config))
    root = Path(server.client.app.state.services.host.rundir_parent)
    task_id = server.client.post("/task?who=x", headers=server.headers("p0")).json()["id"]
    assert wait_task(server, task_id, "p0")["status"] == "ready"
    server.client.__exit__(None, None, None)
    kept = root.with_name(f"kept-{root.name}")
    try:
        assert not root.exists() and len(list(kept.glob("results-*"))) == 1
    finally:  # kept in the shared run-directory root on purpose: the test removes what it kept
        shutil.rmtree(kept, ignore_errors=True)


def test_a_stop_removes_every_finished_run_directory_and_their_root(
    make_server: MakeServer, tmp_path: Path
) -> None:
    import json
    import sys

    leave = (
        "import json, os\nfor i in range(3000): open(f'f{i}', 'w').close()\nprint(json.dumps(os.getcwd()))"
    )
    config = tmp_path / "litter-task.json"
    config.write_text(
        json.dumps(
            {
                "command": [sys.executable, "-c", leave],
                "outputs": {"results": {"kind": "stdout", "format": "json"}},
            }
        )
    )
    server = make_server(task_config=str(config), executables_dir="")
    root = Path(server.client.app.state.services.host.rundir_parent)
    ids = [server.client.post("/task", headers=server.headers("p0")).json()["id"] for _ in range(3)]
    rundirs = [Path(wait_task(server, task_id, "p0")["results"]) for task_id in ids]
    assert all(rundir.parent == root for rundir in rundirs)
    server.client.__exit__(None, None, None)  # 9,000 files may still wait for the disposal
    assert not root.exists() and not root.with_name(f"kept-{root.name}").exists()
