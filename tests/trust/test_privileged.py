"""Privileged node types and operator-only settings: what an API caller may put in a workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import KEY, RUN_SCRIPT, SERVICE_KEY, MakeServer, output_workflow, script_workflow

WORKFLOWS = "/api/v1/workflows/"


def create(server: Any, who: str, project: int, data: dict[str, Any]) -> Any:
    body = {"project": project, "title": "t", "data": data}
    return server.client.post(WORKFLOWS, json=body, headers=server.headers(who))


def test_privileged_nodes_are_refused_in_projects_without_the_grant(make_server: MakeServer) -> None:
    server = make_server()  # default: no project is granted
    refused = create(server, "p1", 1, script_workflow(["id"]))
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert "'s'" in detail and RUN_SCRIPT in detail and "RUNWIRE_PRIVILEGED_PROJECTS" in detail
    # the bootstrap key is not the operator: the grant is the operator's, per project
    assert create(server, "bootstrap", 1, script_workflow(["id"])).status_code == 403
    listed = server.client.get(WORKFLOWS, params={"project": 1}, headers=server.headers("bootstrap"))
    assert listed.json()["count"] == 0
    # a workflow without privileged nodes is fine anywhere
    assert create(server, "p1", 1, output_workflow("hi")).status_code == 201


def test_the_grant_is_per_project_and_covers_create_patch_and_run(make_server: MakeServer) -> None:
    server = make_server(privileged_projects="1")
    made = create(server, "p1", 1, script_workflow(["echo", "granted"]))
    assert made.status_code == 201, made.text
    run = server.client.post(f"{WORKFLOWS}{made.json()['id']}/run/", json={}, headers=server.headers("p1"))
    assert run.json()["status"] == 201
    result = server.wait(run.json()["data"]["id"], "p1")
    assert result["status"] == "succeed" and result["data"]["o"]["result"]["content"] == "granted\n"

    assert create(server, "p2", 2, script_workflow(["id"])).status_code == 403
    plain = create(server, "p2", 2, output_workflow("hi")).json()["id"]
    patched = server.client.patch(
        f"{WORKFLOWS}{plain}/", json={"data": script_workflow(["id"])}, headers=server.headers("p2")
    )
    assert patched.status_code == 403 and "project 2" in patched.json()["detail"]
    assert server.client.get(f"{WORKFLOWS}{plain}/", headers=server.headers("p2")).json()["data"] == (
        output_workflow("hi")
    )


def test_a_stored_workflow_whose_project_loses_the_grant_does_not_run(
    make_server: MakeServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "shared-store"
    granted = make_server(data_dir=data_dir, privileged_projects="*")
    workflow_id = create(granted, "bootstrap", 3, script_workflow(["id"])).json()["id"]
    granted.client.__exit__(None, None, None)

    revoked = make_server(data_dir=data_dir)  # the operator took the grant back
    reply = revoked.client.post(
        f"{WORKFLOWS}{workflow_id}/run/", json={}, headers=revoked.headers("bootstrap")
    )
    assert reply.status_code == 403
    assert "RUNWIRE_PRIVILEGED_PROJECTS" in reply.json()["detail"] and "project 3" in reply.json()["detail"]
    history = revoked.client.get(f"{WORKFLOWS}{workflow_id}/history/", headers=revoked.headers("bootstrap"))
    assert history.json()["count"] == 0  # nothing was started
    checked = revoked.client.get(
        f"{WORKFLOWS}{workflow_id}/check_workflow/", headers=revoked.headers("bootstrap")
    )
    assert checked.json()["valid"] is False
    assert any("RUNWIRE_PRIVILEGED_PROJECTS" in e for e in checked.json()["errors"])


def test_get_nodes_tells_which_node_types_are_privileged(make_server: MakeServer) -> None:
    server = make_server()
    nodes = server.client.get(f"{WORKFLOWS}get_nodes/", headers=server.headers("p1")).json()
    privileged = {n["name"] or n["type"]: n["privileged"] for n in nodes}
    assert privileged[RUN_SCRIPT] is True
    assert privileged["trigger-node"] is False and privileged["HTTP Request"] is False
    schema = next(n for n in nodes if n["name"] == RUN_SCRIPT)["schema"]["properties"]
    assert schema["env_allowlist"]["operator_only"] is True


def test_operator_only_settings_are_refused_through_the_api(make_server: MakeServer) -> None:
    server = make_server(privileged_projects="*")
    for field, value in (
        ("env_allowlist", ["PATH", "RUNWIRE_API_KEYS", "OPENAI_API_KEY"]),
        ("rundir_parent", "/"),
        ("rundir_base", "/usr"),
        ("keep_rundir", True),
        ("use_rundir", False),
        ("executables_dir", "/"),
        ("max_output_bytes", 1024**3),
        ("max_output_bytes", "1073741824"),  # a number in a string is the number it validates to
        ("attachments_max_bytes", 10**9),
    ):
        reply = create(server, "p1", 1, script_workflow(["env"], **{field: value}))
        assert reply.status_code == 422, (field, reply.text)
        assert f"data.{field}" in reply.json()["detail"] and "'s'" in reply.json()["detail"]
    # lowering a cap, or sending a default as an editor does, is fine
    lowered = script_workflow(["env"], max_output_bytes=4096, keep_rundir=False, use_rundir=True)
    assert create(server, "p1", 1, lowered).status_code == 201
    ok = create(server, "p1", 1, output_workflow("x")).json()["id"]
    patched = server.client.patch(
        f"{WORKFLOWS}{ok}/",
        json={"data": script_workflow(["env"], env_allowlist=["HOME"])},
        headers=server.headers("p1"),
    )
    assert patched.status_code == 422 and "data.env_allowlist" in patched.json()["detail"]


def test_the_child_environment_holds_no_server_secret(make_server: MakeServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    monkeypatch.setenv("RUNWIRE_API_KEYS", "leaked-bootstrap")
    server = make_server(privileged_projects="1")
    made = create(server, "p1", 1, script_workflow(["env"])).json()["id"]
    run_id = server.client.post(f"{WORKFLOWS}{made}/run/", json={}, headers=server.headers("p1")).json()
    shown = server.wait(run_id["data"]["id"], "p1")["data"]["o"]["result"]["content"]
    assert "PATH=" in shown
    for secret in ("sk-server-secret", "leaked-bootstrap", KEY, SERVICE_KEY):
        assert secret not in shown
