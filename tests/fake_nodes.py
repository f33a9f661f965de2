"""Test plugins (nodes that echo, wait, fail or crash), registered through the real plugin manager."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from runwire.errors import NodeFailed
from runwire.hookspecs import hookimpl
from runwire.nodes import NodeContext, NodeData, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager


class EchoData(NodeData):
    # it stands in for the LLM node, whose keys (messages, settings) it reads as extras
    extra_keys: ClassVar[frozenset[str] | None] = None

    message: str = ""
    cost: float = 0.0


class EchoNode(NodeType):
    """Renders ``message`` and returns it; stands in for the LLM node in core tests."""

    type = "basic-node"
    name = "LLM OpenAI"
    data_model = EchoData

    async def run(self, data: EchoData, ctx: NodeContext) -> NodeOutput:
        text = ctx.render(data.message) if data.message else ctx.render(data.model_extra.get("messages", []))
        return NodeOutput({"content": text if isinstance(text, str) else str(text)}, cost=data.cost)


class SleepData(NodeData):
    seconds: float = 0.0
    wait_for: str | None = None
    signal: str | None = None


class EventNode(NodeType):
    """Waits on / sets named asyncio events, proving branches really run at once."""

    type = "event-node"
    data_model = SleepData
    events: dict[str, asyncio.Event] = {}

    async def run(self, data: SleepData, ctx: NodeContext) -> NodeOutput:
        if data.signal:
            self.events.setdefault(data.signal, asyncio.Event()).set()
        if data.wait_for:
            await self.events.setdefault(data.wait_for, asyncio.Event()).wait()
        if data.seconds:
            await asyncio.sleep(data.seconds)
        return NodeOutput({"content": ctx.node.id})


class FlakyData(NodeData):
    fail_times: int = 0
    permanent: bool = False


class FlakyNode(NodeType):
    """Fails its first ``fail_times`` attempts (per run id), then succeeds."""

    type = "flaky-node"
    data_model = FlakyData
    attempts: dict[str, int] = {}

    async def run(self, data: FlakyData, ctx: NodeContext) -> NodeOutput:
        key = f"{ctx.run_id}:{ctx.node.id}"
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] <= data.fail_times:
            raise NodeFailed(f"attempt {self.attempts[key]} failed", retryable=not data.permanent)
        return NodeOutput({"content": f"ok after {self.attempts[key]}"})


class CrashNode(NodeType):
    """Raises a plain exception, as a buggy plugin would."""

    type = "crash-node"

    async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
        raise ZeroDivisionError("plugin bug")


class TestPlugin:
    @hookimpl
    def register_node_types(self) -> list[type[NodeType]]:
        return [EchoNode, EventNode, FlakyNode, CrashNode]


def plugins_with_test_nodes() -> Plugins:
    """A real plugin manager with the test plugin registered next to the built-ins."""
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(TestPlugin(), name="core-test-plugin")
    return Plugins(pm)
