"""A test plugin: a ``basic-node`` named ``Test Sleep`` that sleeps, marking where it runs.

Installed for test processes through a ``*.dist-info`` with a ``runwire`` entry point on
``PYTHONPATH`` (the ``sleep_plugin_path`` fixture of ``tests/conftest.py``), exactly as a
third-party package registers.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from runwire.hookspecs import hookimpl
from runwire.nodes import NodeContext, NodeData, NodeOutput, NodeType


class SleepData(NodeData):
    """``seconds`` to sleep; ``marker_dir``: where to write ``<run_id>.<pid>`` when starting."""

    seconds: float = 0.0
    marker_dir: str | None = None


class SleepNode(NodeType):
    """Sleeps, then returns the pid of the process that ran it."""

    type = "basic-node"
    name = "Test Sleep"
    data_model = SleepData

    async def run(self, data: SleepData, ctx: NodeContext) -> NodeOutput:
        """Write the start marker, sleep, report the pid."""
        if data.marker_dir:
            Path(data.marker_dir, f"{ctx.run_id}.{os.getpid()}").write_text("started")
        await asyncio.sleep(data.seconds)
        return NodeOutput({"content": f"slept {data.seconds}", "pid": os.getpid()})


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The test node."""
    return [SleepNode]
