"""Built-in auth providers: ``none`` (open, for local use) and ``api-key`` (``X-Api-Key``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from runwire.auth import AuthProvider, AuthServices, Principal
from runwire.errors import AuthRefused
from runwire.hookspecs import hookimpl

API_KEYS_SETTING = "RUNWIRE_API_KEYS"


class NoAuth(AuthProvider):
    """Accepts every request as an anonymous principal with access to every project."""

    name = "none"

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """Always accept."""
        return Principal(subject="anonymous", provider=self.name)


class ApiKeyAuth(AuthProvider):
    """``X-Api-Key``: bootstrap keys from ``RUNWIRE_API_KEYS`` (every project) or stored keys."""

    name = "api-key"

    def __init__(self, services: AuthServices) -> None:
        super().__init__(services)
        raw = self.services.settings.get(API_KEYS_SETTING, "")
        self._bootstrap = [k.strip().encode() for k in raw.split(",") if k.strip()]

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """Accept a bootstrap or stored key; refuse any other key; pass when none is sent."""
        key = headers.get("x-api-key")
        if key is None:
            return None
        given = key.encode("utf-8", "surrogateescape")
        # compare against every key so timing does not tell which prefix matched
        matched = False
        for candidate in self._bootstrap:
            matched |= hmac.compare_digest(candidate, given)
        if matched:
            return Principal(subject="bootstrap-key", provider=self.name)
        if self.services.api_keys is not None and key:
            principal = await self.services.api_keys.lookup(key)
            if principal is not None:
                return principal
        raise AuthRefused("invalid API key")


@hookimpl
def register_auth_providers() -> list[type[AuthProvider]]:
    """Core's auth providers."""
    return [NoAuth, ApiKeyAuth]
