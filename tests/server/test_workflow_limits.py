"""Workflow size limits (RUNWIRE_MAX_NODES, RUNWIRE_MAX_EDGES) through the API, and the cached check."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from runwire_server.api.app import create_app
from runwire_server.prepared import PreparedCache, is_small
from runwire_server.services import Services, build_services
from runwire_server.store import WorkflowRow
from runwire_server.testing import running_server
from tests.helpers import HEADERS, KEY, make_app, make_settings, wait_for_run

BASE = "/api/v1/workflows/"
MAX_NODES = 10
MAX_EDGES = 12


def chain(count: int, extra_edges: int = 0, linked: int = 0) -> dict[str, Any]:
    """A trigger and ``count - 1`` output nodes in a line; ``extra_edges`` repeat its first edge,
    ``linked`` more repeat it as ``next_nodes`` entries of the trigger (which count as edges)."""
    ids = ["t", *(f"n{i}" for i in range(1, count))]
    nodes = [{"id": "t", "type": "trigger-node", "data": {"next_nodes": [ids[1]] * linked}}]
    nodes += [{"id": i, "type": "output-node", "data": {"output": f"{i} done"}} for i in ids[1:]]
    edges = [{"id": f"e{k}", "source": a, "target": b} for k, (a, b) in enumerate(itertools.pairwise(ids))]
    edges += [{"id": f"x{k}", "source": ids[0], "target": ids[1]} for k in range(extra_edges)]
    return {"nodes": nodes, "edges": edges, "start_node": "t"}


@pytest.fixture
def limited(tmp_path: Path, plugins: Plugins) -> Iterator[TestClient[Any]]:
    """A client of a server with RUNWIRE_MAX_NODES=10 and RUNWIRE_MAX_EDGES=12."""
    settings = make_settings(tmp_path, max_nodes=MAX_NODES, max_edges=MAX_EDGES)
    with TestClient(make_app(settings, plugins)) as client:
        yield client


def create(client: TestClient[Any], data: dict[str, Any]) -> httpx.Response:
    return client.post(BASE, json={"project": 1, "title": "limits", "data": data}, headers=HEADERS)


def create_valid(client: TestClient[Any], data: dict[str, Any]) -> int:
    """Create the workflow, assert it is stored and checks valid; return its id."""
    response = create(client, data)
    assert response.status_code == 201, response.text
    workflow_id = int(response.json()["id"])
    check = client.get(f"{BASE}{workflow_id}/check_workflow/", headers=HEADERS).json()
    assert check == {"valid": True, "errors": []}
    return workflow_id


def test_too_many_nodes_is_413_with_the_numbers(limited: TestClient[Any]) -> None:
    response = create(limited, chain(MAX_NODES + 1))
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "workflow: 11 nodes, over the limit of 10 (RUNWIRE_MAX_NODES)"
    assert limited.get(BASE, headers=HEADERS).json()["count"] == 0


def test_too_many_edges_is_413_with_the_numbers(limited: TestClient[Any]) -> None:
    # 9 edges of the chain + 2 repeated edges + 2 next_nodes entries = 13
    response = create(limited, chain(MAX_NODES, extra_edges=2, linked=2))
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "workflow: 13 edges, over the limit of 12 (RUNWIRE_MAX_EDGES)"


def test_patch_over_the_limits_is_413(limited: TestClient[Any]) -> None:
    workflow_id = create(limited, chain(3)).json()["id"]
    response = limited.patch(f"{BASE}{workflow_id}/", json={"data": chain(50)}, headers=HEADERS)
    assert response.status_code == 413
    assert response.json()["detail"] == "workflow: 50 nodes, over the limit of 10 (RUNWIRE_MAX_NODES)"
    assert limited.get(f"{BASE}{workflow_id}/", headers=HEADERS).json()["data"] == chain(3)


def test_a_workflow_exactly_at_the_limits_is_accepted_and_runs(limited: TestClient[Any]) -> None:
    data = chain(MAX_NODES, extra_edges=2, linked=1)  # 10 nodes, 9 + 2 + 1 = 12 edges
    workflow_id = create_valid(limited, data)
    started = limited.post(f"{BASE}{workflow_id}/run/", json={}, headers=HEADERS).json()
    assert started["status"] == 201
    assert wait_for_run(limited, started["data"]["id"], HEADERS)["status"] == "succeed"


def test_edge_limit_defaults_to_four_per_node(tmp_path: Path, plugins: Plugins) -> None:
    with TestClient(make_app(make_settings(tmp_path, max_nodes=5), plugins)) as client:
        assert create(client, chain(5, extra_edges=16)).status_code == 201  # 4 + 16 = 20 edges
        response = create(client, chain(5, extra_edges=17))
        assert response.status_code == 413
        assert response.json()["detail"] == "workflow: 21 edges, over the limit of 20 (RUNWIRE_MAX_EDGES)"


def test_a_stored_workflow_over_a_lowered_limit_is_refused_clearly(tmp_path: Path, plugins: Plugins) -> None:
    with TestClient(make_app(make_settings(tmp_path), plugins)) as before:
        workflow_id = create(before, chain(30)).json()["id"]
    with TestClient(make_app(make_settings(tmp_path, max_nodes=MAX_NODES), plugins)) as after:
        problem = "workflow: 30 nodes, over the limit of 10 (RUNWIRE_MAX_NODES)"
        check = after.get(f"{BASE}{workflow_id}/check_workflow/", headers=HEADERS).json()
        assert check == {"valid": False, "errors": [problem]}
        started = after.post(f"{BASE}{workflow_id}/run/", json={}, headers=HEADERS).json()
        assert started == {"data": {"errors": [problem]}, "status": 400}


def test_check_is_cached_per_version(tmp_path: Path, plugins: Plugins) -> None:
    settings = make_settings(tmp_path)
    services: Services = build_services(settings, plugins)
    with TestClient(create_app(settings, services=services)) as client:
        broken = chain(3)
        broken["nodes"][2]["data"]["output"] = "{{ nowhere.result.content }}"
        workflow_id = create(client, broken).json()["id"]
        url = f"{BASE}{workflow_id}/check_workflow/"
        first = client.get(url, headers=HEADERS).json()
        assert first["errors"] == ["node n2: data.output refers to node nowhere, which does not exist"]
        row = services.store.sync.get_workflow(workflow_id)
        assert row is not None
        assert services.cache.problems(row) == first["errors"]  # the check's result, kept
        client.patch(f"{BASE}{workflow_id}/", json={"data": chain(3)}, headers=HEADERS)
        assert client.get(url, headers=HEADERS).json() == {"valid": True, "errors": []}
        fixed = services.store.sync.get_workflow(workflow_id)
        assert fixed is not None and fixed.version != row.version
        assert services.cache.cached(workflow_id, fixed.version) is not None  # checked means prepared


def test_a_big_workflow_at_the_default_limit_is_checked_and_prepared(client: TestClient[Any]) -> None:
    data = chain(2000)
    data["nodes"][0]["data"]["input_fields"] = [{"id": "name", "input_requirements": True}]
    workflow_id = create_valid(client, data)
    # the run endpoint prepares it (in a worker thread), then refuses the input: nothing runs
    refused = client.post(f"{BASE}{workflow_id}/run/", json={}, headers=HEADERS).json()
    assert refused["status"] == 400 and "name" in str(refused["data"]["errors"])
    assert create(client, chain(2001)).status_code == 413


def test_healthz_answers_while_a_4_mb_workflow_is_refused() -> None:
    nodes = [{"id": f"n{i}", "type": "output-node", "data": {"output": "x"}} for i in range(70_000)]
    data = {"nodes": nodes, "edges": [], "start_node": "n0"}
    with running_server(env={"RUNWIRE_API_KEYS": KEY}) as server:
        body = httpx.Request("POST", "/", json={"project": 1, "title": "huge", "data": data}).read()
        assert 3_500_000 < len(body) < 4 * 1024 * 1024
        outcome: dict[str, httpx.Response] = {}

        def send() -> None:
            headers = {**HEADERS, "Content-Type": "application/json"}
            outcome["big"] = httpx.post(f"{server.url}{BASE}", content=body, headers=headers, timeout=60)

        sender = threading.Thread(target=send)
        sender.start()
        answered_meanwhile = 0
        while True:
            in_flight = sender.is_alive()
            health = httpx.get(f"{server.url}/healthz", timeout=60)
            assert health.status_code == 200
            answered_meanwhile += in_flight
            if not in_flight:
                break
        sender.join()
        assert outcome["big"].status_code == 413, outcome["big"].text
        assert outcome["big"].json()["detail"].startswith("workflow: 70000 nodes, over the limit of 2000")
        assert answered_meanwhile >= 1


def row(workflow_id: int, data: dict[str, Any], version: int = 1) -> WorkflowRow:
    now = datetime.now(UTC)
    return WorkflowRow(workflow_id, 1, f"w{workflow_id}", data, version, now, now)


def test_the_check_cache_is_bounded_by_nodes_and_checks_once_under_load(plugins: Plugins) -> None:
    cache = PreparedCache(plugins, max_cached_nodes=25)
    rows = [row(i, chain(10)) for i in (1, 2, 3)]
    for each in rows:
        assert cache.problems(each) == []
    assert cache.cached(1, 1) is None  # 3 x 11 weighed over 25: the oldest went
    assert cache.cached(2, 1) is not None and cache.cached(3, 1) is not None

    big = row(4, chain(300))
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.problems(big))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[]] * 4
    assert cache.cached(4, 1) is not None  # kept even though it alone weighs more than 25


def test_only_small_workflows_are_checked_on_the_event_loop() -> None:
    assert is_small(chain(3))
    assert not is_small(chain(2000))
    many_templates = chain(3)
    many_templates["nodes"][0]["data"]["x"] = ["{{ input.a }}"] * 3
    assert not is_small(many_templates)
    assert not is_small({"nodes": [{"data": {"output": "x" * 5000}}]})
