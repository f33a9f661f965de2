"""The store's idempotency keys: the first answer to each (principal, ``Idempotency-Key``).

A submit sent with an ``Idempotency-Key`` claims its row before it starts anything
(:meth:`IdempotencyMethods.claim_idempotency_key`, one atomic insert: of any number of
concurrent submits on any number of servers, exactly one claims it), writes its answer there
when it has one (:meth:`~IdempotencyMethods.finish_idempotency_key`), or gives the claim up
when it failed (:meth:`~IdempotencyMethods.release_idempotency_key`) so that a retry may try
again. The HTTP side is :mod:`runwire_server.api.idempotency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from runwire_server.store.base import StoreBase
from runwire_server.store.rows import utcnow
from runwire_server.store.tables import idempotency, processes

IDEMPOTENCY_WINDOW_S = 86_400.0
"""How long a key's first answer is kept and replayed: 24 hours (then purged)."""
CLAIM_ATTEMPTS = 5
"""Tries of :meth:`IdempotencyMethods.claim_idempotency_key` when rows vanish under it."""

_COLUMNS = (
    idempotency.c.request_hash,
    idempotency.c.status_code,
    idempotency.c.content_type,
    idempotency.c.reply,
    idempotency.c.created_at,
)


@dataclass(frozen=True)
class IdempotencyRow:
    """What an earlier submit with the same key left: its request's hash and, once it has
    answered, its answer."""

    request_hash: str
    status_code: int | None
    """``None`` while the first submit is in progress."""
    content_type: str | None
    reply: bytes | None
    created_at: datetime

    @property
    def finished(self) -> bool:
        """Whether the first submit has answered (:attr:`status_code` and :attr:`reply` are set)."""
        return self.status_code is not None


class IdempotencyMethods(StoreBase):
    """Claim, answer, release and purge idempotency keys."""

    def _key(self, principal: str, key: str) -> tuple[ColumnElement[bool], ...]:
        return (idempotency.c.principal == principal, idempotency.c.idempotency_key == key)

    def claim_idempotency_key(
        self,
        principal: str,
        key: str,
        request_hash: str,
        claimant: str,
        window_s: float,
        lease_timeout_s: float,
    ) -> IdempotencyRow | None:
        """Claim ``key`` for ``principal``'s submit; ``None`` when claimed, else the row of the
        submit that holds it (answered, or still in progress).

        A row older than ``window_s`` seconds counts as absent, and so does an unanswered claim
        whose process (``claimant``, an id of ``runwire_processes``) has not renewed its lease
        within ``lease_timeout_s`` (it died mid-submit): either is taken over, atomically.
        """
        for _ in range(CLAIM_ATTEMPTS):
            now = utcnow()
            values = {
                "request_hash": request_hash,
                "status_code": None,
                "content_type": None,
                "reply": None,
                "created_at": now,
                "claimed_by": claimant,
            }
            try:
                with self._transaction(write=True) as conn:
                    conn.execute(
                        insert(idempotency).values(principal=principal, idempotency_key=key, **values)
                    )
                return None
            except IntegrityError:
                pass  # held: answered, in progress, or to be taken over
            alive = exists().where(
                processes.c.id == idempotency.c.claimed_by,
                processes.c.last_seen >= now - timedelta(seconds=lease_timeout_s),
            )
            expired = idempotency.c.created_at < now - timedelta(seconds=window_s)
            abandoned = and_(idempotency.c.status_code.is_(None), ~alive)
            with self._transaction(write=True) as conn:
                taken = conn.execute(
                    update(idempotency)
                    .where(*self._key(principal, key), or_(expired, abandoned))
                    .values(**values)
                ).rowcount
                if taken:
                    return None
                row = conn.execute(select(*_COLUMNS).where(*self._key(principal, key))).first()
            if row is not None:
                return IdempotencyRow(*row)
            # released (a failed submit) between the insert and the read: try again
        raise RuntimeError(f"could not claim idempotency key {key!r}: it changes hands too fast")

    def idempotency_row(self, principal: str, key: str) -> IdempotencyRow | None:
        """The row of ``principal``'s ``key``, or ``None`` (never claimed, released or purged)."""
        with self._transaction() as conn:
            row = conn.execute(select(*_COLUMNS).where(*self._key(principal, key))).first()
        return IdempotencyRow(*row) if row is not None else None

    def finish_idempotency_key(
        self, principal: str, key: str, claimant: str, status_code: int, content_type: str, reply: bytes
    ) -> bool:
        """Store the answer of the submit that claimed ``key``; ``False`` if its claim is gone."""
        with self._transaction(write=True) as conn:
            done = conn.execute(
                update(idempotency)
                .where(
                    *self._key(principal, key),
                    idempotency.c.claimed_by == claimant,
                    idempotency.c.status_code.is_(None),
                )
                .values(status_code=status_code, content_type=content_type[:255], reply=reply)
            )
        return done.rowcount > 0

    def release_idempotency_key(self, principal: str, key: str, claimant: str) -> None:
        """Give up an unanswered claim of ``key`` (the submit failed): a retry may claim it."""
        with self._transaction(write=True) as conn:
            conn.execute(
                delete(idempotency).where(
                    *self._key(principal, key),
                    idempotency.c.claimed_by == claimant,
                    idempotency.c.status_code.is_(None),
                )
            )

    def purge_idempotency_keys(self, older_than_s: float) -> int:
        """Delete the keys claimed more than ``older_than_s`` seconds ago; return how many."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self._transaction(write=True) as conn:
            return int(conn.execute(delete(idempotency).where(idempotency.c.created_at < cutoff)).rowcount)
