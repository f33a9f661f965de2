"""The server's hooks: the front doors arrive through them, every route is authenticated unless
named public, and two plugins claiming one name is a conflict naming both."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from litestar import get
from litestar.params import FromPath
from litestar.testing import TestClient

import runwire
from runwire.errors import PluginConflict
from runwire.nodes import NodeContext, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager
from runwire_server import hookspecs
from runwire_server.api.app import create_app
from runwire_server.api.deps import is_public
from runwire_server.extensions import ServerHooks
from runwire_server.services import build_services
from runwire_server.settings import Settings
from tests.helpers import HEADERS, MakeClient

PUBLIC_PATHS = {"/healthz", "/readyz", "/api/v1/workflows/execution-update/{run_id:str}"}


def test_the_front_doors_are_plugins_of_the_entry_point_group() -> None:
    pm = get_plugin_manager(host_specs=[hookspecs])
    assert {"task-door", "execute-door"} <= {name for name, _ in pm.list_name_plugin()}
    assert pm.runwire_distributions["task-door"] == "runwire-server"  # type: ignore[attr-defined]
    hooks = ServerHooks(Plugins(pm))
    paths = {path for handler in hooks.routes() for path in handler.paths}  # type: ignore[union-attr]
    assert {"/task", "/script", "/api/execute", "/api/version"} <= paths
    assert hooks.managed()(0, "runwire front door: LSO execute")
    assert hooks.doors()[(0, "runwire front door: LSO execute")] == "execute"
    assert not hooks.managed()(1, "runwire front door: LSO execute")


def test_only_the_named_routes_are_public(make_client: MakeClient) -> None:
    client = make_client()
    public = {
        route.path
        for route in client.app.routes
        for handler in getattr(route, "route_handlers", [])
        if is_public(handler) and "OPTIONS" not in handler.http_methods
    }
    # the web UI's routes pass the header guard: its session is their credential (each page is
    # in the auth matrix, tests/trust/test_auth_matrix.py); every other public route is named
    ui = {p for p in public if p == "/" or p == "/ui" or p.startswith("/ui/")}
    assert {p for p in public if not p.startswith("/schema")} - ui == PUBLIC_PATHS
    assert client.get("/ui/runs", follow_redirects=False).status_code in (200, 303)
    assert "sign in" in client.get("/ui/runs").text.lower()
    assert client.get("/schema/openapi.json").status_code == 200
    assert client.get("/task/x").status_code == 401
    assert client.get("/task/x", headers=HEADERS).status_code == 404


def test_the_automatic_options_answer_needs_no_credentials(make_client: MakeClient) -> None:
    reply = make_client().options("/api/v1/workflows/")
    assert reply.status_code == 204
    assert "POST" in reply.headers["allow"]


class Clashing:
    """A plugin whose dependency name and error type collide with the execute door's."""

    @hookspecs.hookimpl
    def register_dependencies(self, services: Any) -> dict[str, Any]:
        return {"execute_door": object()}

    @hookspecs.hookimpl
    def register_error_statuses(self) -> dict[type[Exception], int]:
        from runwire.executables import ExecutableNotFound

        return {ExecutableNotFound: 404}


def test_two_plugins_claiming_one_name_conflict_naming_both(tmp_path: Path) -> None:
    pm = get_plugin_manager()
    pm.register(Clashing(), name="clashing")
    try:
        hooks = ServerHooks(Plugins(pm))
        with pytest.raises(
            PluginConflict, match=r"'execute-door' and 'clashing'|'clashing' and 'execute-door'"
        ):
            hooks.error_statuses()
        settings = Settings(data_dir=tmp_path, api_keys="k", auth_providers="api-key")
        with pytest.raises(PluginConflict, match="route dependency 'execute_door'"):
            create_app(settings, services=build_services(settings, Plugins(pm)))
    finally:
        pm.unregister(name="clashing")


def test_a_misspelt_server_hook_leaves_the_plugin_out_named() -> None:
    class Misspelt:
        @hookspecs.hookimpl
        def register_route(self) -> list[Any]:
            return []

        @runwire.hookimpl
        def register_node_types(self) -> list[type[NodeType]]:
            return [Hello]

    pm = get_plugin_manager()
    pm.register(Misspelt(), name="misspelt")
    plugins = Plugins(pm)
    assert plugins.node_type("basic-node", "Hello") is not None
    hooks = ServerHooks(plugins)
    [error] = [e for e in plugins.load_errors if e.name == "misspelt"]
    assert "implements hook 'register_route', which no runwire hook spec declares" in str(error)
    assert "(did you mean 'register_routes'?)" in str(error)
    assert "RUNWIRE_BLOCKED_PLUGINS=misspelt" in str(error)
    assert not pm.has_plugin("misspelt")
    assert plugins.node_type("basic-node", "Hello") is None
    assert hooks.routes()  # the other plugins still load


def test_a_server_hook_that_raises_leaves_its_plugin_out() -> None:
    class Raising:
        @hookspecs.hookimpl
        def register_routes(self) -> list[Any]:
            raise RuntimeError("no routes today")

    pm = get_plugin_manager()
    pm.register(Raising(), name="raising")
    plugins = Plugins(pm)
    hooks = ServerHooks(plugins)
    paths = {path for handler in hooks.routes() for path in handler.paths}  # type: ignore[union-attr]
    assert "/task" in paths
    [error] = [e for e in plugins.load_errors if e.name == "raising"]
    assert "register_routes failed: RuntimeError: no routes today" in str(error)
    assert "no routes today" in error.traceback and not pm.has_plugin("raising")


class Hello(NodeType):
    type = "basic-node"
    name = "Hello"

    async def run(self, data: object, ctx: NodeContext) -> NodeOutput:
        return NodeOutput({"content": "hello"})


def test_a_core_only_manager_leaves_server_hooks_uncalled() -> None:
    """``runwire run`` and plugin tests build managers without the server's specs."""
    pm = get_plugin_manager()
    assert pm.has_plugin("task-door")
    assert not pm.hook.register_routes.has_spec()


def test_the_app_serves_plugin_routes(make_client: MakeClient) -> None:
    client: TestClient[Any] = make_client()
    assert client.get("/api/version", headers=HEADERS).json()["api"] == "2.0"
    assert client.get("/api/version").status_code == 401


class Failing:
    """A plugin whose route fails with an error the app does not know."""

    @hookspecs.hookimpl
    def register_routes(self) -> list[Any]:
        @get("/failing/{name:str}", sync_to_thread=False)
        def failing(name: FromPath[str]) -> None:
            raise RuntimeError("broken")

        return [failing]


def test_an_unhandled_error_is_logged_with_its_path_on_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A path is the caller's text: its newlines (percent-encoded) cannot start a log line."""
    pm = get_plugin_manager()
    pm.register(Failing(), name="failing")
    try:
        settings = Settings(data_dir=tmp_path, api_keys="k", auth_providers="api-key")
        app = create_app(settings, services=build_services(settings, Plugins(pm)))
        with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="runwire.server"):
            reply = client.get("/failing/x%0d%0aINFO%20forged%0aline", headers={"X-Api-Key": "k"})
    finally:
        pm.unregister(name="failing")
    assert reply.status_code == 500 and reply.json() == {"detail": "internal server error"}
    [record] = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert "\n" not in record.getMessage() and "\r" not in record.getMessage(), record.getMessage()
    assert "/failing/x\\r\\nINFO forged\\nline" in record.getMessage()
