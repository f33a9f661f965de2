"""Fixtures of the server's in-process API tests (Litestar's test client, a real store and queue)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from runwire.plugins import Plugins
from runwire_server.api.app import create_app
from runwire_server.services import build_services
from runwire_server.settings import Settings, store_url
from runwire_server.store import Store, open_database
from runwire_server.testing import postgres_database

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-bootstrap-key"
HEADERS = {"X-Api-Key": KEY}
TERMINAL = {"succeed", "failed"}


def hello_data() -> dict[str, Any]:
    """The example workflow: trigger (name, age) → if age >= 18 → one of two outputs."""
    return json.loads((ROOT / "examples" / "hello.json").read_text())


def reference_data() -> dict[str, Any]:
    """The reference document's example workflow (its LLM nodes need the OpenAI plugin)."""
    return json.loads((ROOT / "tests" / "data" / "reference_example.json").read_text())["data"]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: a fresh data dir, one bootstrap key, embedded queue."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": "",
        "broker_url": "",
        "api_keys": KEY,
        "auth_providers": "api-key",
        "service_api_key": "service-secret",
        "worker_threads": 2,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The installed plugins, loaded once for the whole session (as a server does at boot)."""
    return Plugins.load()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store: SQLite in ``tmp_path``, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield store_url("", tmp_path)
        return
    with postgres_database() as url:
        yield store_url(url, tmp_path)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store with its schema, on each backend of :func:`database_url` (the async API; the
    backend's blocking form is ``store.sync``)."""
    made = open_database(database_url)
    made.create_schema()
    yield made
    made.dispose()


def make_app(settings: Settings, plugins: Plugins) -> Litestar:
    """The real app for ``settings`` (with the session's plugins)."""
    return create_app(settings, services=build_services(settings, plugins))


@pytest.fixture
def client(tmp_path: Path, plugins: Plugins) -> Iterator[TestClient[Any]]:
    """A test client of an app with embedded workers and an SQLite store in ``tmp_path``."""
    with TestClient(make_app(make_settings(tmp_path), plugins)) as test_client:
        yield test_client


def create_workflow(
    client: Any, data: dict[str, Any] | None = None, project: int = 1, title: str = "Hello"
) -> int:
    """Create a workflow through the API; return its id."""
    response = client.post(
        "/api/v1/workflows/",
        json={"project": project, "title": title, "data": data or hello_data()},
        headers=HEADERS,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def wait_result(
    client: Any, run_id: str, headers: dict[str, str] = HEADERS, timeout: float = 20.0
) -> dict[str, Any]:
    """Poll ``workflow_result`` until the run is terminal; return the ``data`` object."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}, headers=headers).json()
        if body["data"]["status"] in TERMINAL:
            return body["data"]  # type: ignore[no-any-return]
        time.sleep(0.005)
    raise AssertionError(f"run {run_id} not terminal after {timeout} s: {body}")
