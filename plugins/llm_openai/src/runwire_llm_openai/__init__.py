"""runwire-llm-openai: the "LLM OpenAI" node, registered through the ``runwire`` entry point group."""

from __future__ import annotations

from runwire import NodeType, hookimpl
from runwire_llm_openai.config import OpenAISettings
from runwire_llm_openai.node import LlmOpenAINode

#: The runwire plugin API versions this plugin is written for (see ``runwire.PLUGIN_API_VERSION``).
RUNWIRE_PLUGIN_API = (1,)

#: Built by the host from the environment when it loads the plugins (``OPENAI_API_KEY``, ...).
settings_model = OpenAISettings


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The "LLM OpenAI" ``basic-node``."""
    return [LlmOpenAINode]
