"""Run and node records: what a run produced, in the ScriptRun ``workflow_result`` shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Every status a run or a node can have, spelled as the ScriptRun wire format spells it."""

    IN_QUEUE = "in queue"
    """A run stored and waiting for an executor."""
    IN_PROGRESS = "in progress"
    """A run or node executing."""
    SUCCEED = "succeed"
    """A run or node that finished without error."""
    FAILED = "failed"
    """A run or node that finished with an error."""
    SKIPPED = "skipped"
    """A node on a branch not taken (nodes only)."""
    NOT_FOUND = "not found"
    """The answer about a run that does not exist (``workflow_result`` only; never stored)."""


TERMINAL = frozenset({Status.SUCCEED, Status.FAILED})
"""The statuses a run ends in."""


@dataclass(slots=True)
class NodeRecord:
    """One node's outcome: ``status`` is ``in progress``, ``succeed``, ``failed`` or ``skipped``."""

    id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    cost: float = 0.0
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        """The reference's per-node object: ``{"id", "status", "result"}`` (+ ``error``, and
        ``attempts`` when the node was retried)."""
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        if self.attempts > 1:
            out["attempts"] = self.attempts
        return out


@dataclass(slots=True)
class RunRecord:
    """A run's outcome: status, node records keyed by node id, total cost, and run error."""

    id: str
    status: str
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    total_cost: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The reference's ``workflow_result`` ``data`` object."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "data": {k: v.to_json() for k, v in self.nodes.items()},
            "metrics": {"total_cost": round(self.total_cost, 10)},
        }
        if self.error is not None:
            out["error"] = self.error
        return out
