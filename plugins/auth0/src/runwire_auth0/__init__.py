"""runwire-auth0: the ``auth0`` auth provider, registered through the ``runwire`` entry point group."""

from __future__ import annotations

from runwire import AuthProvider, hookimpl
from runwire_auth0.provider import Auth0Auth
from runwire_auth0.settings import Auth0Settings

#: The runwire plugin API versions this plugin is written for (see ``runwire.PLUGIN_API_VERSION``).
RUNWIRE_PLUGIN_API = (1,)

#: Built by the host from the environment when it loads the plugins (``RUNWIRE_AUTH0_*``).
settings_model = Auth0Settings


@hookimpl
def register_auth_providers() -> list[type[AuthProvider]]:
    """The ``auth0`` provider (Bearer JWT, RS256, keys from the tenant's JWKS)."""
    return [Auth0Auth]
