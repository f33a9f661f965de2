"""Starting a queued run from a request handler: store it, then enqueue it (every door)."""

from __future__ import annotations

import logging
from typing import Any

from runwire.records import Status
from runwire_server.api.errors import ServiceUnavailable
from runwire_server.queue import LoopQueue
from runwire_server.services import Services
from runwire_server.store import WorkflowHead, WorkflowRow

log = logging.getLogger("runwire.server")
QUEUE_FULL_RETRY_AFTER_S = 1
"""What a refused submit is told to wait: runs take milliseconds to seconds, the queue drains fast."""


async def store_and_enqueue(
    services: Services,
    run_id: str,
    workflow: WorkflowRow | WorkflowHead,
    run_input: Any,
    owner: str | None = None,
) -> None:
    """Store a new run of ``workflow`` ``in queue``, then enqueue it; if the broker is down, fail
    the run and answer 503.

    The caller is told to try again, so the run must neither wait ``in queue`` forever nor be
    executed later by a sweep (the retry would run it twice). A front door passes the ``owner``
    (the caller's identity): only it may see the run.
    """
    queue = services.queue
    if queue.full():
        raise ServiceUnavailable(
            f"too many runs are waiting (RUNWIRE_QUEUE_MAX={services.settings.queue_max}); try again later",
            headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER_S)},
        )
    # embedded: the run is stored already claimed and handed over as stored (no claim write, no read)
    claimant = queue.claimant() if isinstance(queue, LoopQueue) else None
    stored = await services.store.create_run(run_id, workflow, run_input, claimed_by=claimant, owner=owner)
    try:
        if isinstance(queue, LoopQueue) and claimant is not None:
            queue.enqueue_stored(run_id, claimant, stored)
        else:
            queue.enqueue(run_id)
    except Exception as exc:
        log.error("could not enqueue run %s: %s", run_id, exc)
        error = f"could not enqueue the run: {type(exc).__name__}"
        await services.store.save_run(run_id, Status.FAILED, {}, 0.0, error)
        raise ServiceUnavailable("the run queue is unreachable; try again later") from None
    services.metrics.run_started(workflow)
