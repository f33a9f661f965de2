"""The plugin manager and the typed registries built from it.

``get_plugin_manager()`` returns a *new* manager with core's built-ins and every plugin of the
``runwire`` entry point group registered; ``Plugins.load()`` builds the typed registries from
it. Built-in and third-party plugins go through the same door.

A plugin may declare the plugin API versions it is written for (see
``runwire.PLUGIN_API_VERSION``) with a ``RUNWIRE_PLUGIN_API`` attribute on the registered
object, usually its module: ``RUNWIRE_PLUGIN_API = (1,)``. A plugin that declares none is taken
to work with any version. Registering one whose versions exclude this runwire's raises
:class:`PluginApiMismatch`; from the entry point group that is a load error like a failed import.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Generic, TypeVar

import pluggy

from runwire import PLUGIN_API_VERSION, hookspecs
from runwire.auth import AuthProvider
from runwire.binders import InputBinder
from runwire.errors import PluginApiMismatch, PluginConflict
from runwire.formatters import OutputFormatter
from runwire.nodes import NodeType
from runwire.settingstable import SettingsTable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "runwire"
API_ATTRIBUTE = "RUNWIRE_PLUGIN_API"
BLOCKED_ENV = "RUNWIRE_BLOCKED_PLUGINS"
BUILTIN_MODULES = (
    "runwire.builtin.nodes",
    "runwire.builtin.auth",
    "runwire.builtin.binders",
    "runwire.builtin.formatters",
)


@dataclass(frozen=True, slots=True)
class PluginLoadError:
    """A plugin of the entry point group that could not be imported or registered."""

    name: str
    distribution: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} from distribution {self.distribution!r} failed to load: {self.error}"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, refusing plugins written for another plugin API version."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        #: Entry-point plugins that could not be imported or registered.
        self.runwire_load_errors: list[PluginLoadError] = []
        #: The distribution of each plugin loaded from the entry point group, by plugin name.
        self.runwire_distributions: dict[str, str] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` as pluggy does, after checking its ``RUNWIRE_PLUGIN_API``.

        :raises PluginApiMismatch: the plugin declares API versions that exclude this runwire's.
        """
        check_plugin_api(plugin, name or self.get_canonical_name(plugin))
        return super().register(plugin, name)


def check_plugin_api(plugin: object, name: str) -> None:
    """Raise :class:`PluginApiMismatch` unless ``plugin`` supports this runwire's plugin API.

    ``RUNWIRE_PLUGIN_API`` is an int or a collection of ints; a plugin without it passes.
    """
    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        return
    versions = (declared,) if isinstance(declared, int) else declared
    if not isinstance(versions, (tuple, list, set, frozenset)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in versions
    ):
        raise PluginApiMismatch(
            f"plugin {name!r}: {API_ATTRIBUTE} must be an int or a tuple of ints, not {declared!r}"
        )
    if PLUGIN_API_VERSION not in versions:
        supported = ", ".join(str(v) for v in sorted(versions)) or "none"
        raise PluginApiMismatch(
            f"plugin {name!r} supports runwire plugin API {supported}; "
            f"this runwire provides plugin API {PLUGIN_API_VERSION}"
        )


def get_plugin_manager(
    blocked: Iterable[str] | None = None,
    *,
    load_entry_points: bool = True,
    host_specs: Iterable[ModuleType] = (),
) -> PluginManager:
    """Return a new plugin manager with built-ins and entry-point plugins registered.

    :param blocked: plugin names not to register; defaults to the comma-separated
        ``RUNWIRE_BLOCKED_PLUGINS`` environment variable.
    :param load_entry_points: load the ``runwire`` entry point group (tests may turn it off).
    :param host_specs: hookspec modules of the host building the manager (the server passes
        ``runwire_server.hookspecs``: routes and the like, which core knows nothing of). With
        them, an implementation of a hook nobody declares is refused (``check_pending``);
        without them, implementations of another host's hooks (a front door's
        ``register_routes`` met by ``runwire run`` or a plugin's tests) are left uncalled, and
        the host checks them when it adds its specs.

    A plugin that fails to import, or declares another plugin API version, is logged and
    recorded on ``pm.runwire_load_errors`` with its distribution name; the others still load.
    """
    import importlib

    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    host_specs = list(host_specs)
    for module in host_specs:
        pm.add_hookspecs(module)
    if blocked is None:
        blocked = [b.strip() for b in os.environ.get(BLOCKED_ENV, "").split(",") if b.strip()]
    for name in blocked:
        pm.set_blocked(name)
    for module_name in BUILTIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        _load_entry_points(pm)
    if host_specs:
        pm.check_pending()
    return pm


