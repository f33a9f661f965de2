"""The runs API: ``GET /api/v1/runs/{id}/`` for a run of each front door (door, nodes, timings),
who may see which run, and ``GET /api/v1/runs/`` with its filters and pages."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from runwire_server.store import Store
from runwire_server.testing import wait_for_run
from tests.helpers import MakeServer, Server, hello_data, output_workflow

RUNS = "/api/v1/runs"
W = "/api/v1/workflows"


def _wait(server: Server, run_id: str, who: str) -> dict[str, Any]:
    """The run from the runs API once it is terminal."""
    deadline = time.monotonic() + 20
    while True:
        reply = server.client.get(f"{RUNS}/{run_id}/", headers=server.headers(who))
        assert reply.status_code == 200, reply.text
        if reply.json()["status"] in ("succeed", "failed") or time.monotonic() > deadline:
            return reply.json()  # type: ignore[no-any-return]
        time.sleep(0.02)


def _timed(node: dict[str, Any]) -> None:
    started, finished = (
        datetime.fromisoformat(node["started_at"]),
        datetime.fromisoformat(node["finished_at"]),
    )
    assert started <= finished and node["duration_s"] >= 0


def test_a_run_of_each_door_shows_its_door_nodes_and_timings(make_server: MakeServer) -> None:
    server = make_server()
    boot = server.headers("bootstrap")
    workflow = server.client.post(
        f"{W}/", json={"project": 1, "title": "hello", "data": hello_data()}, headers=boot
    ).json()["id"]
    run_id = server.client.post(f"{W}/{workflow}/run/", json={"name": "Ada", "age": 36}, headers=boot).json()[
        "data"
    ]["id"]
    run = _wait(server, run_id, "p1")
    assert run["door"] == "workflow" and run["status"] == "succeed" and run["error"] is None
    assert run["workflow"] == {"id": workflow, "title": "hello", "version": 1, "project": 1}
    assert run["input"] == {"name": "Ada", "age": 36} and not run["cancelled"] and run["cancelled_by"] is None
    stored = wait_for_run(server.client, run_id, boot)["data"]
    assert set(run["nodes"]) == set(stored)  # the taken branch, and the skipped one
    for node_id, node in run["nodes"].items():
        assert node["status"] == stored[node_id]["status"] and node["type"].endswith("-node")
        if node["status"] == "succeed":
            _timed(node)
            assert node.get("result") == stored[node_id].get("result")
        else:  # skipped: never started
            assert node["status"] == "skipped" and node["started_at"] is None and node["finished_at"]
    assert datetime.fromisoformat(run["started_at"]) <= datetime.fromisoformat(run["finished_at"])
    assert run["duration_s"] >= 0

    task = server.client.post("/task?who=ada", headers=server.headers("p0")).json()["id"]
    job = server.client.post(
        "/api/execute/", json={"executable_name": "hello.sh", "is_async": False}, headers=server.headers("p0")
    ).json()["job_id"]
    for run_id, door in ((task, "task"), (job, "execute")):
        run = _wait(server, run_id, "p0")
        assert run["door"] == door and run["status"] == "succeed" and run["workflow"]["project"] == 0
        script = next(n for n in run["nodes"].values() if n["title"] == "Run Script")
        assert script["type"] == "basic-node" and script["status"] == "succeed" and "result" in script
        _timed(script)


def test_only_runs_the_caller_may_see(make_server: MakeServer) -> None:
    server = make_server()
    workflow = server.client.post(
        f"{W}/",
        json={"project": 1, "title": "w", "data": output_workflow("hi")},
        headers=server.headers("p1"),
    ).json()["id"]
    run_id = server.client.post(f"{W}/{workflow}/run/", headers=server.headers("p1")).json()["data"]["id"]
    task = server.client.post("/task?who=x", headers=server.headers("p0")).json()["id"]
    server.wait(run_id)
    for who, url, status in (
        ("p1", f"{RUNS}/{run_id}/", 200),
        ("p2", f"{RUNS}/{run_id}/", 404),  # another project's key
        ("p0", f"{RUNS}/{task}/", 200),
        ("p0b", f"{RUNS}/{task}/", 404),  # a front-door run of another principal of its project
        ("bootstrap", f"{RUNS}/{task}/", 200),  # every project: every run
        ("p1", f"{RUNS}/not-a-uuid/", 404),
        ("p1", f"{RUNS}/{run_id}x/", 404),
        ("p1", f"{RUNS}/00000000-0000-4000-8000-000000000000/", 404),
    ):
        reply = server.client.get(url, headers=server.headers(who))
        assert reply.status_code == status, (who, url, reply.text)
        if status == 404:
            assert reply.json()["detail"] == "run not found"
    listed = {who: server.client.get(f"{RUNS}/", headers=server.headers(who)).json() for who in server.keys}
    assert [r["id"] for r in listed["p1"]["results"]] == [run_id]
    assert [r["id"] for r in listed["p0"]["results"]] == [task]
    assert listed["p0b"]["count"] == 0 and listed["p2"]["count"] == 0
    assert {r["id"] for r in listed["bootstrap"]["results"]} == {run_id, task}


def test_the_list_filters_and_pages(make_server: MakeServer) -> None:
    server = make_server()
    boot = server.headers("bootstrap")
    ok, bad = (
        server.client.post(
            f"{W}/", json={"project": 1, "title": t, "data": output_workflow(text)}, headers=boot
        ).json()["id"]
        for t, text in (("ok", "hi"), ("bad", "{{ 1 // 0 }}"))
    )
    runs = [server.client.post(f"{W}/{w}/run/", headers=boot).json()["data"]["id"] for w in (ok, ok, ok, bad)]
    task = server.client.post("/task?who=x", headers=boot).json()["id"]
    for run_id in [*runs, task]:
        _wait(server, run_id, "bootstrap")

    def ids(query: str) -> list[str]:
        reply = server.client.get(f"{RUNS}/?{query}", headers=boot)
        assert reply.status_code == 200, reply.text
        return [r["id"] for r in reply.json()["results"]]

    assert ids("") == [task, *reversed(runs)]  # newest first
    assert ids("door=task") == [task] and ids("door=execute") == []
    assert ids("door=workflow") == list(reversed(runs))
    assert ids("status=failed") == [runs[3]] and ids("status=cancelled") == []
    assert ids(f"workflow={ok}&status=succeed") == list(reversed(runs[:3]))
    first = server.client.get(f"{RUNS}/?door=workflow&page_size=3", headers=boot).json()
    assert first["count"] == 4 and first["previous"] is None and first["next"].endswith("page=2")
    second = server.client.get(first["next"], headers=boot).json()
    assert [r["id"] for r in second["results"]] == [runs[0]] and second["next"] is None
    summary = second["results"][0]
    assert summary["door"] == "workflow" and summary["workflow"]["title"] == "ok"
    assert summary["finished_at"] and summary["duration_s"] >= 0 and "nodes" not in summary
    for query, status in (
        ("page=0", 400),
        ("page=-1", 400),
        ("page=99999999999999999999", 400),
        ("page=7", 404),
        ("page_size=101", 400),
        ("status=lost", 400),
        ("door=backdoor", 400),
        ("workflow=-3", 400),
    ):
        reply = server.client.get(f"{RUNS}/?{query}", headers=boot)
        assert reply.status_code == status, (query, reply.text)
        assert "detail" in reply.json()


async def test_the_store_keeps_the_event_log_and_lists_runs(store: Store) -> None:
    mine, door = await store.create_workflow(1, "mine", {}), await store.create_workflow(0, "door", {})
    ids = [str(uuid.uuid4()) for _ in range(4)]
    await store.create_run(ids[0], mine, {"big": "input"})
    await store.create_run(ids[1], mine, {}, status="failed", error="boom")
    await store.create_run(ids[2], door, {}, owner="api-key:key:1")
    await store.create_run(ids[3], door, {}, owner="api-key:key:2")
    log = [["s", "a", 1.5], ["f", "a", 2.0]]
    await store.save_run(ids[0], "succeed", {"a": {"id": "a", "status": "succeed"}}, 0.0, events=log)
    await store.save_run(ids[0], "succeed", {}, 0.0)  # no events given: the log is kept
    row = await store.get_run(ids[0])
    assert row is not None and row.events == log

    async def listed(projects: frozenset[int] | None = None, **filters: Any) -> list[str]:
        count, rows = await store.list_runs(projects, **filters)
        assert count == len(rows)
        return [run.id for run, _ in rows]

    assert await listed() == list(reversed(ids))
    count, rows = await store.list_runs(None, limit=1, offset=3)
    assert count == 4 and [(run.id, title, run.events, run.nodes, run.input) for run, title in rows] == [
        (ids[0], "mine", log, {}, None)  # listed: no input, no node records
    ]
    assert await listed(frozenset({1})) == [ids[1], ids[0]]
    assert await listed(owner="api-key:key:1") == [ids[2], ids[1], ids[0]]
    assert await listed(status="failed") == [ids[1]] and await listed(status="cancelled") == []
    assert await listed(doors=[(0, "door")]) == [ids[3], ids[2]]
    assert await listed(doors=[(0, "door")], other_than_doors=True) == [ids[1], ids[0]]
    assert await listed(doors=[]) == [] and await listed(workflow_id=door.id, owner="x") == []
