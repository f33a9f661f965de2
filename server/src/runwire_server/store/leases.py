"""The store's process leases: live processes, and releasing the runs of dead ones.

Every ``runwire serve`` and ``runwire worker`` renews its row in ``runwire_processes`` every
``RUNWIRE_HEARTBEAT_S``; a run it holds has ``claimed_by`` starting with its id. A process whose
row is older than ``RUNWIRE_PROCESS_TIMEOUT_S`` (or gone) is dead, and its unfinished runs are
released: put back ``in queue`` (their node results kept) to be enqueued again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, update

from runwire.records import Status
from runwire_server.store.base import StoreBase
from runwire_server.store.rows import utcnow
from runwire_server.store.tables import PROCESS_ID_LENGTH, processes, runs

UNFINISHED = (Status.IN_QUEUE, Status.IN_PROGRESS)


class LeaseMethods(StoreBase):
    """Process heartbeats, the live-process count, and the release of orphaned runs."""

    def heartbeat(self, process_id: str, kind: str, host: str, pid: int) -> None:
        """Renew ``process_id``'s lease (its row, made on the first call)."""
        now = utcnow()
        with self._transaction(write=True) as conn:
            renewed = conn.execute(
                update(processes).where(processes.c.id == process_id).values(last_seen=now)
            ).rowcount
            if not renewed:
                values = {"id": process_id, "kind": kind, "host": host[:255], "pid": pid}
                conn.execute(insert(processes).values(**values, started_at=now, last_seen=now))

    def forget_process(self, process_id: str) -> None:
        """Drop ``process_id``'s lease (a clean stop: what it still holds is released at once)."""
        with self._transaction(write=True) as conn:
            conn.execute(delete(processes).where(processes.c.id == process_id))

    def forget_dead_processes(self, older_than_s: float) -> int:
        """Drop the rows of processes silent for ``older_than_s`` seconds; return how many."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self._transaction(write=True) as conn:
            return int(conn.execute(delete(processes).where(processes.c.last_seen < cutoff)).rowcount)

    def queue_state(self, timeout_s: float) -> tuple[int, int]:
        """``(workers alive, runs in queue)``: workers that heartbeated within ``timeout_s``."""
        cutoff = utcnow() - timedelta(seconds=timeout_s)
        alive = (processes.c.kind == "worker", processes.c.last_seen >= cutoff)
        with self._transaction() as conn:
            workers = conn.execute(select(func.count()).select_from(processes).where(*alive)).scalar_one()
            queued = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.status == Status.IN_QUEUE)
            ).scalar_one()
        return int(workers), int(queued)

    def adopt_claim(self, run_id: str, delivery: str, claimant: str) -> bool:
        """Hand a run ``in progress`` claimed for ``delivery`` (a queue message's id, by any
        process) to ``claimant``, the same message retried here; ``False`` if it is not so held."""
        with self._transaction(write=True) as conn:
            adopted = conn.execute(
                update(runs)
                .where(
                    runs.c.id == run_id,
                    runs.c.status == Status.IN_PROGRESS,
                    runs.c.claimed_by.endswith(f":{delivery}", autoescape=True),
                )
                .values(claimed_by=claimant)
            ).rowcount
        return bool(adopted)

    def release_orphaned_runs(
        self, timeout_s: float, unowned: bool = False, claim_as: str | None = None, limit: int = 1000
    ) -> list[str]:
        """Put back ``in queue`` the unfinished runs whose owner process is dead; return their ids.

        Dead: no row in ``runwire_processes`` renewed within ``timeout_s``. With ``unowned``, runs
        held by no process (``claimed_by`` empty) are taken too (embedded mode, where a run
        waiting is always held). A released run keeps its node results (what was in flight when
        its owner died) and gets ``claimed_by = claim_as`` (a process taking it over) or none.
        One statement: a run is released by one caller, and never while a live process holds it.
        At most ``limit`` runs (oldest first) per call.
        """
        cutoff = utcnow() - timedelta(seconds=timeout_s)
        live = select(processes.c.id).where(processes.c.last_seen >= cutoff)
        owner = func.substr(runs.c.claimed_by, 1, PROCESS_ID_LENGTH)
        orphaned = and_(runs.c.claimed_by.is_not(None), owner.not_in(live))
        if unowned:
            orphaned = or_(orphaned, runs.c.claimed_by.is_(None))
        with self._transaction(write=True) as conn:
            oldest = (
                select(runs.c.id)
                .where(runs.c.status.in_(UNFINISHED), orphaned)
                .order_by(runs.c.created_at)
                .limit(limit)
            )
            rows = conn.execute(
                update(runs)
                .where(runs.c.id.in_(oldest), runs.c.status.in_(UNFINISHED), orphaned)
                .values(status=Status.IN_QUEUE, claimed_by=claim_as, updated_at=utcnow())
                .returning(runs.c.id)
            ).all()
        return [r[0] for r in rows]
