"""A cache of a JWKS endpoint's signing keys: fetched lazily, refreshed after a TTL or on an unknown kid.

Fetches are serialised and rate-limited (``min_interval``), so a stream of tokens with made-up
key ids costs at most one request to the endpoint per interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import httpx
import jwt

from runwire import AuthRefused

log = logging.getLogger(__name__)
MAX_JWKS_BYTES = 1_048_576
FETCH_TIMEOUT = 5.0


class JwksCache:
    """RSA signing keys of one JWKS URL, by key id."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        min_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_interval = min_interval
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        """The signing key with id ``kid``.

        :raises AuthRefused: no such key, even after a (rate-limited) refetch, or no keys
            could be fetched at all.
        """
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at >= self.ttl or kid not in self._keys:
            await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            if not self._keys:
                raise AuthRefused("signing keys are unavailable; try again later")
            raise AuthRefused("token is signed with an unknown key")
        return found

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._tried_at is not None and now - self._tried_at < self.min_interval:
                return  # fetched (or failed) a moment ago, possibly while we waited for the lock
            self._tried_at = now
            try:
                self._keys = await self._fetch()
                self._fetched_at = now
            except (httpx.HTTPError, ValueError, RecursionError, jwt.PyJWKSetError) as exc:
                # keep serving the keys we have: an outage of the endpoint must not lock everyone out
                log.error("cannot fetch signing keys from %s: %s", self.url, exc)

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        # FETCH_TIMEOUT bounds the whole fetch, not each read (httpx's own timeout): an endpoint
        # sending its document a few bytes at a time would hold every refresh waiting on the lock
        try:
            async with asyncio.timeout(FETCH_TIMEOUT):
                body = await self._download()
        except TimeoutError:
            raise httpx.ReadTimeout(f"no whole JWKS document within {FETCH_TIMEOUT:g} s") from None
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS document is not a JSON object")
        keys = {}
        for key in jwt.PyJWKSet.from_dict(document):
            if key.key_type == "RSA" and key.public_key_use in (None, "sig") and key.key_id:
                keys[key.key_id] = key
        if not keys:
            raise ValueError("JWKS document has no RSA signing keys with a kid")
        log.info("fetched %d signing key(s) from %s", len(keys), self.url)
        return keys

    async def _download(self) -> bytes:
        """The JWKS document's bytes; read no further than :data:`MAX_JWKS_BYTES`."""
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT, trust_env=False) as client,
            client.stream("GET", self.url, headers={"Accept": "application/json"}) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"JWKS document is larger than {MAX_JWKS_BYTES} bytes")
        return bytes(body)
