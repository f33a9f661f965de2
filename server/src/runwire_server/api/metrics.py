"""``GET /metrics``: this process's metrics in Prometheus's text format, and the HTTP middleware
that counts requests by route template and status (Litestar's ``PrometheusMiddleware``).

The counts are deployment-wide, so by default only a principal with access to every project (a
bootstrap key) may read them; ``RUNWIRE_METRICS_PUBLIC=true`` serves them without credentials,
``RUNWIRE_METRICS=false`` not at all (404). The route is left out of the OpenAPI document: it
is not JSON, and Prometheus, not an API client, reads it.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ControllerRouterHandler
from prometheus_client import CONTENT_TYPE_LATEST

from runwire.auth import Principal
from runwire_server.api.deps import PRINCIPAL_KEY, PUBLIC, ServicesDep
from runwire_server.api.errors import Forbidden
from runwire_server.metrics import PREFIX, exposition
from runwire_server.settings import Settings

METRICS_PATH = "/metrics"


async def every_project(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the caller (authenticated by the app's guard) has access to every project.

    :raises Forbidden: a key scoped to some projects (403).
    """
    principal: Principal | None = connection.scope["state"].get(PRINCIPAL_KEY)
    if principal is None or principal.projects is not None:
        raise Forbidden("the metrics are deployment-wide: they need a key with access to every project")


def metrics_routes(settings: Settings) -> list[ControllerRouterHandler]:
    """``GET /metrics`` as ``settings`` configure it (none when ``RUNWIRE_METRICS=false``)."""
    if not settings.metrics:
        return []
    public = settings.metrics_public

    @get(
        METRICS_PATH,
        include_in_schema=False,
        opt={PUBLIC: public},
        guards=[] if public else [every_project],
        sync_to_thread=True,  # a broker's queue count may take a round trip: never on the loop
    )
    def metrics(services: ServicesDep) -> Response[bytes]:
        """This process's metrics, in Prometheus's text format."""
        return Response(exposition(services.metrics), media_type=CONTENT_TYPE_LATEST)

    return [metrics]


def metrics_middleware(settings: Settings) -> list[DefineMiddleware]:
    """Litestar's Prometheus middleware: ``runwire_requests_total`` etc. by route template
    (``path``), method and status (none when ``RUNWIRE_METRICS=false``)."""
    if not settings.metrics:
        return []
    config = PrometheusConfig(app_name=PREFIX, prefix=PREFIX, group_path=True)
    return [config.middleware]
