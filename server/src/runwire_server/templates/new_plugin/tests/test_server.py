"""The plugin inside a whole runwire server, in process (runwire-server's half of the kit)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("runwire_server")

from runwire_server.pytest_plugin import MakeClient, server_plugins
from runwire_server.testing import wait_for_run

import [[ module ]]

WORKFLOW: dict[str, Any] = {
    "start_node": "trigger",
    "nodes": [
        {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger"}},
        {"id": "n1", "type": "basic-node", "data": {"name": "[[ node_name ]]", "text": "{{ input.word }}"}},
    ],
    "edges": [{"id": "e1", "source": "trigger", "target": "n1"}],
}


def test_the_server_lists_and_runs_the_node(runwire_client: MakeClient) -> None:
    client = runwire_client(server_plugins(named={"[[ name ]]": [[ module ]]}))
    names = [node["name"] for node in client.get("/api/v1/workflows/get_nodes/").json()]
    assert "[[ node_name ]]" in names
    created = client.post("/api/v1/workflows/", json={"project": 1, "title": "t", "data": WORKFLOW})
    assert created.status_code == 201, created.text
    started = client.post(f"/api/v1/workflows/{created.json()['id']}/run/", json={"word": "hi"})
    assert started.json()["status"] == 201, started.text
    run = wait_for_run(client, started.json()["data"]["id"])
    assert run["status"] == "succeed", run
    assert run["data"]["n1"]["result"]["content"] == "HI"
