"""A typed facade over the server's hooks (:mod:`runwire_server.hookspecs`) of a plugin manager."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runwire.errors import ConfigInvalid, PluginConflict
from runwire.plugins import Plugins
from runwire_server import hookspecs

log = logging.getLogger("runwire.server")

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from runwire_server.services import Services


class ServerHooks:
    """What the installed plugins add to the server: routes, their dependencies, error statuses
    and the workflows they manage.

    The manager may have been built without the server's specs (``Plugins.load()`` in a test,
    or by core): they are added here, and then every hook name is checked (pluggy's
    ``check_pending``): a plugin implementing a misspelt hook is left out and logged, with its
    distribution and the fix, instead of being silently half-used; so is a plugin whose server
    hook raises (except :class:`~runwire.errors.ConfigInvalid`, which stops start-up).
    """

    def __init__(self, plugins: Plugins) -> None:
        pm = plugins.pm
        spec = getattr(pm.hook, "register_routes", None)
        if spec is None or not spec.has_spec():
            pm.add_hookspecs(hookspecs)
        for failure in plugins.leave_out_unknown_hooks():
            log.error("%s", failure)
        self.plugins = plugins
        self.hook = pm.hook

    def _each(self, hook: Any, **kwargs: Any) -> list[tuple[str, Any]]:
        # One implementation at a time, so a conflict can name both plugins. A plugin whose hook
        # raises is left out (ConfigInvalid is a plugin's deliberate "do not start").
        results = []
        for impl in reversed(hook.get_hookimpls()):
            try:
                result = impl.function(**kwargs)
            except ConfigInvalid:
                raise
            except Exception as exc:
                message = f"{hook.name} failed: {type(exc).__name__}: {exc}"
                log.error("%s", self.plugins.leave_out(impl.plugin_name, message, exc))
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

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

    def doors(self) -> dict[tuple[int, str], str]:
        """The workflows plugins write and own, ``(project, title)`` → the owning front door's
        name (its plugin name without a ``-door`` suffix: ``task``, ``execute``)."""
        return {
            (int(project), str(title)): door_name(plugin)
            for plugin, items in self._each(self.hook.register_managed_workflows)
            for project, title in items
        }

    def managed(self) -> Callable[[int, str], bool]:
        """Whether a workflow ``(project, title)`` is one a plugin writes and owns."""
        pairs = frozenset(self.doors())
        return lambda project, title: (project, title) in pairs


def door_name(plugin_name: str) -> str:
    """A front door's name from its plugin's: ``task-door`` → ``task``."""
    return plugin_name.removesuffix("-door")


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
