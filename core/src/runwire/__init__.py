"""runwire core: turn scripts and node graphs into runs, through plugins.

This module is the public plugin API: everything a plugin author needs is importable from
``runwire`` (the names of ``__all__``); the submodules behind them are internal and may move.
``PLUGIN_API_VERSION`` is bumped when a name of ``__all__`` or a hook's signature changes
incompatibly (additions do not bump it); a plugin may declare the versions it supports with a
module-level ``RUNWIRE_PLUGIN_API = (1,)`` (see :mod:`runwire.plugins`).

The hook markers and errors are imported eagerly (they are light); the classes are imported on
first use, so ``import runwire`` does not load pydantic or jinja2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runwire.errors import (
    AuthRefused,
    BindingError,
    ConfigInvalid,
    NodeFailed,
    RunwireError,
    TemplateError,
)
from runwire.hookspecs import hookimpl, hookspec

if TYPE_CHECKING:
    from runwire.auth import AuthProvider, AuthServices, Principal
    from runwire.binders import BinderConfig, InputBinder, RequestParts
    from runwire.formatters import FormatterOptions, OutputFormatter
    from runwire.jsontext import to_text
    from runwire.nodes import BlockingNodeType, NodeContext, NodeData, NodeOutput, NodeType
    from runwire.plugin_settings import PluginSettings, SettingsConfigDict

__all__ = [
    "PLUGIN_API_VERSION",
    "AuthProvider",
    "AuthRefused",
    "AuthServices",
    "BinderConfig",
    "BindingError",
    "BlockingNodeType",
    "ConfigInvalid",
    "FormatterOptions",
    "InputBinder",
    "NodeContext",
    "NodeData",
    "NodeFailed",
    "NodeOutput",
    "NodeType",
    "OutputFormatter",
    "PluginSettings",
    "Principal",
    "RequestParts",
    "RunwireError",
    "SettingsConfigDict",
    "TemplateError",
    "__version__",
    "hookimpl",
    "hookspec",
    "to_text",
]

#: This distribution's version, read on first use from its installed metadata.
__version__: str

#: The version of the plugin API above: an integer, bumped only by an incompatible change.
PLUGIN_API_VERSION = 1

_LAZY = {
    "AuthProvider": "runwire.auth",
    "AuthServices": "runwire.auth",
    "Principal": "runwire.auth",
    "BinderConfig": "runwire.binders",
    "InputBinder": "runwire.binders",
    "RequestParts": "runwire.binders",
    "FormatterOptions": "runwire.formatters",
    "OutputFormatter": "runwire.formatters",
    "BlockingNodeType": "runwire.nodes",
    "NodeContext": "runwire.nodes",
    "NodeData": "runwire.nodes",
    "NodeOutput": "runwire.nodes",
    "NodeType": "runwire.nodes",
    "PluginSettings": "runwire.plugin_settings",
    "SettingsConfigDict": "runwire.plugin_settings",
    "to_text": "runwire.jsontext",
}


def __getattr__(name: str) -> Any:
    """Import a lazily exported name (PEP 562) and keep it as a module attribute."""
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'runwire' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    # The version is written once, in core/pyproject.toml; the installed metadata carries it.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("runwire")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"
