"""Dependencies every route handler may declare: ``services`` and ``principal``.

A handler (of this package or of a front door) names them as parameters::

    @get("/thing")
    async def thing(services: ServicesDep, principal: PrincipalDep) -> dict: ...

``principal`` asks the configured auth providers in order; none accepting is a 401.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from runwire.auth import Principal
from runwire_server.api.errors import NotAuthenticated
from runwire_server.api.rate_limit import RateLimiter
from runwire_server.services import Services

ServicesDep = NamedDependency[Services]
"""A handler parameter ``services: ServicesDep`` receives the process's :class:`Services`."""
PrincipalDep = NamedDependency[Principal]
"""A handler parameter ``principal: PrincipalDep`` receives the authenticated caller (or 401)."""


def get_services(state: State) -> Services:
    """The process's :class:`Services` (set on the app state by the app factory)."""
    return state.services  # type: ignore[no-any-return]


async def get_principal(request: Request[Any, Any, Any], services: ServicesDep) -> Principal:
    """Authenticate the request with the configured providers, in order.

    :raises NotAuthenticated: no provider accepted the request (401).
    :raises runwire.errors.AuthRefused: credentials were sent but refused (401).
    :raises runwire_server.api.rate_limit.TooManyRequests: the principal went over
        ``RUNWIRE_RATE_LIMIT`` (429).
    """
    headers = header_dict(request.scope["headers"])
    for provider in services.auth_providers:
        principal = await provider.authenticate(headers)
        if principal is not None:
            limiter: RateLimiter | None = request.app.state.get("rate_limiter")
            if limiter is not None:
                limiter.hit(principal.identity)
            return principal
    raise NotAuthenticated("Authentication credentials were not provided.")


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
    "principal": Provide(get_principal),
}
