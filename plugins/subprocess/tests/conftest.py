"""Fixtures of the runwire-subprocess tests: the real test scripts and a one-node runner."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.plugins import Plugins
from runwire.records import RunRecord
from runwire.workflow import parse_workflow_data

SCRIPTS = Path(__file__).resolve().parents[3] / "tests" / "scripts"
PY = sys.executable
NODE_ID = "script"

RunScript = Callable[..., Awaitable[RunRecord]]


def script_workflow(data: dict[str, Any]) -> dict[str, Any]:
    """trigger → Run Script node with ``data``."""
    return {
        "start_node": "trigger",
        "nodes": [
            {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger"}},
            {"id": NODE_ID, "type": "basic-node", "data": {"name": "Run Script", **data}},
        ],
        "edges": [{"id": "e1", "source": "trigger", "target": NODE_ID}],
    }


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    """A fresh plugin manager: built-ins plus every installed entry point."""
    return Plugins.load()


@pytest.fixture
def run_script(plugins: Plugins) -> RunScript:
    """Run a one-node workflow whose Run Script node has ``data``, with run ``input``."""

    async def run(data: dict[str, Any], input: Any = None) -> RunRecord:
        prepared = prepare_workflow(parse_workflow_data(script_workflow(data)), plugins)
        return await Engine().execute(prepared, input if input is not None else {})

    return run
