"""Routers made for one app: mounted without the deep copy Litestar makes of every router.

Litestar deep-copies each :class:`~litestar.router.Router` it registers (so that one router
object may be mounted in several places or apps), handlers, routes and options included. The
app's routers (the UI's, its static files', the ``/schema`` pages') are made anew by each
:func:`~runwire_server.api.app.create_app` and mounted once, so the copy only cost start-up time
(~27 M instructions of ``runwire serve``'s ~3,100 M, most of it the UI's two dozen handlers).
Their handlers are still Litestar's own copies of the decorated functions' handlers, as for a
handler mounted on the app directly: registering one app changes nothing another app uses.
"""

from __future__ import annotations

from typing import Any

from litestar import Router


class MountedOnce(Router):
    """A :class:`~litestar.router.Router` that Litestar mounts as it is instead of a deep copy.

    For a router made for one app and mounted once (a second mount would share it: make a new
    one instead)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> MountedOnce:
        return self
