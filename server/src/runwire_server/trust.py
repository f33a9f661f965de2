"""The trust model's checks: where privileged nodes may be, and what only the operator may set.

An API caller chooses a workflow's nodes; the operator chooses which projects may hold nodes
that reach the host (``RUNWIRE_PRIVILEGED_PROJECTS``) and every setting that widens what a
program may see or touch. Front-door workflows are the operator's own (written from the
server's configuration at boot) and are not subject to these checks. ``docs/security.md``
describes the whole model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runwire.errors import ConfigInvalid, RunwireError
from runwire.nodes import NodeType
from runwire.plugins import Plugins

ALL = "*"
PRIVILEGED_SETTING = "RUNWIRE_PRIVILEGED_PROJECTS"
WORKFLOW_DOOR = "workflow"
"""The front door of runs of API-made workflows (``/api/v1/workflows/{id}/run/``)."""


class RunRefused(RunwireError):
    """A stored workflow may not run under the operator's current grants (the API answers 403)."""


def parse_projects(text: str) -> frozenset[int] | None:
    """``RUNWIRE_PRIVILEGED_PROJECTS``: comma-separated project ids, ``*`` (every project) or empty.

    :raises ConfigInvalid: an entry is neither ``*`` nor a project id.
    """
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if ALL in entries:
        return None
    projects: set[int] = set()
    for entry in entries:
        if not (entry.isascii() and entry.isdigit()):
            raise ConfigInvalid(f"{PRIVILEGED_SETTING}: {entry!r} is neither a project id nor '*'")
        projects.add(int(entry))
    return frozenset(projects)


def _node_types(data: Any, plugins: Plugins) -> list[tuple[str, dict[str, Any], NodeType]]:
    """``(node id, raw data, implementation)`` of every node of ``data`` whose type is installed."""
    nodes = data.get("nodes") if isinstance(data, dict) else None
    found = []
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        data_of_node = node.get("data")
        raw: dict[str, Any] = data_of_node if isinstance(data_of_node, dict) else {}
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        impl = plugins.node_type(str(node.get("type")), name)
        if impl is not None:
            found.append((str(node.get("id")), raw, impl))
    return found


@dataclass(frozen=True, slots=True)
class Trust:
    """The operator's grants, and the checks an API-made workflow goes through.

    :param privileged_projects: projects whose workflows may hold privileged nodes (``None``: all).
    :param plugins: the installed node types.
    :param doors: the front doors' workflows, ``(project, title)`` → door name.
    """

    privileged_projects: frozenset[int] | None
    plugins: Plugins
    doors: Mapping[tuple[int, str], str] = field(default_factory=dict)
    """Front doors' workflows: ``(project, title)`` → door name (:meth:`ServerHooks.doors`)."""

    def managed(self, project: int, title: str) -> bool:
        """Whether a workflow ``(project, title)`` is a front door's, written by the server."""
        return (project, title) in self.doors

    def door(self, project: int, title: str) -> str:
        """The front door a run of workflow ``(project, title)`` came through: a front door's
        name (``task``, ``execute``) or ``workflow`` (the ScriptRun workflow API)."""
        return self.doors.get((project, title), WORKFLOW_DOOR)

    def allows_privileged(self, project: int) -> bool:
        """Whether workflows of ``project`` may hold privileged nodes."""
        return self.privileged_projects is None or project in self.privileged_projects

    def privileged_refusal(self, project: int, data: Any) -> str | None:
        """Why ``data`` may not be in ``project`` (a privileged node, not granted), or ``None``."""
        if self.allows_privileged(project):
            return None
        for node_id, _, impl in _node_types(data, self.plugins):
            if impl.privileged:
                kind = impl.name or impl.type
                return (
                    f"node {node_id!r} is a {kind!r} node, which reaches the server's host; project "
                    f"{project} is not granted privileged nodes ({PRIVILEGED_SETTING})"
                )
        return None

    def operator_only_problems(self, data: Any) -> list[str]:
        """Settings in ``data``'s nodes that only the operator may make, each naming its node."""
        problems = []
        for node_id, raw, impl in _node_types(data, self.plugins):
            for problem in impl.data_model.operator_only_problems(raw):
                problems.append(f"node {node_id!r}: {problem}")
        return problems

    def gate(self, workflow: Any) -> RunRefused | None:
        """:meth:`run_refusal` of a stored workflow row, as the error to raise."""
        refusal = self.run_refusal(workflow.project, workflow.title, workflow.data)
        return RunRefused(refusal) if refusal is not None else None

    def run_refusal(self, project: int, title: str, data: Any) -> str | None:
        """Why a stored workflow may not run (now), or ``None``: a privileged node in a project
        without the grant, or an operator-only setting stored before the API refused them."""
        if self.managed(project, title):
            return None
        refusal = self.privileged_refusal(project, data)
        if refusal is None:
            problems = self.operator_only_problems(data)
            refusal = problems[0] if problems else None
        return refusal
