"""The auth0 provider against a real JWKS server on 127.0.0.1, with keys generated in the test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

import runwire_auth0.jwks
from runwire.auth import AuthServices
from runwire.errors import AuthRefused, ConfigInvalid
from runwire.plugins import Plugins
from runwire_auth0.provider import Auth0Auth

from .conftest import AUDIENCE, ISSUER, Jwks, MakeProvider, SigningKey, b64, bearer, claims, sign, unsigned


def test_a_fresh_plugin_manager_finds_the_provider_through_the_entry_point() -> None:
    plugins = Plugins.load()
    assert plugins.auth_providers.get("auth0") is Auth0Auth
    assert plugins.auth_providers.owners["auth0"] == "auth0"
    info = next(i for i in plugins.describe() if i.name == "auth0")
    assert info.distribution == "runwire-auth0" and info.auth_providers == ["auth0"]


async def test_a_valid_token_gives_a_wrapped_mode_principal_with_its_projects(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    principal = await make_provider().authenticate(bearer(sign(keys["current"], claims())))
    assert principal is not None
    assert principal.subject == "auth0|alice"
    assert principal.provider == "auth0"
    assert principal.projects == frozenset({12, 307})
    assert principal.input_mode == "wrapped"
    assert principal.may_access(307) and not principal.may_access(6)
    assert principal.claims["iss"] == ISSUER
    assert jwks.fetches == 1


async def test_keys_are_cached_between_requests(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    provider = make_provider()
    for _ in range(5):
        assert await provider.authenticate(bearer(sign(keys["current"], claims()))) is not None
    assert jwks.fetches == 1


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, {"x-api-key": "k"}]
)
async def test_requests_without_a_bearer_token_are_left_to_other_providers(
    make_provider: MakeProvider, jwks: Jwks, headers: dict[str, str]
) -> None:
    assert await make_provider().authenticate(headers) is None
    assert jwks.fetches == 0


def _hs256_with_public_key(key: SigningKey, payload: dict[str, object]) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the RSA public key's PEM."""
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid}).encode())}."
    signing_input += b64(json.dumps(payload).encode())
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


async def _refusal(provider: Auth0Auth, token: str) -> str:
    with pytest.raises(AuthRefused) as caught:
        await provider.authenticate(bearer(token))
    return str(caught.value)


async def test_alg_none_and_unsigned_tokens_are_refused(
    make_provider: MakeProvider, keys: dict[str, SigningKey]
) -> None:
    provider = make_provider()
    kid = keys["current"].kid
    assert "'none' is not accepted" in await _refusal(
        provider, unsigned(claims(), {"alg": "none", "kid": kid})
    )
    assert "'None' is not accepted" in await _refusal(
        provider, unsigned(claims(), {"alg": "None", "kid": kid})
    )
    # an RS256 header with the signature cut off
    stripped = sign(keys["current"], claims()).rsplit(".", 1)[0] + "."
    assert await _refusal(provider, stripped) == "token signature is invalid"


async def test_hs256_signed_with_the_public_key_is_refused(
    make_provider: MakeProvider, keys: dict[str, SigningKey]
) -> None:
    refusal = await _refusal(make_provider(), _hs256_with_public_key(keys["current"], claims()))
    assert refusal == "token algorithm 'HS256' is not accepted (only RS256)"


@pytest.mark.parametrize(
    ("make_payload", "reason"),
    [
        (lambda: claims(aud="https://another-api.example"), "not meant for this API"),
        (lambda: claims(aud=None), "lacks the 'aud' claim"),
        (lambda: claims(iss="https://evil.eu.auth0.com/"), "another issuer"),
        (lambda: claims(exp=int(time.time()) - 120), "expired"),
        (lambda: claims(exp=None), "lacks the 'exp' claim"),
        (lambda: claims(nbf=int(time.time()) + 600), "not valid yet"),
        (lambda: claims(sub=None), "lacks the 'sub' claim"),
        (lambda: claims(sub=""), "sub"),
    ],
)
async def test_claims_are_checked(
    make_provider: MakeProvider,
    keys: dict[str, SigningKey],
    make_payload: Callable[[], dict[str, object]],
    reason: str,
) -> None:
    # claims made when the test runs: made at collection, they expire in a long session
    assert reason in await _refusal(make_provider(), sign(keys["current"], make_payload()))


