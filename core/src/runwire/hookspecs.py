"""The extension points of runwire: one pluggy hookspec per plugin family.

Every hook is synchronous and returns a list of *classes*; the registries in
:mod:`runwire.plugins` key them by name and refuse duplicates. Async work (running a node,
authenticating a request) lives on the registered classes, never in the hooks.

A plugin is a module (or object) with functions decorated by ``@runwire.hookimpl`` and named
like the specs below, registered through the ``runwire`` entry point group::

    [project.entry-points.runwire]
    http = "runwire_http"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from runwire.auth import AuthProvider
    from runwire.binders import InputBinder
    from runwire.formatters import OutputFormatter
    from runwire.nodes import NodeType

PROJECT_NAME = "runwire"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_node_types() -> list[type[NodeType]]:
    """Return the node implementations this plugin provides.

    Called once when a plugin manager's registries are built (server, worker or CLI boot).
    Each class subclasses :class:`runwire.nodes.NodeType` and sets ``type`` (the workflow's
    ``nodes[].type``, e.g. ``"if-else-node"``) and, for ``basic-node`` implementations,
    ``name`` (the ``data.name`` it handles, e.g. ``"HTTP Request"``). Two classes claiming
    the same ``(type, name)`` pair stop start-up with :class:`runwire.errors.PluginConflict`.

    :return: a list of ``NodeType`` subclasses (may be empty).
    """


@hookspec
def register_input_binders() -> list[type[InputBinder]]:
    """Return the input binders this plugin provides.

    An input binder binds one part of an HTTP request (path, query string, JSON body, ...)
    to a named variable of a run. Each class subclasses :class:`runwire.binders.InputBinder`
    and sets ``kind`` (``"path"``, ``"query"``, ``"body"``, ...), the key it is configured
    under. Duplicated kinds stop start-up with :class:`runwire.errors.PluginConflict`.

    :return: a list of ``InputBinder`` subclasses (may be empty).
    """


@hookspec
def register_output_formatters() -> list[type[OutputFormatter]]:
    """Return the output formatters this plugin provides.

    An output formatter turns bytes a node produced (a file, stdout) into JSON-ready data.
    Each class subclasses :class:`runwire.formatters.OutputFormatter` and sets ``format``
    (``"csv"``, ``"json"``, ``"text"``, ...). Duplicates stop start-up with
    :class:`runwire.errors.PluginConflict`.

    :return: a list of ``OutputFormatter`` subclasses (may be empty).
    """


@hookspec
def register_auth_providers() -> list[type[AuthProvider]]:
    """Return the auth providers this plugin provides.

    An auth provider turns request headers into a :class:`runwire.auth.Principal` (who is
    calling and which projects it may touch) or refuses. Each class subclasses
    :class:`runwire.auth.AuthProvider` and sets ``name``; the server enables the ones listed
    in ``RUNWIRE_AUTH_PROVIDERS``, asking them in that order. Duplicated names stop start-up
    with :class:`runwire.errors.PluginConflict`.

    :return: a list of ``AuthProvider`` subclasses (may be empty).
    """
