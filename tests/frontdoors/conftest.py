"""Fixtures of the front-door tests: an in-process app (Litestar test client, real store, embedded
queue, real subprocesses), an executables directory of real scripts, task configs, and a real
callback receiver on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from runwire_server.api.app import create_app
from runwire_server.services import build_services
from runwire_server.settings import Settings

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
PY = sys.executable
KEY = "frontdoor-test-key"
HEADERS = {"X-Api-Key": KEY}
READY_STATES = {"ready", "failed"}

MakeClient = Callable[..., TestClient[Any]]

LIMS_RESULTS = [  # what the reference's example config makes of lims_results.py's CSV
    {
        "plateIndex": "1",
        "plateCell": "A01",
        "marker1": "CATCTGTATC",
        "marker2": "ATGAGACTTG",
        "classification": "failed: low S2 & RPP30",
    },
    {
        "plateIndex": "1",
        "plateCell": "A02",
        "marker1": "GTTCGGCATG",
        "marker2": "CCAATCTGAG",
        "classification": "negative",
    },
]


def lims_config() -> dict[str, Any]:
    """The script-runner reference's example: LIMS_results.csv remapped, the PDF attached."""
    return {
        "command": [PY, str(SCRIPTS / "lims_results.py"), "$RUNDIR", "$PLATE"],
        "inputs": {
            "path_args": [{"env_var_name": "PLATE", "path_regex": "([^/]+)", "path_regex_match_group": 1}],
            "query_args": [],
            "body_args": [],
        },
        "outputs": {
            "results": {
                "kind": "file",
                "format": "csv",
                "input_path": "LIMS_results.csv",
                "remapped_columns": [
                    {"output_name": "plateIndex", "input_name": "Plate_384_Number", "skip_list": ["NA"]},
                    {"output_name": "plateCell", "input_name": "Sample_Well"},
                    {"output_name": "marker1", "input_name": "marker1"},
                    {"output_name": "marker2", "input_name": "marker2"},
                    {"output_name": "classification", "input_name": "classification"},
                ],
            },
            "attachments": ["out/*.pdf"],
        },
    }


def echo_config() -> dict[str, Any]:
    """A task that shows what its command received: path, query and body variables."""
    return {
        "command": [PY, str(SCRIPTS / "show_args.py"), "$P", "--season=$SEASON", "$CITY", "$TAGS"],
        "inputs": {
            "path_args": [{"env_var_name": "P", "path_regex": "(.*)", "path_regex_match_group": 1}],
            "query_args": [{"env_var_name": "SEASON", "query_var_name": "season"}],
            "body_args": [
                {"env_var_name": "CITY", "body_jsonpath": "$.city"},
                {"env_var_name": "TAGS", "body_jsonpath": "$.tags[*]"},
            ],
        },
        "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
    }


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The installed plugins, loaded once (as a server does at boot)."""
    return Plugins.load()


@pytest.fixture
def executables(tmp_path: Path) -> Path:
    """A RUNWIRE_EXECUTABLES_DIR holding copies of the test scripts (and traps around it)."""
    root = tmp_path / "executables"
    (root / "subdir").mkdir(parents=True)
    for script in SCRIPTS.iterdir():
        shutil.copy2(script, root / script.name)
    (root / "not-executable.sh").write_text("#!/bin/sh\necho no\n")
    (root / "not-executable.sh").chmod(0o644)
    outside = tmp_path / "outside.sh"
    outside.write_text("#!/bin/sh\necho escaped\n")
    outside.chmod(0o755)
    (root / "escape.sh").symlink_to(outside)
    return root


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / f"config-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def make_client(tmp_path: Path, plugins: Plugins, executables: Path) -> Iterator[MakeClient]:
    """Build a test client for settings overrides; ``config=`` mounts a task config."""
    clients: list[TestClient[Any]] = []

    def make(config: dict[str, Any] | None = None, **overrides: Any) -> TestClient[Any]:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"data-{len(clients)}",
            "api_keys": KEY,
            "auth_providers": "api-key",
            "worker_threads": 4,
            "executables_dir": str(executables),
        }
        if config is not None:
            values["task_config"] = str(write_config(tmp_path, config))
        values.update(overrides)
        settings = Settings(**values)
        client = TestClient(create_app(settings, services=build_services(settings, plugins)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def poll_task(client: Any, task_id: str, prefix: str = "/task", timeout: float = 30) -> dict[str, Any]:
    """GET the task until it is ready or failed."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get(f"{prefix}/{task_id}", headers=HEADERS)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["status"] in READY_STATES or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def poll_job(
    client: Any, job_id: str, timeout: float = 30, until: Callable[[dict[str, Any]], bool] | None = None
) -> Any:
    """GET an execute job until its run is terminal (or ``until`` holds)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get(f"/api/execute/{job_id}", headers=HEADERS)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        done = until(body) if until else body["status"] in ("succeed", "failed")
        if done or time.monotonic() > deadline:
            return body
        time.sleep(0.02)
