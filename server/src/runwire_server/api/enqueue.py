"""Handing a stored run to the queue from a request handler (every door that starts runs)."""

from __future__ import annotations

import logging

from runwire.records import FAILED
from runwire_server.api.errors import ServiceUnavailable
from runwire_server.services import Services

log = logging.getLogger("runwire.server")


async def enqueue_or_fail(services: Services, run_id: str) -> None:
    """Enqueue a stored run; if the broker is down, fail the run and answer 503.

    The caller is told to try again, so the run must neither wait ``in queue`` forever nor be
    executed later by a sweep (the retry would run it twice).
    """
    try:
        services.queue.enqueue(run_id)
    except Exception as exc:
        log.error("could not enqueue run %s: %s", run_id, exc)
        error = f"could not enqueue the run: {type(exc).__name__}"
        await services.db(services.store.save_run, run_id, FAILED, {}, 0.0, error)
        raise ServiceUnavailable("the run queue is unreachable; try again later") from None
