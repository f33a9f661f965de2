"""``POST /api/v1/runs/{id}/cancel/``: end a queued run now, stop a running one (any front door).

How a running run is stopped, in this process or in the one executing it, and the races between
a cancel and a run's own end: :mod:`runwire_server.cancellation`.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

from typing import Any, Literal

from litestar import Controller, Response, post
from litestar.params import FromPath
from pydantic import Field

from runwire.auth import Principal
from runwire.records import TERMINAL, Status
from runwire_server.api.deps import PrincipalDep, ServicesDep
from runwire_server.api.errors import Conflict, NotFound
from runwire_server.api.openapi import documented
from runwire_server.api.run_views import visible_run
from runwire_server.api.shapes import Shape
from runwire_server.services import Services
from runwire_server.store import RunRow


class RunCancelled(Shape):
    """The reply of a cancel: a queued run has ended (200), a running one is stopping (202)."""

    id: str
    status: Literal["failed", "in progress"] = Field(
        description="failed: the run was queued and has ended; in progress: it stops within 2 s"
    )
    cancelled: Literal[True]
    cancelled_by: str = Field(description="the identity of who cancelled the run (the first, if several did)")


class CancelRefused(Shape):
    """409: the run has already finished (its status is in the detail)."""

    detail: str


def _finished(run: RunRow) -> Conflict:
    return Conflict(f"the run has already finished ({run.status})")


class RunCancelController(Controller):
    """Cancel a run."""

    path = "/api/v1/runs"
    tags = ["runs"]

    @post(
        "/{run_id:str}/cancel/",
        status_code=200,
        summary="Cancel a run",
        operation_class=documented(
            replies={
                200: (RunCancelled, "the run was queued: it has ended, failed"),
                202: (RunCancelled, "the run is running: it is being stopped (within 2 s)"),
                409: (CancelRefused, "the run has already finished"),
            }
        ),
    )
    async def cancel(
        self, services: ServicesDep, principal: PrincipalDep, run_id: FromPath[str]
    ) -> Response[dict[str, Any]]:
        """Cancel run ``run_id`` (any front door's) as the caller.

        A queued run ends at once (200, ``failed`` with the error ``cancelled by <identity>``);
        a running run's nodes are cancelled and their process groups killed (202, also for a
        run this server executes that shows ``in queue`` as it has written no progress yet; it ends
        ``failed`` with that error within 2 s, in whichever process executes it). A finished
        run: 409. A run the caller may not see: 404.
        """
        body, status = await cancel_run(services, principal, run_id)
        return Response(body, status_code=status)


async def cancel_run(services: Services, principal: Principal, run_id: str) -> tuple[dict[str, Any], int]:
    """Cancel run ``run_id`` as ``principal``: the API's reply body and status (200: it was queued
    and has ended; 202: it is running and stops within 2 s). The UI's cancel button calls it too.

    :raises NotFound: the run is not ``principal``'s to see.
    :raises Conflict: it has already finished.
    """
    run = await visible_run(services, principal, run_id)
    canonical = run.id
    if run.status in TERMINAL:
        raise _finished(run)
    # a run executing here may still show ``in queue`` (embedded: no progress written yet): it
    # is stopped like a running one, and its executor records (and counts) how it ended
    executing = services.executor.cancellations.executing(canonical)
    cancelled = await services.store.cancel_run(canonical, principal.identity, end_queued=not executing)
    if cancelled is None:  # it finished meanwhile (or was deleted with its workflow)
        now = await services.store.get_run(canonical)
        if now is None:
            raise NotFound("run not found")
        raise _finished(now)
    by = cancelled.cancelled_by or principal.identity
    # executing here: stop it now (else the process executing it finds it within 0.5 s); a
    # queued run that was handed to this process's executor must not start either
    executing = services.executor.cancellations.cancel(canonical, by)
    ended = cancelled.status == Status.FAILED
    if ended and not executing:  # else it started meanwhile: its executor counts it
        await services.metrics.run_cancelled_queued(services.store, run)
    status = Status.IN_PROGRESS if executing and cancelled.status == Status.IN_QUEUE else cancelled.status
    body = {"id": canonical, "status": status, "cancelled": True, "cancelled_by": by}
    return body, (200 if ended else 202)
