"""[[ dist ]]: [[ description ]]"""

from __future__ import annotations

from runwire import [[ hook_imports ]]

[% if auth %]
from [[ module ]].auth import TokenAuth
[% endif %]
[% if binder %]
from [[ module ]].binder import HeaderBinder
[% endif %]
[% if formatter %]
from [[ module ]].formatter import LinesFormatter
[% endif %]
from [[ module ]].node import UpperNode

#: The runwire plugin API versions this plugin is written for (``runwire.PLUGIN_API_VERSION``).
RUNWIRE_PLUGIN_API = ([[ api_version ]],)


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """The node types this plugin adds."""
    return [UpperNode]
[% if binder %]


@hookimpl
def register_input_binders() -> list[type[InputBinder]]:
    """The input binders this plugin adds."""
    return [HeaderBinder]
[% endif %]
[% if formatter %]


@hookimpl
def register_output_formatters() -> list[type[OutputFormatter]]:
    """The output formatters this plugin adds."""
    return [LinesFormatter]
[% endif %]
[% if auth %]


@hookimpl
def register_auth_providers() -> list[type[AuthProvider]]:
    """The auth providers this plugin adds."""
    return [TokenAuth]
[% endif %]
