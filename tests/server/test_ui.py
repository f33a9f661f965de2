"""The web UI over HTTP (no browser): sign-in and sessions, CSRF, what each key sees, the run form,
pages rendered without JavaScript, and the graph layout of any stored workflow data.

The browser tests are in ``tests/e2e/test_ui_browser.py``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from runwire_server.ui.graph import layout
from tests.helpers import (
    PY,
    MakeServer,
    Server,
    hello_data,
    output_workflow,
    script_workflow,
    ui_csrf_token,
    ui_sign_in,
    wait_for_run,
)

W = "/api/v1/workflows"
SESSION = "runwire_ui_session"


def make_workflow(server: Server, project: int, title: str, data: dict[str, Any]) -> int:
    reply = server.client.post(
        f"{W}/", json={"project": project, "title": title, "data": data}, headers=server.headers("bootstrap")
    )
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def run_and_wait(server: Server, workflow: int, body: dict[str, Any]) -> str:
    reply = server.client.post(f"{W}/{workflow}/run/", json=body, headers=server.headers("bootstrap"))
    run = str(reply.json()["data"]["id"])
    server.wait(run)
    return run


def is_sign_in_page(text: str) -> bool:
    return 'action="/ui/sign-in"' in text


def test_root_redirects_to_the_ui_whose_home_asks_to_sign_in(make_server: MakeServer) -> None:
    c = make_server().client
    reply = c.get("/", follow_redirects=False)
    assert reply.status_code == 302 and reply.headers["location"] == "/ui/"
    home = c.get("/ui/")
    assert home.status_code == 200 and is_sign_in_page(home.text)
    assert home.headers["content-type"].startswith("text/html")
    assert SESSION not in home.headers.get("set-cookie", "")  # no session for a visitor
    # header credentials do not open the UI: it is signed in to, with a CSRF-protected form
    assert is_sign_in_page(c.get("/ui/", headers={"X-Api-Key": "test-bootstrap-key"}).text)
    assert c.get("/ui/static/ui.css").status_code == 200
    assert not [p for p in c.get("/schema/openapi.json").json()["paths"] if p == "/" or p.startswith("/ui")]


def test_a_signed_in_key_sees_its_projects_workflows_rendered_without_javascript(
    make_server: MakeServer,
) -> None:
    server = make_server()
    mine = make_workflow(server, 1, "Greeter", hello_data())
    make_workflow(server, 2, "Secret plan", hello_data())
    run_and_wait(server, mine, {"name": "Ada", "age": 36})
    ui_sign_in(server.client, server.keys["p1"])
    page = server.client.get("/ui/")
    assert page.status_code == 200
    assert "Greeter" in page.text and "Secret plan" not in page.text
    assert "succeeded" in page.text and f'href="/ui/workflows/{mine}"' in page.text
    assert "<script" not in page.text  # the list is plain HTML
    workflow = server.client.get(f"/ui/workflows/{mine}").text
    assert "<svg" in workflow and ">true</text>" in workflow and ">false</text>" in workflow  # branch labels
    assert 'name="input.name"' in workflow and 'name="input.age"' in workflow  # the run form


def test_forms_without_the_csrf_token_are_refused_and_the_api_needs_none(make_server: MakeServer) -> None:
    server = make_server()
    c = server.client
    mine = make_workflow(server, 1, "Greeter", hello_data())
    ui_csrf_token(c)
    refused = c.post("/ui/sign-in", data={"credential": server.keys["p1"]})
    assert refused.status_code == 403 and "CSRF" in refused.text
    token = ui_sign_in(c, server.keys["p1"])
    forged = c.post(f"/ui/workflows/{mine}/run", data={"input.name": "x", "_csrf_token": "0" * 128})
    assert forged.status_code == 403
    missing = c.post(f"/ui/workflows/{mine}/run", data={"input.name": "x"})
    assert missing.status_code == 403
    assert c.get(f"{W}/{mine}/history/", headers=server.headers("p1")).json()["count"] == 0
    assert c.post("/ui/sign-out", data={}).status_code == 403
    assert "Greeter" in c.get("/ui/").text  # still signed in
    api = c.post(f"{W}/{mine}/run/", json={"name": "x"}, headers=server.headers("p1"))  # header auth: no CSRF
    assert api.status_code == 200 and api.json()["status"] == 201
    assert c.post("/ui/sign-out", data={"_csrf_token": token}, follow_redirects=False).status_code == 303


def test_the_session_cookie_holds_an_id_not_the_key_and_sign_in_makes_a_new_one(
    make_server: MakeServer,
) -> None:
    server = make_server()
    c = server.client
    token = ui_csrf_token(c)
    c.cookies.set(SESSION, "planted-by-someone-else", domain="testserver.local", path="/ui")
    reply = c.post(
        "/ui/sign-in",
        data={"credential": server.keys["p1"], "_csrf_token": token},
        follow_redirects=False,
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/"
    cookie = next(h for h in reply.headers.get_list("set-cookie") if h.startswith(SESSION + "="))
    value = cookie.split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{64}", value), cookie
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/ui" in flags and "secure" not in flags
    assert server.keys["p1"] not in str(reply.headers)
    refused = c.post("/ui/sign-in", data={"credential": "rw_wrong", "_csrf_token": token})
    assert refused.status_code == 401 and "refused" in refused.text

    secure = make_server(ui_cookie_secure=True).client
    secure.base_url = "https://testserver.local"  # Secure cookies come back over https only
    token = ui_csrf_token(secure)
    reply = secure.post(
        "/ui/sign-in",
        data={"credential": server.keys["bootstrap"], "_csrf_token": token},
        follow_redirects=False,
    )
    assert reply.status_code == 303
    assert all("; secure" in h.lower() for h in reply.headers.get_list("set-cookie"))


def test_a_revoked_key_ends_its_session_at_once_and_sign_out_ends_it_on_the_server(
    make_server: MakeServer,
) -> None:
    server = make_server()
    c = server.client
    make_workflow(server, 1, "Greeter", hello_data())
    token = ui_sign_in(c, server.keys["p1"])
    assert "Greeter" in c.get("/ui/").text
    store = c.app.state.services.store.sync
    key_id = next(k.id for k in store.list_api_keys() if k.name == "p1")
    store.revoke_api_key(key_id)
    assert is_sign_in_page(c.get("/ui/").text)

    token = ui_sign_in(c, server.keys["p0"])
    session = c.cookies.get(SESSION)
    assert c.post("/ui/sign-out", data={"_csrf_token": token}, follow_redirects=False).status_code == 303
    c.cookies.set(SESSION, session, domain="testserver.local", path="/ui")  # the old cookie, replayed
    assert is_sign_in_page(c.get("/ui/").text)


def test_the_run_form_starts_a_run_through_the_apis_checks_and_the_run_page_shows_it(
    make_server: MakeServer,
) -> None:
    server = make_server()
    c = server.client
    greeter = make_workflow(server, 1, "Greeter", hello_data())
    broken = make_workflow(server, 1, "Broken", output_workflow("{{ 1/0 }}"))
    token = ui_sign_in(c, server.keys["p1"])
    refused = c.post(f"/ui/workflows/{greeter}/run", data={"input.age": "40", "_csrf_token": token})
    assert refused.status_code == 400 and "is required" in refused.text
    started = c.post(
        f"/ui/workflows/{greeter}/run",
        data={"input.name": "Ann", "input.age": "40", "_csrf_token": token},
        follow_redirects=False,
    )
    assert started.status_code == 303
    run = started.headers["location"].removeprefix("/ui/runs/")
    assert server.wait(run, "p1")["status"] == "succeed"
    live = c.get(f"/ui/runs/{run}/live")
    assert live.headers["cache-control"] == "no-store" and 'data-terminal="true"' in live.text
    assert "<html" not in live.text and 'data-node-state="minor"' in live.text
    page = c.get(f"/ui/runs/{run}").text
    assert "Welcome, Ann!" in page and "succeeded" in page and "skipped" in page

    failed = c.post(f"/ui/workflows/{broken}/run", data={"_csrf_token": token}, follow_redirects=False)
    failed_run = failed.headers["location"].removeprefix("/ui/runs/")
    server.wait(failed_run, "p1")
    page = c.get(f"/ui/runs/{failed_run}").text
    assert "ZeroDivisionError" in page and "Run error" in page and "failed" in page


def test_another_projects_pages_are_404_and_hostile_paths_are_4xx(make_server: MakeServer) -> None:
    server = make_server()
    c = server.client
    theirs = make_workflow(server, 2, "Secret", hello_data())
    their_run = run_and_wait(server, theirs, {"name": "Eve", "age": 30})
    token = ui_sign_in(c, server.keys["p1"])
    for path in (
        f"/ui/workflows/{theirs}",
        f"/ui/runs/{their_run}",
        f"/ui/runs/{their_run}/live",
        f"/ui/runs/{their_run}/events",
        "/ui/runs/not-a-uuid",
        "/ui/workflows/99999999",
        "/ui/workflows/99999999999999999999",
    ):
        reply = c.get(path)
        assert reply.status_code in (400, 404), (path, reply.status_code)
        assert "Secret" not in reply.text and "Traceback" not in reply.text
    assert c.post(f"/ui/workflows/{theirs}/run", data={"_csrf_token": token}).status_code == 404
    assert c.get("/ui/?page=0").status_code == 400
    assert c.get("/ui/?page=7").status_code == 404
    huge = c.post("/ui/sign-in", data={"credential": "x" * 10_000, "_csrf_token": token})
    assert huge.status_code == 400


def test_with_auth_none_the_ui_is_as_open_as_the_api(make_server: MakeServer) -> None:
    server = make_server(auth_providers="none")
    make_workflow(server, 3, "Open", hello_data())
    assert "Open" in server.client.get("/ui/").text


def test_the_graph_uses_stored_positions_else_layers_and_survives_any_data() -> None:
    placed = layout(hello_data())
    boxes = {n.id: n for n in placed.nodes}
    assert boxes["adult"].x == boxes["minor"].x > boxes["is-adult"].x > boxes["trigger"].x
    assert boxes["adult"].y < boxes["minor"].y
    assert sorted(e.label or "" for e in placed.edges) == ["", "false", "true"]
    unplaced = hello_data()
    for node in unplaced["nodes"]:
        del node["position"]
    layered = {n.id: n for n in layout(unplaced).nodes}
    assert layered["trigger"].x < layered["is-adult"].x < layered["adult"].x == layered["minor"].x
    hostile: dict[str, Any] = {
        "nodes": [
            {"id": "a", "type": "x", "position": {"x": math.inf, "y": "1"}},
            {"id": "b", "type": "x", "position": {"x": 1e300, "y": -1e300}, "data": {"name": "<b>" * 50}},
            {"id": "a", "type": "dup"},
            "not a node",
            {"type": "no id"},
        ],
        "edges": [
            {"source": "a", "target": "b"},
            {"source": "a", "target": "gone"},
            7,
            {"source": "b", "target": "a"},
        ],
    }
    graph = layout(hostile)
    assert [n.id for n in graph.nodes] == ["a", "b"] and len(graph.edges) == 2
    assert graph.width < 10_000 and graph.height < 10_000
    assert layout({}).nodes == [] and layout("junk").nodes == []


@pytest.mark.parametrize("kind", ["bearer-prefix", "bearer-choice"])
def test_a_bearer_token_is_sent_as_authorization(make_server: MakeServer, kind: str) -> None:
    # api-key auth does not read Authorization: a bearer token is refused here, not sent as a key
    server = make_server()
    token = ui_csrf_token(server.client)
    data = (
        {"credential": "Bearer " + server.keys["p1"]}
        if kind == "bearer-prefix"
        else {"credential": server.keys["p1"], "kind": "bearer"}
    )
    reply = server.client.post("/ui/sign-in", data={**data, "_csrf_token": token})
    assert reply.status_code == 401


def test_the_runs_list_filters_by_status_and_door_and_pages_without_javascript(
    make_server: MakeServer,
) -> None:
    server = make_server()
    c, h = server.client, server.headers("bootstrap")
    fine = make_workflow(server, 1, "Fine", output_workflow("hi"))
    broken = make_workflow(server, 1, "Broken", output_workflow("{{ 1/0 }}"))
    runs = [str(c.post(f"{W}/{fine}/run/", json={}, headers=h).json()["data"]["id"]) for _ in range(20)]
    failed = run_and_wait(server, broken, {})
    task = c.post("/task?who=ui", headers=h).json()["id"]
    for run in [*runs, task]:
        server.wait(run)
    ui_sign_in(c, server.keys["bootstrap"])

    first = c.get("/ui/runs")
    assert first.status_code == 200 and "<script" not in first.text
    assert "22 runs, page 1 of 2" in first.text and 'aria-current="page">Runs' in first.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert f'href="/ui/runs/{task}"' in first.text and ">task</td>" in first.text
    second = c.get("/ui/runs?page=2")
    assert second.text.count("<tr>") == 3 and 'href="/ui/runs?page=1" rel="prev"' in second.text  # header + 2

    only_failed = c.get("/ui/runs", params={"status": "failed", "door": ""}).text
    assert f'href="/ui/runs/{failed}"' in only_failed and "1 run," in only_failed
    assert "ZeroDivisionError" in only_failed and '<option value="failed" selected>' in only_failed
    only_task = c.get("/ui/runs", params={"door": "task", "status": ""}).text
    assert f'href="/ui/runs/{task}"' in only_task and "1 run," in only_task
    workflow_door = c.get("/ui/runs", params={"door": "workflow", "status": "succeed"}).text
    assert "20 runs, newest first" in workflow_door and "rel=" not in workflow_door.split("</table>")[1]
    assert "No runs match" in c.get("/ui/runs", params={"status": "cancelled"}).text
    for bad in ({"status": "done"}, {"door": "back"}, {"page": "0"}, {"status": "x" * 300}):
        assert c.get("/ui/runs", params=bad).status_code == 400, bad
    assert c.get("/ui/runs", params={"page": 3}).status_code == 404

    workflow_page = c.get(f"/ui/workflows/{fine}").text  # its recent runs: the same table
    assert "10 newest of 20 runs" in workflow_page and 'class="list runs-list"' in workflow_page
    assert (
        f'href="/ui/runs/{runs[-1]}"' in workflow_page and f'href="/ui/runs/{runs[0]}"' not in workflow_page
    )

    ui_sign_in(c, server.keys["p2"])  # another project's runs are not listed
    assert "No runs" in c.get("/ui/runs").text


def test_the_cancel_button_needs_the_csrf_token_and_stops_a_running_run(make_server: MakeServer) -> None:
    server = make_server(privileged_projects="1")
    c = server.client
    sleeper = make_workflow(server, 1, "Sleeper", script_workflow([PY, "-c", "import time; time.sleep(30)"]))
    token = ui_sign_in(c, server.keys["p1"])
    started = c.post(f"/ui/workflows/{sleeper}/run", data={"_csrf_token": token}, follow_redirects=False)
    run = started.headers["location"].removeprefix("/ui/runs/")
    page = c.get(f"/ui/runs/{run}").text
    assert 'id="cancel-form"' in page and 'aria-label="Cancel run' in page and 'id="run-live"' in page

    assert c.post(f"/ui/runs/{run}/cancel", data={}).status_code == 403
    assert c.post(f"/ui/runs/{run}/cancel", data={"_csrf_token": "0" * 128}).status_code == 403
    assert c.get(f"/api/v1/runs/{run}/", headers=server.headers("p1")).json()["cancelled"] is False
    reply = c.post(f"/ui/runs/{run}/cancel", data={"_csrf_token": token}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] in (f"/ui/runs/{run}?cancel=stopping", f"/ui/runs/{run}?cancel=ended")
    assert wait_for_run(c, run, server.headers("p1"), timeout=5)["status"] == "failed"
    page = c.get(reply.headers["location"]).text
    assert "Cancelled: the run" in page and "⊘</span> cancelled" in page
    assert "Cancelled by <strong>" in page and 'id="cancel-form"' not in page

    again = c.post(f"/ui/runs/{run}/cancel", data={"_csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/ui/runs/{run}?cancel=finished"
    assert "already finished" in c.get(again.headers["location"]).text
    assert "cancelled" in c.get("/ui/runs", params={"status": "cancelled"}).text
    assert c.get(f"/ui/runs/{run}?cancel=<script>").status_code == 200  # unknown notice: none
    ui_sign_in(c, server.keys["p2"])
    assert c.post(f"/ui/runs/{run}/cancel", data={"_csrf_token": token}).status_code == 404


def test_the_ui_events_route_relays_the_runs_stream_to_the_session(make_server: MakeServer) -> None:
    server = make_server()
    c = server.client
    greeter = make_workflow(server, 1, "Greeter", hello_data())
    run = run_and_wait(server, greeter, {"name": "Ada", "age": 36})
    assert is_sign_in_page(c.get(f"/ui/runs/{run}/events").text)  # no session: no stream
    ui_sign_in(c, server.keys["p1"])
    reply = c.get(f"/ui/runs/{run}/events")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    api = c.get(f"/api/v1/runs/{run}/events/", headers=server.headers("p1")).text
    assert reply.text == api and "event: node_started" in api and "event: run_finished" in api
    last = int(re.findall(r"^id: (\d+)", api, re.M)[-1])
    resumed = c.get(f"/ui/runs/{run}/events", headers={"Last-Event-ID": str(last - 1)}).text
    assert resumed.count("event: ") == 1 and "event: run_finished" in resumed
    assert c.get(f"/ui/runs/{run}/events", headers={"Last-Event-ID": "x"}).status_code == 400


def test_a_front_door_run_shows_its_command_arguments_exit_code_and_outputs(make_server: MakeServer) -> None:
    server = make_server()
    c = server.client
    job = c.post(
        "/api/execute/",
        json={"executable_name": "hello.sh", "args": ["big", "world"]},
        headers=server.headers("p0"),
    ).json()["job_id"]
    ui_sign_in(c, server.keys["p0"])
    for _ in range(200):
        page = c.get(f"/ui/runs/{job}").text
        if 'data-terminal="true"' in page:
            break
    assert "door <strong>execute</strong>" in page and "<code>hello.sh</code>" in page
    assert "&#34;big&#34;" in page and "Exit code" in page and '<dd class="exit-code">0</dd>' in page
    assert "hello, big world" in page and "Standard error" in page
    assert re.search(r"started <time[^>]*>[^<]+</time> · finished <time", page)  # node timings


def test_ui_pages_may_not_be_framed_and_load_only_their_own_files(make_server: MakeServer) -> None:
    """Clickjacking: a page of another site (or a sibling subdomain, to which SameSite=Lax still
    sends the session cookie) cannot show the run or cancel buttons in a frame."""
    server = make_server()
    c = server.client
    workflow = make_workflow(server, 1, "Framed", hello_data())
    run = run_and_wait(server, workflow, {"name": "Ada", "age": 36})
    signed_out = [c.get("/ui/"), c.get("/ui/runs")]
    ui_sign_in(c, server.keys["p1"])
    pages = [
        *signed_out,
        c.get("/ui/"),
        c.get(f"/ui/workflows/{workflow}"),
        c.get(f"/ui/runs/{run}"),
        c.get(f"/ui/runs/{run}/live"),
        c.get("/ui/runs/not-a-uuid"),
        c.get("/ui/static/ui.css"),
        c.get("/ui/static/nothing.css"),
    ]
    for page in pages:
        where = (page.url, page.status_code)
        assert page.headers.get("x-frame-options") == "DENY", where
        policy = page.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, where
        assert page.headers.get("x-content-type-options") == "nosniff", where
