"""The store's run methods: create, claim, save, cancel and merge runs, and recovery after a crash.

A run's terminal status is written in the same transaction as its node results, so no reader
ever sees one without the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from runwire.jsontext import storable_text
from runwire.records import TERMINAL, Status
from runwire_server.store.base import StoreBase
from runwire_server.store.rows import RunRow, WorkflowHead, WorkflowRow, utcnow
from runwire_server.store.tables import runs


class RunFinished(Exception):
    """A change would turn a finished run into an unfinished one."""


RUN_COLUMNS = (
    runs.c.id,
    runs.c.workflow_id,
    runs.c.project,
    runs.c.workflow_version,
    runs.c.status,
    runs.c.input,
    runs.c.nodes,
    runs.c.total_cost,
    runs.c.error,
    runs.c.created_at,
    runs.c.updated_at,
    runs.c.owner,
    runs.c.events,
    runs.c.cancelled_by,
)
_INSERT_RUN = insert(runs)
_GET_RUN = select(*RUN_COLUMNS).where(runs.c.id == bindparam("rid"))
_CLAIM_RUN = (
    update(runs)
    .where(
        runs.c.id == bindparam("rid"),
        or_(
            runs.c.status == Status.IN_QUEUE,
            and_(runs.c.status == Status.IN_PROGRESS, runs.c.claimed_by == bindparam("claimant")),
        ),
    )
    .values(  # nodes are kept: what a run interrupted had started decides whether it starts over
        status=Status.IN_PROGRESS,
        total_cost=0.0,
        error=None,
        updated_at=bindparam("now"),
        claimed_by=bindparam("claimant"),
    )
    .returning(*RUN_COLUMNS)
)
_SAVED = {
    "status": bindparam("status"),
    "nodes": bindparam("nodes", type_=runs.c.nodes.type),
    "total_cost": bindparam("cost"),
    "error": bindparam("error"),
    "updated_at": bindparam("now"),
}
# a finished run stays as it finished: its executor may still be going when a cancel
# (runwire_server.cancellation), an execution update or the reconciler ended it, and its late
# writes must neither reopen the run nor rewrite its results
ENDED_BY_UPDATE = "an execution update"
"""Who "cancelled" a run that an execution update ended while a process was executing it: only
that process's executor hears it (its own end is not written)."""
_NOT_FINISHED = or_(runs.c.status == Status.IN_QUEUE, runs.c.status == Status.IN_PROGRESS)
_SAVE_RUN = update(runs).where(runs.c.id == bindparam("rid"), _NOT_FINISHED).values(**_SAVED)
_SAVE_RUN_EVENTS = (
    update(runs)
    .where(runs.c.id == bindparam("rid"), _NOT_FINISHED)
    .values(**_SAVED, events=bindparam("events", type_=runs.c.events.type))
)


def storable_cost(cost: float) -> float:
    """A run's total cost as both stores hold it: a cost that is no number (a plugin's node
    reported ``NaN``) as infinity, which the API shows as ``null`` as it shows ``NaN`` (SQLite
    stores ``NaN`` as NULL, which the column refuses: the run's terminal write failed)."""
    return math.inf if math.isnan(cost) else cost


