"""A node type that declares its work blocks runs in a worker thread, so the loop keeps going."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.hookspecs import hookimpl
from runwire.nodes import BlockingNodeType, NodeContext, NodeData, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager
from runwire.workflow import parse_workflow_data

EVENTS: list[str] = []
RELEASE = threading.Event()


class WaitData(NodeData):
    label: str = ""


class ThreadWaitNode(BlockingNodeType):
    """Blocks its thread until :data:`RELEASE` is set (a stand-in for ``time.sleep``)."""

    type = "thread-wait"
    data_model = WaitData

    def run_blocking(self, data: WaitData, ctx: NodeContext) -> NodeOutput:
        EVENTS.append(f"{data.label} started")
        released = RELEASE.wait(timeout=10)
        EVENTS.append(f"{data.label} ended")
        return NodeOutput(
            {"released": released, "seen": sorted(ctx.results), "thread": threading.get_ident()}
        )


class BlockingPlugin:
    @hookimpl
    def register_node_types(self) -> list[type[NodeType]]:
        return [ThreadWaitNode]


def workflow() -> dict[str, Any]:
    """trigger → two blocking nodes in parallel."""
    return {
        "start_node": "t",
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger"}},
            {"id": "a", "type": "thread-wait", "data": {"label": "a"}},
            {"id": "b", "type": "thread-wait", "data": {"label": "b"}},
        ],
        "edges": [{"id": "ta", "source": "t", "target": "a"}, {"id": "tb", "source": "t", "target": "b"}],
    }


async def test_two_blocking_nodes_run_in_threads_while_the_loop_makes_progress() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(BlockingPlugin(), name="blocking-test-plugin")
    prepared = prepare_workflow(parse_workflow_data(workflow()), Plugins(pm))
    EVENTS.clear()
    RELEASE.clear()

    async def ticker() -> None:
        # runs on the loop: were a blocking run on it, neither "started" would be seen before
        # RELEASE times out, and the order below would differ
        while not {"a started", "b started"} <= set(EVENTS):
            await asyncio.sleep(0.001)
        EVENTS.append("loop saw both")
        RELEASE.set()

    record, _ = await asyncio.gather(Engine().execute(prepared, {}), ticker())

    assert record.status == "succeed", record.to_json()
    assert EVENTS[2] == "loop saw both" and set(EVENTS[:2]) == {"a started", "b started"}
    assert set(EVENTS[3:]) == {"a ended", "b ended"}
    a, b = record.nodes["a"].result, record.nodes["b"].result
    assert a["released"] and b["released"] and a["seen"] == ["t"]
    assert a["thread"] != b["thread"] != threading.get_ident()


def test_get_nodes_shows_which_node_types_block() -> None:
    assert ThreadWaitNode.schema()["blocking"] is True
    assert NodeType.blocking is False
