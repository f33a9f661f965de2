"""Fixtures of the runwire-http tests: a real target server on 127.0.0.1 and a one-node runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.plugins import Plugins
from runwire.records import RunRecord
from runwire.settingstable import SettingsTable
from runwire.workflow import parse_workflow_data

TRIGGER_ID = "trigger"
NODE_ID = "http-1"

RunHttp = Callable[..., Awaitable[RunRecord]]


@pytest.fixture(scope="session")
def _servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    # Started once: stopping a server waits for its poll interval.
    with (
        HTTPServer(host="127.0.0.1", port=0, threaded=True) as one,
        HTTPServer(host="127.0.0.1", port=0) as two,
    ):
        yield one, two


@pytest.fixture
def target(_servers: tuple[HTTPServer, HTTPServer]) -> HTTPServer:
    """A real HTTP server on 127.0.0.1 that tests program per request (cleared for each test)."""
    _servers[0].clear()
    return _servers[0]


@pytest.fixture
def other(_servers: tuple[HTTPServer, HTTPServer]) -> HTTPServer:
    """A second real server on another port: another origin."""
    _servers[1].clear()
    return _servers[1]


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow exactly 127.0.0.1 for the HTTP node (nothing else that is private)."""
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.1")


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    """A fresh plugin manager: built-ins plus every installed entry point."""
    return Plugins.load()


def http_workflow(node_data: dict[str, Any]) -> dict[str, Any]:
    """A workflow ``data``: a trigger followed by one "HTTP Request" node."""
    return {
        "start_node": TRIGGER_ID,
        "nodes": [
            {"id": TRIGGER_ID, "type": "trigger-node", "data": {"name": "Trigger", "next_nodes": [NODE_ID]}},
            {"id": NODE_ID, "type": "basic-node", "data": {"name": "HTTP Request", **node_data}},
        ],
        "edges": [{"id": "e1", "source": TRIGGER_ID, "target": NODE_ID}],
    }


@pytest.fixture
def run_http(plugins: Plugins) -> RunHttp:
    """Run a trigger → "HTTP Request" workflow through the engine and return the run record."""

    async def run(node_data: dict[str, Any], run_input: Any = None) -> RunRecord:
        plugins.settings = SettingsTable.collect(plugins.pm)  # the environment as this test set it
        prepared = prepare_workflow(parse_workflow_data(http_workflow(node_data)), plugins)
        return await Engine().execute(prepared, {} if run_input is None else run_input)

    return run
