"""The store's run lists: one workflow's history, and every run a principal may see."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, func, null, or_, select

from runwire.records import Status
from runwire_server.store.base import StoreBase
from runwire_server.store.rows import RunRow
from runwire_server.store.runs import RUN_COLUMNS
from runwire_server.store.tables import runs, workflows

HistoryOrdering = Literal["created_at", "-created_at", "cost", "-cost"]


_ORDERINGS = {
    "created_at": (runs.c.created_at.asc(), runs.c.id.asc()),
    "-created_at": (runs.c.created_at.desc(), runs.c.id.desc()),
    "cost": (runs.c.total_cost.asc(), runs.c.created_at.asc()),
    "-cost": (runs.c.total_cost.desc(), runs.c.created_at.desc()),
}

# The hot path's statements, built once (SQLAlchemy then only binds parameters).
# a list of runs: neither input nor node records (the heaviest columns), and the workflow's title
_LISTED_COLUMNS = (
    *(null().label(c.name) if c.name in ("input", "nodes") else c for c in RUN_COLUMNS),
    workflows.c.title,
)
RunStatusFilter = Literal["in queue", "in progress", "succeed", "failed", "cancelled"]


class RunListMethods(StoreBase):
    """Lists of runs, a page at a time."""

    def history(
        self,
        workflow_id: int,
        ordering: HistoryOrdering = "-created_at",
        offset: int = 0,
        limit: int = 20,
        owner: str | None = None,
    ) -> tuple[int, list[RunRow]]:
        """One workflow's runs in ``ordering`` (only ``owner``'s, when given); returns (count, page)."""
        where = [runs.c.workflow_id == workflow_id]
        if owner is not None:
            where.append(runs.c.owner == owner)
        with self._transaction() as conn:
            count = conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one()
            rows = conn.execute(
                select(*RUN_COLUMNS).where(*where).order_by(*_ORDERINGS[ordering]).offset(offset).limit(limit)
            ).all()
        return int(count), [RunRow(*r) for r in rows]

    def list_runs(
        self,
        projects: frozenset[int] | None,
        owner: str | None = None,
        status: RunStatusFilter | None = None,
        doors: Collection[tuple[int, str]] | None = None,
        other_than_doors: bool = False,
        workflow_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[tuple[RunRow, str]]]:
        """Runs newest first, each with its workflow's title; returns (count, page).

        Only runs of ``projects`` (``None``: all); with ``owner``, front-door runs (those with
        an owner) only of that owner. ``status`` ``cancelled`` is every cancelled run; ``doors``
        (``(project, title)`` of front-door workflows) keeps only their runs, or with
        ``other_than_doors`` every other run. Listed runs carry neither input nor node records.
        """
        where: list[ColumnElement[bool]] = []
        if projects is not None:
            where.append(runs.c.project.in_(sorted(projects)))
        if owner is not None:
            where.append(or_(runs.c.owner.is_(None), runs.c.owner == owner))
        if status == "cancelled":  # as RunRow.cancelled: not a run that succeeded before the cancel took
            where.append(and_(runs.c.cancelled_by.is_not(None), runs.c.status != Status.SUCCEED))
        elif status is not None:
            where.append(runs.c.status == status)
        if workflow_id is not None:
            where.append(runs.c.workflow_id == workflow_id)
        if doors is not None:
            pairs = [and_(workflows.c.project == p, workflows.c.title == t) for p, t in sorted(doors)]
            ids = select(workflows.c.id).where(or_(false(), *pairs))
            where.append(runs.c.workflow_id.not_in(ids) if other_than_doors else runs.c.workflow_id.in_(ids))
        joined = runs.join(workflows, workflows.c.id == runs.c.workflow_id)
        with self._transaction() as conn:
            count = conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one()
            rows = conn.execute(
                select(*_LISTED_COLUMNS)
                .select_from(joined)
                .where(*where)
                .order_by(*_ORDERINGS["-created_at"])
                .offset(offset)
                .limit(limit)
            ).all()
        page = []
        for row in rows:
            run = RunRow(*row[:-1])
            run.nodes = {}
            page.append((run, str(row[-1])))
        return int(count), page
