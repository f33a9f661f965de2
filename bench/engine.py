"""Engine overhead per node: a 1,000-node chain and a 1,000-branch fan-out of no-op nodes.

Run: ``python bench/engine.py [--nodes 1000] [--repeat 20]``. Prints the best and median
per-node overhead in microseconds for each shape (target: at most 50 µs per node).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from typing import Any

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.hookspecs import hookimpl
from runwire.nodes import NodeContext, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager
from runwire.workflow import parse_workflow_data


class NoopNode(NodeType):
    """Does nothing and returns an empty result."""

    type = "noop-node"

    async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
        return NodeOutput({"content": ""})


class NoopPlugin:
    @hookimpl
    def register_node_types(self) -> list[type[NodeType]]:
        return [NoopNode]


def chain(n: int) -> dict[str, Any]:
    nodes = [{"id": "start", "type": "trigger-node", "data": {}}]
    nodes += [{"id": f"n{i}", "type": "noop-node", "data": {}} for i in range(n)]
    ids = [node["id"] for node in nodes]
    edges = [{"id": f"e{i}", "source": a, "target": b} for i, (a, b) in enumerate(itertools.pairwise(ids))]
    return {"nodes": nodes, "edges": edges, "start_node": "start"}


def fan_out(n: int) -> dict[str, Any]:
    nodes = [{"id": "start", "type": "trigger-node", "data": {}}]
    nodes += [{"id": f"n{i}", "type": "noop-node", "data": {}} for i in range(n)]
    edges = [{"id": f"e{i}", "source": "start", "target": f"n{i}"} for i in range(n)]
    return {"nodes": nodes, "edges": edges, "start_node": "start"}


async def measure(shape: dict[str, Any], plugins: Plugins, repeat: int) -> list[float]:
    prepared = prepare_workflow(parse_workflow_data(shape), plugins)
    engine = Engine()
    per_node: list[float] = []
    count = len(shape["nodes"])
    await engine.execute(prepared, {})  # warm-up
    for _ in range(repeat):
        t0 = time.perf_counter()
        record = await engine.execute(prepared, {})
        elapsed = time.perf_counter() - t0
        assert record.status == "succeed", record.error
        per_node.append(elapsed / count * 1e6)
    return per_node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(NoopPlugin(), name="bench-noop")
    plugins = Plugins(pm)
    print(f"engine overhead per node ({args.nodes} no-op nodes, {args.repeat} runs; target ≤ 50 µs)")
    for label, shape in (("chain", chain(args.nodes)), ("fan-out", fan_out(args.nodes))):
        figures = asyncio.run(measure(shape, plugins, args.repeat))
        best, median = min(figures), statistics.median(figures)
        print(f"  {label:8s} best {best:6.1f} µs/node   median {median:6.1f} µs/node")


if __name__ == "__main__":
    main()
