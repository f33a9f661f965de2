"""Fixtures of the runwire-auth0 tests: RSA keys made here, a real JWKS server on 127.0.0.1, tokens."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pytest_httpserver import HTTPServer
from werkzeug import Response

from runwire.auth import AuthServices
from runwire_auth0.provider import Auth0Auth

DOMAIN = "runwire-test.eu.auth0.com"
ISSUER = f"https://{DOMAIN}/"
AUDIENCE = "https://api.runwire.test"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with its key id."""

    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWKS entry, as Auth0 publishes it."""
        jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def _generate(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    """Three keys, made once: the tenant's current key, its next key, and an attacker's."""
    return {name: _generate(f"kid-{name}") for name in ("current", "next", "attacker")}


@pytest.fixture(scope="session")
def _jwks_http() -> Iterator[HTTPServer]:
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        yield server


class Jwks:
    """The JWKS endpoint: which keys it publishes, and how often it was asked."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.published: list[dict[str, Any]] = []
        server.expect_request(JWKS_PATH).respond_with_handler(
            lambda _request: _json_response({"keys": list(self.published)})
        )

    @property
    def url(self) -> str:
        return self.server.url_for(JWKS_PATH)

    @property
    def fetches(self) -> int:
        return sum(1 for request, _ in self.server.log if request.path == JWKS_PATH)

    def publish(self, *keys: SigningKey) -> None:
        self.published = [k.jwk() for k in keys]


def _json_response(body: Any) -> Response:
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def jwks(_jwks_http: HTTPServer, keys: dict[str, SigningKey]) -> Jwks:
    """The JWKS server, cleared, publishing the tenant's current key."""
    _jwks_http.clear()
    endpoint = Jwks(_jwks_http)
    endpoint.publish(keys["current"])
    return endpoint


@pytest.fixture
def auth0_env(jwks: Jwks) -> dict[str, str]:
    """Provider settings pointing at the test JWKS server."""
    return {
        "RUNWIRE_AUTH0_DOMAIN": DOMAIN,
        "RUNWIRE_AUTH0_AUDIENCE": AUDIENCE,
        "RUNWIRE_AUTH0_JWKS_URL": jwks.url,
    }


MakeProvider = Callable[..., Auth0Auth]


@pytest.fixture
def make_provider(auth0_env: dict[str, str]) -> MakeProvider:
    """Build the provider as the server does, with extra ``RUNWIRE_AUTH0_*`` settings."""

    def make(**extra: str) -> Auth0Auth:
        settings = {**auth0_env, **{f"RUNWIRE_AUTH0_{k.upper()}": v for k, v in extra.items()}}
        return Auth0Auth(AuthServices(settings=settings))

    return make


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims of an access token for the test API; ``None`` removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "auth0|alice",
        "aud": [AUDIENCE, f"{ISSUER}userinfo"],
        "iat": now,
        "exp": now + 600,
        "https://runwire/projects": [12, 307],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, payload: dict[str, Any], kid: str | None = None) -> str:
    """An RS256 token signed by ``key`` (with ``kid``, default the key's own)."""
    return jwt.encode(payload, key.private, algorithm="RS256", headers={"kid": kid or key.kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any], header: dict[str, Any]) -> str:
    """A token with no signature at all (``alg: none`` style)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
