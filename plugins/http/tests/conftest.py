"""Fixtures of the runwire-http tests: a real target server on 127.0.0.1 and a one-node runner
(runwire.testing's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

import runwire_http
from runwire.plugins import Plugins
from runwire.records import RunRecord
from runwire.testing import node_runner, node_workflow, plugins_from, reload_settings

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
    """Core's built-ins and this plugin (registered as its entry point does), nothing else."""
    return plugins_from(named={"http": runwire_http})


def http_workflow(node_data: dict[str, Any]) -> dict[str, Any]:
    """A workflow ``data``: a trigger followed by one "HTTP Request" node."""
    return node_workflow({"name": "HTTP Request", **node_data}, node_id=NODE_ID)


@pytest.fixture
def run_http(plugins: Plugins) -> RunHttp:
    """Run a trigger → "HTTP Request" workflow through the engine and return the run record."""
    runner = node_runner(plugins, "HTTP Request", node_id=NODE_ID)

    async def run(node_data: dict[str, Any], run_input: Any = None) -> RunRecord:
        reload_settings(plugins)  # the environment as this test set it
        return await runner(node_data, run_input)

    return run