def _load_entry_points(pm: PluginManager) -> None:
    errors = pm.runwire_load_errors
    distributions = pm.runwire_distributions
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            distributions[ep.name] = dist
        except Exception as exc:  # a broken third-party plugin must not take the others down
            error = PluginLoadError(ep.name, dist, f"{type(exc).__name__}: {exc}")
            log.error("%s", error)
            errors.append(error)


K = TypeVar("K")
T = TypeVar("T")


@dataclass
class Registry(Generic[K, T]):
    """Classes keyed by name; registering a taken key raises :class:`PluginConflict`."""

    family: str
    items: dict[K, T] = field(default_factory=dict)
    owners: dict[K, str] = field(default_factory=dict)

    def add(self, key: K, item: T, owner: str) -> None:
        """Register ``item`` under ``key`` for plugin ``owner``."""
        if key in self.items:
            raise PluginConflict(
                f"{self.family} {_show(key)} is registered by both {self.owners[key]!r} and {owner!r}"
            )
        self.items[key] = item
        self.owners[key] = owner

    def get(self, key: K) -> T | None:
        """Return the class registered under ``key``, or ``None``."""
        return self.items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __iter__(self) -> Any:
        return iter(self.items.items())


def _show(key: Any) -> str:
    if isinstance(key, tuple):
        kind, name = key
        return f"{kind!r}" if name is None else f"{kind!r} named {name!r}"
    return repr(key)


@dataclass
class PluginInfo:
    """One registered plugin and what it provides (for ``runwire plugins``)."""

    name: str
    distribution: str
    node_types: list[str] = field(default_factory=list)
    binders: list[str] = field(default_factory=list)
    formatters: list[str] = field(default_factory=list)
    auth_providers: list[str] = field(default_factory=list)


class Plugins:
    """Typed facade over a plugin manager: the four registries, built once."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.load_errors: list[PluginLoadError] = list(getattr(pm, "runwire_load_errors", []))
        self.node_types: Registry[tuple[str, str | None], NodeType] = Registry("node type")
        self.binders: Registry[str, type[InputBinder]] = Registry("input binder")
        self.formatters: Registry[str, type[OutputFormatter]] = Registry("output formatter")
        self.auth_providers: Registry[str, type[AuthProvider]] = Registry("auth provider")
        self._collect(pm.hook.register_node_types, lambda c, o: self.node_types.add(c.key(), c(), o))
        self._collect(pm.hook.register_input_binders, lambda c, o: self.binders.add(c.kind, c, o))
        self._collect(pm.hook.register_output_formatters, lambda c, o: self.formatters.add(c.format, c, o))
        self._collect(pm.hook.register_auth_providers, lambda c, o: self.auth_providers.add(c.name, c, o))
        for _, node_type in self.node_types:
            node_type.plugins = self
        self.settings = SettingsTable.collect(pm)  # each plugin's settings_model, built once

    @classmethod
    def load(cls, blocked: Iterable[str] | None = None, *, host_specs: Iterable[ModuleType] = ()) -> Plugins:
        """Build a new plugin manager (built-ins + entry points, plus a host's hookspec
        modules: see :func:`get_plugin_manager`) and its registries."""
        return cls(get_plugin_manager(blocked, host_specs=host_specs))

    @staticmethod
    def _collect(hook: Any, add: Callable[[Any, str], None]) -> None:
        # Each implementation is called on its own so a conflict can name both plugins.
        for impl in reversed(hook.get_hookimpls()):
            for cls in impl.function() or []:
                add(cls, impl.plugin_name)

    def node_type(self, type_: str, name: str | None) -> NodeType | None:
        """The node implementation for a node's ``type`` and ``data.name``.

        A ``(type, name)`` registration wins over a ``(type, None)`` one.
        """
        if name is not None:
            impl = self.node_types.get((type_, name))
            if impl is not None:
                return impl
        return self.node_types.get((type_, None))

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin with the names it provides."""
        infos: dict[str, PluginInfo] = {}
        dists: dict[str, str] = getattr(self.pm, "runwire_distributions", {})
        for plugin_name, plugin in self.pm.list_name_plugin():
            if plugin is not None:
                infos[plugin_name] = PluginInfo(plugin_name, dists.get(plugin_name, "runwire (built-in)"))
        for registry, attr in (
            (self.node_types, "node_types"),
            (self.binders, "binders"),
            (self.formatters, "formatters"),
            (self.auth_providers, "auth_providers"),
        ):
            for key, owner in registry.owners.items():
                label = key if isinstance(key, str) else (key[0] if key[1] is None else f"{key[0]}:{key[1]}")
                if owner in infos:
                    getattr(infos[owner], attr).append(label)
        return list(infos.values())
