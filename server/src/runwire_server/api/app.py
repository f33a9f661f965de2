"""The Litestar app factory: routes, dependencies, authentication, error mapping, start-up and shutdown.

Front doors are plugins of the server's hooks (:mod:`runwire_server.hookspecs`): their routes,
start-up state (as named dependencies) and error statuses are collected here, through the same
plugin manager as everything else. Every route is behind the app's authentication
(:func:`runwire_server.api.deps.authentication`) unless marked ``opt={"public": True}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
)
from litestar.routes import base as litestar_routes
from litestar.types import ControllerRouterHandler

from runwire.errors import PluginConflict
from runwire_server.api import health
from runwire_server.api.bodies import ascii_int
from runwire_server.api.commit_barrier import CommitBarrier
from runwire_server.api.deps import ANY_HOST, DEPENDENCIES, PUBLIC, authentication
from runwire_server.api.errors import exception_handlers
from runwire_server.api.metrics import metrics_middleware, metrics_routes
from runwire_server.api.openapi import finish_when_built
from runwire_server.api.rate_limit import RateLimiter
from runwire_server.api.routers import MountedOnce
from runwire_server.api.run_cancel import RunCancelController
from runwire_server.api.run_events import ROUTES as RUN_EVENT_ROUTES
from runwire_server.api.run_views import RunViewController
from runwire_server.api.runs import RunController
from runwire_server.api.workflows import WorkflowController
from runwire_server.extensions import ServerHooks
from runwire_server.openfiles import connection_cap, long_request_cap, open_file_limit
from runwire_server.services import Services, build_services
from runwire_server.settings import Settings
from runwire_server.ui import TEMPLATES, root, ui_router
from runwire_server.ui.session import SESSION_STORE, session_store

log = logging.getLogger("runwire.server")
STORE_CHECK_S = 1.0
"""Distributed mode: how often waiting long-polls also ask the store which of their runs ended."""


def documentation_pages() -> list[OpenAPIRenderPlugin]:
    """The pages under ``/schema`` that docs/server.md names: ``/schema`` itself (ReDoc, the
    first), ``/schema/redoc``, ``/schema/swagger``, ``/schema/elements``, ``/schema/openapi.json``.

    Litestar's default adds RapiDoc and YAML pages too, routes registered at every start.
    """
    return [RedocRenderPlugin(), SwaggerRenderPlugin(), StoplightRenderPlugin(), JsonRenderPlugin()]


def route_handlers() -> list[ControllerRouterHandler]:
    """The server's own routes (front doors add theirs through ``register_routes``)."""
    return [
        *health.ROUTES,
        WorkflowController,
        RunController,
        RunViewController,
        RunCancelController,
        *RUN_EVENT_ROUTES,
    ]


def plugin_dependencies(hooks: ServerHooks, services: Services) -> dict[str, Provide]:
    """The plugins' start-up state, each object provided to handlers under its name."""
    provided: dict[str, Provide] = {}
    for name, value in hooks.dependencies(services).items():
        if name in DEPENDENCIES:
            raise PluginConflict(
                f"route dependency {name!r} is the server's own; a plugin may not provide it"
            )
        provided[name] = Provide(_constant(value), use_cache=True, sync_to_thread=False)
    return provided


