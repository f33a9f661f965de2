"""Pydantic models of workflow data (nodes, edges, input fields) and the prepared graph.

The models type only what runwire reads; every other field (``position``, ``style``,
``measured``, ``viewport`` ...) is kept as an extra, so ``dump_workflow_data`` writes a
workflow back exactly as it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runwire import jsontext
from runwire.fieldproblems import field_problems


class _Open(BaseModel):
    # built on the first workflow validated, not at import (a server start validates none)
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class SelectOption(_Open):
    """One choice of a ``select`` input field."""

    title: str = ""
    value: Any = None
    is_default: bool = False


class InputField(_Open):
    """An input a trigger node declares; maps to ``{{ input.<id> }}``."""

    id: str = Field(min_length=1)
    title: str = ""
    type: str = "text"
    input_requirements: bool = False
    placeholder: str = ""
    tooltip: str = ""
    default_value: Any = ""
    options: list[SelectOption] = Field(default_factory=list)


class Node(_Open):
    """A workflow node; ``data`` is validated later by the node type's own model."""

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class Edge(_Open):
    """A directed connection ``source`` → ``target``; ``sourceHandle`` names a branch."""

    id: str = ""
    source: str
    target: str
    sourceHandle: str | None = None


class WorkflowData(_Open):
    """A workflow's ``data``: nodes, edges, viewport and the start node."""

    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    start_node: str | None = None


def parse_workflow_data(raw: Any) -> WorkflowData:
    """Validate a workflow ``data`` object; raises pydantic's ``ValidationError``."""
    return WorkflowData.model_validate(raw)


def dump_workflow_data(data: WorkflowData) -> dict[str, Any]:
    """Return ``data`` as JSON-ready dict, with exactly the fields it was given."""
    return data.model_dump(mode="json", exclude_unset=True, by_alias=True)


MAX_FILE_BYTES = 64 * 2**20
"""The largest workflow file :func:`load_workflow_file` reads (a 100,000-node chain is ~25 MB)."""


def load_workflow_file(path: str | Path) -> WorkflowData:
    """Read a workflow from a JSON file holding its ``data`` or a whole record with ``data``.

    :raises ValueError: the file is over :data:`MAX_FILE_BYTES`, not UTF-8, not JSON or not a
        workflow, with a readable message.
    :raises OSError: the file cannot be read.
    """
    with Path(path).open("rb") as file:  # a pipe works too (``runwire run <(generate)``)
        content = file.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB, not a workflow file")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = jsontext.loads(text)
    except jsontext.JsonRefused as exc:
        raise ValueError(f"{path}: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("data"), dict) and "nodes" not in raw:
        raw = raw["data"]
    try:
        return parse_workflow_data(raw)
    except ValidationError as exc:
        problems = "; ".join(map(str, field_problems(exc)))
        raise ValueError(f"{path}: not a workflow: {problems}") from exc


@dataclass(slots=True, eq=False)
class PreparedNode:
    """A node ready to execute: its implementation, validated data and neighbours."""

    id: str
    type: str
    impl: Any
    data: Any
    raw: Node
    successors: list[tuple[str, str | None]] = field(default_factory=list)
    predecessors: list[str] = field(default_factory=list)

    def successor_ids(self, handle: str | None = None) -> list[str]:
        """Successor node ids, only those behind ``handle`` when one is given."""
        return [t for t, h in self.successors if handle is None or h == handle]


@dataclass(slots=True, eq=False)
class PreparedWorkflow:
    """A validated workflow: prepared nodes keyed by id, start node, reachable set."""

    data: WorkflowData
    nodes: dict[str, PreparedNode]
    start_node: str
    input_fields: list[InputField]
