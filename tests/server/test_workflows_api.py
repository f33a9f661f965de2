"""Workflow endpoints through Litestar's test client: CRUD, filters, pages, scoping, hostile bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from tests.helpers import HEADERS, create_workflow, hello_data, make_app, make_settings, reference_data

BASE = "/api/v1/workflows/"


def test_create_returns_201_and_the_stored_workflow(client: TestClient[Any]) -> None:
    data = hello_data()
    response = client.post(BASE, json={"project": 7, "title": "Greeter", "data": data}, headers=HEADERS)
    assert response.status_code == 201
    body = response.json()
    assert body["project"] == 7 and body["title"] == "Greeter" and body["data"] == data
    again = client.get(f"{BASE}{body['id']}/", headers=HEADERS)
    assert again.status_code == 200 and again.json() == body


def test_workflow_data_round_trips_unknown_fields(client: TestClient[Any]) -> None:
    data = reference_data()  # positions, styles, viewport, markerEnd ... must come back unchanged
    workflow_id = create_workflow(client, data)
    assert client.get(f"{BASE}{workflow_id}/", headers=HEADERS).json()["data"] == data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x", "data": {}}, "project"),
        ({"project": 1, "data": {}}, "title"),
        ({"project": 1, "title": "x"}, "data"),
        ({"project": "seven", "title": "x", "data": {}}, "project"),
        ({"project": True, "title": "x", "data": {}}, "project"),
        ({"project": -1, "title": "x", "data": {}}, "project"),
        ({"project": 2**40, "title": "x", "data": {}}, "project"),
        ({"project": 1, "title": "", "data": {}}, "title"),
        ({"project": 1, "title": "x" * 256, "data": {}}, "title"),
        ({"project": 1, "title": "a\x00b", "data": {}}, "title"),
        ({"project": 1, "title": "x", "data": []}, "data"),
        ({"project": 1, "title": "x", "data": {"nodes": "not a list"}}, "data"),
        ({"project": 1, "title": "x", "data": {"nodes": [{"type": "trigger-node"}]}}, "data"),
    ],
)
def test_create_rejects_bad_fields_naming_them(
    client: TestClient[Any], body: dict[str, Any], field: str
) -> None:
    response = client.post(BASE, json=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 10_000 + b"]" * 10_000, "nested deeper"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested deeper"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (b'"just a string"', "JSON object"),
    ],
)
def test_create_rejects_hostile_bodies_with_400(
    client: TestClient[Any], content: bytes, fragment: str
) -> None:
    response = client.post(BASE, content=content, headers={**HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_moderately_deep_json_inside_data_is_refused_not_crashing(client: TestClient[Any]) -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"x": deep}
    data = hello_data()
    data["nodes"][0]["data"]["extra"] = deep
    response = client.post(BASE, json={"project": 1, "title": "deep", "data": data}, headers=HEADERS)
    assert response.status_code == 400 and "nested deeper" in response.json()["detail"]


def test_huge_body_is_413(tmp_path: Path, plugins: Plugins) -> None:
    with TestClient(make_app(make_settings(tmp_path, max_body_bytes=64 * 1024), plugins)) as small:
        blob = "x" * (65 * 1024)
        response = small.post(
            BASE, json={"project": 1, "title": "big", "data": {"blob": blob}}, headers=HEADERS
        )
        assert response.status_code == 413
        assert small.get(BASE, headers=HEADERS).json()["count"] == 0  # nothing stored


def test_structurally_broken_workflows_are_stored_and_reported_by_check(client: TestClient[Any]) -> None:
    data = hello_data()
    data["edges"].append({"id": "dangling", "source": "trigger", "target": "nowhere"})
    data["nodes"].append({"id": "mystery", "type": "no-such-node", "data": {}})
    workflow_id = create_workflow(client, data)
    report = client.get(f"{BASE}{workflow_id}/check_workflow/", headers=HEADERS).json()
    assert report["valid"] is False
    assert any("nowhere" in e for e in report["errors"]) and any("mystery" in e for e in report["errors"])
    ok_id = create_workflow(client)
    assert client.get(f"{BASE}{ok_id}/check_workflow/", headers=HEADERS).json() == {
        "valid": True,
        "errors": [],
    }


def test_patch_changes_title_and_data_and_404s_unknown(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    new_data = hello_data()
    new_data["nodes"][2]["data"]["output"] = "Hi {{ input.name }}"
    response = client.patch(
        f"{BASE}{workflow_id}/", json={"title": "Updated Workflow Title", "data": new_data}, headers=HEADERS
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Updated Workflow Title" and response.json()["data"] == new_data
    only_title = client.patch(f"{BASE}{workflow_id}/", json={"title": "Again"}, headers=HEADERS).json()
    assert only_title["title"] == "Again" and only_title["data"] == new_data
    assert client.patch(f"{BASE}{workflow_id}/", json={"title": 5}, headers=HEADERS).status_code == 400
    assert client.patch(f"{BASE}{workflow_id}/", json={"data": "x"}, headers=HEADERS).status_code == 400
    assert client.patch(f"{BASE}999/", json={"title": "x"}, headers=HEADERS).status_code == 404


def test_delete_is_204_then_404(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    assert client.delete(f"{BASE}{workflow_id}/", headers=HEADERS).status_code == 204
    assert client.get(f"{BASE}{workflow_id}/", headers=HEADERS).status_code == 404
    assert client.delete(f"{BASE}{workflow_id}/", headers=HEADERS).status_code == 404


@pytest.mark.parametrize("workflow_id", ["0", "999", "99999999999999999999", "-3", "abc", "1.5"])
def test_unknown_or_malformed_ids_are_404(client: TestClient[Any], workflow_id: str) -> None:
    create_workflow(client)
    for suffix in ("", "input-fields/", "check_workflow/", "history/"):
        assert client.get(f"{BASE}{workflow_id}/{suffix}", headers=HEADERS).status_code == 404


def test_list_filters_by_project_and_title_case_insensitively(client: TestClient[Any]) -> None:
    create_workflow(client, project=1, title="Text Classification")
    create_workflow(client, project=1, title="Summariser")
    create_workflow(client, project=2, title="classification v2")
    create_workflow(client, project=2, title="100%_literal")
    listed = client.get(BASE, params={"title": "CLASSIF"}, headers=HEADERS).json()
    assert sorted(r["title"] for r in listed["results"]) == ["Text Classification", "classification v2"]
    by_project = client.get(BASE, params={"project": 2}, headers=HEADERS).json()
    assert by_project["count"] == 2 and {r["project"] for r in by_project["results"]} == {2}
    both = client.get(BASE, params={"project": 1, "title": "sum"}, headers=HEADERS).json()
    assert [r["title"] for r in both["results"]] == ["Summariser"]
    # LIKE wildcards in the filter are literal characters
    assert client.get(BASE, params={"title": "%"}, headers=HEADERS).json()["count"] == 1
    assert client.get(BASE, params={"title": "_"}, headers=HEADERS).json()["count"] == 1


def test_list_is_paginated_with_links(client: TestClient[Any]) -> None:
    for i in range(25):
        create_workflow(client, title=f"wf {i}")
    first = client.get(BASE, headers=HEADERS).json()
    assert first["count"] == 25 and len(first["results"]) == 20
    assert first["previous"] is None and "page=2" in first["next"]
    second = client.get(first["next"], headers=HEADERS).json()
    assert len(second["results"]) == 5 and second["next"] is None and "page=1" in second["previous"]
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})
    small = client.get(BASE, params={"page_size": 10, "page": 3}, headers=HEADERS).json()
    assert len(small["results"]) == 5


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": 0}, 400),
        ({"page": -1}, 400),
        ({"page": "abc"}, 400),
        ({"page": "1e3"}, 404),
        ({"page": 99}, 404),
        ({"page": 2**70}, 400),
        ({"page_size": 0}, 400),
        ({"page_size": 1000}, 400),
        ({"project": "x"}, 400),
        ({"project": 2**40}, 400),
        ({"title": "a\x00b"}, 400),
    ],
)
def test_bad_list_parameters_are_4xx(client: TestClient[Any], params: dict[str, Any], status: int) -> None:
    create_workflow(client)
    response = client.get(BASE, params=params, headers=HEADERS)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_empty_list_page_one_is_fine(client: TestClient[Any]) -> None:
    assert client.get(BASE, headers=HEADERS).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_input_fields_come_from_the_trigger(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    fields = client.get(f"{BASE}{workflow_id}/input-fields/", headers=HEADERS).json()
    assert [f["id"] for f in fields] == ["name", "age"]
    assert fields[0] == {
        "id": "name",
        "title": "Name",
        "type": "text",
        "input_requirements": True,
        "placeholder": "",
        "tooltip": "",
        "default_value": "",
        "options": [],
    }
    assert fields[1]["type"] == "number" and fields[1]["default_value"] == "30"


def test_get_nodes_lists_every_installed_node_type(client: TestClient[Any]) -> None:
    response = client.get(f"{BASE}get_nodes/", headers=HEADERS)
    assert response.status_code == 200
    by_type = {(n["type"], n["name"]): n for n in response.json()}
    for key in [("trigger-node", None), ("if-else-node", None), ("output-node", None)]:
        assert key in by_type
        assert by_type[key]["schema"]["type"] == "object"
    assert "input_fields" in by_type[("trigger-node", None)]["schema"]["properties"]
    assert client.app.state.services.plugins.node_types.items.keys() == by_type.keys()


def test_trailing_slash_is_optional(client: TestClient[Any]) -> None:
    workflow_id = create_workflow(client)
    assert client.get("/api/v1/workflows", headers=HEADERS).status_code == 200
    assert client.get(f"/api/v1/workflows/{workflow_id}", headers=HEADERS).status_code == 200


def test_openapi_schema_and_docs_are_served(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/workflows/{workflow_id}/run" in schema["paths"] or any(
        "run" in p for p in schema["paths"]
    )
    assert client.get("/schema/swagger").status_code == 200


def test_openapi_documents_errors_in_the_shape_the_api_answers(client: TestClient[Any]) -> None:
    """Regression (schemathesis): the document promised Litestar's ``{status_code, detail, extra}``."""
    schema = client.get("/schema/openapi.json").json()
    documented = [
        op["responses"]["400"]["content"]["application/json"]["schema"]
        for item in schema["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "400" in op.get("responses", {})
    ]
    assert len(documented) > 5
    assert all(s["required"] == ["detail"] and "status_code" not in s["properties"] for s in documented)
    answered = client.get("/api/v1/workflows/", params={"page": "zero"}, headers=HEADERS)
    assert answered.status_code == 400
    assert set(answered.json()) <= set(documented[0]["properties"]) and "detail" in answered.json()
