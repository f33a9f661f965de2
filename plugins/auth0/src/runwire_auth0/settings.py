"""Configuration of the auth0 provider, from the settings mapping runwire hands providers."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runwire import ConfigInvalid
from runwire.fieldproblems import field_problems
from runwire.secretfiles import read_secret

PREFIX = "RUNWIRE_AUTH0_"
DEFAULT_PROJECTS_CLAIM = "https://runwire/projects"


class Auth0Settings(BaseModel):
    """What the provider needs; each field is the env var ``RUNWIRE_AUTH0_<FIELD>``, or the content
    of the file ``RUNWIRE_AUTH0_<FIELD>_FILE`` names (container secrets).

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

    model_config = ConfigDict(frozen=True)

    domain: str = ""
    audience: tuple[str, ...] = Field(min_length=1)
    jwks_url: str
    issuer: str
    projects_claim: str = Field(default=DEFAULT_PROJECTS_CLAIM, min_length=1)
    leeway: float = Field(default=10.0, ge=0, le=300)
    jwks_ttl: float = Field(default=600.0, ge=0)
    jwks_min_interval: float = Field(default=30.0, ge=0)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> Auth0Settings:
        """Read ``RUNWIRE_AUTH0_*`` values, each also from a ``RUNWIRE_AUTH0_*_FILE`` file.

        :raises ConfigInvalid: the domain (or both JWKS URL and issuer) or the audience is
            missing, a value is malformed, a setting is given both directly and as a file, or a
            file cannot be read; raised when the server starts.
        """

        def get(name: str) -> str:
            return (read_secret(settings, PREFIX + name.upper()) or "").strip()

        domain = _domain(get("domain"))
        jwks_url = get("jwks_url") or (f"https://{domain}/.well-known/jwks.json" if domain else "")
        issuer = get("issuer") or (f"https://{domain}/" if domain else "")
        if not (jwks_url and issuer):
            raise ConfigInvalid(f"{PREFIX}DOMAIN is required by the auth0 provider")
        audience = tuple(a.strip() for a in get("audience").split(",") if a.strip())
        if not audience:
            raise ConfigInvalid(f"{PREFIX}AUDIENCE is required by the auth0 provider")
        values: dict[str, object] = {
            "domain": domain,
            "audience": audience,
            "jwks_url": jwks_url,
            "issuer": issuer,
        }
        for name in ("projects_claim", "leeway", "jwks_ttl", "jwks_min_interval"):
            if get(name):
                values[name] = get(name)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{PREFIX}{p.field.upper()}: {p.message}" for p in field_problems(exc))
            raise ConfigInvalid(problems) from None


def _domain(raw: str) -> str:
    """``tenant.auth0.com`` from ``tenant.auth0.com``, ``https://tenant.auth0.com/`` and the like."""
    if not raw:
        return ""
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if not parts.hostname or parts.path.strip("/") or parts.query:
        raise ConfigInvalid(f"{PREFIX}DOMAIN must be a host name like example.eu.auth0.com, not {raw!r}")
    return parts.netloc.lower()
