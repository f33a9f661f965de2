"""The auth matrix: every endpoint against a bootstrap key, scoped keys of projects 0, 1 and 2,
a second project-0 key, a forged key and no key, with privileged nodes granted to project 1 and not.

The resources probed belong to project 1 (a workflow and its run) and to the key ``p0`` (a task
run and an execute job). Every cell is the status the caller must get; all mismatches are
reported at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import MakeServer, Server, output_workflow, script_workflow, ui_csrf_token

WHO = ("bootstrap", "p0", "p0b", "p1", "p2", "forged", "anonymous")
W = "/api/v1/workflows"


def row(
    bootstrap: int, p0: int, p0b: int, p1: int, p2: int, forged: int = 401, anonymous: int = 401
) -> dict[str, int]:
    return dict(zip(WHO, (bootstrap, p0, p0b, p1, p2, forged, anonymous), strict=True))


PROJECT_1 = row(200, 404, 404, 200, 404)
"""A project-1 resource: its project's keys and the bootstrap key see it; nobody else learns it exists."""
EVERYONE = row(200, 200, 200, 200, 200)


def requests(
    server: Server, ids: dict[str, Any], granted: bool
) -> list[tuple[str, Callable[[dict[str, str]], Any], dict[str, int]]]:
    c = server.client
    wf, run, task, job = ids["workflow"], ids["run"], ids["task"], ids["job"]

    def fresh_workflow() -> int:  # DELETE needs one of its own each time
        made = c.post(
            f"{W}/",
            json={"project": 1, "title": "del", "data": output_workflow("x")},
            headers=server.headers("bootstrap"),
        )
        return int(made.json()["id"])

    privileged = {"project": 1, "title": "p", "data": script_workflow(["id"])}
    return [
        ("GET /healthz", lambda h: c.get("/healthz", headers=h), row(200, 200, 200, 200, 200, 200, 200)),
        ("GET /readyz", lambda h: c.get("/readyz", headers=h), row(200, 200, 200, 200, 200, 200, 200)),
        ("GET /metrics", lambda h: c.get("/metrics", headers=h), row(200, 403, 403, 403, 403)),
        ("GET /api/version", lambda h: c.get("/api/version", headers=h), EVERYONE),
        # the UI takes no header credentials: its pages are the sign-in page (test_ui_pages_... below)
        (
            "GET / (to /ui/)",
            lambda h: c.get("/", headers=h, follow_redirects=False),
            row(302, 302, 302, 302, 302, 302, 302),
        ),
        ("GET /ui/ (sign-in)", lambda h: c.get("/ui/", headers=h), row(200, 200, 200, 200, 200, 200, 200)),
        ("GET workflows", lambda h: c.get(f"{W}/", headers=h), EVERYONE),
        ("GET get_nodes", lambda h: c.get(f"{W}/get_nodes/", headers=h), EVERYONE),
        (
            "POST workflow p1",
            lambda h: c.post(
                f"{W}/", json={"project": 1, "title": "n", "data": output_workflow("n")}, headers=h
            ),
            row(201, 403, 403, 201, 403),
        ),
        (
            "POST privileged p1",
            lambda h: c.post(f"{W}/", json=privileged, headers=h),
            row(201, 403, 403, 201, 403) if granted else row(403, 403, 403, 403, 403),
        ),
        (
            "POST privileged p2",
            lambda h: c.post(f"{W}/", json={**privileged, "project": 2}, headers=h),
            row(403, 403, 403, 403, 403),
        ),
        ("GET workflow", lambda h: c.get(f"{W}/{wf}/", headers=h), PROJECT_1),
        ("PATCH workflow", lambda h: c.patch(f"{W}/{wf}/", json={"title": "renamed"}, headers=h), PROJECT_1),
        ("GET input-fields", lambda h: c.get(f"{W}/{wf}/input-fields/", headers=h), PROJECT_1),
        ("GET check_workflow", lambda h: c.get(f"{W}/{wf}/check_workflow/", headers=h), PROJECT_1),
        ("POST run", lambda h: c.post(f"{W}/{wf}/run/", json={}, headers=h), PROJECT_1),
        (
            "GET workflow_result",
            lambda h: c.get(f"{W}/workflow_result/", params={"id": run}, headers=h),
            PROJECT_1,
        ),
        ("GET history", lambda h: c.get(f"{W}/{wf}/history/", headers=h), PROJECT_1),
        (
            "DELETE workflow",
            lambda h: c.delete(f"{W}/{fresh_workflow()}/", headers=h),
            row(204, 404, 404, 204, 404),
        ),
        ("GET runs", lambda h: c.get("/api/v1/runs/", headers=h), EVERYONE),
        ("GET run", lambda h: c.get(f"/api/v1/runs/{run}/", headers=h), PROJECT_1),
        ("GET run events", lambda h: c.get(f"/api/v1/runs/{run}/events/", headers=h), PROJECT_1),
        (
            "GET task run",  # a front-door run: only who started it (and every-project principals)
            lambda h: c.get(f"/api/v1/runs/{task}/", headers=h),
            row(200, 200, 404, 404, 404),
        ),
        (
            "POST execution-update",
            lambda h: c.post(
                f"{W}/execution-update/{run}/", json={"payload": {"status": "failed"}}, headers=h
            ),
            row(403, 403, 403, 403, 403, 403, 403),
        ),
        ("POST /task", lambda h: c.post("/task?who=x", headers=h), row(200, 200, 200, 403, 403)),
        ("POST /script", lambda h: c.post("/script?who=x", headers=h), row(200, 200, 200, 403, 403)),
        ("GET /task/{id}", lambda h: c.get(f"/task/{task}", headers=h), row(200, 200, 404, 403, 403)),
        (
            "GET /task/{unknown}",
            lambda h: c.get(f"/task/{uuid.uuid4()}", headers=h),
            row(404, 404, 404, 403, 403),
        ),
        (
            "POST /api/execute/",
            lambda h: c.post(
                "/api/execute/", json={"executable_name": "hello.sh", "is_async": False}, headers=h
            ),
            row(201, 201, 201, 403, 403),
        ),
        (
            "GET /api/execute/{id}",
            lambda h: c.get(f"/api/execute/{job}", headers=h),
            row(200, 200, 404, 403, 403),
        ),
        # finished runs: 409 to whoever may see them (a front-door run: its owner), 404 to others
        (
            "POST cancel run",
            lambda h: c.post(f"/api/v1/runs/{run}/cancel/", headers=h),
            row(409, 404, 404, 409, 404),
        ),
        (
            "POST cancel job",
            lambda h: c.post(f"/api/v1/runs/{job}/cancel/", headers=h),
            row(409, 409, 404, 404, 404),
        ),
        (
            "POST cancel unknown",
            lambda h: c.post(f"/api/v1/runs/{uuid.uuid4()}/cancel/", headers=h),
            row(404, 404, 404, 404, 404),
        ),
    ]


