"""The store's API keys: issued at random, stored only as a hash, expired or revoked in place.

:class:`StoreApiKeys` is what core's ``api-key`` provider asks (:class:`runwire.auth.ApiKeyStore`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, select, update

from runwire.auth import Principal
from runwire.errors import AuthRefused
from runwire_server.store.base import StoreBase
from runwire_server.store.rows import ApiKeyRow, key_status, utcnow
from runwire_server.store.tables import KEY_NAME_MAX, api_keys

if TYPE_CHECKING:
    from runwire_server.store import Store

KEY_PREFIX = "rw_"
KEY_USE_WRITE_INTERVAL_S = 60.0
"""A key's ``last_used_at`` is written at most this often per key per process."""

_LOOKUP_KEY = select(
    api_keys.c.id, api_keys.c.name, api_keys.c.projects, api_keys.c.expires_at, api_keys.c.revoked_at
).where(api_keys.c.key_hash == bindparam("hash"))
_NOTE_KEY_USE = (
    update(api_keys).where(api_keys.c.id == bindparam("kid")).values(last_used_at=bindparam("now"))
)
_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.projects,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
)


def hash_key(key: str) -> str:
    """SHA-256 of an API key (keys are random and long, so no slow hash is needed)."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class ApiKeyMethods(StoreBase):
    """API keys scoped to projects, with their lifecycle (expiry, revocation, last use)."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        super().__init__(url, pool_size)
        self._key_use_written: dict[int, float] = {}
        """Key id → ``time.monotonic()`` of this process's last ``last_used_at`` write."""

    def create_api_key(
        self, projects: Iterable[int], name: str = "", expires_at: datetime | None = None
    ) -> str:
        """Make a random key scoped to ``projects``; store only its hash; return the key.

        :param expires_at: when the key stops working (timezone-aware; ``None``: never).
        """
        return self.issue_api_key(projects, name, expires_at)[0]

    def issue_api_key(
        self, projects: Iterable[int], name: str = "", expires_at: datetime | None = None
    ) -> tuple[str, ApiKeyRow]:
        """As :meth:`create_api_key`, and also return the key's stored record (its id).

        :raises ValueError: ``name`` is longer than :data:`KEY_NAME_MAX` or holds a control
            character (it is shown in terminals and pages).
        """
        if len(name) > KEY_NAME_MAX:
            raise ValueError(f"a key name has at most {KEY_NAME_MAX} characters, not {len(name):,}")
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise ValueError("a key name may not hold control characters (newlines, tabs, escapes)")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        scoped = sorted(set(projects))
        if not name:
            name = f"key for project(s) {', '.join(map(str, scoped))}"
            if len(name) > KEY_NAME_MAX:
                name = f"key for {len(scoped)} projects"
        expires_at = expires_at.astimezone(UTC) if expires_at is not None else None
        now = utcnow()
        with self._transaction(write=True) as conn:
            new_id = conn.execute(
                insert(api_keys)
                .values(
                    name=name, key_hash=hash_key(key), projects=scoped, created_at=now, expires_at=expires_at
                )
                .returning(api_keys.c.id)
            ).scalar_one()
        return key, ApiKeyRow(int(new_id), name, scoped, now, expires_at, None, None)

    def lookup_api_key(self, key: str) -> Principal | None:
        """The principal of a stored key (``None``: no such key), and note that it was used.

        One indexed statement; whether the key is still valid is decided from it on every call
        (nothing is cached), so a key revoked by another process is refused on its next use.
        ``last_used_at`` is written at most once per :data:`KEY_USE_WRITE_INTERVAL_S` per key
        per process, so it may lag by that much (a write per request would cost the hot path).

        :raises AuthRefused: the key is revoked (``"API key revoked"``) or expired.
        """
        row = self._first(_LOOKUP_KEY, {"hash": hash_key(key)})
        if row is None:
            return None
        key_id, name, projects, expires_at, revoked_at = row
        now = utcnow()
        status = key_status(expires_at, revoked_at, now)
        if status != "active":
            raise AuthRefused(f"API key {status}")
        tick = time.monotonic()
        written = self._key_use_written.get(key_id)
        if written is None or tick - written >= KEY_USE_WRITE_INTERVAL_S:
            self._key_use_written[key_id] = tick
            self._first(_NOTE_KEY_USE, {"kid": key_id, "now": now}, write=True)
        return Principal(
            subject=f"key:{key_id}",
            provider="api-key",
            projects=frozenset(int(p) for p in projects),
            claims={"key_name": name},
        )

    def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        """The stored key with ``key_id``, or ``None``."""
        with self._transaction() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).first()
        return ApiKeyRow(*row) if row is not None else None

    def list_api_keys(self) -> list[ApiKeyRow]:
        """Every stored key, oldest first (revoked and expired ones included)."""
        with self._transaction() as conn:
            rows = conn.execute(select(*_KEY_COLUMNS).order_by(api_keys.c.id)).all()
        return [ApiKeyRow(*r) for r in rows]

    def revoke_api_key(self, key_id: int) -> bool:
        """Mark a key revoked now; ``False`` when there is no such key or it was already revoked."""
        with self._transaction(write=True) as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return done.rowcount > 0


class StoreApiKeys:
    """The store as core's :class:`runwire.auth.ApiKeyStore` (what the ``api-key`` provider asks)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def lookup(self, key: str) -> Principal | None:
        """The principal of ``key``, or ``None``.

        :raises AuthRefused: the key is revoked or expired.
        """
        return await self.store.lookup_api_key(key)
