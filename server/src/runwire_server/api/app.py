"""The Litestar app factory: routes, dependencies, error mapping, start-up and shutdown.

Adding a front door (another module's controllers or routers) is one line in
:func:`route_handlers`. Its handlers may declare ``services: Services`` and
``principal: Principal`` parameters (see :mod:`runwire_server.api.deps`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from runwire_server.api import health
from runwire_server.api.commit_barrier import CommitBarrier
from runwire_server.api.deps import DEPENDENCIES
from runwire_server.api.errors import EXCEPTION_HANDLERS
from runwire_server.api.openapi import document_errors
from runwire_server.api.rate_limit import RateLimiter
from runwire_server.api.runs import RunController
from runwire_server.api.workflows import WorkflowController
from runwire_server.frontdoors import ROUTES as FRONT_DOOR_ROUTES
from runwire_server.services import Services, build_services
from runwire_server.settings import Settings
from runwire_server.sweeper import StaleRunSweeper

log = logging.getLogger("runwire.server")


def route_handlers() -> list[ControllerRouterHandler]:
    """Every route of the server. A front door appends its controllers/routers here."""
    return [*health.ROUTES, WorkflowController, RunController, *FRONT_DOOR_ROUTES]


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
    """
    settings = settings or Settings()
    services = services or build_services(settings)

    sweeper = StaleRunSweeper(services.store, services.queue, settings.requeue_after_s)
    barrier = CommitBarrier(services.store)

    async def start(app: Litestar) -> None:
        if services.embedded:
            recovered = services.recover_unfinished_runs()
            if recovered:
                log.warning("re-enqueued %d run(s) left unfinished by a previous server", recovered)
            if services.store.is_local:
                barrier.start()
            await services.start_embedded()
        else:  # runs stored by a server that died before enqueueing them
            sweeper.start()

    async def stop(app: Litestar) -> None:
        sweeper.stop()
        await services.stop_embedded()
        services.close()

    from runwire_server import __version__

    app = Litestar(
        route_handlers=[*route_handlers(), *extra_route_handlers],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"services": services, "rate_limiter": RateLimiter.from_setting(settings.rate_limit)}),
        on_startup=[start],
        on_shutdown=[stop],
        middleware=[barrier.middleware] if services.embedded and services.store.is_local else [],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="runwire", version=__version__, path="/schema"),
        debug=False,
        on_app_init=[_quiet],
    )
    document_errors(app.openapi_schema)
    return app


def _quiet(config: AppConfig) -> AppConfig:
    # no per-request logging middleware: access logs belong to the ASGI server (off by default)
    config.logging_config = None
    return config


def app_factory() -> Any:
    """Entry for ASGI servers: ``uvicorn --factory runwire_server.api.app:app_factory``."""
    return create_app()
