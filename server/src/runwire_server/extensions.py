"""A typed facade over the server's hooks (:mod:`runwire_server.hookspecs`) of a plugin manager."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runwire.errors import PluginConflict
from runwire.plugins import Plugins
from runwire_server import hookspecs

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from runwire_server.services import Services


class ServerHooks:
    """What the installed plugins add to the server: routes, their dependencies, error statuses
    and the workflows they manage.

    The manager may have been built without the server's specs (``Plugins.load()`` in a test,
    or by core): they are added here, and then every hook name is checked (pluggy's
    ``check_pending``), so a misspelt hook fails start-up instead of being ignored.
    """

    def __init__(self, plugins: Plugins) -> None:
        pm = plugins.pm
        spec = getattr(pm.hook, "register_routes", None)
        if spec is None or not spec.has_spec():
            pm.add_hookspecs(hookspecs)
        pm.check_pending()
        self.hook = pm.hook

    def _each(self, hook: Any, **kwargs: Any) -> list[tuple[str, Any]]:
        # one implementation at a time, so a conflict can name both plugins
        return [
            (impl.plugin_name, result)
            for impl in reversed(hook.get_hookimpls())
            if (result := impl.function(**kwargs)) is not None
        ]

    def routes(self) -> list[ControllerRouterHandler]:
        """Every route handler the plugins contribute."""
        return [handler for _, handlers in self._each(self.hook.register_routes) for handler in handlers]

    def dependencies(self, services: Services) -> dict[str, Any]:
        """Run the plugins' start-up work; return their objects by dependency name.

        :raises PluginConflict: two plugins return the same name.
        """
        return _merge("route dependency", self._each(self.hook.register_dependencies, services=services))

    def error_statuses(self) -> dict[type[Exception], int]:
        """Exception types → HTTP status, from every plugin.

        :raises PluginConflict: two plugins map one type to different statuses.
        """
        return _merge("error type", self._each(self.hook.register_error_statuses), same_ok=True)

    def managed(self) -> Callable[[int, str], bool]:
        """Whether a workflow ``(project, title)`` is one a plugin writes and owns."""
        pairs = frozenset(
            (int(project), str(title))
            for _, items in self._each(self.hook.register_managed_workflows)
            for project, title in items
        )
        return lambda project, title: (project, title) in pairs


def _merge(family: str, results: list[tuple[str, dict[Any, Any]]], same_ok: bool = False) -> dict[Any, Any]:
    merged: dict[Any, Any] = {}
    owners: dict[Any, str] = {}
    for owner, items in results:
        for key, value in items.items():
            if key in merged and not (same_ok and merged[key] == value):
                shown = getattr(key, "__qualname__", key)
                raise PluginConflict(
                    f"{family} {shown!r} is registered by both {owners[key]!r} and {owner!r}"
                )
            merged[key], owners[key] = value, owner
    return merged
