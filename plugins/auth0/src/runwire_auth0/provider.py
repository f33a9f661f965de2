"""The ``auth0`` auth provider: ``Authorization: Bearer <JWT>`` verified with the tenant's JWKS (RS256).

PyJWT, cryptography and httpx are imported when the provider is built (the operator enabled
it), not when the plugin loads, so a server that does not use Auth0 never pays for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runwire import AuthProvider, AuthRefused, AuthServices, Principal
from runwire_auth0.settings import Auth0Settings

ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
MAX_TOKEN_CHARS = 16_384
ALL_PROJECTS = "*"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header; ``None`` when there is no such header.

    :raises AuthRefused: the header says ``Bearer`` but carries no usable token.
    """
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise AuthRefused("bearer token is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthRefused("bearer token is too long")
    return token


def projects_from(claims: Mapping[str, Any], claim: str) -> frozenset[int] | None:
    """The project ids the token may touch: a list of ids in ``claim``; ``"*"`` means all.

    A token without the claim may touch no project.

    :raises AuthRefused: the claim is present but not a list of project ids (or ``"*"``).
    """
    value = claims.get(claim)
    if value is None:
        return frozenset()
    if value == ALL_PROJECTS or (isinstance(value, list) and ALL_PROJECTS in value):
        return None
    if not isinstance(value, list):
        raise AuthRefused(f"claim {claim!r} must be a list of project ids")
    projects: set[int] = set()
    for item in value:
        text = str(item).strip()
        if (
            isinstance(item, bool)
            or not isinstance(item, int | str)
            or not (text.isascii() and text.isdigit())
        ):
            raise AuthRefused(f"claim {claim!r} must be a list of project ids")
        projects.add(int(text))
    return frozenset(projects)


class Auth0Auth(AuthProvider):
    """Accepts RS256 JWTs issued by the configured Auth0 tenant (or any OIDC issuer with a JWKS).

    Principals use the ScriptRun reference's JWT mode: run bodies are ``{"input_data": {...}}``.
    """

    name = "auth0"

    def __init__(self, services: AuthServices) -> None:
        """Read ``RUNWIRE_AUTH0_*`` settings; raises ``ConfigInvalid`` when they are incomplete."""
        super().__init__(services)
        from runwire_auth0.jwks import JwksCache  # here, not at module level: see the module's docstring

        self.settings = services.settings_of(Auth0Settings).complete()
        self.keys = JwksCache(
            self.settings.jwks_url, ttl=self.settings.jwks_ttl, min_interval=self.settings.jwks_min_interval
        )

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """Verify a bearer token; ``None`` when the request carries none."""
        token = bearer_token(headers)
        if token is None:
            return None
        claims = await self.verify(token)
        return Principal(
            subject=claims["sub"],
            provider=self.name,
            projects=projects_from(claims, self.settings.projects_claim),
            input_mode="wrapped",
            claims=claims,
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """Check signature, algorithm, ``iss``, ``aud``, ``exp``, ``nbf`` and ``sub``; return the claims.

        :raises AuthRefused: with a short reason naming what is wrong.
        """
        import jwt  # imported already by __init__ (through runwire_auth0.jwks)

        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, RecursionError):
            raise AuthRefused("bearer token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise AuthRefused(f"token algorithm {algorithm!r:.20} is not accepted (only RS256)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthRefused("token header has no key id (kid)")
        key = await self.keys.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=list(self.settings.audience),
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthRefused("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthRefused("token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthRefused("token is not meant for this API (aud)") from None
        except jwt.InvalidIssuerError:
            raise AuthRefused("token comes from another issuer (iss)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthRefused(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthRefused("token signature is invalid") from None
        except (jwt.PyJWTError, ValueError, RecursionError):
            raise AuthRefused("bearer token is not a valid JWT") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise AuthRefused("token subject (sub) must be a non-empty string")
        return claims
