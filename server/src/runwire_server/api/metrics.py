"""``GET /metrics``: this process's metrics in Prometheus's text format, and the HTTP middleware
that counts requests by route template and status (Litestar's ``PrometheusMiddleware``, with its
label lookups cached: :class:`RequestMetrics`).

The counts are deployment-wide, so by default only a principal with access to every project (a
bootstrap key) may read them; ``RUNWIRE_METRICS_PUBLIC=true`` serves them without credentials,
``RUNWIRE_METRICS=false`` not at all (404). The route is left out of the OpenAPI document: it
is not JSON, and Prometheus, not an API client, reads it.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

import time
from typing import Any

from litestar import Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import ASGIApp, ControllerRouterHandler, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST

from runwire.auth import Principal
from runwire_server.api.deps import ANY_HOST, PRINCIPAL_KEY, PUBLIC, ServicesDep
from runwire_server.api.errors import Forbidden
from runwire_server.metrics import PREFIX, exposition
from runwire_server.settings import Settings

METRICS_PATH = "/metrics"


async def every_project(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the caller (authenticated by the app's authentication) has access to every project.

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
        opt={PUBLIC: public, ANY_HOST: True},
        guards=[] if public else [every_project],
        sync_to_thread=True,  # a broker's queue count may take a round trip: never on the loop
    )
    def metrics(services: ServicesDep) -> Response[bytes]:
        """This process's metrics, in Prometheus's text format."""
        return Response(exposition(services.metrics), media_type=CONTENT_TYPE_LATEST)

    return [metrics]


class RequestMetrics(PrometheusMiddleware):
    """Litestar's Prometheus middleware, with the same metrics, names, labels and values, each
    label set's children looked up once instead of on every request.

    The library's ``__call__`` builds a ``Request`` and calls ``.labels(...)`` four times per
    request (each takes a lock and builds a key): more server CPU than all the rest of the
    middleware. This ``__call__`` reads method and route template from the scope and keeps the
    children per label set; the metric objects are the library's own (``request_count`` etc.).
    It serves the configuration :func:`metrics_middleware` makes (no extra labels, exemplars
    or excluded methods: those would take the library's path).
    """

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._app_name = config.app_name
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._errors: dict[tuple[str, str, int], Any] = {}
        self._in_progress: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request by method, route template and status; time it to its last body."""
        method = scope["method"] if scope["type"] == "http" else scope["type"]  # type: ignore[typeddict-item]
        path: str = scope["path_template"]  # type: ignore[typeddict-item]
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            labels = self._labels(method, path, 200)
            in_progress = self._in_progress[(method, path)] = self.requests_in_progress(labels).labels(
                *labels.values()
            )
        started, span = time.perf_counter(), [200, 0.0]

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                span[0] = message["status"]
            elif message["type"] == "http.response.body":
                span[1] = time.perf_counter() - started
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            key = (method, path, int(span[0]))
            children = self._children.get(key)
            if children is None:
                labels = self._labels(*key)
                values = list(labels.values())
                children = self._children[key] = (
                    self.request_count(labels).labels(*values),
                    self.request_time(labels).labels(*values),
                )
            if key[2] >= 500:  # a series only for statuses that had errors, as the library does
                errors = self._errors.get(key)
                if errors is None:
                    labels = self._labels(*key)
                    errors = self._errors[key] = self.requests_error_count(labels).labels(*labels.values())
                errors.inc()
            children[0].inc()
            children[1].observe(span[1])

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        # the library's label names, in its order: they name the metrics' label columns
        return {"method": method, "path": path, "status_code": status, "app_name": self._app_name}


def metrics_middleware(settings: Settings) -> list[DefineMiddleware]:
    """The Prometheus middleware (:class:`RequestMetrics`): ``runwire_requests_total`` etc. by
    route template (``path``), method and status (none when ``RUNWIRE_METRICS=false``)."""
    if not settings.metrics:
        return []
    config = PrometheusConfig(
        app_name=PREFIX, prefix=PREFIX, group_path=True, middleware_class=RequestMetrics
    )
    return [config.middleware]