@pytest.mark.parametrize("granted", [False, True], ids=["not-granted", "project-1-granted"])
def test_every_endpoint_answers_each_principal_as_the_trust_model_says(
    make_server: MakeServer, granted: bool
) -> None:
    server = make_server(privileged_projects="1" if granted else "")
    server.keys["forged"] = "rw_" + "A" * 43
    boot = server.headers("bootstrap")
    workflow = server.client.post(
        f"{W}/", json={"project": 1, "title": "w", "data": output_workflow("hi")}, headers=boot
    ).json()["id"]
    run = server.client.post(f"{W}/{workflow}/run/", json={}, headers=boot).json()["data"]["id"]
    server.wait(run)
    task = server.client.post("/task?who=p0", headers=server.headers("p0")).json()["id"]
    job = server.client.post(
        "/api/execute/", json={"executable_name": "hello.sh", "is_async": False}, headers=server.headers("p0")
    ).json()["job_id"]
    ids = {"workflow": workflow, "run": run, "task": task, "job": job}

    mismatches = []
    for name, call, expected in requests(server, ids, granted):
        for who in WHO:
            reply = call(server.headers(who))
            if reply.status_code != expected[who]:
                mismatches.append(
                    f"{name} as {who}: {reply.status_code}, expected {expected[who]}: {reply.text[:200]}"
                )
    assert not mismatches, "\n".join(mismatches)


