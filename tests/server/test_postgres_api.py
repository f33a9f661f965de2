"""The API on a PostgreSQL store (a fresh database, dropped afterwards): the paths where
PostgreSQL differs from SQLite (threaded store calls, integer ranges, NUL characters)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from runwire_server.testing import postgres_database
from tests.helpers import HEADERS, create_workflow, make_app, make_settings, wait_for_run

BASE = "/api/v1/workflows/"


@pytest.fixture
def pg_client(tmp_path: Path, plugins: Plugins) -> Iterator[TestClient[Any]]:
    with (
        postgres_database() as url,
        TestClient(make_app(make_settings(tmp_path, database_url=url), plugins)) as c,
    ):
        yield c


def test_runs_and_history_on_postgresql(pg_client: TestClient[Any]) -> None:
    workflow_id = create_workflow(pg_client)
    run_ids = []
    for name in ("Ann", "nul\x00byte", "ünï ✓"):
        reply = pg_client.post(
            f"{BASE}{workflow_id}/run/", json={"name": name, "age": 30}, headers=HEADERS
        ).json()
        assert reply["status"] == 201, reply
        run_ids.append(reply["data"]["id"])
    results = [wait_for_run(pg_client, run_id, HEADERS) for run_id in run_ids]
    assert [r["data"]["adult"]["result"]["content"] for r in results] == [
        "Welcome, Ann!",
        "Welcome, nul\x00byte!",
        "Welcome, ünï ✓!",
    ]
    history = pg_client.get(
        f"{BASE}{workflow_id}/history/", params={"ordering": "created_at"}, headers=HEADERS
    )
    assert [r["id"] for r in history.json()["results"]] == run_ids


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", f"{BASE}2147483648/", None, 404),
        ("GET", f"{BASE}?project=2147483648", None, 400),
        ("GET", f"{BASE}?title=a%00b", None, 400),
        ("GET", f"{BASE}?title=%25_%5C", None, 200),
        ("POST", BASE, {"project": 1, "title": "a\x00b", "data": {}}, 400),
        ("POST", BASE, {"project": 2147483648, "title": "x", "data": {}}, 400),
        ("POST", BASE, {"project": 1, "title": "x", "data": {"k": "v\x00"}}, 201),
    ],
)
def test_postgresql_edge_values_get_4xx_not_500(
    pg_client: TestClient[Any], method: str, url: str, body: Any, status: int
) -> None:
    response = pg_client.request(method, url, json=body, headers=HEADERS)
    assert response.status_code == status, response.text


def test_a_lost_database_answers_503_without_internals(tmp_path: Path, plugins: Plugins) -> None:
    import psycopg

    from runwire_server.testing import DEFAULT_POSTGRES_ADMIN_URL, POSTGRES_ADMIN_URL_ENV

    with (
        postgres_database() as url,
        TestClient(make_app(make_settings(tmp_path, database_url=url), plugins)) as c,
    ):
        workflow_id = create_workflow(c)
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(
            os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL), autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        response = c.get(f"{BASE}{workflow_id}/", headers=HEADERS)
        assert response.status_code == 503 and response.json() == {
            "detail": "the store is unavailable; try again later"
        }
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["store"].startswith("unreachable")
