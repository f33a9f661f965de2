"""Fixtures of the end-to-end tests: real ``runwire serve``/``worker`` processes over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwire_server.testing import wait_for_run

ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-bootstrap-key"
TRIGGER = "9b0c4b3e-0000-4000-8000-000000000001"
SLEEP = "9b0c4b3e-0000-4000-8000-000000000002"
OUTPUT = "9b0c4b3e-0000-4000-8000-000000000003"


@pytest.fixture(scope="session")
def sleep_plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ``PYTHONPATH`` entry holding the test plugin and a dist-info declaring its entry point."""
    root = tmp_path_factory.mktemp("sleep-plugin")
    shutil.copy(Path(__file__).parent / "sleep_plugin" / "runwire_test_sleep.py", root)
    info = root / "runwire_test_sleep-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: runwire-test-sleep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[runwire]\ntest-sleep = runwire_test_sleep\n")
    return str(root)


def with_plugin(env: dict[str, str], plugin_path: str) -> dict[str, str]:
    """``env`` plus the test plugin on ``PYTHONPATH``."""
    paths = [plugin_path, *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def hello_data() -> dict[str, Any]:
    """The example workflow: trigger (name, age) → if age >= 18 → one of two outputs."""
    return json.loads((ROOT / "examples" / "hello.json").read_text())


def sleep_data(seconds: float, marker_dir: Path | None = None) -> dict[str, Any]:
    """trigger → Test Sleep (``seconds``) → output (the sleep node's pid)."""
    sleep: dict[str, Any] = {"name": "Test Sleep", "seconds": seconds}
    if marker_dir is not None:
        sleep["marker_dir"] = str(marker_dir)
    return {
        "nodes": [
            {"id": TRIGGER, "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": SLEEP, "type": "basic-node", "data": sleep},
            {"id": OUTPUT, "type": "output-node", "data": {"output": "{{ " + SLEEP + ".result.pid }}"}},
        ],
        "edges": [
            {"id": "e1", "source": TRIGGER, "target": SLEEP},
            {"id": "e2", "source": SLEEP, "target": OUTPUT},
        ],
        "start_node": TRIGGER,
    }


def api(url: str, key: str = KEY) -> httpx.Client:
    """An HTTP client for a live server with an API key."""
    return httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=10.0)


def create_workflow(client: httpx.Client, data: dict[str, Any], project: int = 1) -> int:
    """Create a workflow; return its id."""
    response = client.post("/api/v1/workflows/", json={"project": project, "title": "e2e", "data": data})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def start_run(client: httpx.Client, workflow_id: int, body: str = "{}") -> str:
    """Start a run with a flat JSON body; return its id."""
    reply = client.post(f"/api/v1/workflows/{workflow_id}/run/", content=body).json()
    assert reply["status"] == 201, reply
    return str(reply["data"]["id"])


def wait_result(client: httpx.Client, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll until terminal; return the result's ``data``."""
    return wait_for_run(str(client.base_url), run_id, dict(client.headers), timeout=timeout)


def wait_for_marker(marker_dir: Path, run_id: str, timeout: float = 20.0) -> int:
    """Wait until the sleep node of ``run_id`` started; return the pid running it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(marker_dir.glob(f"{run_id}.*"))
        if found:
            return int(found[0].suffix[1:])
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never started its sleep node")
