"""runwire-auth0: the ``auth0`` auth provider, registered through the ``runwire`` entry point group."""

from __future__ import annotations

from runwire.auth import AuthProvider
from runwire.hookspecs import hookimpl
from runwire_auth0.provider import Auth0Auth


@hookimpl
def register_auth_providers() -> list[type[AuthProvider]]:
    """The ``auth0`` provider (Bearer JWT, RS256, keys from the tenant's JWKS)."""
    return [Auth0Auth]
