"""Built-in output formatters: ``csv``, ``json`` and ``text``."""

from __future__ import annotations

from runwire.formatters import OutputFormatter
from runwire.hookspecs import hookimpl


@hookimpl
def register_output_formatters() -> list[type[OutputFormatter]]:
    """Core's output formatters."""
    return []
