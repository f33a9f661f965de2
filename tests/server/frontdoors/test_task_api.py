"""The script-runner front door over HTTP (in-process app, real store, queue and subprocesses)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from runwire.errors import ConfigInvalid
from tests.helpers import HEADERS, LIMS_RESULTS, PY, SCRIPTS, MakeClient, echo_config, lims_config, poll_task


@pytest.mark.parametrize("prefix", ["/task", "/script"])
def test_reference_example_start_and_poll(make_client: MakeClient, prefix: str) -> None:
    client = make_client(lims_config())
    reply = client.post(f"{prefix}/n1a54tmd", headers=HEADERS)
    assert reply.status_code == 200, reply.text
    started = reply.json()
    assert started["status"] == "not-ready" and set(started) == {"id", "status"}
    done = poll_task(client, started["id"], prefix)
    assert done["status"] == "ready", done
    assert done["id"] == started["id"]
    assert done["results"] == LIMS_RESULTS
    assert list(done["attachments"]) == ["results-n1a54tmd.pdf"]
    assert base64.b64decode(done["attachments"]["results-n1a54tmd.pdf"]).startswith(b"%PDF-1.4")
    assert done["stdout"] == "wrote 3 rows for plate n1a54tmd\n"


def test_path_query_and_body_reach_argv_byte_for_byte(make_client: MakeClient) -> None:
    client = make_client(echo_config())
    hostile = "; rm -rf / $(id) `id` 'q' \"d\"\nnext"
    reply = client.post(
        "/task/a/b c",
        params=[("season", hostile)],
        json={"city": "$(id)", "tags": ["x", {"k": 1}]},
        headers=HEADERS,
    )
    assert reply.status_code == 200, reply.text
    done = poll_task(client, reply.json()["id"])
    assert done["status"] == "ready", done
    assert done["results"]["argv"] == ["a/b c", f"--season={hostile}", "$(id)", '["x",{"k":1}]']


def test_repeated_query_binds_a_json_array_and_missing_ones_are_empty(make_client: MakeClient) -> None:
    client = make_client(echo_config())
    reply = client.post(
        "/task", params=[("season", "a"), ("season", "b")], json={"city": "c", "tags": []}, headers=HEADERS
    )
    assert reply.status_code == 400  # $.tags[*] of [] matches nothing
    assert "variable TAGS" in reply.json()["detail"]
    reply = client.post(
        "/task", params=[("season", "a"), ("season", "b")], json={"city": "c", "tags": [1]}, headers=HEADERS
    )
    done = poll_task(client, reply.json()["id"])
    assert done["results"]["argv"] == ["", '--season=["a","b"]', "c", "1"]


@pytest.mark.parametrize(
    "body,content_type,detail",
    [
        (b"{not json", "application/json", "malformed JSON"),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", "nested"),
        (b'{"city": "\xff\xfe"}', "application/json", "UTF-8"),
        (b"", "application/json", "variable CITY"),
        (b'{"tags": [1]}', "application/json", "variable CITY"),
    ],
)
def test_bad_bodies_are_400(make_client: MakeClient, body: bytes, content_type: str, detail: str) -> None:
    client = make_client(echo_config())
    reply = client.post("/task", content=body, headers={**HEADERS, "Content-Type": content_type})
    assert reply.status_code == 400, reply.text
    assert detail in reply.json()["detail"]


def test_nul_in_a_variable_is_400(make_client: MakeClient) -> None:
    client = make_client(echo_config())
    reply = client.post(
        "/task/x", params={"season": "a\x00b"}, json={"city": "c", "tags": [1]}, headers=HEADERS
    )
    assert reply.status_code == 400 and "NUL" in reply.json()["detail"]


@pytest.mark.parametrize("config", [echo_config, lims_config], ids=["body binders", "no body binders"])
def test_huge_body_is_refused(make_client: MakeClient, config: Any) -> None:
    client = make_client(config(), max_body_bytes=64 * 1024)
    reply = client.post("/task/p1", json={"city": "x" * 100_000, "tags": [1]}, headers=HEADERS)
    assert reply.status_code == 413


def test_failed_command_reports_failed_with_error(make_client: MakeClient) -> None:
    config = {"command": [PY, "-c", "import sys; sys.stderr.write('boom on purpose'); sys.exit(7)"]}
    client = make_client(config)
    done = poll_task(client, client.post("/task", headers=HEADERS).json()["id"])
    assert done["status"] == "failed"
    assert set(done) == {"id", "status", "error"}
    assert "exited with code 7" in done["error"] and "boom on purpose" in done["error"]


def test_timeout_fails_the_task(make_client: MakeClient, tmp_path: Path) -> None:
    config = {"command": [PY, str(SCRIPTS / "never_exits.py"), str(tmp_path / "pids")], "timeout": 1}
    client = make_client(config)
    done = poll_task(client, client.post("/task", headers=HEADERS).json()["id"])
    assert done["status"] == "failed" and "timed out after 1 s" in done["error"]


def test_unknown_and_foreign_ids_are_404(make_client: MakeClient) -> None:
    client = make_client(lims_config())
    for task_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "%2e%2e"):
        assert client.get(f"/task/{task_id}", headers=HEADERS).status_code == 404
    # a run of another workflow (an LSO job) is not a task
    job = client.post(
        "/api/execute/", json={"executable_name": "show_args.py", "is_async": False}, headers=HEADERS
    )
    assert job.status_code == 201
    assert client.get(f"/task/{job.json()['job_id']}", headers=HEADERS).status_code == 404


def test_auth_is_required_and_scoped(make_client: MakeClient) -> None:
    client = make_client(lims_config())
    assert client.post("/task/x").status_code == 401
    assert client.post("/task/x", headers={"X-Api-Key": "forged"}).status_code == 401
    assert client.get("/task/00000000-0000-4000-8000-000000000000").status_code == 401


def test_without_a_config_the_routes_are_404(make_client: MakeClient) -> None:
    client = make_client()
    reply = client.post("/task/x", headers=HEADERS)
    assert reply.status_code == 404 and "RUNWIRE_TASK_CONFIG" in reply.json()["detail"]


@pytest.mark.parametrize(
    "config,field",
    [
        (
            {"command": [PY], "inputs": {"path_args": [{"env_var_name": "P", "path_regex": "(["}]}},
            "path_regex",
        ),
        ({"command": [PY, "$NOPE"]}, "$NOPE is not bound"),
        (
            {"command": [PY], "outputs": {"results": {"kind": "file", "format": "xls", "input_path": "a"}}},
            "format",
        ),
    ],
)
def test_invalid_config_stops_start_up(make_client: MakeClient, config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigInvalid) as err:
        make_client(config)
    assert field in str(err.value)


def test_restart_with_a_changed_config_uses_the_new_command(make_client: MakeClient, tmp_path: Path) -> None:
    shared = {"data_dir": tmp_path / "shared"}
    first = make_client(
        {"command": [PY, "-c", "print('one')"], "outputs": {"results": {"kind": "stdout", "format": "text"}}},
        **shared,
    )
    done = poll_task(first, first.post("/task", headers=HEADERS).json()["id"])
    assert done["results"] == "one\n"
    second = make_client(
        {"command": [PY, "-c", "print('two')"], "outputs": {"results": {"kind": "stdout", "format": "text"}}},
        **shared,
    )
    done = poll_task(second, second.post("/task", headers=HEADERS).json()["id"])
    assert done["results"] == "two\n"
    assert json.loads(json.dumps(done))["status"] == "ready"


@pytest.mark.parametrize(
    "url,argv0,season",
    [
        ("/task/..%2f..%2fetc%2fpasswd", "../../etc/passwd", ""),  # just text: runwire opens nothing
        ("/task/x?season=%7B%7B%20''.__class__%20%7D%7D", "x", "{{ ''.__class__ }}"),  # never rendered
        ("/task/%ff?season=%ff", "\ufffd", "\ufffd"),  # undecodable bytes arrive as U+FFFD
    ],
)
def test_hostile_paths_and_queries_are_plain_text(
    make_client: MakeClient, url: str, argv0: str, season: str
) -> None:
    client = make_client(echo_config())
    reply = client.post(url, json={"city": "c", "tags": [1]}, headers=HEADERS)
    assert reply.status_code == 200, reply.text
    done = poll_task(client, reply.json()["id"])
    assert done["results"]["argv"][:2] == [argv0, f"--season={season}"]


def test_nul_in_the_path_is_400(make_client: MakeClient) -> None:
    reply = make_client(echo_config()).post("/task/a%00b", json={"city": "c", "tags": [1]}, headers=HEADERS)
    assert reply.status_code == 400 and "variable P contains a NUL" in reply.json()["detail"]


def test_the_workflow_api_cannot_delete_change_or_impersonate_the_task_workflow(
    make_client: MakeClient,
) -> None:
    """Regression (schemathesis): deleting the task's workflow made every POST /task a 500."""
    client = make_client(lims_config())
    found = client.get("/api/v1/workflows/", params={"project": 0}, headers=HEADERS).json()["results"]
    (task_workflow,) = [w for w in found if w["title"] == "runwire front door: script-runner task"]
    url = f"/api/v1/workflows/{task_workflow['id']}/"
    assert client.delete(url, headers=HEADERS).status_code == 403
    assert client.patch(url, json={"data": {"nodes": [], "edges": []}}, headers=HEADERS).status_code == 403
    impostor = {"project": 0, "title": task_workflow["title"], "data": {"nodes": [], "edges": []}}
    assert client.post("/api/v1/workflows/", json=impostor, headers=HEADERS).status_code == 403
    mine = client.post("/api/v1/workflows/", json={**impostor, "title": "mine"}, headers=HEADERS).json()
    renamed = client.patch(
        f"/api/v1/workflows/{mine['id']}/", json={"title": impostor["title"]}, headers=HEADERS
    )
    assert renamed.status_code == 403
    assert client.get(url, headers=HEADERS).json()["data"] == task_workflow["data"]
    started = client.post("/task/n1a54tmd", headers=HEADERS)
    assert started.status_code == 200, started.text
    assert poll_task(client, started.json()["id"])["status"] == "ready"
