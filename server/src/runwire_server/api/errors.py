"""Every error type → HTTP status, in this one place; every error body is ``{"detail": ...}``.

Plugins add their own types through ``register_error_statuses`` (:mod:`runwire_server.hookspecs`);
:func:`exception_handlers` merges them in when the app is built.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from runwire.errors import AuthRefused, BindingError, InputInvalid, WorkflowInvalid
from runwire.fieldproblems import field_problems
from runwire_server.long_requests import LongRequestRefused
from runwire_server.store import RunFinished
from runwire_server.trust import RunRefused

log = logging.getLogger("runwire.server")


class ApiError(Exception):
    """An error the API answers with ``status_code`` and ``detail``.

    :param errors: a list of individual problems, shown as ``errors``.
    :param extra: more top-level fields of the body (e.g. a reference envelope).
    """

    status_code = 400

    def __init__(
        self,
        detail: str,
        errors: list[Any] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers


class BadRequest(ApiError):
    """The request is malformed (body, parameters)."""

    status_code = 400


class NotAuthenticated(ApiError):
    """No acceptable credentials were sent."""

    status_code = 401


class Forbidden(ApiError):
    """The caller is known but may not do this."""

    status_code = 403


class NotFound(ApiError):
    """No such thing, or not one the caller may see (never tell which)."""

    status_code = 404


class Conflict(ApiError):
    """The request conflicts with the resource's state (e.g. cancelling a finished run)."""

    status_code = 409


class Unprocessable(ApiError):
    """The body is well-formed but a value is not acceptable (named in the detail)."""

    status_code = 422


class ServiceUnavailable(ApiError):
    """A service the request needs (the broker, the store) does not answer."""

    status_code = 503


class InternalError(ApiError):
    """The server failed at something the request did not cause (the log has the details)."""

    status_code = 500


STATUS_OF: dict[type[Exception], int] = {
    AuthRefused: 401,
    WorkflowInvalid: 400,
    InputInvalid: 400,
    BindingError: 400,
    ValidationError: 400,
    DataError: 400,
    IntegrityError: 409,
    RunFinished: 409,
    RunRefused: 403,
    OperationalError: 503,
    SQLAlchemyTimeout: 503,
}
"""Core and library error types and the status each maps to (ApiError carries its own)."""

DETAIL_OF: dict[type[Exception], str] = {
    DataError: "a value cannot be stored (out of range or contains forbidden characters)",
    IntegrityError: "conflict: what this request refers to changed meanwhile (e.g. was deleted); try again",
    OperationalError: "the store is unavailable; try again later",
    SQLAlchemyTimeout: "the store is busy; try again later",
}
"""Fixed messages for library errors whose own text may carry internals (hosts, SQL)."""
QUEUE_UNAVAILABLE = "the run queue is unavailable; try again later"
"""The fixed message of a Redis error (503)."""


def _is_redis_error(exc: Exception) -> bool:
    """Whether ``exc`` is a ``redis.RedisError``, without importing redis for it (a server
    without a Redis broker never loads it; an exception of its type exists only once it is)."""
    errors = sys.modules.get("redis.exceptions")
    return errors is not None and isinstance(exc, errors.RedisError)


def _body(detail: str, errors: list[Any] | None = None) -> dict[str, Any]:
    return {"detail": detail} if errors is None else {"detail": detail, "errors": errors}


def handle_error(
    request: Request[Any, Any, Any], exc: Exception, statuses: Mapping[type[Exception], int] = STATUS_OF
) -> Response[dict[str, Any]]:
    """Turn any exception raised while handling a request into its JSON response.

    :param statuses: the error types with a status of their own (:data:`STATUS_OF` and the plugins').
    """
    headers: dict[str, str] | None = None
    if isinstance(exc, ApiError):
        status, body = exc.status_code, {**exc.extra, **_body(exc.detail, exc.errors)}
        headers = exc.headers
    elif isinstance(exc, LongRequestRefused):
        status, body, headers = exc.status_code, _body(exc.detail), exc.headers
    elif isinstance(exc, ValidationException):
        status, body = (
            400,
            _body("invalid request parameters", exc.extra if isinstance(exc.extra, list) else None),
        )
    elif isinstance(exc, HTTPException):
        status, body, headers = exc.status_code, _body(exc.detail), exc.headers
    elif isinstance(exc, ValidationError):
        status, body = 400, _body("invalid request body", [p.to_json() for p in field_problems(exc)])
    elif isinstance(exc, WorkflowInvalid | InputInvalid):
        status, body = 400, _body(str(exc), list(exc.problems))
    else:
        status = next((s for t, s in statuses.items() if isinstance(exc, t)), 500)
        fixed = next((d for t, d in DETAIL_OF.items() if isinstance(exc, t)), None)
        if status == 500 and _is_redis_error(exc):
            status, fixed = 503, QUEUE_UNAVAILABLE
        if status == 500:
            # the path is the caller's text, logged as a repr: its newlines cannot start a line
            log.exception("unhandled error on %s %r", request.method, request.url.path, exc_info=exc)
            body = _body("internal server error")
        else:
            if fixed is not None:
                log.error("%s on %s %r: %s", type(exc).__name__, request.method, request.url.path, exc)
            body = _body(fixed or str(exc))
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'ApiKey header="X-Api-Key"'}
    return Response(body, status_code=status, headers=headers)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {Exception: handle_error}


def exception_handlers(plugin_statuses: Mapping[type[Exception], int]) -> dict[type[Exception] | int, Any]:
    """The app's one handler, also answering the plugins' error types with their statuses."""
    if not plugin_statuses:
        return EXCEPTION_HANDLERS
    statuses = {**STATUS_OF, **plugin_statuses}
    return {Exception: functools.partial(handle_error, statuses=statuses)}
