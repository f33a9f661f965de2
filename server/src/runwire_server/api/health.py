"""Liveness and readiness probes (public: no credentials needed)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from runwire_server.api.deps import PUBLIC, ServicesDep
from runwire_server.api.openapi import documented
from runwire_server.api.shapes import Liveness, Readiness


@get(
    "/healthz",
    summary="Liveness: the process answers",
    include_in_schema=True,
    tags=["health"],
    opt={PUBLIC: True},
    operation_class=documented(replies={200: (Liveness, "the process answers")}),
)
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@get(
    "/readyz",
    summary="Readiness: store and broker reachable",
    tags=["health"],
    opt={PUBLIC: True},
    operation_class=documented(
        replies={200: (Readiness, "ready"), 503: (Readiness, "not ready: what failed")}
    ),
)
async def readyz(services: ServicesDep) -> Response[dict[str, Any]]:
    """200 when the store answers and the queue takes runs (the broker answers, or the embedded
    queue runs), else 503 naming what failed."""
    checks: dict[str, str] = {}
    try:
        await services.store.ping()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}"
    queue = "workers" if services.embedded else "broker"
    try:
        services.queue.ping()
        checks[queue] = "ok"
    except Exception as exc:
        checks[queue] = "not running" if services.embedded else f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return Response(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )


ROUTES = [healthz, readyz]
