"""Live events of a run: ``GET /api/v1/runs/{id}/events/``, a Server-Sent Events stream.

The stream relays the run's event log (:mod:`runwire_server.events`) from the store: the
handler reads the run's row every :data:`POLL_INTERVAL_S` and sends what is new, so it works the
same whichever process executes the run (this one in embedded mode, a ``runwire worker`` in
distributed mode: the executor's progress writes are the publication, and no broker
connection is needed to follow a run). It ends with ``run_finished`` and closes; while nothing
happens it sends a ``: keep-alive`` comment every :data:`KEEPALIVE_S`. ``Last-Event-ID`` (or
``?last_event_id=``) resumes after that event.

A stream of a run that has not ended holds a place among the process's long-lived requests
(:mod:`runwire_server.long_requests`) until it closes: over the caller's or the process's cap it
is refused (429 / 503 with ``Retry-After``); a finished run's stream is sent at once and holds none.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from runwire.auth import Principal
from runwire.errors import AuthRefused
from runwire.records import TERMINAL
from runwire_server.api.deps import PrincipalDep, ServicesDep, header_dict, identify
from runwire_server.api.errors import BadRequest, NotAuthenticated
from runwire_server.api.openapi import documented
from runwire_server.api.params import Query
from runwire_server.api.run_views import RUNS, visible_run, workflow_labels
from runwire_server.events import EventReader, Labels
from runwire_server.long_requests import Release
from runwire_server.services import Services
from runwire_server.store import RunRow, Store

POLL_INTERVAL_S = 0.2
"""How often a stream reads its run's row while the run goes on."""
KEEPALIVE_S = 15.0
"""A stream with nothing to send sends a comment this often (proxies close idle connections)."""
RECHECK_S = 2.0
"""How often an open stream authenticates its caller's credential again: a revoked or expired
key (or token) stops getting events within this long."""
MAX_EVENT_ID_CHARS = 18
EVENTS_DOC = (
    "Server-Sent Events, each 'id: <n>', 'event: <kind>', 'data: <JSON>': node_started "
    '{"run","node","type","at"}, node_finished {... "duration_s","result"}, node_failed '
    '{... "duration_s","error"}, node_skipped {"run","node","type","at"}, and last run_finished '
    '{"run","status","error","cancelled","cancelled_by","at"}, after which the stream closes'
)


def resume_after(header: str | None, query: str | None) -> int:
    """The id of the last event the client has: the ``Last-Event-ID`` header, else the
    ``last_event_id`` query parameter, else 0 (an empty value is none, as the SSE spec says).

    :raises BadRequest: the value is not a non-negative integer.
    """
    value = (header if header is not None else query or "").strip()
    if not value:
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_EVENT_ID_CHARS:
        raise BadRequest("Last-Event-ID must be the id of an event: a non-negative integer")
    return int(value)


async def relay(
    store: Store,
    run: RunRow,
    after: int,
    labels: Labels,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
    release: Release | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The events of ``run`` after id ``after``, read from ``store`` until ``run_finished``
    (or until the run is deleted, or ``still_allowed``, asked every :data:`RECHECK_S`, says no:
    the stream then closes without it); ``release`` is called however it ends."""
    try:
        async for message in _relay(store, run, after, labels, still_allowed):
            yield message
    finally:
        if release is not None:
            release()


async def _relay(
    store: Store,
    run: RunRow,
    after: int,
    labels: Labels,
    still_allowed: Callable[[], Awaitable[bool]] | None,
) -> AsyncIterator[ServerSentEventMessage]:
    reader = EventReader(labels, after)
    quiet_since = checked = time.monotonic()
    while True:
        for event_id, kind, data in reader.read(run):
            yield ServerSentEventMessage(data=json.dumps(data), event=kind, id=event_id, sep="\n")
            quiet_since = time.monotonic()
        if reader.done:
            return
        await asyncio.sleep(POLL_INTERVAL_S)
        if time.monotonic() - quiet_since >= KEEPALIVE_S:
            yield ServerSentEventMessage(data=None, comment="keep-alive", sep="\n")
            quiet_since = time.monotonic()
        if still_allowed is not None and time.monotonic() - checked >= RECHECK_S:
            if not await still_allowed():
                return
            checked = time.monotonic()
        fresh = await store.get_run(run.id)
        if fresh is None:
            return
        run = fresh


@get(
    f"{RUNS}/{{run_id:str}}/events/",
    summary="A run's live events (Server-Sent Events)",
    tags=["runs"],
    operation_class=documented(replies={200: (str, EVENTS_DOC)}, reply_media="text/event-stream"),
)
async def run_events(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    principal: PrincipalDep,
    run_id: FromPath[str],
    last_event_id: Annotated[str | None, Query(max_length=40)] = None,
) -> ServerSentEvent:
    """Stream the run's events from the start, or after ``Last-Event-ID``; 404 as ``GET`` the run."""
    return await event_stream(request, services, principal, run_id, last_event_id)


async def event_stream(
    request: Request[Any, Any, Any],
    services: Services,
    principal: Principal,
    run_id: str,
    last_event_id: str | None = None,
    credentials: dict[str, str] | None = None,
    session_alive: Callable[[], bool] | None = None,
) -> ServerSentEvent:
    """The live events of run ``run_id`` as ``principal`` may see them, resumed after the
    request's ``Last-Event-ID`` (or ``last_event_id``); the UI's event route relays it too.

    The stream authenticates ``credentials`` (default: the request's own headers) again every
    :data:`RECHECK_S` and closes once they no longer make ``principal`` (a key revoked or
    expired, a token expired, while the stream was open), or once ``session_alive`` (the UI's:
    its session was signed out, ended by newer ones, or is past its age) says no.

    :raises NotFound: the run is not ``principal``'s to see.
    :raises BadRequest: the event id is not one.
    :raises runwire_server.long_requests.LongRequestRefused: the run goes on, and ``principal``
        or the process holds as many streams and waits as it may (429 / 503).
    """
    run = await visible_run(services, principal, run_id)
    after = resume_after(request.headers.get("last-event-id"), last_event_id)
    _, labels = await workflow_labels(services, run)
    headers = header_dict(request.scope["headers"]) if credentials is None else credentials
    state = request.app.state

    async def still_allowed() -> bool:
        if session_alive is not None and not session_alive():
            return False
        try:
            again = await identify(state, headers)
        except (AuthRefused, NotAuthenticated):
            return False
        return again.identity == principal.identity

    if run.status in TERMINAL:
        return ServerSentEvent(relay(services.store, run, after, labels, still_allowed))
    release = services.long_requests.hold(principal.identity)
    # the stream gives its place back however it ends; the reply's background task too, for
    # a stream never started (its generator's cleanup would never run)
    stream = relay(services.store, run, after, labels, still_allowed, release)
    return ServerSentEvent(stream, background=BackgroundTask(release))


ROUTES = [run_events]
