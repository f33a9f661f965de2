"""Pydantic models of workflow data (nodes, edges, input fields) and the prepared graph.

The models type only what runwire reads; every other field (``position``, ``style``,
``measured``, ``viewport`` ...) is kept as an extra, so ``dump_workflow_data`` writes a
workflow back exactly as it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    return parse_workflow_file(path, read_workflow_file(path))


def read_workflow_file(path: str | Path) -> Any:
    """The JSON of a workflow file, as parsed: its ``data`` when it holds a whole record (what
    :func:`load_workflow_file` validates; :func:`plain_workflow` may read it without pydantic).

    :raises ValueError: the file is over :data:`MAX_FILE_BYTES`, not UTF-8 or not JSON.
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
    return raw


def parse_workflow_file(path: str | Path, raw: Any) -> WorkflowData:
    """:func:`parse_workflow_data` of what :func:`read_workflow_file` read from ``path``.

    :raises ValueError: it is not a workflow, naming each problem.
    """
    try:
        return parse_workflow_data(raw)
    except ValidationError as exc:
        problems = "; ".join(map(str, field_problems(exc)))
        raise ValueError(f"{path}: not a workflow: {problems}") from exc


PlainNode = tuple[str, str, dict[str, Any], "Node | dict[str, Any]"]
"""A node as :func:`runwire.check.prepare_workflow` reads it: id, type, data, and the node
itself (a :class:`Node`, or its JSON object when read by :func:`plain_workflow`)."""
PlainEdge = tuple[str, str, str, str | None]
"""An edge as :func:`runwire.check.prepare_workflow` reads it: id, source, target, sourceHandle."""


@dataclass(slots=True, eq=False)
class PlainWorkflow:
    """A workflow's nodes and edges as tuples of what validation reads, from parsed JSON that
    :class:`WorkflowData` would accept as it is (:func:`plain_workflow`), or from a
    :class:`WorkflowData`; ``source`` is the one or the other."""

    nodes: list[PlainNode]
    edges: list[PlainEdge]
    start_node: str | None
    source: WorkflowData | dict[str, Any]

    @classmethod
    def of(cls, data: WorkflowData) -> PlainWorkflow:
        """``data``'s nodes and edges as tuples."""
        nodes: list[PlainNode] = [(n.id, n.type, n.data, n) for n in data.nodes]
        edges: list[PlainEdge] = [(e.id, e.source, e.target, e.sourceHandle) for e in data.edges]
        return cls(nodes, edges, data.start_node, data)

    def workflow_data(self) -> WorkflowData:
        """The :class:`WorkflowData` (validated from the JSON, when read from it)."""
        source = self.source
        return source if isinstance(source, WorkflowData) else parse_workflow_data(source)


_ABSENT: Any = object()


def plain_workflow(raw: Any) -> PlainWorkflow | None:
    """``raw`` (parsed JSON: objects are dicts with string keys) read without building a model
    per node and edge, when :class:`WorkflowData` would accept it unchanged: an object whose
    ``nodes`` and ``edges`` (when present) are arrays of objects, each node with a non-empty
    text ``id`` and ``type`` and an object ``data`` (or none), each edge with text ``source``
    and ``target`` (an ``id`` text, a ``sourceHandle`` text or ``null``), ``start_node`` text
    or ``null``; anything else (even what validation would convert or refuse) is ``None``:
    :func:`parse_workflow_data` decides, and words its problems.

    Pydantic makes an object per node and edge (~23k instructions a node of an if-else chain,
    with its two edges); this reads a few keys of each (~8k).
    """
    if type(raw) is not dict:
        return None
    start = raw.get("start_node")
    raw_nodes = raw.get("nodes", _ABSENT)
    raw_edges = raw.get("edges", _ABSENT)
    if start is not None and type(start) is not str:
        return None
    nodes: list[PlainNode] = []
    if raw_nodes is not _ABSENT:
        if type(raw_nodes) is not list:
            return None
        add = nodes.append
        for node in raw_nodes:
            if type(node) is not dict:
                return None
            node_id = node.get("id")
            node_type = node.get("type")
            data = node.get("data", _ABSENT)
            if type(node_id) is not str or type(node_type) is not str or not node_id or not node_type:
                return None
            if type(data) is not dict:
                if data is not _ABSENT:
                    return None
                data = {}
            add((node_id, node_type, data, node))
    edges: list[PlainEdge] = []
    if raw_edges is not _ABSENT:
        if type(raw_edges) is not list:
            return None
        add_edge = edges.append
        for edge in raw_edges:
            if type(edge) is not dict:
                return None
            source = edge.get("source")
            target = edge.get("target")
            edge_id = edge.get("id", "")
            handle = edge.get("sourceHandle")
            if type(source) is not str or type(target) is not str or type(edge_id) is not str:
                return None
            if handle is not None and type(handle) is not str:
                return None
            add_edge((edge_id, source, target, handle))
    return PlainWorkflow(nodes, edges, start, raw)


