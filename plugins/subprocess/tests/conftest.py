"""Fixtures of the runwire-subprocess tests: the real test scripts and a one-node runner."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import runwire_subprocess
from runwire.plugins import Plugins
from runwire.testing import NodeRunner, node_runner, node_workflow, plugins_from

SCRIPTS = Path(__file__).resolve().parents[3] / "tests" / "scripts"
PY = sys.executable
NODE_ID = "script"

RunScript = NodeRunner


def script_workflow(data: dict[str, Any]) -> dict[str, Any]:
    """trigger → Run Script node with ``data``."""
    return node_workflow({"name": "Run Script", **data}, node_id=NODE_ID)


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    """Core's built-ins and this plugin (registered as its entry point does), nothing else."""
    return plugins_from(named={"subprocess": runwire_subprocess})


@pytest.fixture
def run_script(plugins: Plugins) -> RunScript:
    """Run a one-node workflow whose Run Script node has ``data``, with run ``input``."""
    return node_runner(plugins, "Run Script", node_id=NODE_ID)
