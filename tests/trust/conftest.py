"""Fixtures of the trust-model tests: an in-process app with a mounted task, an executables
directory and scoped API keys for projects 0, 1 and 2 besides a bootstrap key."""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from runwire_server.api.app import create_app
from runwire_server.services import build_services
from runwire_server.settings import Settings

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
BOOTSTRAP = "trust-bootstrap-key"
SERVICE_KEY = "trust-service-key"
TERMINAL = {"succeed", "failed"}
RUN_SCRIPT = "Run Script"


def echo_task() -> dict[str, Any]:
    """A config.json task whose command prints the query variable ``WHO`` as JSON."""
    return {
        "command": [sys.executable, str(SCRIPTS / "show_args.py"), "$WHO"],
        "inputs": {
            "path_args": [],
            "query_args": [{"env_var_name": "WHO", "query_var_name": "who"}],
            "body_args": [],
        },
        "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
    }


def script_workflow(command: list[str], **data: Any) -> dict[str, Any]:
    """trigger → Run Script (``command`` and more ``data``) → output of its stdout."""
    return {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": "s", "type": "basic-node", "data": {"name": RUN_SCRIPT, "command": command, **data}},
            {"id": "o", "type": "output-node", "data": {"output": "{{ s.result.content }}"}},
        ],
        "edges": [{"id": "e1", "source": "t", "target": "s"}, {"id": "e2", "source": "s", "target": "o"}],
        "start_node": "t",
    }


def output_workflow(text: str) -> dict[str, Any]:
    """trigger → output ``text``: no privileged node."""
    return {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": "o", "type": "output-node", "data": {"output": text}},
        ],
        "edges": [{"id": "e1", "source": "t", "target": "o"}],
        "start_node": "t",
    }


@dataclass
class Server:
    """An in-process app and the keys to call it with."""

    client: TestClient[Any]
    keys: dict[str, str]
    """``bootstrap``, ``p0``, ``p0b`` (a second project-0 key), ``p1``, ``p2`` → X-Api-Key value."""

    def headers(self, who: str) -> dict[str, str]:
        """Headers authenticating as ``who`` (a name of :attr:`keys`; ``anonymous``: none)."""
        return {"X-Api-Key": self.keys[who]} if who in self.keys else {}

    def wait(self, run_id: str, who: str = "bootstrap", timeout: float = 30.0) -> dict[str, Any]:
        """Poll ``workflow_result`` as ``who`` until the run is terminal; return its data."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.client.get(
                "/api/v1/workflows/workflow_result/", params={"id": run_id}, headers=self.headers(who)
            )
            data = reply.json()["data"]
            if data["status"] in TERMINAL or time.monotonic() > deadline:
                return data  # type: ignore[no-any-return]
            time.sleep(0.01)


MakeServer = Callable[..., Server]


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The installed plugins, loaded once."""
    return Plugins.load()


@pytest.fixture
def executables(tmp_path: Path) -> Path:
    """An executables directory with ``hello.sh`` (prints its arguments)."""
    root = tmp_path / "bin"
    root.mkdir()
    hello = root / "hello.sh"
    hello.write_text('#!/bin/sh\necho "hello, $*"\n')
    hello.chmod(0o755)
    return root


@pytest.fixture
def make_server(tmp_path: Path, plugins: Plugins, executables: Path) -> Iterator[MakeServer]:
    """Build an app for settings overrides (a task mounted, execute on), with scoped keys made."""
    made: list[TestClient[Any]] = []

    def make(data_dir: Path | None = None, **overrides: Any) -> Server:
        config = tmp_path / f"task-{uuid.uuid4().hex[:6]}.json"
        config.write_text(json.dumps(echo_task()))
        values: dict[str, Any] = {
            "data_dir": data_dir or tmp_path / f"data-{len(made)}",
            "api_keys": BOOTSTRAP,
            "service_api_key": SERVICE_KEY,
            "auth_providers": "api-key",
            "worker_threads": 4,
            "executables_dir": str(executables),
            "task_config": str(config),
            # this process's own user: explicit, so granting privileged projects as root is allowed
            "run_as_user": pwd.getpwuid(os.geteuid()).pw_name,
        }
        values.update(overrides)
        settings = Settings(**values)
        services = build_services(settings, plugins)
        keys = {"bootstrap": BOOTSTRAP}
        for name, project in (("p0", 0), ("p0b", 0), ("p1", 1), ("p2", 2)):
            keys[name] = services.store.sync.create_api_key([project], name)
        client = TestClient(create_app(settings, services=services))
        client.__enter__()
        made.append(client)
        return Server(client, keys)

    yield make
    for client in made:
        client.__exit__(None, None, None)
