"""The server's extension points: what a front door adds to the Litestar app.

These hooks live in the server distribution (core stays free of web libraries) but belong to the
same pluggy project, ``"runwire"``, and the same ``runwire`` entry point group as core's: a front
door is a module with functions decorated by ``@runwire.hookimpl``, registered like any plugin::

    [project.entry-points.runwire]
    my-door = "my_package.door"

Every route a plugin adds sits behind the app's authentication (see
:func:`runwire_server.api.deps.authentication`) unless it is marked ``opt={"public": True}``.
The server's own config.json and execute doors (:mod:`runwire_server.frontdoors`) use these hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from runwire.hookspecs import PROJECT_NAME, hookimpl

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from runwire_server.services import Services

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["hookimpl", "hookspec"]


@hookspec
def register_routes() -> list[ControllerRouterHandler]:
    """Return Litestar route handlers (decorated functions, controllers, routers) to mount.

    Called once when the app is built. Handlers may declare the parameters of
    :mod:`runwire_server.api.deps` (``services: ServicesDep``, ``principal: PrincipalDep``) and
    any name returned by :func:`register_dependencies`. Every route requires authentication
    unless its handler (or router) says ``opt={"public": True}``. A path two plugins both
    claim fails the app's start-up.

    :return: the handlers to mount (possibly empty).
    """


@hookspec
def register_dependencies(services: Services) -> dict[str, Any] | None:
    """Do the plugin's start-up work and return the objects its routes need, by name.

    Called once per server process when the app is built, before it listens, with the
    process's :class:`~runwire_server.services.Services` (settings, plugins, store, queue).
    Each returned value is provided to route handlers that declare a parameter of that name
    (``name: litestar.params.SkipValidation[T]``); a name two plugins both return is a
    :class:`~runwire.errors.PluginConflict`. Raise :class:`~runwire.errors.ConfigInvalid` to stop
    start-up with a message naming the setting at fault.

    :param services: the long-lived objects of this process.
    :return: dependency name → object (``None``: nothing to provide).
    """


@hookspec
def register_error_statuses() -> dict[type[Exception], int] | None:
    """Return exception types the plugin's code raises, each with the HTTP status it answers.

    The app's one error handler answers them ``{"detail": str(exc)}`` with that status
    (subclasses included). A type two plugins map to different statuses is a
    :class:`~runwire.errors.PluginConflict`. Called once when the app is built.

    :return: exception type → HTTP status (``None``: none).
    """


@hookspec
def register_managed_workflows() -> list[tuple[int, str]] | None:
    """Return ``(project, title)`` of the workflows this plugin writes into the store itself.

    Those workflows are the plugin's: the workflow API refuses to create, change, delete or run
    them, the trust checks do not apply to them (the operator configured them), and in their
    run history a scoped caller sees only the runs it started. Called once per process
    when its services are built (server and worker alike).

    :return: the ``(project, title)`` pairs (``None``: none).
    """
