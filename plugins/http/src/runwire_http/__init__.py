"""runwire-http: the "HTTP Request" node, registered through the ``runwire`` entry point group.

This module is the plugin object the entry point names; its hook implementations are the
whole of what runwire sees of the plugin.
"""

from __future__ import annotations

from runwire import NodeType, hookimpl
from runwire_http.node import HttpRequestNode
from runwire_http.settings import HttpSettings

#: The runwire plugin API versions this plugin is written for (see ``runwire.PLUGIN_API_VERSION``).
RUNWIRE_PLUGIN_API = (1,)

#: Built by the host from the environment when it loads the plugins (``RUNWIRE_HTTP_ALLOW``).
settings_model = HttpSettings


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The "HTTP Request" ``basic-node``."""
    return [HttpRequestNode]