class RunMethods(StoreBase):
    """Runs: each of one workflow version, from ``in queue`` to a terminal status."""

    def create_run(
        self,
        run_id: str,
        workflow: WorkflowRow | WorkflowHead,
        input_value: Any,
        status: str = Status.IN_QUEUE,
        nodes: dict[str, Any] | None = None,
        total_cost: float = 0.0,
        error: str | None = None,
        claimed_by: str | None = None,
        owner: str | None = None,
    ) -> RunRow:
        """Store a new run of ``workflow``'s current version: ``in queue`` (before it is enqueued),
        or, for a run executed without the queue, finished (status and node results in one statement).

        ``claimed_by`` stores the run already claimed by the delivery that will execute it;
        ``owner`` makes it visible only to that principal (a front-door run). Returns the run as stored.
        """
        now = utcnow()
        values = {
            "id": run_id,
            "workflow_id": workflow.id,
            "project": workflow.project,
            "workflow_version": workflow.version,
            "status": status,
            "input": input_value,
            "nodes": nodes if nodes is not None else {},
            "total_cost": storable_cost(total_cost),
            "error": error,
            "created_at": now,
            "updated_at": now,
            "claimed_by": claimed_by,
            "owner": owner,
        }
        self._first(_INSERT_RUN, values, write=True)
        columns = (run_id, workflow.id, workflow.project, workflow.version, status, input_value)
        stored_error = error if error is None else storable_text(error)  # as the column stores it
        return RunRow(*columns, values["nodes"], values["total_cost"], stored_error, now, now, owner)

    def get_run(self, run_id: str) -> RunRow | None:
        """The run with ``run_id``, or ``None``."""
        row = self._first(_GET_RUN, {"rid": run_id})
        return RunRow(*row) if row is not None else None

    def claim_run(self, run_id: str, claimant: str = "") -> RunRow | None:
        """Mark a run ``in progress`` for ``claimant`` (the queue message's id); ``None`` if not claimed.

        Atomic: a run ``in queue`` goes to exactly one claimant. A run ``in progress`` can be
        claimed again only by the message that claimed it (redelivered because its worker died);
        any other message (a duplicate) gets ``None``, as do terminal and unknown runs. The run
        returned keeps the node records it had (those of an interrupted execution, empty for a
        run never started): the claimant decides from them whether it may start over
        (:mod:`runwire_server.interrupted`).
        """
        params = {"rid": run_id, "now": utcnow(), "claimant": claimant}
        row = self._first(_CLAIM_RUN, params, write=True)
        return RunRow(*row) if row is not None else None

    def save_run(
        self,
        run_id: str,
        status: str,
        nodes: dict[str, Any],
        total_cost: float,
        error: str | None = None,
        events: list[Any] | None = None,
    ) -> None:
        """Write a run's status, node results, cost and error in one statement, with its event
        log (:mod:`runwire_server.events`) when ``events`` is given (``None``: kept as it is). Nothing is
        written to a finished run (a cancel or an execution update ended it while its executor
        went on): the executor's late writes must not reopen or rewrite it."""
        cost = storable_cost(total_cost)
        params = {"rid": run_id, "status": status, "nodes": nodes, "cost": cost, "error": error}
        params["now"] = utcnow()
        if events is None:
            self._first(_SAVE_RUN, params, write=True)
        else:
            params["events"] = events
            self._first(_SAVE_RUN_EVENTS, params, write=True)
        if status in TERMINAL:
            self._ended(run_id)

    def cancel_run(self, run_id: str, by: str, end_queued: bool = True) -> RunRow | None:
        """Cancel an unfinished run for ``by`` (an identity); return it as it is now, or ``None``
        when there is no such run or it is terminal.

        One atomic statement: a run ``in queue`` ends ``failed`` with the error ``cancelled by
        <by>`` (a claim made at the same moment either came first, and the run is ``in progress``
        here, or finds it failed); a run ``in progress`` gets ``cancelled_by`` only (its status is
        written by its executor when it stops: see :mod:`runwire_server.cancellation`). The first
        canceller is kept. The returned status says which happened. With ``end_queued`` false, a
        run ``in queue`` is only marked too: the caller knows it is executing (an embedded run
        shows ``in queue`` until its first progress write) and stops it, and its executor
        writes how it ended.
        """
        queued = runs.c.status == Status.IN_QUEUE if end_queued else false()
        first = func.coalesce(runs.c.cancelled_by, by)
        with self._transaction(write=True) as conn:
            row = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status.in_([Status.IN_QUEUE, Status.IN_PROGRESS]))
                .values(
                    status=case((queued, Status.FAILED), else_=runs.c.status),
                    error=case((queued, literal("cancelled by ") + first), else_=runs.c.error),
                    cancelled_by=first,
                    updated_at=utcnow(),
                )
                .returning(*RUN_COLUMNS)
            ).first()
        if row is None:
            return None
        run = RunRow(*row)
        if run.status in TERMINAL:
            self._ended(run_id)
        return run

    def cancel_requests(self, run_ids: Iterable[str]) -> list[tuple[str, str]]:
        """``(run id, cancelled by)`` of each run among ``run_ids`` that was cancelled, or that an
        execution update ended (``cancelled by`` is then :data:`ENDED_BY_UPDATE`): one query, what
        a process executing runs polls for (its own executions of these must stop)."""
        ids = list(run_ids)
        found: list[tuple[str, str]] = []
        with self._transaction() as conn:
            for start in range(0, len(ids), 500):  # within every database's parameter limit
                chunk = ids[start : start + 500]
                query = select(runs.c.id, runs.c.cancelled_by).where(
                    runs.c.id.in_(chunk),
                    or_(runs.c.cancelled_by.is_not(None), runs.c.status.in_(sorted(TERMINAL))),
                )
                found.extend((r[0], r[1] or ENDED_BY_UPDATE) for r in conn.execute(query).all())
        return found

    def apply_update(self, run_id: str, status: str, nodes: dict[str, Any]) -> bool:
        """Merge a progress payload (status + per-node results) into a run; ``False`` if none.
        A run ``in progress`` stays so when the payload says ``in queue`` (its nodes are merged).

        :raises RunFinished: the run is terminal: its record is final (a late or replayed progress
            message must neither re-open, and so re-run, a finished run nor rewrite its results).
        """
        with self._transaction(write=True) as conn:
            row = conn.execute(
                select(runs.c.nodes, runs.c.status).where(runs.c.id == run_id).with_for_update()
            ).first()
            if row is None:
                return False
            if row[1] in TERMINAL:  # a late or replayed message must neither re-open nor rewrite it
                raise RunFinished(f"the run is already {row[1]}; a finished run cannot be changed")
            if status == Status.IN_QUEUE and row[1] == Status.IN_PROGRESS:
                # no way back: a run put back in queue while it runs would be enqueued again by a
                # reconciler (runs in queue past RUNWIRE_REQUEUE_AFTER_S) and run a second time
                # beside the first; a late "in queue" message is a stale one
                status = Status.IN_PROGRESS
            merged = {**(row[0] or {}), **nodes}
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status, nodes=merged, updated_at=utcnow())
            )
        if status in TERMINAL:
            self._ended(run_id)
        return True

    def ended_runs(self, run_ids: Iterable[str]) -> list[str]:
        """The ids among ``run_ids`` of runs that are terminal (one query per 500 ids)."""
        ids = list(run_ids)
        found: list[str] = []
        with self._transaction() as conn:
            for start in range(0, len(ids), 500):  # within every database's parameter limit
                query = select(runs.c.id).where(
                    runs.c.id.in_(ids[start : start + 500]), runs.c.status.in_(sorted(TERMINAL))
                )
                found.extend(conn.execute(query).scalars())
        return found

    def unfinished_runs(self) -> list[str]:
        """Ids of runs left ``in queue`` or ``in progress``, oldest first."""
        with self._transaction() as conn:
            rows = conn.execute(
                select(runs.c.id)
                .where(runs.c.status.in_([Status.IN_QUEUE, Status.IN_PROGRESS]))
                .order_by(runs.c.created_at)
            ).all()
        return [r[0] for r in rows]

    def requeue_runs(self, run_ids: Iterable[str]) -> None:
        """Put runs back ``in queue`` (before enqueueing them again), keeping their node records:
        the executor that claims one decides from them whether it may start over."""
        ids = list(run_ids)
        if not ids:
            return
        with self._transaction(write=True) as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(ids), runs.c.status.not_in(sorted(TERMINAL)))
                .values(
                    status=Status.IN_QUEUE,
                    total_cost=0.0,
                    error=None,
                    updated_at=utcnow(),
                    claimed_by=None,
                )
            )

    def touch_stale_queued_runs(self, older_than_s: float, limit: int = 1000) -> list[str]:
        """Ids of runs ``in queue`` untouched for ``older_than_s`` seconds, marked touched now.

        One atomic statement: a run claimed meanwhile is not returned, and a run returned is not
        returned again before another ``older_than_s`` (so a long backlog is not enqueued again on
        every sweep). At most ``limit`` (oldest first) per call.
        """
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self._transaction(write=True) as conn:
            oldest = (
                select(runs.c.id)
                .where(runs.c.status == Status.IN_QUEUE, runs.c.updated_at < cutoff)
                .order_by(runs.c.updated_at)
                .limit(limit)
            )
            rows = conn.execute(
                update(runs)
                .where(runs.c.id.in_(oldest), runs.c.status == Status.IN_QUEUE)
                .values(updated_at=utcnow())
                .returning(runs.c.id)
            ).all()
        return [r[0] for r in rows]
