"""The store's workflow methods: create, read, list, update and delete workflows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, update

from runwire_server.store.base import StoreBase
from runwire_server.store.rows import WorkflowHead, WorkflowRow, utcnow
from runwire_server.store.tables import runs, workflows

# The hot path's statements, built once (SQLAlchemy then only binds parameters).
_GET_WORKFLOW = select(workflows).where(workflows.c.id == bindparam("wid"))
_GET_WORKFLOW_HEAD = select(
    workflows.c.id, workflows.c.project, workflows.c.version, workflows.c.title
).where(workflows.c.id == bindparam("wid"))


class WorkflowMethods(StoreBase):
    """Workflows: stored as given, with a version bumped on every change."""

    def create_workflow(self, project: int, title: str, data: dict[str, Any]) -> WorkflowRow:
        """Store a new workflow and return it."""
        now = utcnow()
        with self._transaction(write=True) as conn:
            new_id = conn.execute(
                insert(workflows)
                .values(project=project, title=title, data=data, version=1, created_at=now, updated_at=now)
                .returning(workflows.c.id)
            ).scalar_one()
        return WorkflowRow(int(new_id), project, title, data, 1, now, now)

    def get_workflow(self, workflow_id: int) -> WorkflowRow | None:
        """The workflow with ``workflow_id``, or ``None``."""
        with self._transaction() as conn:
            row = conn.execute(_GET_WORKFLOW, {"wid": workflow_id}).first()
        return WorkflowRow(*row) if row is not None else None

    def get_workflow_head(self, workflow_id: int) -> WorkflowHead | None:
        """Id, project and version of a workflow (no data), or ``None``."""
        row = self._first(_GET_WORKFLOW_HEAD, {"wid": workflow_id})
        return WorkflowHead(*row) if row is not None else None

    def list_workflows(
        self,
        projects: frozenset[int] | None,
        project: int | None = None,
        title: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[WorkflowRow]]:
        """Workflows visible to ``projects`` (``None``: all), filtered; returns (count, page)."""
        where: list[ColumnElement[bool]] = []
        if projects is not None:
            where.append(workflows.c.project.in_(sorted(projects)))
        if project is not None:
            where.append(workflows.c.project == project)
        if title:
            # both sides lowered by the database's own lower(): Unicode-aware on PostgreSQL, and
            # on SQLite too (engine.py gives it Python's; its built-in one folds ASCII only)
            escaped = title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(func.lower(workflows.c.title).like(func.lower(f"%{escaped}%"), escape="\\"))
        with self._transaction() as conn:
            count = conn.execute(select(func.count()).select_from(workflows).where(*where)).scalar_one()
            rows = conn.execute(
                select(workflows).where(*where).order_by(workflows.c.id).offset(offset).limit(limit)
            ).all()
        return int(count), [WorkflowRow(*r) for r in rows]

    def update_workflow(
        self, workflow_id: int, title: str | None = None, data: dict[str, Any] | None = None
    ) -> WorkflowRow | None:
        """Change title and/or data; bumps ``version``. ``None`` when there is no such workflow."""
        values: dict[str, Any] = {"updated_at": utcnow(), "version": workflows.c.version + 1}
        if title is not None:
            values["title"] = title
        if data is not None:
            values["data"] = data
        with self._transaction(write=True) as conn:
            done = conn.execute(update(workflows).where(workflows.c.id == workflow_id).values(**values))
            if done.rowcount == 0:
                return None
            row = conn.execute(select(workflows).where(workflows.c.id == workflow_id)).one()
        return WorkflowRow(*row)

    def ensure_workflow(self, project: int, title: str, data: dict[str, Any]) -> WorkflowRow:
        """The workflow of ``project`` titled ``title`` holding ``data``: reused, updated or created."""
        _, rows = self.list_workflows(None, project, title, 0, 100)
        for row in rows:
            if row.title == title:
                if row.data == data:
                    return row
                updated = self.update_workflow(row.id, data=data)
                if updated is not None:
                    return updated
        return self.create_workflow(project, title, data)

    def delete_workflow(self, workflow_id: int) -> bool:
        """Delete a workflow and its runs; ``False`` when there was none."""
        with self._transaction(write=True) as conn:
            conn.execute(delete(runs).where(runs.c.workflow_id == workflow_id))
            return conn.execute(delete(workflows).where(workflows.c.id == workflow_id)).rowcount > 0