def _constant(value: Any) -> Any:
    def provide() -> Any:
        return value

    return provide


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the API for ``settings`` (from the environment by default).

    Services (plugins, store, broker, auth) are built here, so configuration errors surface
    before the server listens. In embedded mode, runs execute on the app's event loop from
    start-up to shutdown.

    The app owns its services, given or built: its shutdown closes them, and so does a failure
    to build it (e.g. an invalid task config), which leaves no app to shut down (their
    run-directory root, store connections and broker would otherwise be left behind).
    """
    settings = settings or Settings()
    services = services or build_services(settings)
    try:
        return _build_app(settings, services, extra_route_handlers)
    except BaseException:
        services.close()
        raise


def _build_app(
    settings: Settings, services: Services, extra_route_handlers: Sequence[ControllerRouterHandler]
) -> Litestar:
    connections = connection_cap(settings.max_connections, open_file_limit(), settings.max_processes)
    services.long_requests.total = long_request_cap(settings.max_long_requests, connections)
    hooks = ServerHooks(services.plugins)

    barrier = CommitBarrier(services.store.sync)
    watch: list[asyncio.Task[None]] = []
    listening: list[Callable[[], None]] = []

    async def start(app: Litestar) -> None:
        # the lease first: no run is claimed (or recovered) by a process without one (blocking
        # calls, made once before the server listens)
        services.start_reconciler("serve")
        if services.embedded:
            recovered = await services.recover_unfinished_runs()
            if recovered:
                log.warning("re-enqueued %d run(s) left unfinished by a dead process", recovered)
            if services.store.defers_commits:
                barrier.start()
            await services.start_embedded()
        else:  # runs end in worker processes, which announce it on the broker
            stop_listening = services.queue.listen_ended(services.endings.ended)
            if stop_listening is not None:
                listening.append(stop_listening)
            # a safety net for announcements lost while the listener reconnected
            ended = services.endings.watch_store(services.store.ended_runs, STORE_CHECK_S)
            watch.append(asyncio.create_task(ended))

    async def stop(app: Litestar) -> None:
        services.endings.stop_waiting()
        for task in watch:
            task.cancel()
        for stop_listening in listening:
            stop_listening()
        await services.stop_embedded()
        services.close()

    from runwire_server import __version__

    # integer path parameters are ASCII ids: set before the routes are parsed (process-wide:
    # Litestar keeps its parsers in one table; runwire is the process's only app)
    litestar_routes.parsers_map[int] = ascii_int
    app = Litestar(
        route_handlers=[
            *route_handlers(),
            *metrics_routes(settings),
            root,
            ui_router(settings),
            *hooks.routes(),
            *extra_route_handlers,
        ],
        dependencies={**DEPENDENCIES, **plugin_dependencies(hooks, services)},
        exception_handlers=exception_handlers(hooks.error_statuses()),
        state=State({"services": services, "rate_limiter": RateLimiter.from_setting(settings.rate_limit)}),
        stores={SESSION_STORE: session_store(settings)},
        on_startup=[start],
        on_shutdown=[stop],
        middleware=[
            *metrics_middleware(settings),
            *([barrier.middleware] if services.embedded and services.store.defers_commits else []),
            authentication,  # innermost of the app's: metrics count 401s, replies wait for commits
        ],
        allowed_hosts=allowed_hosts(settings),
        request_max_body_size=settings.max_body_bytes,
        template_config=TEMPLATES,
        openapi_config=OpenAPIConfig(
            title="runwire",
            version=__version__,
            openapi_router=MountedOnce(
                "/schema", route_handlers=[], opt={PUBLIC: True}, include_in_schema=False
            ),
            render_plugins=documentation_pages(),
        ),
        debug=False,
        on_app_init=[_quiet],
    )
    finish_when_built(app)
    return app


def allowed_hosts(settings: Settings) -> AllowedHostsConfig | None:
    """Litestar's allowed-hosts check for ``RUNWIRE_ALLOWED_HOSTS`` (``None`` for ``*``: no check).

    Another ``Host`` gets Litestar's 400, except on the routes marked ``opt={ANY_HOST: True}``
    (``/healthz``, ``/readyz``, ``/metrics``: probes and scrapers ask by address). No redirect
    to a ``www.`` name: a request is answered or refused.
    """
    hosts = settings.allowed_host_list
    if hosts is None:
        return None
    return AllowedHostsConfig(allowed_hosts=hosts, exclude_opt_key=ANY_HOST, www_redirect=False)


def _quiet(config: AppConfig) -> AppConfig:
    # no per-request logging middleware: access logs belong to the ASGI server (off by default)
    config.logging_config = None
    return config


def app_factory() -> Any:
    """Entry for ASGI servers: ``uvicorn --factory runwire_server.api.app:app_factory``."""
    return create_app()
