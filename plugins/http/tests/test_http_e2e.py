"""End to end: an HTTP Request node inside a workflow served by a real `runwire serve` process.

Proves the server process applies ``RUNWIRE_HTTP_ALLOW`` from its own environment: the same
workflow reaches the target with the allow-list and is refused without it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from runwire_server.testing import RunningServer, running_server, wait_for_run

from .conftest import NODE_ID, http_workflow

KEY = "e2e-http-key"
HEADERS = {"X-Api-Key": KEY}

pytestmark = pytest.mark.timeout(180)


def run_workflow(server: RunningServer, data: dict[str, Any], body: str) -> dict[str, Any]:
    """Create ``data`` as a workflow, run it with a flat body, poll until terminal."""
    created = httpx.post(
        f"{server.url}/api/v1/workflows/", headers=HEADERS, json={"project": 1, "title": "http", "data": data}
    )
    assert created.status_code == 201, created.text
    started = httpx.post(
        f"{server.url}/api/v1/workflows/{created.json()['id']}/run/",
        headers={**HEADERS, "Content-Type": "application/json"},
        content=body,
    )
    assert started.json()["status"] == 201, started.text
    run_id = started.json()["data"]["id"]
    return wait_for_run(server.url, run_id, HEADERS, timeout=60, logs=server.logs)


@pytest.mark.parametrize("allowed", [True, False])
def test_the_served_http_node_obeys_the_servers_allow_list(target: HTTPServer, allowed: bool) -> None:
    target.expect_request("/orders", method="POST", json={"sku": "A-1", "qty": 3}).respond_with_json(
        {"order": 77}
    )
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_AUTH_PROVIDERS": "api-key"}
    if allowed:
        env["RUNWIRE_HTTP_ALLOW"] = "127.0.0.1"
    node = {
        "url": target.url_for("/orders"),
        "method": "POST",
        "body": {"sku": "{{ input.sku }}", "qty": "{{ input.qty }}"},
    }
    with running_server(env=env) as server:
        data = run_workflow(server, http_workflow(node), '{"sku": "A-1", "qty": 3}')
    if allowed:
        assert data["status"] == "succeed", data
        assert data["data"][NODE_ID]["result"]["json"] == {"order": 77}
        assert len(target.log) == 1
    else:
        assert data["status"] == "failed"
        assert "non-public address 127.0.0.1" in data["data"][NODE_ID]["error"]
        assert target.log == []
