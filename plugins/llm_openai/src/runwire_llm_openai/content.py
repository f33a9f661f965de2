"""The reference's ``parse_content`` rule, applied server-side to LLM replies."""

from __future__ import annotations

import json
import re
from typing import Any, Final

_FENCE = re.compile(r"```(?:json)?\s*([\s\S]*?)\s*```")

NOT_JSON: Final = object()
"""Returned by :func:`parse_json_content` for content that is not JSON."""


def parse_json_content(content: str) -> Any:
    """Parse ``content`` as JSON, after stripping a Markdown code fence that opens it.

    Follows the ScriptRun reference's client-side ``parse_content``: a reply starting with
    a fence (```` ```json ```` or a bare ```` ``` ````) is unwrapped first.

    :return: the parsed value, or :data:`NOT_JSON` when the content is plain text.
    """
    text = content.strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return NOT_JSON