class PreparedNode:
    """A node ready to execute: its implementation, validated data and neighbours.

    ``raw`` is the workflow's :class:`Node`; given its JSON object instead (what
    :func:`runwire.check.prepare_workflow` does with a workflow read by :func:`plain_workflow`),
    it is validated into one when first read.
    """

    __slots__ = ("_raw", "data", "id", "impl", "predecessors", "successors", "type")

    def __init__(
        self,
        id: str,
        type: str,
        impl: Any,
        data: Any,
        raw: Node | dict[str, Any],
        successors: list[tuple[str, str | None]] | None = None,
        predecessors: list[str] | None = None,
    ) -> None:
        self.id = id
        self.type = type
        self.impl = impl
        self.data = data
        self._raw = raw
        self.successors: list[tuple[str, str | None]] = [] if successors is None else successors
        self.predecessors: list[str] = [] if predecessors is None else predecessors

    @property
    def raw(self) -> Node:
        """The workflow's node."""
        raw = self._raw
        if not isinstance(raw, Node):
            raw = self._raw = Node.model_validate(raw)
        return raw

    @raw.setter
    def raw(self, value: Node | dict[str, Any]) -> None:
        self._raw = value

    def __repr__(self) -> str:
        return (
            f"PreparedNode(id={self.id!r}, type={self.type!r}, impl={self.impl!r}, data={self.data!r}, "
            f"raw={self.raw!r}, successors={self.successors!r}, predecessors={self.predecessors!r})"
        )

    def successor_ids(self, handle: str | None = None) -> list[str]:
        """Successor node ids, only those behind ``handle`` when one is given."""
        return [t for t, h in self.successors if handle is None or h == handle]


class PreparedWorkflow:
    """A validated workflow: prepared nodes keyed by id, start node, reachable set.

    ``data`` is the :class:`WorkflowData`; given a :class:`PlainWorkflow` read from JSON, it
    is validated when first read.
    """

    __slots__ = ("_data", "input_fields", "nodes", "start_node")

    def __init__(
        self,
        data: WorkflowData | PlainWorkflow,
        nodes: dict[str, PreparedNode],
        start_node: str,
        input_fields: list[InputField],
    ) -> None:
        self._data = data
        self.nodes = nodes
        self.start_node = start_node
        self.input_fields = input_fields

    @property
    def data(self) -> WorkflowData:
        """The workflow's data."""
        data = self._data
        if not isinstance(data, WorkflowData):
            data = self._data = data.workflow_data()
        return data

    @data.setter
    def data(self, value: WorkflowData) -> None:
        self._data = value

    def __repr__(self) -> str:
        return (
            f"PreparedWorkflow(data={self.data!r}, nodes={self.nodes!r}, start_node={self.start_node!r}, "
            f"input_fields={self.input_fields!r})"
        )
