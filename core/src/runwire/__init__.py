"""runwire core: turn scripts and node graphs into runs, through plugins."""

from __future__ import annotations

from runwire.hookspecs import hookimpl, hookspec

__all__ = ["__version__", "hookimpl", "hookspec"]
__version__ = "0.1.0"
