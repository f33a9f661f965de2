"""Run endpoints through Litestar's test client: run bodies, results, history, updates, scoping."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.errors import ConfigInvalid
from runwire.plugins import Plugins
from tests.helpers import (
    HEADERS,
    KEY,
    SERVICE_KEY,
    TERMINAL,
    create_workflow,
    hello_data,
    make_app,
    make_settings,
    rewrite_run,
    wait_for_run,
)

BASE = "/api/v1/workflows/"
RESULT = "/api/v1/workflows/workflow_result/"


def echo_data(output: Any) -> dict[str, Any]:
    """trigger (no fields) → output node rendering ``output``."""
    return {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": "out", "type": "output-node", "data": {"output": output}},
        ],
        "edges": [{"id": "e", "source": "t", "target": "out"}],
        "start_node": "t",
    }


def run(
    client: TestClient[Any], workflow_id: int, body: str | bytes, content_type: str = "application/json"
) -> Any:
    response = client.post(
        f"{BASE}{workflow_id}/run/", content=body, headers={**HEADERS, "Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    return response.json()


def output_of(
    client: TestClient[Any], workflow_id: int, body: str | bytes, content_type: str = "application/json"
) -> Any:
    reply = run(client, workflow_id, body, content_type)
    assert reply["status"] == 201 and reply["data"]["status"] == "created"
    result = wait_for_run(client, reply["data"]["id"], HEADERS)
    assert result["status"] == "succeed", result
    return result["data"]["out"]["result"]["content"]


def test_run_replies_created_envelope_and_result_has_reference_shape(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    reply = run(client, workflow_id, '{"name": "John Doe", "age": 41}')
    assert set(reply) == {"data", "status"} and reply["status"] == 201
    run_id = reply["data"]["id"]
    assert str(uuid.UUID(run_id)) == run_id and reply["data"] == {"id": run_id, "status": "created"}
    result = wait_for_run(client, run_id, HEADERS)
    assert result["id"] == run_id and result["status"] == "succeed"
    assert result["metrics"] == {"total_cost": 0.0}
    assert result["data"]["adult"] == {
        "id": "adult",
        "status": "succeed",
        "result": {"content": "Welcome, John Doe!"},
    }
    assert result["data"]["minor"]["status"] == "skipped"
    assert all(node["id"] == key for key, node in result["data"].items())
    full = client.get(RESULT, params={"id": run_id}, headers=HEADERS).json()
    assert full["status"] == 200 and full["data"] == result


@pytest.mark.parametrize(
    ("body", "content_type", "template", "expected"),
    [
        ('{"user_name": "John Doe"}', "application/json", "{{ input.user_name }}", "John Doe"),
        ('[{"name": "Alice"}, {"name": "Bob"}]', "application/json", "{{ input[1].name }}", "Bob"),
        ("Hello, process this text", "text/plain", "{{ input.__raw_input__ }}", "Hello, process this text"),
        (
            '{"looks": "like json"}',
            "text/plain; charset=utf-8",
            "{{ input.__raw_input__ }}",
            '{"looks": "like json"}',
        ),
        ("{not json", "application/json", "{{ input.__raw_input__ }}", "{not json"),
        ('"a JSON string"', "application/json", "{{ input.__raw_input__ }}", '"a JSON string"'),
        ("", "application/json", "{{ input.nonexistent_field }}", ""),
        (
            '{"tags": ["admin", "developer"]}',
            "application/json",
            "{{ input.tags.0 }}/{{ input.tags[1] }}",
            "admin/developer",
        ),
        ('{"input_data": {"a": 1}}', "application/json", "{{ input.input_data.a }}", "1"),
        ('{"x": "{{ \'\'.__class__ }}"}', "application/json", "{{ input.x }}", "{{ ''.__class__ }}"),
        (
            '{"cmd": "$(rm -rf /); `id` | cat"}',
            "application/json",
            "{{ input.cmd }}",
            "$(rm -rf /); `id` | cat",
        ),
    ],
)
def test_run_bodies_follow_the_reference_api_key_mode(
    client: TestClient[Any], body: str, content_type: str, template: str, expected: str
) -> None:
    workflow_id = create_workflow(client, echo_data(template))
    assert output_of(client, workflow_id, body, content_type) == expected


def test_reference_nested_example_renders(client: TestClient[Any]) -> None:
    body = json.dumps(
        {
            "company": {
                "name": "Acme Inc",
                "departments": [
                    {
                        "name": "IT",
                        "employees": [
                            {"name": "Alice", "role": "Developer"},
                            {"name": "Bob", "role": "DevOps"},
                        ],
                    },
                    {"name": "HR", "employees": [{"name": "Charlie", "role": "Manager"}]},
                ],
            }
        }
    )
    template = "{{ input.company.departments[0].employees[1].role }} {{ input.company.departments[1].employees[0].name }}"
    assert output_of(client, create_workflow(client, echo_data(template)), body) == "DevOps Charlie"


def test_run_with_invalid_utf8_or_too_deep_json_is_400(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client, echo_data("x"))
    bad = client.post(f"{BASE}{workflow_id}/run/", content=b"\xc3\x28", headers=HEADERS)
    assert bad.status_code == 400 and "UTF-8" in bad.json()["detail"]
    deep = client.post(f"{BASE}{workflow_id}/run/", content="[" * 10_000 + "]" * 10_000, headers=HEADERS)
    assert deep.status_code == 400 and "nested" in deep.json()["detail"]
    assert client.get(f"{BASE}{workflow_id}/history/", headers=HEADERS).json()["count"] == 0


def test_template_injection_in_workflow_fails_the_run_not_the_server(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client, echo_data("{{ ''.__class__.__mro__[1].__subclasses__() }}"))
    reply = run(client, workflow_id, "{}")
    if reply["status"] == 400:  # refused up front as a structural problem
        assert reply["data"]["errors"]
        return
    result = wait_for_run(client, reply["data"]["id"], HEADERS)
    assert result["status"] == "failed" and "subclasses" not in json.dumps(
        result["data"]["out"].get("result", {})
    )


def test_structural_errors_reply_400_envelope_and_start_nothing(client: TestClient[Any]) -> None:
    data = hello_data()
    data["start_node"] = "missing-node"
    data["nodes"].append({"id": "odd", "type": "no-such-type", "data": {}})
    workflow_id = create_workflow(client, data)
    reply = run(client, workflow_id, '{"name": "x"}')
    assert reply["status"] == 400 and set(reply["data"]) == {"errors"}
    assert any("missing-node" in e for e in reply["data"]["errors"])
    assert any("no-such-type" in e for e in reply["data"]["errors"])
    assert client.get(f"{BASE}{workflow_id}/history/", headers=HEADERS).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [("{}", "name"), ('{"name": "Al", "age": "old"}', "age"), ('["not", "an", "object"]', "JSON object")],
)
def test_invalid_trigger_input_is_refused_naming_the_field(
    client: TestClient[Any], body: str, field: str
) -> None:
    workflow_id = create_workflow(client)
    reply = run(client, workflow_id, body)
    assert reply["status"] == 400 and any(field in e for e in reply["data"]["errors"])
    assert client.get(f"{BASE}{workflow_id}/history/", headers=HEADERS).json()["count"] == 0


def test_run_of_unknown_workflow_is_404(client: TestClient[Any]) -> None:
    assert client.post(f"{BASE}4242/run/", content="{}", headers=HEADERS).status_code == 404


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 400), ({"id": ""}, 400), ({"id": "not-a-uuid"}, 400), ({"id": "1' OR '1'='1"}, 400)],
)
def test_workflow_result_bad_ids_are_400(
    client: TestClient[Any], params: dict[str, str], status: int
) -> None:
    response = client.get(RESULT, params=params, headers=HEADERS)
    assert response.status_code == status and response.json()["detail"]


def test_workflow_result_of_unknown_run_is_not_found(client: TestClient[Any]) -> None:
    run_id = str(uuid.uuid4())
    response = client.get(RESULT, params={"id": run_id}, headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["data"] == {
        "id": run_id,
        "status": "not found",
        "data": {},
        "metrics": {"total_cost": 0.0},
    }


def test_terminal_status_is_never_shown_without_every_node_result(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    run_ids = [
        run(client, workflow_id, f'{{"name": "n{i}", "age": {i * 7}}}')["data"]["id"] for i in range(12)
    ]
    seen_terminal = 0

    def poll(run_id: str) -> int:
        terminal = 0
        for _ in range(2000):
            data = client.get(RESULT, params={"id": run_id}, headers=HEADERS).json()["data"]
            if data["status"] in TERMINAL:
                assert set(data["data"]) == {"trigger", "is-adult", "adult", "minor"}, data
                assert all(n["status"] in ("succeed", "skipped") for n in data["data"].values())
                terminal += 1
                if terminal > 2:
                    return terminal
        return terminal

    with ThreadPoolExecutor(4) as pool:
        seen_terminal = sum(pool.map(poll, run_ids))
    assert seen_terminal == 3 * len(run_ids)


def test_history_orders_and_paginates(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    run_ids = [run(client, workflow_id, f'{{"name": "n{i}"}}')["data"]["id"] for i in range(5)]
    for run_id in run_ids:
        wait_for_run(client, run_id, HEADERS)
    store = client.app.state.services.store.sync
    for cost, run_id in zip([0.5, 0.1, 0.9, 0.3, 0.7], run_ids, strict=True):
        rewrite_run(store, run_id, "succeed", {}, cost)
    url = f"{BASE}{workflow_id}/history/"
    newest = client.get(url, headers=HEADERS).json()
    assert newest["count"] == 5 and [r["id"] for r in newest["results"]] == run_ids[::-1]
    item = newest["results"][0]
    assert {"id", "status", "data", "metrics", "cost", "created_at", "input_data", "workflow"} <= set(item)
    assert item["input_data"] == {"name": "n4"} and item["workflow"] == workflow_id
    oldest = client.get(url, params={"ordering": "created_at"}, headers=HEADERS).json()
    assert [r["id"] for r in oldest["results"]] == run_ids
    cheap = client.get(url, params={"ordering": "cost"}, headers=HEADERS).json()
    assert [r["cost"] for r in cheap["results"]] == [0.1, 0.3, 0.5, 0.7, 0.9]
    dear = client.get(url, params={"ordering": "-cost", "page_size": 2, "page": 2}, headers=HEADERS).json()
    assert [r["cost"] for r in dear["results"]] == [0.5, 0.3] and dear["next"] and dear["previous"]
    for params in (
        {"ordering": "title"},
        {"ordering": "-created_at;drop table"},
        {"page": 0},
        {"page_size": 101},
    ):
        assert client.get(url, params=params, headers=HEADERS).status_code == 400
    assert client.get(url, params={"page": 4, "page_size": 2}, headers=HEADERS).status_code == 404
    assert client.get(f"{BASE}999/history/", headers=HEADERS).status_code == 404


def update_body(run_id: str, status: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = {"id": run_id, "status": status, "data": data or {}}
    return {"type": "workflow_execution_progress_change", "payload": payload}


def test_execution_update_needs_the_service_key_and_applies_progress(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    run_id = run(client, workflow_id, '{"name": "x"}')["data"]["id"]
    done = wait_for_run(client, run_id, HEADERS)
    # as an external execution service's run would be: still going when its progress arrives
    rewrite_run(client.app.state.services.store.sync, run_id, "in progress", done["data"])
    url = f"{BASE}execution-update/{run_id}/"
    node = {"id": "n1", "status": "succeed", "result": {"content": "Hi! How can I help you today?"}}
    body = update_body(run_id, "succeed", {"n1": node})
    assert client.post(url, json=body).status_code == 403
    assert client.post(url, json=body, headers={"X-Service-Api-Key": "wrong"}).status_code == 403
    assert (
        client.post(url, json=body, headers={**HEADERS}).status_code == 403
    )  # a user key is not the service key
    ok = client.post(url, json=body, headers={"X-Service-Api-Key": SERVICE_KEY})
    assert ok.status_code == 201 and ok.json() == {"status": "created", "detail": {"msg": "ok"}}
    result = client.get(RESULT, params={"id": run_id}, headers=HEADERS).json()["data"]
    assert result["data"]["n1"] == node and "adult" in result["data"]
    service = {"X-Service-Api-Key": SERVICE_KEY}
    for unfinished in ("in queue", "in progress"):  # a finished run is never re-opened (and re-run)
        refused = client.post(url, json=update_body(run_id, unfinished), headers=service)
        assert refused.status_code == 409 and "already succeed" in refused.json()["detail"]
    rewrite = {"n1": {**node, "result": {"content": "forged"}}}  # nor are its results rewritten
    refused = client.post(url, json=update_body(run_id, "succeed", rewrite), headers=service)
    assert refused.status_code == 409 and "cannot be changed" in refused.json()["detail"]
    assert client.get(RESULT, params={"id": run_id}, headers=HEADERS).json()["data"]["data"]["n1"] == node
    assert client.get(RESULT, params={"id": run_id}, headers=HEADERS).json()["data"]["status"] == "succeed"
    assert client.post(url, json=update_body(run_id, "exploded"), headers=service).status_code == 400
    assert client.post(url, content=b"{oops", headers=service).status_code == 400
    assert (
        client.post(url, json=update_body(str(uuid.uuid4()), "succeed"), headers=service).status_code == 400
    )
    other = str(uuid.uuid4())
    assert (
        client.post(
            f"{BASE}execution-update/{other}/", json=update_body(other, "failed"), headers=service
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"{BASE}execution-update/nope/", json=update_body("nope", "failed"), headers=service
        ).status_code
        == 404
    )


def test_execution_update_is_closed_without_a_configured_service_key(
    tmp_path: Path, plugins: Plugins
) -> None:
    with TestClient(make_app(make_settings(tmp_path, service_api_key=""), plugins)) as open_client:
        url = f"{BASE}execution-update/{uuid.uuid4()}/"
        assert (
            open_client.post(
                url, json=update_body("x", "failed"), headers={"X-Service-Api-Key": ""}
            ).status_code
            == 403
        )


def test_missing_or_wrong_credentials_are_401(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    for headers in ({}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}, {"X-Api-Key": f"{KEY} "}):
        for method, url in (
            ("GET", BASE),
            ("GET", f"{BASE}{workflow_id}/"),
            ("POST", f"{BASE}{workflow_id}/run/"),
            ("GET", f"{RESULT}?id={uuid.uuid4()}"),
            ("GET", f"{BASE}get_nodes/"),
        ):
            response = client.request(method, url, headers=headers)
            assert response.status_code == 401, (method, url, headers)
            assert "detail" in response.json() and "data" not in response.json()


def test_scoped_keys_see_only_their_projects(client: TestClient[Any]) -> None:
    store = client.app.state.services.store.sync
    mine = create_workflow(client, project=2, title="mine")
    theirs = create_workflow(client, project=1, title="theirs")
    their_run = run(client, theirs, '{"name": "secret"}')["data"]["id"]
    key = store.create_api_key([2], "project two")
    scoped = {"X-Api-Key": key}
    assert [w["id"] for w in client.get(BASE, headers=scoped).json()["results"]] == [mine]
    assert client.get(BASE, params={"project": 1}, headers=scoped).json()["count"] == 0
    for method, url in (
        ("GET", f"{BASE}{theirs}/"),
        ("PATCH", f"{BASE}{theirs}/"),
        ("DELETE", f"{BASE}{theirs}/"),
        ("POST", f"{BASE}{theirs}/run/"),
        ("GET", f"{BASE}{theirs}/history/"),
        ("GET", f"{BASE}{theirs}/input-fields/"),
        ("GET", f"{BASE}{theirs}/check_workflow/"),
    ):
        response = client.request(
            method, url, headers=scoped, json={"title": "x"} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, url)
    leaked = client.get(RESULT, params={"id": their_run}, headers=scoped)
    assert leaked.status_code == 404 and "secret" not in leaked.text
    refused = client.post(BASE, json={"project": 1, "title": "x", "data": {}}, headers=scoped)
    assert refused.status_code == 403
    assert client.post(BASE, json={"project": 2, "title": "x", "data": {}}, headers=scoped).status_code == 201
    own_run = run(client, mine, '{"name": "Zed"}')["data"]["id"]
    assert wait_for_run(client, own_run, scoped)["status"] == "succeed"


def test_api_keys_are_stored_hashed(client: TestClient[Any]) -> None:
    store = client.app.state.services.store.sync
    key = store.create_api_key([5], "hashed")
    with store.engine.connect() as conn:
        dump = json.dumps(
            [list(map(str, row)) for row in conn.exec_driver_sql("SELECT * FROM runwire_api_keys")]
        )
    assert key not in dump and key[3:] not in dump


def test_auth_none_opens_the_api_and_warns(
    tmp_path: Path, plugins: Plugins, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(make_app(make_settings(tmp_path, auth_providers="none"), plugins)) as open_client:
        assert open_client.get(BASE).status_code == 200
    assert any("EVERY request without" in r.getMessage() for r in caplog.records)


def test_unknown_auth_provider_is_refused_at_start(tmp_path: Path, plugins: Plugins) -> None:
    with pytest.raises(ConfigInvalid, match="not-installed"):
        make_app(make_settings(tmp_path, auth_providers="api-key,not-installed"), plugins)


def test_health_and_readiness(client: TestClient[Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["workers"] == "ok"
    # public, so it tells deployment-wide state and counts only: no run, workflow, project or key
    assert set(ready.json()) == {"status", "store", "workers", "runs_queued"}
    assert isinstance(ready.json()["runs_queued"], int)
