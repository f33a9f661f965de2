"""The engine runs at most ``host.max_parallel_nodes`` nodes of a run at once, without deadlock."""

from __future__ import annotations

import asyncio
from typing import Any

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.hookspecs import hookimpl
from runwire.host import DEFAULT_MAX_PARALLEL_NODES, HostPolicy
from runwire.nodes import NodeContext, NodeData, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager
from runwire.records import RunRecord
from runwire.workflow import parse_workflow_data


class CountNode(NodeType):
    """Counts how many of its kind run at once; yields to the loop so branches can overlap."""

    type = "count-node"
    data_model = NodeData
    now = 0
    most = 0

    async def run(self, data: NodeData, ctx: NodeContext) -> NodeOutput:
        cls = type(self)
        cls.now += 1
        cls.most = max(cls.most, cls.now)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
        finally:
            cls.now -= 1
        return NodeOutput({"content": ctx.node.id})


class CountPlugin:
    @hookimpl
    def register_node_types(self) -> list[type[NodeType]]:
        return [CountNode]


def fan_out(branches: int, join: bool = False) -> dict[str, Any]:
    """trigger → ``branches`` count nodes (→ one count node joining them all)."""
    nodes: list[dict[str, Any]] = [{"id": "t", "type": "trigger-node", "data": {"name": "Trigger"}}]
    edges = []
    for i in range(branches):
        nodes.append({"id": f"b{i}", "type": "count-node", "data": {}})
        edges.append({"id": f"t-b{i}", "source": "t", "target": f"b{i}"})
        if join:
            edges.append({"id": f"b{i}-j", "source": f"b{i}", "target": "j"})
    if join:
        nodes.append({"id": "j", "type": "count-node", "data": {}})
    return {"start_node": "t", "nodes": nodes, "edges": edges}


async def run(data: dict[str, Any], host: HostPolicy) -> RunRecord:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(CountPlugin(), name="count-test-plugin")
    prepared = prepare_workflow(parse_workflow_data(data), Plugins(pm))
    CountNode.now = CountNode.most = 0
    return await Engine(host=host).execute(prepared, {})


async def test_a_100_branch_fan_out_runs_at_most_the_bound_at_once() -> None:
    record = await run(fan_out(100), HostPolicy(max_parallel_nodes=5))
    assert record.status == "succeed", record.error
    assert sum(n.status == "succeed" for n in record.nodes.values()) == 101
    assert 1 <= CountNode.most <= 5


async def test_the_default_bound_applies() -> None:
    record = await run(fan_out(100), HostPolicy())
    assert record.status == "succeed", record.error
    assert CountNode.most <= DEFAULT_MAX_PARALLEL_NODES


async def test_a_join_behind_a_bound_of_one_does_not_deadlock() -> None:
    # branches hold a slot only while their node runs: the join starts once the last one ends
    record = await asyncio.wait_for(run(fan_out(100, join=True), HostPolicy(max_parallel_nodes=1)), 30)
    assert record.status == "succeed", record.error
    assert record.nodes["j"].status == "succeed" and CountNode.most == 1