UI_SIGNED_OUT = 200
"""A UI page without a session (a refused or no key) is the sign-in page."""


def test_ui_pages_answer_each_signed_in_principal_as_the_api_does(make_server: MakeServer) -> None:
    """Each principal signs in to the UI with its key; its pages then answer as the API does."""
    server = make_server()
    server.keys["forged"] = "rw_" + "A" * 43
    c = server.client
    boot = server.headers("bootstrap")
    workflow = c.post(
        f"{W}/", json={"project": 1, "title": "w", "data": output_workflow("hi")}, headers=boot
    ).json()["id"]
    run = c.post(f"{W}/{workflow}/run/", json={}, headers=boot).json()["data"]["id"]
    server.wait(run)
    task_run = c.post("/task?who=p0", headers=server.headers("p0")).json()["id"]
    signed_out = UI_SIGNED_OUT
    pages: list[tuple[str, Callable[[str], Any], dict[str, int]]] = [
        ("GET /ui/", lambda t: c.get("/ui/"), row(200, 200, 200, 200, 200, signed_out, signed_out)),
        (
            "GET /ui/workflows/{id}",
            lambda t: c.get(f"/ui/workflows/{workflow}"),
            row(200, 404, 404, 200, 404, 200, 200),
        ),
        ("GET /ui/runs/{id}", lambda t: c.get(f"/ui/runs/{run}"), row(200, 404, 404, 200, 404, 200, 200)),
        (
            "GET /ui/runs/{id}/live",
            lambda t: c.get(f"/ui/runs/{run}/live"),
            row(200, 404, 404, 200, 404, 200, 200),
        ),
        (
            "GET /ui/runs/{id}/events",
            lambda t: c.get(f"/ui/runs/{run}/events"),
            row(200, 404, 404, 200, 404, 200, 200),
        ),
        ("GET /ui/runs", lambda t: c.get("/ui/runs"), row(200, 200, 200, 200, 200, signed_out, signed_out)),
        (
            "POST /ui/runs/{id}/cancel",
            lambda t: c.post(f"/ui/runs/{run}/cancel", data={"_csrf_token": t}, follow_redirects=False),
            row(303, 404, 404, 303, 404, 200, 200),
        ),
        # a front door's run is its starter's (p0), as GET /task/{id} says
        (
            "GET /ui/runs/{task run}",
            lambda t: c.get(f"/ui/runs/{task_run}"),
            row(200, 200, 404, 404, 404, 200, 200),
        ),
        (
            "POST /ui/workflows/{id}/run",
            lambda t: c.post(
                f"/ui/workflows/{workflow}/run", data={"_csrf_token": t}, follow_redirects=False
            ),
            row(303, 404, 404, 303, 404, 200, 200),
        ),
        (
            "POST /ui/sign-out",
            lambda t: c.post("/ui/sign-out", data={"_csrf_token": t}, follow_redirects=False),
            row(303, 303, 303, 303, 303, 303, 303),
        ),
    ]
    mismatches = []
    for who in WHO:
        for name, call, expected in pages:
            c.cookies.clear()
            token = ui_csrf_token(c)
            if who in server.keys:
                c.post("/ui/sign-in", data={"credential": server.keys[who], "_csrf_token": token})
            reply = call(token)
            if reply.status_code != expected[who]:
                mismatches.append(
                    f"{name} as {who}: {reply.status_code}, expected {expected[who]}: {reply.text[:200]}"
                )
            elif (
                who in ("forged", "anonymous")
                and name != "POST /ui/sign-out"
                and 'action="/ui/sign-in"' not in reply.text
            ):
                mismatches.append(f"{name} as {who}: not the sign-in page")
    assert not mismatches, "\n".join(mismatches)
