"""runwire plugin: the "Run Script" node, which runs a program from an argument list."""

from __future__ import annotations

from runwire import NodeType, hookimpl
from runwire_subprocess.node import RunScriptNode

__all__ = ["RunScriptNode"]


#: The runwire plugin API versions this plugin is written for (see ``runwire.PLUGIN_API_VERSION``).
RUNWIRE_PLUGIN_API = (1,)


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The "Run Script" node."""
    return [RunScriptNode]
