"""Reading request bodies and query values safely: size, UTF-8, JSON syntax, nesting depth."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from litestar import Request
from pydantic import BaseModel

from runwire_server.api.errors import BadRequest, NotFound

MAX_JSON_DEPTH = 64
MAX_DB_INT = 2**31 - 1
M = TypeVar("M", bound=BaseModel)


async def read_text(request: Request[Any, Any, Any]) -> str:
    """The body as text (Litestar already refused bodies over the size limit with 413)."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON values nested deeper than ``limit`` levels."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise BadRequest(f"JSON is nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


NOT_JSON = object()
"""What :func:`parse_json_or_text` returns for text that is not JSON."""


def parse_json_or_text(text: str) -> Any:
    """Parse JSON text, or return :data:`NOT_JSON`; JSON nested too deeply is a 400."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return NOT_JSON
    except RecursionError:
        raise BadRequest(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_depth(value)
    return value


def parse_json(text: str) -> Any:
    """Parse JSON text; malformed or too deeply nested JSON is a 400 with the reason."""
    value = parse_json_or_text(text)
    if value is NOT_JSON:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    return value


async def read_model(request: Request[Any, Any, Any], model: type[M]) -> M:
    """Parse the body as JSON and validate it with ``model`` (errors name each field)."""
    text = await read_text(request)
    if not text.strip():
        raise BadRequest("request body is empty; a JSON object is expected")
    value = parse_json(text)
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object")
    return model.model_validate(value)


def check_id(value: int, what: str) -> int:
    """Ids outside the database's integer range cannot exist: 404 instead of a database error."""
    if not 0 < value <= MAX_DB_INT:
        raise NotFound(f"{what} not found")
    return value
