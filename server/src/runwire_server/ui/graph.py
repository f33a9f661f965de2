"""A workflow's graph laid out for SVG: boxes at the stored node positions (or in layers from the
start node when positions are missing), edges as curves, branch labels on if-else edges.

Pure functions of stored workflow ``data``, which may be anything the API accepted: missing,
non-numeric or huge positions, edges to unknown nodes. Nothing here raises on such data.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

NODE_W = 180
NODE_H = 64
MARGIN = 24
LAYER_GAP = 90
ROW_GAP = 36
MAX_COORD = 100_000.0
"""Stored positions are clamped to ±this: one stray node must not make a kilometre-wide SVG."""
MAX_TITLE = 26
BRANCH_PREFIX = "condition-"


@dataclass(slots=True)
class GraphNode:
    """A node's box: top-left ``x``, ``y`` in SVG units."""

    id: str
    title: str
    type: str
    x: float
    y: float
    w: int = NODE_W
    h: int = NODE_H

    @property
    def short_title(self) -> str:
        """The title cut to fit the box."""
        return _cut(self.title, MAX_TITLE)

    @property
    def short_id(self) -> str:
        """The id cut to fit the box."""
        return _cut(self.id, MAX_TITLE - 2)


@dataclass(slots=True)
class GraphEdge:
    """An edge as an SVG path, and its branch label (``true``/``false`` of an if-else) if any."""

    source: str
    target: str
    path: str
    label: str | None
    label_x: float
    label_y: float


@dataclass(slots=True)
class Graph:
    """Everything the SVG template draws."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    width: float = 0
    height: float = 0


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_title(node: dict[str, Any]) -> str:
    """What a person calls the node: its data's ``title`` or ``name``, else its type."""
    data = node.get("data")
    data = data if isinstance(data, dict) else {}
    for key in ("title", "name"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return str(node.get("type") or "node")


def branch_label(handle: Any) -> str | None:
    """``condition-true`` → ``true``; any other named handle as it is; none → ``None``."""
    if not isinstance(handle, str) or not handle:
        return None
    return handle.removeprefix(BRANCH_PREFIX) or handle


def _position(node: dict[str, Any]) -> tuple[float, float] | None:
    pos = node.get("position")
    if not isinstance(pos, dict):
        return None
    x, y = _coordinate(pos.get("x")), _coordinate(pos.get("y"))
    return None if x is None or y is None else (x, y)


def _coordinate(value: Any) -> float | None:
    """A stored coordinate within ±MAX_COORD; ``None`` if it is not a finite number. An integer
    is clamped before it becomes a float: one of 400 digits has no float (``OverflowError``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(max(-MAX_COORD, min(MAX_COORD, value)))


def _layers(ids: list[str], edges: list[tuple[str, str]], start: Any) -> dict[str, tuple[float, float]]:
    """Longest-path-free layering: breadth-first depth from the start node (and from every node
    without predecessors); nodes never reached go in a last layer."""
    successors: dict[str, list[str]] = {i: [] for i in ids}
    has_pred: set[str] = set()
    for source, target in edges:
        successors[source].append(target)
        has_pred.add(target)
    roots = [start] if start in successors else []
    roots += [i for i in ids if i not in has_pred and i not in roots]
    depth: dict[str, int] = {}
    queue = deque((r, 0) for r in roots)
    while queue:
        node, d = queue.popleft()
        if node in depth:
            continue
        depth[node] = d
        queue.extend((s, d + 1) for s in successors[node] if s not in depth)
    last = max(depth.values(), default=-1) + 1
    rows: dict[int, int] = {}
    placed: dict[str, tuple[float, float]] = {}
    for node_id in ids:
        layer = depth.get(node_id, last)
        row = rows.get(layer, 0)
        rows[layer] = row + 1
        placed[node_id] = (layer * (NODE_W + LAYER_GAP), row * (NODE_H + ROW_GAP))
    return placed


def layout(data: Any) -> Graph:
    """Lay out workflow ``data``: stored positions when every node has one, layers otherwise."""
    if not isinstance(data, dict):
        return Graph()
    raw_nodes = data.get("nodes")
    nodes = [n for n in raw_nodes if isinstance(n, dict)] if isinstance(raw_nodes, list) else []
    seen: dict[str, dict[str, Any]] = {}
    for node in nodes:
        node_id = str(node.get("id") or "")
        if node_id and node_id not in seen:
            seen[node_id] = node
    raw_edges = data.get("edges")
    edges = []
    for edge in raw_edges if isinstance(raw_edges, list) else []:
        if isinstance(edge, dict) and str(edge.get("source")) in seen and str(edge.get("target")) in seen:
            edges.append((str(edge["source"]), str(edge["target"]), branch_label(edge.get("sourceHandle"))))
    positions = {i: _position(n) for i, n in seen.items()}
    if seen and all(p is not None for p in positions.values()):
        placed: dict[str, tuple[float, float]] = {i: p for i, p in positions.items() if p is not None}
    else:
        placed = _layers(list(seen), [(s, t) for s, t, _ in edges], data.get("start_node"))
    graph = Graph()
    if not placed:
        return graph
    min_x = min(x for x, _ in placed.values())
    min_y = min(y for _, y in placed.values())
    boxes = {}
    for node_id, node in seen.items():
        x, y = placed[node_id]
        box = GraphNode(
            node_id, node_title(node), str(node.get("type") or ""), x - min_x + MARGIN, y - min_y + MARGIN
        )
        boxes[node_id] = box
        graph.nodes.append(box)
    for source, target, label in edges:
        graph.edges.append(_edge(boxes[source], boxes[target], label))
    graph.width = max(b.x + b.w for b in graph.nodes) + MARGIN
    graph.height = max(b.y + b.h for b in graph.nodes) + MARGIN + 16
    return graph


def _edge(a: GraphNode, b: GraphNode, label: str | None) -> GraphEdge:
    x1, y1 = a.x + a.w, a.y + a.h / 2
    x2, y2 = b.x, b.y + b.h / 2
    bend = max(40.0, abs(x2 - x1) / 2)
    path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    return GraphEdge(a.id, b.id, path, label, (x1 + x2) / 2, (y1 + y2) / 2 - 6)
