"""The script-runner (``/task``, ``/script``) and LSO (``/api/execute/``) front doors.

Both translate requests into runs of the one engine in the one store and queue, and render
the results in their reference's shapes. ``ROUTES`` are mounted by the app factory;
``install_front_doors`` runs when a process's services are built.
"""

from __future__ import annotations

from runwire_server.frontdoors.boot import install_front_doors
from runwire_server.frontdoors.execute import ROUTES as EXECUTE_ROUTES
from runwire_server.frontdoors.task import ROUTES as TASK_ROUTES

ROUTES = [*TASK_ROUTES, *EXECUTE_ROUTES]

__all__ = ["ROUTES", "install_front_doors"]
