"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from runwire_server.api.deps import ServicesDep


@get("/healthz", summary="Liveness: the process answers", include_in_schema=True, tags=["health"])
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@get("/readyz", summary="Readiness: store and broker reachable", tags=["health"])
async def readyz(services: ServicesDep) -> Response[dict[str, Any]]:
    """200 when the store and the broker answer (and embedded workers run), else 503 naming what failed."""
    checks: dict[str, str] = {}
    try:
        await services.db(services.store.ping)
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}"
    try:
        services.queue.ping()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    if services.embedded:
        checks["workers"] = "ok" if services.worker is not None else "not running"
    ready = all(v == "ok" for v in checks.values())
    return Response(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )


ROUTES = [healthz, readyz]
