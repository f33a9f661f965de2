"""The store's retention method: delete finished runs older than a cutoff, a batch at a time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from runwire.records import TERMINAL
from runwire_server.store.base import StoreBase
from runwire_server.store.tables import runs

_FINISHED = sorted(TERMINAL)


class RetentionMethods(StoreBase):
    """Deleting old finished runs (``RUNWIRE_RUN_RETENTION``; :mod:`runwire_server.retention`)."""

    def delete_finished_runs(self, older_than: datetime, limit: int = 500) -> int:
        """Delete at most ``limit`` runs ``succeed`` or ``failed`` whose ``updated_at`` is before
        ``older_than``, oldest first; return how many were deleted.

        One statement (the ``updated_at`` index finds them); unfinished runs are never deleted,
        and concurrent calls are harmless (a run is deleted by one of them, the other skips it).
        """
        oldest = (
            select(runs.c.id)
            .where(runs.c.status.in_(_FINISHED), runs.c.updated_at < older_than)
            .order_by(runs.c.updated_at)
            .limit(limit)
        )
        with self._transaction(write=True) as conn:
            result = conn.execute(delete(runs).where(runs.c.id.in_(oldest), runs.c.status.in_(_FINISHED)))
        return int(result.rowcount)
