"""Authentication of every route, and the dependencies a route handler may declare.

:func:`authentication` is the app's innermost middleware: every request is authenticated by the
configured auth providers (none accepting is a 401) unless its handler, or a router above it,
is marked ``opt={"public": True}`` (the health probes, the OpenAPI schema, the execution-update
webhook, which checks its own service key). A plugin's route is protected without declaring
anything. A handler (of this package or of a front door) that wants the caller or the
process's services names them as parameters::

    @get("/thing")
    async def thing(services: ServicesDep, principal: PrincipalDep) -> dict: ...
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

from collections.abc import Iterable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from runwire.auth import Principal
from runwire.errors import AuthRefused
from runwire.jsontext import storable_text
from runwire_server.api.errors import NotAuthenticated
from runwire_server.api.rate_limit import RateLimiter
from runwire_server.services import Services
from runwire_server.store.tables import PRINCIPAL_MAX

ServicesDep = NamedDependency[Services]
"""A handler parameter ``services: ServicesDep`` receives the process's :class:`Services`."""
PrincipalDep = NamedDependency[Principal]
"""A handler parameter ``principal: PrincipalDep`` receives the authenticated caller (or 401)."""
PUBLIC = "public"
"""The ``opt`` key that exempts a route handler (or every handler of a router) from authentication."""
ANY_HOST = "any_host"
"""The ``opt`` key that exempts a route handler from ``RUNWIRE_ALLOWED_HOSTS`` (the probes and
``/metrics``, asked for by address, whose answers hold no link)."""
PRINCIPAL_KEY = "runwire_principal"
"""Where :func:`authentication` leaves the caller on the request's scope state."""


def get_services(state: State) -> Services:
    """The process's :class:`Services` (set on the app state by the app factory)."""
    return state.services  # type: ignore[no-any-return]


def is_public(handler: BaseRouteHandler) -> bool:
    """Whether ``handler`` is served without authentication: marked public, or Litestar's own
    automatic ``OPTIONS`` answer (which tells only the allowed methods)."""
    if handler.opt.get(PUBLIC):
        return True
    methods = getattr(handler, "http_methods", None)  # HTTP handlers only (not websockets, ASGI)
    return methods == {"OPTIONS"} and handler.handler_name == "options_handler"


def authentication(app: ASGIApp) -> ASGIApp:
    """The app's authentication, an ASGI middleware: every request to a route that is not
    public is authenticated before anything of the route runs (route middleware, hooks, guards,
    the handler), and the principal is kept on the request's scope state for :func:`get_principal`.

    A middleware rather than a Litestar guard: an app-wide guard makes Litestar copy the route
    handler object on every request, which cost more server CPU than the API-key check itself.
    """

    async def authenticate(scope: Scope, receive: Receive, send: Send) -> None:
        if not is_public(scope["route_handler"]):
            headers = header_dict(scope["headers"])
            scope["state"][PRINCIPAL_KEY] = await principal_for_headers(scope["app"].state, headers)
        await app(scope, receive, send)

    return authenticate


async def authenticated_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Authenticate the request with the configured providers, in order, and count it against
    the caller's rate limit.

    :raises NotAuthenticated: no provider accepted the request (401).
    :raises runwire.errors.AuthRefused: credentials were sent but refused (401).
    :raises runwire_server.api.rate_limit.TooManyRequests: the principal went over
        ``RUNWIRE_RATE_LIMIT`` (429).
    """
    return await principal_for_headers(connection.app.state, header_dict(connection.scope["headers"]))


async def principal_for_headers(state: State, headers: dict[str, str]) -> Principal:
    """Authenticate ``headers`` (lower-case names) with the configured providers, in order, and
    count the caller against its rate limit; the raises of :func:`authenticated_principal`.

    The UI (:mod:`runwire_server.ui`) calls it with the credential its session holds, so a
    session never outlives its key.
    """
    principal = await identify(state, headers)
    limiter: RateLimiter | None = state.get("rate_limiter")
    if limiter is not None:
        limiter.hit(principal.identity)
    return principal


async def identify(state: State, headers: dict[str, str]) -> Principal:
    """The principal the configured providers, in order, make of ``headers``, without counting
    it against the rate limit (an open event stream checks its credential again with it).

    :raises NotAuthenticated: no provider accepted the headers (401).
    :raises runwire.errors.AuthRefused: credentials were sent but refused (401).
    """
    services: Services = state.services
    for provider in services.auth_providers:
        principal = await provider.authenticate(headers)
        if principal is not None:
            return _storable(principal)
    raise NotAuthenticated("Authentication credentials were not provided.")


def _storable(principal: Principal) -> Principal:
    """``principal`` if the store can keep its identity (a front-door run's owner, who cancelled
    a run, whose idempotency key): at most :data:`PRINCIPAL_MAX` characters of text. A provider
    may take a subject from a token (``sub``) that is longer, or holds a NUL: PostgreSQL refused
    the write (400 ``a value cannot be stored``) where SQLite kept it.

    :raises runwire.errors.AuthRefused: naming the problem (401).
    """
    identity = principal.identity
    if len(identity) > PRINCIPAL_MAX:
        raise AuthRefused(
            f"the credential's subject is too long: {principal.provider}:<{len(principal.subject)} "
            f"characters> is {len(identity)} characters; at most {PRINCIPAL_MAX} are kept"
        )
    if storable_text(identity) != identity:
        raise AuthRefused(
            "the credential's subject holds a NUL character or a lone surrogate, which is not text"
        )
    return principal


async def provide_principal(request: Request[Any, Any, Any], services: ServicesDep) -> Principal:
    """The ``principal`` dependency: :func:`get_principal`.

    ``services`` is unused: taking it puts this dependency after ``services``, so Litestar
    resolves the two one after the other; dependencies independent of each other would be
    resolved in an anyio task group made per request (~0.1 ms of server CPU a request).
    """
    return await get_principal(request)


async def get_principal(request: Request[Any, Any, Any]) -> Principal:
    """The caller :func:`authentication` let in (a public handler asking for it authenticates now)."""
    principal: Principal | None = request.scope["state"].get(PRINCIPAL_KEY)
    if principal is None:
        principal = await authenticated_principal(request)
    return principal


def header_dict(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a plain dict, the first of repeated names winning (as ``dict(request.headers)``).

    Built straight from the scope: Litestar's ``Headers`` multi-dict costs more than the API-key
    check it feeds, on every authenticated request.
    """
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


DEPENDENCIES = {
    "services": Provide(get_services, sync_to_thread=False),
    "principal": Provide(provide_principal),
}
