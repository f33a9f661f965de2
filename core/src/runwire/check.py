"""Workflow validation and preparation: every structural problem at once, then a runnable graph."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runwire.errors import WorkflowInvalid
from runwire.template import check_template, referenced_nodes
from runwire.workflow import InputField, PreparedNode, PreparedWorkflow, WorkflowData

if TYPE_CHECKING:
    from runwire.plugins import Plugins

TRIGGER_TYPE = "trigger-node"


def check_workflow(data: WorkflowData, plugins: Plugins) -> list[str]:
    """Return every structural problem of ``data``, each naming its node or edge id."""
    return _build(data, plugins)[1]


def prepare_workflow(data: WorkflowData, plugins: Plugins) -> PreparedWorkflow:
    """Validate ``data`` and return it ready to run.

    :raises WorkflowInvalid: listing every problem found.
    """
    prepared, problems = _build(data, plugins)
    if problems or prepared is None:
        raise WorkflowInvalid(problems)
    return prepared


def _format_validation(node_id: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "data"
        out.append(f"node {node_id}: data.{loc}: {err['msg']}")
    return out


def _build(data: WorkflowData, plugins: Plugins) -> tuple[PreparedWorkflow | None, list[str]]:
    problems: list[str] = []
    nodes: dict[str, PreparedNode] = {}
    for node in data.nodes:
        if node.id in nodes:
            problems.append(f"node {node.id}: duplicate node id")
            continue
        name = node.data.get("name") if isinstance(node.data.get("name"), str) else None
        impl = plugins.node_type(node.type, name)
        if impl is None:
            what = f"{node.type!r} named {name!r}" if node.type == "basic-node" else repr(node.type)
            problems.append(f"node {node.id}: unknown node type {what} (no installed plugin handles it)")
            parsed: Any = None
        else:
            try:
                parsed = impl.data_model.model_validate(node.data)
            except ValidationError as exc:
                problems.extend(_format_validation(node.id, exc))
                parsed = None
        nodes[node.id] = PreparedNode(id=node.id, type=node.type, impl=impl, data=parsed, raw=node)

    if not data.start_node:
        problems.append("workflow: start_node is missing")
    elif data.start_node not in nodes:
        problems.append(f"workflow: start_node {data.start_node} is not a node of this workflow")

    for edge in data.edges:
        ok = True
        for end in ("source", "target"):
            if getattr(edge, end) not in nodes:
                problems.append(f"edge {edge.id or '?'}: {end} {getattr(edge, end)} is not a node")
                ok = False
        if ok:
            _link(nodes, edge.source, edge.target, edge.sourceHandle)
    for node in nodes.values():
        for target in node.raw.data.get("next_nodes") or []:
            if not isinstance(target, str) or target not in nodes:
                problems.append(f"node {node.id}: next_nodes names {target!r}, which is not a node")
            else:
                _link(nodes, node.id, target, None)

    cycle = _find_cycle(nodes)
    if cycle:
        problems.append("workflow: cycle through nodes " + " -> ".join(cycle))
    ancestors = _ancestors(nodes) if not cycle else {}

    input_fields: list[InputField] = []
    for node in nodes.values():
        if node.impl is not None and node.data is not None:
            problems.extend(f"node {node.id}: {p}" for p in node.impl.check(node))
        for path, text in _strings(node.raw.data):
            syntax = check_template(text)
            if syntax:
                problems.append(f"node {node.id}: {path}: {syntax}")
                continue
            for ref in sorted(referenced_nodes(text)):
                if ref not in nodes:
                    problems.append(f"node {node.id}: {path} refers to node {ref}, which does not exist")
                elif ancestors and ref not in ancestors[node.id]:
                    problems.append(f"node {node.id}: {path} refers to node {ref}, which is not upstream")
        if node.type == TRIGGER_TYPE and node.data is not None:
            fields = getattr(node.data, "input_fields", [])
            seen: set[str] = set()
            for f in fields:
                if f.id in seen:
                    problems.append(f"node {node.id}: input field {f.id!r} is declared twice")
                seen.add(f.id)
            input_fields.extend(fields)

    if problems or not data.start_node:
        return None, problems
    return PreparedWorkflow(data, nodes, data.start_node, input_fields), problems


def _link(nodes: dict[str, PreparedNode], source: str, target: str, handle: str | None) -> None:
    src = nodes[source]
    for i, (t, h) in enumerate(src.successors):
        if t == target:
            if h is None and handle is not None:
                src.successors[i] = (t, handle)
            return
    src.successors.append((target, handle))
    nodes[target].predecessors.append(source)


def _find_cycle(nodes: dict[str, PreparedNode]) -> list[str] | None:
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(nodes, white)
    for root in nodes:
        if color[root] != white:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(t for t, _ in nodes[root].successors))]
        path = [root]
        color[root] = grey
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[current] = black
                stack.pop()
                path.pop()
            elif color[child] == grey:
                return [*path[path.index(child) :], child]
            elif color[child] == white:
                color[child] = grey
                path.append(child)
                stack.append((child, iter(t for t, _ in nodes[child].successors)))
    return None


def _ancestors(nodes: dict[str, PreparedNode]) -> dict[str, set[str]]:
    order: list[str] = []
    indeg = {n: len(p.predecessors) for n, p in nodes.items()}
    queue = [n for n, d in indeg.items() if d == 0]
    while queue:
        n = queue.pop()
        order.append(n)
        for t, _ in nodes[n].successors:
            indeg[t] -= 1
            if indeg[t] == 0:
                queue.append(t)
    result: dict[str, set[str]] = {}
    for n in order:
        acc: set[str] = set()
        for p in nodes[n].predecessors:
            acc.add(p)
            acc |= result[p]
        result[n] = acc
    return result


def _strings(value: Any, path: str = "data") -> Iterator[tuple[str, str]]:
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "{{" in item:
                yield where, item
        elif isinstance(item, dict):
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
