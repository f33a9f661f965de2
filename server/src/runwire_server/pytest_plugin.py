"""runwire-server's pytest plugin (entry point ``pytest11``: ``runwire-server``): the server
half of runwire's plugin test kit (the core half is :mod:`runwire.testing`).

Functions, usable in any test:

- :func:`server_plugins` — plugins as the server loads them (its front doors, core's
  built-ins), plus the given modules, without the other installed plugins;
- :func:`app_client` — an in-process client of the whole server (no port) for settings and
  plugins;
- :func:`compile_task` / :func:`call_task` — compile a config.json task and run it for a request.

Fixtures: ``runwire_client`` (a client factory, closed after the test) and ``runwire_serve``
(a live ``runwire serve`` subprocess factory, stopped after the test; see
:mod:`runwire_server.testing` for the process helpers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.binders import RequestParts
from runwire.engine import Engine
from runwire.plugins import Plugins
from runwire.records import RunRecord
from runwire.testing import plugins_from
from runwire_server import hookspecs
from runwire_server.frontdoors.taskconfig import CompiledTask, compile_task_config, parse_task_config
from runwire_server.testing import RunningServer, running_server

__all__ = ["app_client", "call_task", "compile_task", "server_plugins"]

#: The server's own front doors, registered by :func:`server_plugins` as their entry points do.
FRONT_DOORS = {
    "task-door": "runwire_server.frontdoors.task_door",
    "execute-door": "runwire_server.frontdoors.execute_door",
}


def server_plugins(*plugins: Any, named: Mapping[str, Any] | None = None) -> Plugins:
    """Core's built-ins, the server's front doors and the given plugins (see
    :func:`runwire.testing.plugins_from`), with the server's hookspecs: no installed plugin
    is loaded."""
    made = plugins_from(*plugins, named={**FRONT_DOORS, **(named or {})})
    made.pm.add_hookspecs(hookspecs)
    made.pm.check_pending()
    return made


@contextmanager
def app_client(
    data_dir: str | Path,
    plugins: Plugins | None = None,
    **settings: Any,
) -> Iterator[TestClient[Any]]:
    """A Litestar test client of the whole server, started and stopped around the block.

    :param data_dir: the server's data dir (its SQLite store), e.g. pytest's ``tmp_path``.
    :param plugins: the plugins (default :func:`server_plugins` with none added).
    :param settings: :class:`~runwire_server.settings.Settings` fields over the defaults here:
        an embedded store and queue, ``auth_providers="none"`` (no credentials needed; pass
        ``auth_providers="api-key", api_keys="k"`` to test with a key).
    """
    from runwire_server.api.app import create_app
    from runwire_server.services import build_services
    from runwire_server.settings import Settings

    values: dict[str, Any] = {
        "data_dir": Path(data_dir),
        "database_url": "",
        "broker_url": "",
        "auth_providers": "none",
        "api_keys": "",
    }
    made = Settings(**{**values, **settings})
    services = build_services(made, plugins or server_plugins())
    with TestClient(create_app(made, services=services)) as client:
        yield client


def compile_task(config: Mapping[str, Any], plugins: Plugins) -> CompiledTask:
    """Validate and compile a config.json ``config`` as the task front door does at start-up.

    :raises runwire.errors.ConfigInvalid: the config is invalid (the message names the key).
    """
    return compile_task_config(parse_task_config(dict(config)), plugins)


async def call_task(
    task: CompiledTask,
    request: RequestParts | None = None,
    *,
    engine: Engine | None = None,
) -> RunRecord:
    """Bind ``request`` with the task's binders and run its workflow; return the run record.

    :raises runwire.errors.BindingError: a binder refused the request (the door answers 4xx).
    """
    run_input = task.bind(request or RequestParts())
    return await (engine or Engine()).execute(task.prepared, run_input)


MakeClient = Callable[..., TestClient[Any]]
Serve = Callable[..., RunningServer]


@pytest.fixture
def runwire_client(tmp_path: Path) -> Iterator[MakeClient]:
    """``runwire_client(plugins=None, **settings)``: an in-process client (see :func:`app_client`),
    each with its own data dir under ``tmp_path``; closed after the test."""
    made = 0
    with ExitStack() as stack:

        def make(plugins: Plugins | None = None, **settings: Any) -> TestClient[Any]:
            nonlocal made
            made += 1
            return stack.enter_context(app_client(tmp_path / f"runwire-data-{made}", plugins, **settings))

        yield make


@pytest.fixture
def runwire_serve() -> Iterator[Serve]:
    """``runwire_serve(env=None, args=())``: a live ``runwire serve`` on a free port, with the
    installed plugins; ``.url`` is its base URL. Stopped after the test.

    ``env`` holds ``RUNWIRE_*`` settings (none are inherited from the test's environment); by
    default ``RUNWIRE_AUTH_PROVIDERS=none``.
    """
    with ExitStack() as stack:

        def serve(env: Mapping[str, str] | None = None, args: Sequence[str] = ()) -> RunningServer:
            full = {"RUNWIRE_AUTH_PROVIDERS": "none", **(env or {})}
            return stack.enter_context(running_server(env=full, args=args))

        yield serve
