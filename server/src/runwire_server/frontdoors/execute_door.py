"""The ``execute-door`` plugin: the LSO execute front door's hooks (its entry point).

The routes and their boot work live in :mod:`runwire_server.frontdoors.execute`, imported when
a hook is first called (``runwire serve`` building its app), so loading the plugins for
``runwire run``, ``check`` or ``plugins`` imports neither Litestar nor the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runwire_server.hookspecs import hookimpl

if TYPE_CHECKING:
    from runwire_server.services import Services


@hookimpl
def register_routes() -> list[Any]:
    """``/api/execute/`` and ``/api/version``."""
    from runwire_server.frontdoors.execute import ROUTES

    return ROUTES


@hookimpl
def register_dependencies(services: Services) -> dict[str, Any]:
    """The executables directory and timeout; routes get them as ``execute_door``."""
    from runwire_server.frontdoors.execute import dependencies

    return dependencies(services)


@hookimpl
def register_error_statuses() -> dict[type[Exception], int]:
    """The reference's statuses for an ``executable_name`` that cannot run."""
    from runwire_server.frontdoors.execute import ERROR_STATUSES

    return ERROR_STATUSES


@hookimpl
def register_managed_workflows() -> list[tuple[int, str]]:
    """The execute workflows are the server's, made on first use."""
    from runwire_server.frontdoors.boot import (
        EXECUTE_BLOCKING_TITLE,
        EXECUTE_CALLBACK_TITLE,
        EXECUTE_TITLE,
        FRONT_DOOR_PROJECT,
    )

    return [
        (FRONT_DOOR_PROJECT, EXECUTE_TITLE),
        (FRONT_DOOR_PROJECT, EXECUTE_CALLBACK_TITLE),
        (FRONT_DOOR_PROJECT, EXECUTE_BLOCKING_TITLE),
    ]
