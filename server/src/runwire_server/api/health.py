"""Liveness and readiness probes (public: no credentials needed)."""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

from typing import Any

from litestar import Response, get

from runwire_server.api.deps import ANY_HOST, PUBLIC, ServicesDep
from runwire_server.api.openapi import documented
from runwire_server.api.shapes import Liveness, Readiness
from runwire_server.queue.base import call_from_loop


@get(
    "/healthz",
    summary="Liveness: the process answers",
    include_in_schema=True,
    tags=["health"],
    opt={PUBLIC: True, ANY_HOST: True},
    operation_class=documented(replies={200: (Liveness, "the process answers")}),
)
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@get(
    "/readyz",
    summary="Readiness: store and broker reachable, a worker alive",
    tags=["health"],
    opt={PUBLIC: True, ANY_HOST: True},
    operation_class=documented(
        replies={200: (Readiness, "ready"), 503: (Readiness, "not ready: what failed")}
    ),
)
async def readyz(services: ServicesDep) -> Response[dict[str, Any]]:
    """200 when the store answers and the queue takes runs (the broker answers and a worker
    process heartbeated within ``RUNWIRE_PROCESS_TIMEOUT_S``, or the embedded queue runs), else
    503 naming what failed; the body counts the live workers and the runs ``in queue``."""
    checks: dict[str, str] = {}
    counts: dict[str, int | None] = {"runs_queued": None}
    if not services.embedded:
        counts["workers_alive"] = None
    try:
        await services.store.ping()
        checks["store"] = "ok"
        workers, counts["runs_queued"] = await services.store.queue_state(services.settings.process_timeout_s)
        if not services.embedded:
            counts["workers_alive"] = workers
    except Exception as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}"
    queue = "workers" if services.embedded else "broker"
    try:
        await call_from_loop(services.queue, services.queue.ping)
        checks[queue] = "ok"
    except Exception as exc:
        checks[queue] = "not running" if services.embedded else f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values()) and counts.get("workers_alive") != 0
    body = {"status": "ready" if ready else "not ready", **checks, **counts}
    return Response(body, status_code=200 if ready else 503)


ROUTES = [healthz, readyz]
