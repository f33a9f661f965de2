"""runwire-llm-openai: the "LLM OpenAI" node, registered through the ``runwire`` entry point group."""

from __future__ import annotations

from runwire.hookspecs import hookimpl
from runwire.nodes import NodeType
from runwire_llm_openai.node import LlmOpenAINode


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The "LLM OpenAI" ``basic-node``."""
    return [LlmOpenAINode]
