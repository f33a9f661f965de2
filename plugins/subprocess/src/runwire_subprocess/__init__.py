"""runwire plugin: the "Run Script" node, which runs a program from an argument list."""

from __future__ import annotations

from runwire import hookimpl
from runwire.nodes import NodeType
from runwire_subprocess.node import RunScriptNode

__all__ = ["RunScriptNode"]


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The "Run Script" node."""
    return [RunScriptNode]
