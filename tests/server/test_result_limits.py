"""Template bombs and oversized node results through the API: the run fails, nothing big is kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from tests.helpers import HEADERS, TERMINAL, create_workflow, make_app, make_settings

BASE = "/api/v1/workflows/"


def output_workflow(output: str) -> dict[str, Any]:
    """A trigger followed by one output node whose ``output`` is ``output``."""
    return {
        "nodes": [
            {"id": "start", "type": "trigger-node", "data": {}},
            {"id": "out", "type": "output-node", "data": {"output": output}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "out"}],
        "start_node": "start",
    }


def run_watching_health(client: TestClient[Any], data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Create and run ``data``; poll ``/healthz`` until the run is terminal.

    Returns the ``workflow_result`` body and how many health checks answered while it ran.
    """
    workflow_id = create_workflow(client, data)
    started = client.post(f"{BASE}{workflow_id}/run/", json={}, headers=HEADERS).json()
    for healthy in range(1, 2001):
        assert client.get("/healthz").status_code == 200
        response = client.get(
            f"{BASE}workflow_result/", params={"id": started["data"]["id"]}, headers=HEADERS
        )
        if response.json()["data"]["status"] in TERMINAL:
            return response.json(), healthy
    raise AssertionError("the run never finished")


@pytest.fixture
def small_results(tmp_path: Path, plugins: Plugins) -> Iterator[TestClient[Any]]:
    """A client of a server with RUNWIRE_MAX_RESULT_BYTES=4096."""
    with TestClient(make_app(make_settings(tmp_path, max_result_bytes=4096), plugins)) as client:
        yield client


def test_a_template_bomb_in_an_output_node_fails_the_run_and_keeps_nothing(client: TestClient[Any]) -> None:
    body, healthy = run_watching_health(client, output_workflow('{{ ["a" * 1000000] * 30 }}'))
    run = body["data"]
    assert run["status"] == "failed"
    assert run["data"]["out"]["status"] == "failed"
    assert "over the limit of 1,000,000 characters" in run["data"]["out"]["error"]
    assert run["data"]["out"].get("result") is None
    assert healthy >= 1
    history = client.get(f"{BASE}workflow_result/", params={"id": run["id"]}, headers=HEADERS)
    assert len(history.content) < 10_000  # the 60 MB the template asked for was never stored


def test_a_result_over_runwire_max_result_bytes_fails_the_node(small_results: TestClient[Any]) -> None:
    body, _ = run_watching_health(small_results, output_workflow('{{ "a" * 5000 }}'))
    run = body["data"]
    assert run["status"] == "failed"
    assert run["data"]["out"]["error"] == (
        "result of node out is larger than the limit of 4,096 bytes (as JSON); it was not kept"
    )
    assert run["data"]["out"].get("result") is None
    assert len(str(body)) < 4096


def test_a_result_at_the_limit_is_kept(small_results: TestClient[Any]) -> None:
    body, _ = run_watching_health(small_results, output_workflow('{{ "a" * 1000 }}'))
    assert body["data"]["status"] == "succeed"
    assert body["data"]["data"]["out"]["result"]["content"] == "a" * 1000


def test_a_template_value_with_no_json_form_fails_its_node_not_the_run_record(
    client: TestClient[Any],
) -> None:
    data = output_workflow('{{ [1]|map("string") }}')
    data["nodes"].insert(1, {"id": "first", "type": "output-node", "data": {"output": "kept"}})
    data["edges"] = [
        {"id": "e0", "source": "start", "target": "first"},
        {"id": "e1", "source": "first", "target": "out"},
    ]
    body, _ = run_watching_health(client, data)
    result = body["data"]
    assert result["status"] == "failed" and "internal error" not in (result.get("error") or "")
    assert result["data"]["first"]["result"] == {"content": "kept"}
    assert "add |list" in result["data"]["out"]["error"]


def test_the_results_of_one_run_together_are_bounded(tmp_path: Path, plugins: Plugins) -> None:
    """Many nodes each under the node limit cannot add up past RUNWIRE_MAX_RUN_BYTES."""
    data = output_workflow("{{ 'x' * 3000 }}")
    for i in range(4):  # a chain of five 3 KB outputs: 15 KB, over a 10 KB run limit
        data["nodes"].append(
            {"id": f"more{i}", "type": "output-node", "data": {"output": "{{ 'y' * 3000 }}"}}
        )
        data["edges"].append(
            {"id": f"m{i}", "source": "out" if i == 0 else f"more{i - 1}", "target": f"more{i}"}
        )
    settings = make_settings(tmp_path, max_result_bytes=4096, max_run_bytes=10_000)
    with TestClient(make_app(settings, plugins)) as client:
        body, _ = run_watching_health(client, data)
    result = body["data"]
    assert result["status"] == "failed"
    failed = [n for n in result["data"].values() if n["status"] == "failed"]
    assert len(failed) == 1 and "RUNWIRE_MAX_RUN_BYTES" in failed[0]["error"]
    assert sum(len(json.dumps(n.get("result"))) for n in result["data"].values()) < 10_000
