"""Starting a queued run from a request handler: store it, then enqueue it (every door)."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from runwire.auth import Principal
from runwire.inputs import apply_input_fields
from runwire.records import Status
from runwire_server.api.bodies import check_id
from runwire_server.api.errors import NotFound, ServiceUnavailable
from runwire_server.api.workflows import refuse_managed
from runwire_server.queue import LoopQueue
from runwire_server.queue.base import call_from_loop
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
    if await call_from_loop(queue, queue.full):
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
            await call_from_loop(queue, functools.partial(queue.enqueue, run_id))
    except Exception as exc:
        log.error("could not enqueue run %s: %s", run_id, exc)
        error = f"could not enqueue the run: {type(exc).__name__}"
        await services.store.save_run(run_id, Status.FAILED, {}, 0.0, error)
        raise ServiceUnavailable("the run queue is unreachable; try again later") from None
    services.metrics.run_started(workflow)


async def runnable_head(services: Services, principal: Principal, workflow_id: int) -> WorkflowHead:
    """The workflow ``principal`` asks to run through the workflow API (``/run/``, the UI's run
    form): 404 unless it exists and is the caller's to see, 403 if a front door owns it."""
    check_id(workflow_id, "workflow")
    head = await services.store.get_workflow_head(workflow_id)
    if head is None or not principal.may_access(head.project):
        raise NotFound("workflow not found")
    refuse_managed(services, head.project, head.title)
    return head


async def start_run(services: Services, head: WorkflowHead, run_input: Any, run_id: str | None = None) -> str:
    """Check ``run_input`` against the workflow's trigger fields, then store and enqueue a run of it
    (with the id ``run_id``, or a new one); return the run's id.

    :raises runwire.errors.WorkflowInvalid: the workflow has structural errors (nothing started).
    :raises runwire.errors.InputInvalid: the trigger refuses the input (nothing started).
    """
    prepared = await services.cache.load_async(services.store, head.id, head.version)
    if prepared is None:
        raise NotFound("workflow not found")
    apply_input_fields(prepared.input_fields, run_input)
    run_id = run_id or str(uuid.uuid4())
    await store_and_enqueue(services, run_id, head, run_input)
    return run_id
