"""The ``task-door`` plugin: the script-runner front door's hooks (its entry point).

The routes and their boot work live in :mod:`runwire_server.frontdoors.task`, imported when a
hook is first called (``runwire serve`` building its app), so loading the plugins for
``runwire run``, ``check`` or ``plugins`` imports neither Litestar nor the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runwire_server.hookspecs import hookimpl

if TYPE_CHECKING:
    from runwire_server.services import Services


@hookimpl
def register_routes() -> list[Any]:
    """``/task`` and its ``/script`` alias."""
    from runwire_server.frontdoors.task import ROUTES

    return ROUTES


@hookimpl
def register_dependencies(services: Services) -> dict[str, Any]:
    """Compile ``RUNWIRE_TASK_CONFIG`` and store its workflow; routes get it as ``task_door``."""
    from runwire_server.frontdoors.task import dependencies

    return dependencies(services)


@hookimpl
def register_managed_workflows() -> list[tuple[int, str]]:
    """The task's workflow is the server's, written from its config at boot."""
    from runwire_server.frontdoors.boot import FRONT_DOOR_PROJECT, TASK_TITLE

    return [(FRONT_DOOR_PROJECT, TASK_TITLE)]
