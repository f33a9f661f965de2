"""runwire_server.pytest_plugin, the server half of the plugin test kit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

import runwire_subprocess
from runwire.binders import RequestParts
from runwire.errors import ConfigInvalid
from runwire_server.pytest_plugin import (
    MakeClient,
    Serve,
    app_client,
    call_task,
    compile_task,
    server_plugins,
)
from tests.helpers import echo_task


def test_server_plugins_hold_the_front_doors_and_the_given_modules_only() -> None:
    plugins = server_plugins(named={"subprocess": runwire_subprocess})
    names = {name for name, _ in plugins.pm.list_name_plugin()}
    assert {"task-door", "execute-door", "subprocess"} <= names
    assert "http" not in names and "llm_openai" not in names


async def test_a_config_task_compiles_and_runs() -> None:
    plugins = server_plugins(runwire_subprocess)
    task = compile_task(echo_task(), plugins)
    record = await call_task(task, RequestParts(query=[("who", "ann")]))
    assert record.status == "succeed", record
    with pytest.raises(ConfigInvalid, match="query_args"):
        compile_task({**echo_task(), "inputs": {"query_args": [{"query_var_name": "x"}]}}, plugins)


def test_the_in_process_client_is_a_whole_server(runwire_client: MakeClient, tmp_path: Path) -> None:
    client = runwire_client(server_plugins(runwire_subprocess))
    names = {n["name"] for n in client.get("/api/v1/workflows/get_nodes/").json()}
    assert "Run Script" in names and "HTTP Request" not in names
    keyed = runwire_client(auth_providers="api-key", api_keys="k1")
    assert keyed.get("/api/v1/workflows/get_nodes/").status_code == 401
    assert keyed.get("/api/v1/workflows/get_nodes/", headers={"X-Api-Key": "k1"}).status_code == 200
    with app_client(tmp_path / "direct") as direct:
        assert direct.get("/healthz").status_code == 200


def test_the_live_server_fixture(runwire_serve: Serve) -> None:
    server = runwire_serve()
    reply: Any = httpx.get(f"{server.url}/api/v1/workflows/get_nodes/", timeout=10).json()
    assert any(n["name"] == "HTTP Request" for n in reply)