async def test_small_clock_skew_is_tolerated(
    make_provider: MakeProvider, keys: dict[str, SigningKey]
) -> None:
    now = int(time.time())
    token = sign(keys["current"], claims(exp=now - 3, nbf=now + 3))
    assert await make_provider().authenticate(bearer(token)) is not None
    assert "expired" in await _refusal(make_provider(leeway="0"), sign(keys["current"], claims(exp=now - 3)))


async def test_a_forged_signature_is_refused(
    make_provider: MakeProvider, keys: dict[str, SigningKey]
) -> None:
    provider = make_provider()
    forged = sign(keys["attacker"], claims(), kid=keys["current"].kid)
    assert await _refusal(provider, forged) == "token signature is invalid"
    # a genuine token whose payload was edited to widen its projects
    header, _payload, signature = sign(keys["current"], claims()).split(".")
    widened = b64(json.dumps(claims(**{"https://runwire/projects": "*"})).encode())
    assert await _refusal(provider, f"{header}.{widened}.{signature}") == "token signature is invalid"


async def test_an_unknown_kid_refetches_the_keys_once_to_follow_a_rotation(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    provider = make_provider(jwks_min_interval="0")
    assert await provider.authenticate(bearer(sign(keys["current"], claims()))) is not None
    jwks.publish(keys["current"], keys["next"])
    principal = await provider.authenticate(bearer(sign(keys["next"], claims(sub="auth0|bob"))))
    assert principal is not None and principal.subject == "auth0|bob"
    assert jwks.fetches == 2


async def test_refetches_for_unknown_kids_are_rate_limited(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    provider = make_provider(jwks_min_interval="3600")
    assert await provider.authenticate(bearer(sign(keys["current"], claims()))) is not None
    for i in range(20):
        refusal = await _refusal(provider, sign(keys["attacker"], claims(), kid=f"made-up-{i}"))
        assert refusal == "token is signed with an unknown key"
    assert jwks.fetches == 1


async def test_an_unreachable_jwks_endpoint_refuses_instead_of_crashing(
    keys: dict[str, SigningKey], auth0_env: dict[str, str]
) -> None:
    settings = {**auth0_env, "RUNWIRE_AUTH0_JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json"}
    provider = Auth0Auth(AuthServices(settings=settings))
    refusal = await _refusal(provider, sign(keys["current"], claims()))
    assert refusal == "signing keys are unavailable; try again later"


async def test_a_jwks_endpoint_sending_a_byte_at_a_time_is_given_up_on(
    keys: dict[str, SigningKey], auth0_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetch timeout bounds the whole fetch (here 0.5 s; each byte comes well within it, the
    document in over ten seconds): the keys are unavailable, not waited for under the lock."""
    monkeypatch.setattr(runwire_auth0.jwks, "FETCH_TIMEOUT", 0.5)
    body = json.dumps({"keys": [keys["current"].jwk()]}).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection, contextlib.suppress(OSError):  # OSError: the provider gave up
            connection.recv(65536)
            connection.sendall(head % len(body))
            for byte in body:
                if stop.wait(10 / len(body)):
                    return
                connection.sendall(bytes([byte]))

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/.well-known/jwks.json"
    provider = Auth0Auth(AuthServices(settings={**auth0_env, "RUNWIRE_AUTH0_JWKS_URL": url}))
    try:
        refusal = await _refusal(provider, sign(keys["current"], claims()))
    finally:
        stop.set()
        server.join(5)
        listener.close()
    assert refusal == "signing keys are unavailable; try again later"


async def test_a_broken_jwks_document_refuses(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    jwks.published = [{"kty": "oct", "k": b64(b"secret"), "kid": keys["current"].kid}]
    assert "signing keys are unavailable" in await _refusal(make_provider(), sign(keys["current"], claims()))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b.c",
        "x" * 20_000,
        base64.urlsafe_b64encode(b"[" * 9_000).decode().rstrip("=") + ".e30.sig",
        b64(b'{"alg":"RS256","kid":"\xff\xfe"}') + ".e30.sig",
        b64(b'{"alg":"RS256","kid":["list"]}') + ".e30.sig",
        b64(b'["RS256"]') + ".e30.sig",
        "{{ ''.__class__ }}",
    ],
)
async def test_malformed_bearer_tokens_are_refused(make_provider: MakeProvider, token: str) -> None:
    await _refusal(make_provider(), token)


@pytest.mark.parametrize(
    ("value", "projects"),
    [
        ([1, "2", " 3 "], frozenset({1, 2, 3})),
        ("*", None),
        (["*"], None),
        ([], frozenset()),
        (None, frozenset()),
    ],
)
async def test_projects_come_from_the_configured_claim(
    make_provider: MakeProvider, keys: dict[str, SigningKey], value: object, projects: frozenset[int] | None
) -> None:
    provider = make_provider(projects_claim="https://acme.example/projects")
    token = sign(keys["current"], claims(**{"https://acme.example/projects": value}))
    principal = await provider.authenticate(bearer(token))
    assert principal is not None and principal.projects == projects


@pytest.mark.parametrize("value", [12, "12", [True], [1.5], ["-1"], [{"id": 1}], ["١٢"]])
async def test_a_malformed_projects_claim_is_refused(
    make_provider: MakeProvider, keys: dict[str, SigningKey], value: object
) -> None:
    token = sign(keys["current"], claims(**{"https://runwire/projects": value}))
    assert "must be a list of project ids" in await _refusal(make_provider(), token)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"RUNWIRE_AUTH0_AUDIENCE": AUDIENCE}, "RUNWIRE_AUTH0_DOMAIN is required"),
        ({"RUNWIRE_AUTH0_DOMAIN": "t.auth0.com"}, "RUNWIRE_AUTH0_AUDIENCE is required"),
        (
            {"RUNWIRE_AUTH0_DOMAIN": "https://t.auth0.com/x", "RUNWIRE_AUTH0_AUDIENCE": "a"},
            "must be a host name",
        ),
        (
            {
                "RUNWIRE_AUTH0_DOMAIN": "t.auth0.com",
                "RUNWIRE_AUTH0_AUDIENCE": "a",
                "RUNWIRE_AUTH0_LEEWAY": "soon",
            },
            "LEEWAY",
        ),
    ],
)
def test_incomplete_configuration_stops_start_up(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigInvalid, match=message):
        Auth0Auth(AuthServices(settings=settings))


def test_the_domain_gives_issuer_and_jwks_url() -> None:
    provider = Auth0Auth(
        AuthServices(
            settings={"RUNWIRE_AUTH0_DOMAIN": "https://Tenant.EU.auth0.com/", "RUNWIRE_AUTH0_AUDIENCE": "a,b"}
        )
    )
    assert provider.settings.issuer == "https://tenant.eu.auth0.com/"
    assert provider.settings.jwks_url == "https://tenant.eu.auth0.com/.well-known/jwks.json"
    assert provider.settings.audience == ("a", "b")


async def test_concurrent_first_requests_fetch_the_keys_once(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    provider = make_provider()
    token = sign(keys["current"], claims())
    principals = await asyncio.gather(*(provider.authenticate(bearer(token)) for _ in range(20)))
    assert all(p is not None and p.subject == "auth0|alice" for p in principals)
    assert jwks.fetches == 1


async def test_a_key_removed_from_the_jwks_stops_working_after_the_ttl(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    provider = make_provider(jwks_ttl="0", jwks_min_interval="0")
    token = sign(keys["current"], claims())
    assert await provider.authenticate(bearer(token)) is not None
    jwks.publish(keys["next"])  # the tenant revoked the current key
    assert await _refusal(provider, token) == "token is signed with an unknown key"


async def test_keys_already_fetched_survive_an_outage_of_the_endpoint(
    make_provider: MakeProvider, keys: dict[str, SigningKey], jwks: Jwks
) -> None:
    provider = make_provider(jwks_ttl="0", jwks_min_interval="0")
    token = sign(keys["current"], claims())
    assert await provider.authenticate(bearer(token)) is not None
    jwks.published = "not a key list"  # type: ignore[assignment]  # the endpoint now serves garbage
    assert await provider.authenticate(bearer(token)) is not None
    assert jwks.fetches == 2
