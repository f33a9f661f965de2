"""Configuration of the auth0 provider: its settings model, built by the host from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from runwire import ConfigInvalid, PluginSettings, SettingsConfigDict
from runwire.plugin_settings import NoDecode, build_settings

PREFIX = "RUNWIRE_AUTH0_"
DEFAULT_PROJECTS_CLAIM = "https://runwire/projects"


class Auth0Settings(PluginSettings):
    """What the provider needs; each field is the env var ``RUNWIRE_AUTH0_<FIELD>``, or the content
    of the file ``RUNWIRE_AUTH0_<FIELD>_FILE`` names (container secrets). The host builds it when
    it loads the plugins; the provider checks it is complete (:meth:`complete`) when it starts.

    :param domain: the tenant domain (``example.eu.auth0.com``); gives the issuer
        ``https://<domain>/`` and the JWKS URL ``https://<domain>/.well-known/jwks.json``.
    :param audience: accepted ``aud`` values (the API identifier), comma-separated.
    :param jwks_url: overrides the JWKS URL derived from the domain.
    :param issuer: overrides the issuer derived from the domain (other OIDC providers).
    :param projects_claim: the claim listing the project ids a token may touch.
    :param leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    :param jwks_ttl: seconds before cached keys are fetched again.
    :param jwks_min_interval: least seconds between two JWKS fetches (an unknown ``kid``
        triggers a fetch, so this bounds what forged tokens can make runwire do).
    """

    model_config = SettingsConfigDict(env_prefix=PREFIX)

    domain: str = ""
    audience: Annotated[tuple[str, ...], NoDecode] = ()
    jwks_url: str = ""
    issuer: str = ""
    projects_claim: str = Field(default=DEFAULT_PROJECTS_CLAIM, min_length=1)
    leeway: float = Field(default=10.0, ge=0, le=300)
    jwks_ttl: float = Field(default=600.0, ge=0)
    jwks_min_interval: float = Field(default=30.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _derived(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        domain = _domain(str(values.get("domain") or "").strip())
        values["domain"] = domain
        if domain:
            values["jwks_url"] = values.get("jwks_url") or f"https://{domain}/.well-known/jwks.json"
            values["issuer"] = values.get("issuer") or f"https://{domain}/"
        audience = values.get("audience")
        if isinstance(audience, str):
            values["audience"] = tuple(a.strip() for a in audience.split(",") if a.strip())
        return values

    def complete(self) -> Auth0Settings:
        """These settings, checked to be enough to verify tokens.

        :raises ConfigInvalid: the domain (or both JWKS URL and issuer) or the audience is missing.
        """
        if not (self.jwks_url and self.issuer):
            raise ConfigInvalid(f"{PREFIX}DOMAIN is required by the auth0 provider")
        if not self.audience:
            raise ConfigInvalid(f"{PREFIX}AUDIENCE is required by the auth0 provider")
        return self

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> Auth0Settings:
        """Read ``RUNWIRE_AUTH0_*`` values from ``settings``, each also from a
        ``RUNWIRE_AUTH0_*_FILE`` file, and check them (:meth:`complete`).

        :raises ConfigInvalid: a value is missing or malformed, a setting is given both directly
            and as a file, or a file cannot be read; raised when the server starts.
        """
        return build_settings(cls, settings, plugin="auth0").complete()


def _domain(raw: str) -> str:
    """``tenant.auth0.com`` from ``tenant.auth0.com``, ``https://tenant.auth0.com/`` and the like."""
    if not raw:
        return ""
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if not parts.hostname or parts.path.strip("/") or parts.query:
        raise ValueError(f"{PREFIX}DOMAIN must be a host name like example.eu.auth0.com, not {raw!r}")
    return parts.netloc.lower()
