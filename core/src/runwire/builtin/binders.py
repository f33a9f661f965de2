"""Built-in input binders: ``path``, ``query`` and ``body`` (script-runner's config inputs)."""

from __future__ import annotations

from runwire.binders import InputBinder
from runwire.hookspecs import hookimpl


@hookimpl
def register_input_binders() -> list[type[InputBinder]]:
    """Core's input binders."""
    return []
