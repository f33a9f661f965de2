"""A blocking ``/api/execute/`` (``is_async: false``): executed in the API process, recorded as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from runwire.records import NodeRecord, RunRecord, Status
from runwire_server.api.errors import InternalError
from runwire_server.executor import internal_error_text
from runwire_server.frontdoors.boot import ExecuteDoor
from runwire_server.interrupted import unsafe_nodes
from runwire_server.metrics import CANCELLED
from runwire_server.progress import StoreObserver, nodes_json, stopped_nodes, stopped_record
from runwire_server.services import Services

log = logging.getLogger(__name__)


async def run_inline(
    services: Services, door: ExecuteDoor, run_id: str, run_input: dict[str, Any], owner: str
) -> RunRecord:
    """Execute a blocking request here, by the same engine, recording it as it goes; return its record.

    The run is stored ``in progress`` before anything runs, its trigger already started, and
    each node's start is written before the node runs: its workflow says no node may run again
    after an interruption, so a run a crash left unfinished ends ``failed`` (interrupted) at the
    next start-up recovery instead of running the program again long after its caller gave up.
    A cancel stops it (:mod:`runwire_server.cancellation`): its caller gets the failed record.
    """
    row = await door.workflow(services.store, False, blocking=True)
    prepared = services.cache.prepare(row)  # the stored workflow is ours: valid
    started = {prepared.start_node: NodeRecord(id=prepared.start_node, status=Status.IN_PROGRESS).to_json()}
    await services.store.create_run(
        run_id,
        row,
        run_input,
        Status.IN_PROGRESS,
        started,
        claimed_by=f"{services.process_id}:inline",
        owner=owner,
    )
    executor = services.executor
    observer = StoreObserver(services.store, unsafe=unsafe_nodes(prepared, executor.rerun_policy))
    services.metrics.run_started(row)
    meter = services.metrics.meter(services.metrics.door(row))
    ticket = executor.cancellations.enter(run_id)
    try:
        async with asyncio.timeout(None) as stop:
            ticket.arm(stop, lambda: observer.run)
            metered = meter.observe(observer, prepared)
            return await executor.engine.execute(prepared, run_input, run_id=run_id, observer=metered)
    except TimeoutError:  # cancelled
        meter.status = CANCELLED
        await observer.settle()
        reason = ticket.reason or "stopped"
        record = stopped_record(observer.run, run_id, reason)
        await services.store.save_run(run_id, Status.FAILED, nodes_json(record), 0.0, reason, observer.events)
        return record
    except BaseException as exc:  # an internal error or a cancellation: end the stored run now
        if isinstance(exc, Exception):
            log.exception("run %s stopped by an internal error", run_id)
            error = internal_error_text(exc)
        else:  # the request's task was cancelled: the server is stopping
            error = f"stopped before it ended: the request executing it was stopped ({type(exc).__name__})"
        await observer.settle()
        with contextlib.suppress(Exception):
            await services.store.save_run(
                run_id, Status.FAILED, stopped_nodes(observer.run, error), 0.0, error, observer.events
            )
        if isinstance(exc, Exception):  # not "try again" (a store error's own answer): it ran
            raise InternalError(f"{error} (job {run_id})") from exc
        raise
    finally:
        meter.finish()
        executor.cancellations.leave(ticket)
