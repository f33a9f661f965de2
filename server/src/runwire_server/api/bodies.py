"""Reading request bodies and query values safely: size, UTF-8, strict JSON (docs/api.md, "JSON bodies")."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from litestar import Request
from pydantic import BaseModel

from runwire.jsontext import JsonRefused, loads
from runwire_server.api.errors import BadRequest, NotFound

OFF_LOOP_CHARS = 64 * 1024
"""Bodies longer than this are parsed in a worker thread (a 64 KiB parse takes a few ms)."""
MAX_DB_INT = 2**31 - 1
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


async def read_text(request: Request[Any, Any, Any]) -> str:
    """The body as text (Litestar already refused bodies over the size limit with 413)."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None


NOT_JSON = object()
"""What :func:`parse_json_or_text` returns for text that is not JSON."""


def parse_json_or_text(text: str) -> Any:
    """Parse JSON text strictly, or return :data:`NOT_JSON` when it is not JSON at all.

    JSON that parses but holds a refused value (nesting deeper than the limit, an integer
    beyond the digit limit, a number beyond ±1.8e308, ``NaN``/``Infinity``, a lone surrogate,
    a duplicate key) is a 400 naming it.
    """
    try:
        return loads(text)
    except JsonRefused as exc:
        if exc.malformed:
            return NOT_JSON
        raise BadRequest(str(exc)) from None


def parse_json(text: str) -> Any:
    """Parse JSON text strictly; malformed or refused JSON is a 400 with the reason."""
    try:
        return loads(text)
    except JsonRefused as exc:
        raise BadRequest(str(exc)) from None


async def off_loop(parse: Callable[..., T], text: str, *args: Any) -> T:
    """``parse(text, *args)``, in a worker thread when ``text`` is over :data:`OFF_LOOP_CHARS`,
    so that parsing a body of megabytes does not hold the event loop."""
    if len(text) <= OFF_LOOP_CHARS:
        return parse(text, *args)
    return await anyio.to_thread.run_sync(parse, text, *args)


def _model_of(text: str, model: type[M]) -> M:
    value = parse_json(text)
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object")
    return model.model_validate(value)


async def read_model(request: Request[Any, Any, Any], model: type[M]) -> M:
    """Parse the body as JSON and validate it with ``model`` (errors name each field)."""
    text = await read_text(request)
    if not text.strip():
        raise BadRequest("request body is empty; a JSON object is expected")
    return await off_loop(_model_of, text, model)


_ASCII_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")


def ascii_int(text: str) -> int:
    """An integer path parameter (``{workflow_id:int}``), written as an id is: ASCII digits, no
    leading zero, an optional leading minus. ``int()``, Litestar's parser, also reads ``"01"``,
    ``" 1"``, ``"+1"``, ``"1_0"``, and Arabic-Indic or fullwidth digits (``%EF%BC%91``, U+FF11):
    ``/api/v1/workflows/%EF%BC%91/`` was workflow 1 under a path no proxy rule or cache for
    ``/api/v1/workflows/1/`` matches.

    :raises ValueError: anything else (Litestar answers 404, as for ``/api/v1/workflows/abc/``).
    """
    if _ASCII_INT.fullmatch(text) is None:
        raise ValueError(f"not an id: {text!r:.40}")
    return int(text)


def check_id(value: int, what: str) -> int:
    """Ids outside the database's integer range cannot exist: 404 instead of a database error."""
    if not 0 < value <= MAX_DB_INT:
        raise NotFound(f"{what} not found")
    return value
