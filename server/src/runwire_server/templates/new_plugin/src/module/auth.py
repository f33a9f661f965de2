"""The ``[[ name ]]`` auth provider: a shared token in a request header."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from runwire import AuthProvider, AuthRefused, AuthServices, ConfigInvalid, Principal

HEADER = "x-[[ title_dashed|lower ]]-token"
SETTING = "RUNWIRE_[[ env ]]_TOKEN"


class TokenAuth(AuthProvider):
    """Accepts a request whose ``X-[[ title_dashed ]]-Token`` header equals ``RUNWIRE_[[ env ]]_TOKEN``."""

    name = "[[ name ]]"

    def __init__(self, services: AuthServices) -> None:
        super().__init__(services)
        token = services.settings.get(SETTING, "")
        if not token:
            raise ConfigInvalid(f"auth provider {self.name!r} needs {SETTING}")
        self.token = token

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """``None`` without the header; :class:`AuthRefused` for a wrong token."""
        given = headers.get(HEADER)
        if given is None:
            return None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise AuthRefused(f"wrong {HEADER}")
        return Principal(subject="token", provider=self.name)
