"""Idempotent submits: an ``Idempotency-Key`` header makes a retried submit start nothing new.

A submit route (a workflow run, ``/task``, ``/script``, ``/api/execute/``) takes
``**IDEMPOTENT`` in its decorator: a :func:`claim` hook that runs before the handler and an
ASGI :func:`middleware` that keeps the handler's answer. With the header:

- the first request from a principal with a key claims it in the store (one atomic insert, so
  of any number of concurrent requests on any number of servers exactly one proceeds), runs
  the handler, and stores its answer (status, content type, body) *before* sending it;
- a request with the same key and the same request (method, path, query string, content type
  and body, by SHA-256) within 24 hours (:data:`.IDEMPOTENCY_WINDOW_S`) gets that answer
  again, with ``Idempotent-Replayed: true``, and the handler does not run; one that arrives while the first
  is in progress waits for its answer (up to :data:`WAIT_S`, then 409), holding a place among
  the long-lived requests while it waits (:mod:`runwire_server.long_requests`: over the cap,
  429 / 503 at once);
- the same key with another request is a 422.

Answers under 500 but 429 are kept (they say what this request does); a 5xx, a 429 (too many
at once: try again) or an error releases the claim so that a retry may proceed. Without the
header nothing of this runs beyond one scan of the headers. docs/api.md, "Idempotent submits",
is the user's description.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import anyio
from litestar import Request, Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from runwire_server.api.deps import get_principal
from runwire_server.api.errors import BadRequest, Conflict, Unprocessable
from runwire_server.long_requests import Release
from runwire_server.services import Services
from runwire_server.store.idempotency import IDEMPOTENCY_WINDOW_S, IdempotencyRow

log = logging.getLogger("runwire.server")

HEADER = b"idempotency-key"
TOO_MANY_REQUESTS = 429
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
WAIT_S = 30.0
"""How long a request waits for the answer of a concurrent one with the same key before a 409."""
POLL_S = 0.025
"""How long a waiting request first waits before reading the store again for that answer; the
wait doubles after each read, up to :data:`MAX_POLL_S`."""
MAX_POLL_S = 0.5
"""The longest wait between two reads: many retries waiting for one slow answer cost the store
(and the server) at most two reads a second each."""
CLAIM_STATE = "runwire_idempotency_claim"
KEEP_STATE = "runwire_idempotency_keep"
"""Where :func:`claim` leaves ``(principal, key, claimant)`` for :func:`middleware` (scope state)."""


class StillInProgress(Conflict):
    """A request with the same key is still being answered."""


def key_headers(scope: Scope) -> list[bytes]:
    """The raw values of every ``Idempotency-Key`` header of a request (usually none or one)."""
    return [value for name, value in scope["headers"] if name.lower() == HEADER]


def check_key(raw: list[bytes]) -> str:
    """The key, if exactly one header holds 1 to :data:`MAX_KEY_LENGTH` printable ASCII characters
    (else a 400: two headers, even equal ones, are a client's or proxy's mistake)."""
    if len(raw) > 1:
        raise BadRequest(f"the request has {len(raw)} Idempotency-Key headers; send exactly one")
    return _check_value(raw[0])


def _check_value(raw: bytes) -> str:
    if not raw:
        raise BadRequest("the Idempotency-Key header is empty; send 1 to 255 printable ASCII characters")
    if len(raw) > MAX_KEY_LENGTH:
        raise BadRequest(f"the Idempotency-Key header is {len(raw)} bytes long; at most 255 are allowed")
    if any(not 0x20 <= byte <= 0x7E for byte in raw):
        raise BadRequest("the Idempotency-Key header may hold only printable ASCII characters")
    return raw.decode("ascii")


async def request_hash(request: Request[Any, Any, Any]) -> str:
    """SHA-256 of what makes two submits the same: method, path, query string, content type, body."""
    body = await request.body()  # Litestar keeps it: the handler reads it again for free
    digest = hashlib.sha256()
    parts = (
        request.method.encode(),
        request.scope["path"].encode("utf-8", "surrogateescape"),
        request.scope.get("query_string", b""),
        request.headers.get("content-type", "").encode("latin-1", "replace"),
    )
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(body)
    return digest.hexdigest()


def replay(row: IdempotencyRow) -> Response[bytes]:
    """The stored answer, marked as replayed."""
    return Response(
        row.reply or b"",
        status_code=row.status_code or 200,
        media_type=row.content_type or "application/json",
        headers={REPLAYED: "true"},
    )


async def claim(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """The ``before_request`` hook of a submit route: claim the request's key, or answer it.

    ``None`` (the handler runs) without the header or when this request claimed the key;
    otherwise the first request's stored answer.

    :raises BadRequest: two or more headers, or the key is not 1 to 255 printable ASCII characters.
    :raises Unprocessable: the key was used (within 24 hours) for another request.
    :raises StillInProgress: the first request has not answered within :data:`WAIT_S`.
    :raises runwire_server.long_requests.LongRequestRefused: it would wait for the first request's
        answer, and its principal or the process holds as many waiting requests as it may (429 /
        503): a wait keeps its connection as a long-poll does.
    """
    raw = key_headers(request.scope)
    if not raw:
        return None
    key = check_key(raw)
    services: Services = request.app.state.services
    identity = (await get_principal(request)).identity
    digest = await request_hash(request)
    store, claimant = services.store, services.process_id
    lease_timeout = services.settings.process_timeout_s
    deadline = time.monotonic() + WAIT_S
    pause = POLL_S
    row = await store.claim_idempotency_key(
        identity, key, digest, claimant, IDEMPOTENCY_WINDOW_S, lease_timeout
    )
    release: Release | None = None
    try:
        while row is not None:
            if row.request_hash != digest:
                raise Unprocessable(
                    "this Idempotency-Key was already used for a different request "
                    "(another method, path, query, content type or body); use a new key"
                )
            if row.finished:
                return replay(row)
            if time.monotonic() > deadline:
                raise StillInProgress(
                    "a request with this Idempotency-Key is still in progress; try again later",
                    headers={"Retry-After": "1"},
                )
            if release is None:  # waiting keeps the connection: a long-lived request while it waits
                release = services.long_requests.hold(identity)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_POLL_S)
            row = await store.idempotency_row(identity, key)
            if row is None:  # the first request failed and released the key: this one may proceed
                row = await store.claim_idempotency_key(
                    identity, key, digest, claimant, IDEMPOTENCY_WINDOW_S, lease_timeout
                )
    finally:
        if release is not None:  # the handler, if it waits too, holds a place of its own
            release()
    request.scope["state"][CLAIM_STATE] = (identity, key, claimant)
    return None


def middleware(app: ASGIApp) -> ASGIApp:
    """ASGI middleware of a submit route: store the answer of a request that claimed its key
    before sending it (an answer of 500 or more, or an error, releases the claim instead)."""

    async def keep_answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not key_headers(scope):
            await app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            held = scope["state"].get(CLAIM_STATE)
            if held is None:
                await send(message)
            elif message["type"] == "http.response.start":
                start = dict(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                body = b"".join(chunks)
                del scope["state"][CLAIM_STATE]
                await _settle(scope, held, start, body)
                await send(start)  # type: ignore[arg-type]
                await send({"type": "http.response.body", "body": body, "more_body": False})

        try:
            await app(scope, receive, capture)
        finally:
            held = scope["state"].pop(CLAIM_STATE, None)
            if held is not None:  # no complete answer: an error, or a cancelled request
                await _release(scope, held)

    return keep_answer


def keep_even_a_5xx(request: Request[Any, Any, Any]) -> None:
    """Keep this request's answer for its ``Idempotency-Key`` even if it is a 5xx: what it asked
    for has happened (a blocking execute's program ran), so a retry with the key must get this
    answer, not do it again. Other 5xx answers release the key (nothing happened: try again)."""
    request.scope["state"][KEEP_STATE] = True


async def _settle(scope: Scope, held: tuple[str, str, str], start: dict[str, Any], body: bytes) -> None:
    """Store the answer for the key ``held``, or release the key for a 5xx (unless
    :func:`keep_even_a_5xx` said otherwise) or a 429."""
    status = int(start["status"])
    if (status >= 500 and not scope["state"].get(KEEP_STATE)) or status == TOO_MANY_REQUESTS:
        await _release(scope, held)
        return
    content_type = ""
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            content_type = value.decode("latin-1")
    services: Services = scope["app"].state.services
    try:
        await services.store.finish_idempotency_key(*held, status, content_type, body)
    except Exception as exc:  # the submit happened: answer it; its retries wait, then get a 409
        log.error(
            "could not store the answer for idempotency key %r: %s: %s", held[1], type(exc).__name__, exc
        )


async def _release(scope: Scope, held: tuple[str, str, str]) -> None:
    services: Services = scope["app"].state.services
    with anyio.CancelScope(shield=True):
        try:
            await services.store.release_idempotency_key(*held)
        except Exception as exc:  # the claim lapses with this process's lease, or after 24 hours
            log.error("could not release idempotency key %r: %s: %s", held[1], type(exc).__name__, exc)


IDEMPOTENT: dict[str, Any] = {"before_request": claim, "middleware": [middleware]}
"""What a submit route's decorator takes (``@post(..., **IDEMPOTENT)``) to honour ``Idempotency-Key``."""
