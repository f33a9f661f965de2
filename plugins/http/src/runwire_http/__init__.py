"""runwire-http: the "HTTP Request" node, registered through the ``runwire`` entry point group.

This module is the plugin object the entry point names; its hook implementations are the
whole of what runwire sees of the plugin.
"""

from __future__ import annotations

from runwire.hookspecs import hookimpl
from runwire.nodes import NodeType
from runwire_http.node import HttpRequestNode


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The "HTTP Request" ``basic-node``."""
    return [HttpRequestNode]
