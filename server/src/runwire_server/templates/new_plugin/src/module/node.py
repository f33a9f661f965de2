"""The "[[ node_name ]]" node: renders a text and returns it upper-cased."""

from __future__ import annotations

from pydantic import Field
from runwire import NodeContext, NodeData, NodeFailed, NodeOutput, NodeType, to_text


class UpperData(NodeData):
    """``data`` of a "[[ node_name ]]" node."""

    text: str = Field(description="The text; {{ }} templates allowed.")
    max_chars: int = Field(default=10_000, gt=0, description="Longer rendered texts fail the node.")


class UpperNode(NodeType):
    """Upper-cases ``text`` after rendering its templates."""

    type = "basic-node"
    name = "[[ node_name ]]"
    title = "[[ node_name ]]"
    description = "Returns a text upper-cased."
    data_model = UpperData

    async def run(self, data: UpperData, ctx: NodeContext) -> NodeOutput:
        """Render ``text``; the result is ``{"content": TEXT, "length": N}``."""
        text = to_text(ctx.render(data.text))
        if len(text) > data.max_chars:
            raise NodeFailed(f"text is longer than max_chars ({data.max_chars})")
        return NodeOutput({"content": text.upper(), "length": len(text)})
