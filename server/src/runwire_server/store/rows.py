"""The store's row types and the API's JSON shapes of them, with the store's clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from runwire.auth import Principal

ApiKeyStatus = Literal["active", "expired", "revoked"]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC (SQLite hands datetimes back without a zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class WorkflowRow:
    """A stored workflow."""

    id: int
    project: int
    title: str
    data: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The API's workflow object."""
        return {
            "id": self.id,
            "project": self.project,
            "title": self.title,
            "data": self.data,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(slots=True)
class WorkflowHead:
    """What identifies a workflow version, without its data."""

    id: int
    project: int
    version: int
    title: str = ""


@dataclass(slots=True)
class RunRow:
    """A stored run; ``nodes`` maps node id to the reference's per-node object."""

    id: str
    workflow_id: int
    project: int
    workflow_version: int
    status: str
    input: Any
    nodes: dict[str, Any]
    total_cost: float
    error: str | None
    created_at: datetime
    updated_at: datetime
    owner: str | None = None
    """A front-door run's principal (:attr:`runwire.auth.Principal.identity`); ``None`` otherwise."""
    events: list[Any] | None = None
    """The run's event log (:mod:`runwire_server.events`), ``None`` before its first event."""
    cancelled_by: str | None = None
    """The principal that cancelled the run, or ``None``."""

    @property
    def cancelled(self) -> bool:
        """Whether a cancel ended, or is ending, this run (not one that succeeded before it took)."""
        return self.cancelled_by is not None and self.status != "succeed"

    def visible_to(self, principal: Principal) -> bool:
        """Whether ``principal`` may see this run: one of its projects', and, for a front-door
        run, one it started (principals with every project see every run)."""
        if not principal.may_access(self.project):
            return False
        return self.owner is None or principal.projects is None or self.owner == principal.identity

    def result_json(self) -> dict[str, Any]:
        """The reference's ``workflow_result`` ``data`` object."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "data": self.nodes,
            "metrics": {"total_cost": self.total_cost},
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    def history_json(self) -> dict[str, Any]:
        """One item of a workflow's run history."""
        return {
            **self.result_json(),
            "workflow": self.workflow_id,
            "input_data": self.input,
            "cost": self.total_cost,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def key_status(expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> ApiKeyStatus:
    """``revoked`` (whatever its expiry), ``expired`` (from ``expires_at`` on) or ``active``."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


@dataclass(slots=True)
class ApiKeyRow:
    """A stored API key as ``runwire keys list`` shows it: never its secret nor its hash."""

    id: int
    name: str
    projects: list[int]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime | None = None) -> ApiKeyStatus:
        """``active``, ``expired`` or ``revoked`` at ``now`` (default: the current time)."""
        return key_status(self.expires_at, self.revoked_at, now or utcnow())

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The key as ``runwire keys list --json`` prints it (times in ISO 8601 UTC or ``null``)."""
        times = {
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }
        return {
            "id": self.id,
            "name": self.name,
            "projects": self.projects,
            **{label: iso(value) if value is not None else None for label, value in times.items()},
            "status": self.status(now),
        }
