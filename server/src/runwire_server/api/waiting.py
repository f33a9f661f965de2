"""How long a request may wait for its run to end: the ``wait`` query parameter of the poll
routes, and the ``Prefer: wait=<seconds>`` header (RFC 7240) of the start routes, whose reply
says ``Preference-Applied: wait=<seconds>`` when it waited (:mod:`runwire_server.run_endings`
does the waiting)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from litestar.openapi.spec import OpenAPIHeader, OpenAPIType, Parameter, Schema

from runwire_server.api.params import Query
from runwire_server.run_endings import MAX_WAIT_S

if TYPE_CHECKING:
    from litestar import Request

    from runwire_server.services import Services
    from runwire_server.store import RunRow

Wait = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT_S,
        description=(
            "runwire extension: answer as soon as the run ends, or after this many seconds "
            f"(0-{MAX_WAIT_S:g}) with the run as it is then; 0 or absent: answer at once"
        ),
    ),
]
"""Seconds a poll may wait for its run to end (0-30; default 0: answer at once)."""

PREFER_WAIT_DOC = (
    f"runwire extension: with a `Prefer: wait=<seconds>` header (RFC 7240; at most {MAX_WAIT_S:g} "
    "are honoured), the reply comes once the run has ended, or after that many seconds, and "
    "carries the run as a poll would"
)

PREFERENCE_APPLIED = "Preference-Applied"

PREFER_PARAMETER = Parameter(
    name="Prefer",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING),
    description=(
        PREFER_WAIT_DOC + "; other preferences, and a malformed `wait` (`wait=abc`, `wait=-1`), are "
        "ignored, not refused"
    ),
)
"""The ``Prefer`` header of the start routes, for the OpenAPI document (it is read by
:func:`preferred_wait`, not by Litestar: a malformed preference is ignored, never a 400)."""

PREFERENCE_APPLIED_HEADER = {
    PREFERENCE_APPLIED: OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description=(
            "`wait=<seconds>`: the start honoured `Prefer: wait` and waited for its run up to these "
            f"seconds ({MAX_WAIT_S:g} when more were asked); absent when it answered at once (no "
            "usable `wait`) and on the replay of an Idempotency-Key's answer"
        ),
    )
}
"""The reply header of a start that waited (RFC 7240 §3), for the OpenAPI document."""


def preferred_wait(prefer: Iterable[str]) -> float:
    """The seconds of a ``wait`` preference among the ``Prefer`` header values ``prefer``
    (``Prefer: wait=10, respond-async``), capped at ``MAX_WAIT_S``; 0 without one.

    A malformed or negative ``wait`` is ignored (0), as RFC 7240 asks of a preference a server
    cannot honour: the request itself is still valid, and is answered at once. The seconds are
    taken to the millisecond (``wait=0.0004`` is no wait).
    """
    for preference in ",".join(prefer).split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        try:
            seconds = float(value.strip().strip('"'))
        except ValueError:
            return 0.0
        return round(min(seconds, MAX_WAIT_S), 3) if seconds >= 0 else 0.0  # NaN is not >= 0
    return 0.0


def preference_applied(wait_s: float) -> dict[str, str]:
    """The reply headers of a start that honoured a wait of ``wait_s`` seconds (RFC 7240 §3):
    ``Preference-Applied: wait=30``, ``wait=2.5``, ``wait=0.001`` (milliseconds at most)."""
    return {PREFERENCE_APPLIED: f"wait={wait_s:.3f}".rstrip("0").rstrip(".")}


PREFER_WAIT_OPENAPI: dict[str, Any] = {
    "headers": [PREFER_PARAMETER],
    "reply_headers": PREFERENCE_APPLIED_HEADER,
}
"""The arguments of :func:`~runwire_server.api.openapi.documented` for a start that honours
``Prefer: wait`` (with :data:`PREFER_WAIT_DOC` in its reply's description)."""


@dataclass(frozen=True, slots=True)
class Waited:
    """A start that was asked to wait: the run as read after the wait (``None``: deleted with
    its workflow meanwhile) and the reply's headers (``None``: the server was stopping and did
    not wait)."""

    run: RunRow | None
    headers: dict[str, str] | None


async def start_as_preferred(
    services: Services,
    request: Request[Any, Any, Any],
    run_id: str,
    start: Coroutine[Any, Any, object],
    caller: str,
) -> Waited | None:
    """Await ``start`` (which stores and enqueues the new run ``run_id``); with a usable
    ``Prefer: wait`` in ``request``, wait for the run to end too (:mod:`runwire_server.run_endings`),
    unless ``caller`` (``provider:subject``) or the process holds as many waits and streams as it
    may (``RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL``, ``RUNWIRE_MAX_LONG_REQUESTS``: the start then
    answers at once, without ``Preference-Applied``). ``None`` when no wait was asked (the start
    answers at once)."""
    wait_s = preferred_wait(request.headers.getall("prefer", ()))
    if not wait_s:
        await start
        return None
    run, waited = await services.endings.read_after_start(
        run_id, wait_s, start, services.store.get_run, caller, client_gone(request)
    )
    return Waited(run, preference_applied(wait_s) if waited else None)


def client_gone(request: Request[Any, Any, Any]) -> Callable[[], Awaitable[None]]:
    """What returns once ``request``'s client has closed its connection (ASGI ``http.disconnect``),
    for a wait that should end then (:data:`runwire_server.run_endings.Gone`). Only for a request
    whose body has been read (a GET, or a start that has read its body): it reads what is left."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return gone
