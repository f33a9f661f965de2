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

import difflib
import importlib.metadata
import logging
import os
import traceback
from collections.abc import Iterable
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
    """One plugin that was left out: it failed to import or register, a hook of it raised, it
    returned an invalid class, or it implements a hook no spec declares.

    ``str()`` names the plugin and its distribution and says the fix; ``traceback`` is the
    formatted traceback of the failure (``runwire plugins -v`` shows it), empty when there is none.
    """

    name: str
    distribution: str
    error: str
    traceback: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return (
            f"plugin {self.name!r} from distribution {self.distribution!r} failed to load: {self.error}"
            f" (it is left out; fix or upgrade it, or block it: {block_hint(self.name)})"
        )


def block_hint(name: str) -> str:
    """The setting that starts runwire without plugin ``name``."""
    return f"{BLOCKED_ENV}={name}"


def _failure(name: str, distribution: str, exc: BaseException) -> PluginLoadError:
    text = "".join(traceback.format_exception(exc))
    return PluginLoadError(name, distribution, f"{type(exc).__name__}: {exc}", text)


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

    def distribution(self, name: str) -> str:
        """The distribution plugin ``name`` came from (``runwire (built-in)`` for core's own and
        for plugins registered directly, as tests do)."""
        return self.runwire_distributions.get(name, "runwire (built-in)")

    def leave_out(self, name: str, error: str, exc: BaseException | None = None) -> PluginLoadError:
        """Unregister plugin ``name`` and record why on :attr:`runwire_load_errors`."""
        text = "".join(traceback.format_exception(exc)) if exc is not None else ""
        failure = PluginLoadError(name, self.distribution(name), error, text)
        if self.has_plugin(name):
            self.unregister(name=name)
        self.runwire_load_errors.append(failure)
        return failure

    def leave_out_unknown_hooks(self) -> list[PluginLoadError]:
        """Leave out every plugin implementing a hook that no spec declares (a misspelt name).

        pluggy's ``check_pending``, one plugin at a time: the others still load.
        """
        declared = [n for n in vars(self.hook) if not n.startswith("_") and getattr(self.hook, n).has_spec()]
        offenders: dict[str, list[str]] = {}
        for hook_name in list(vars(self.hook)):
            caller = getattr(self.hook, hook_name)
            if hook_name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if not impl.optionalhook:
                    offenders.setdefault(impl.plugin_name, []).append(hook_name)
        failures = []
        for plugin_name, hooks in offenders.items():
            described = "; ".join(_unknown_hook(hook, declared) for hook in hooks)
            failures.append(self.leave_out(plugin_name, described))
        return failures


def _unknown_hook(hook: str, declared: list[str]) -> str:
    close = difflib.get_close_matches(hook, declared, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return f"it implements hook {hook!r}, which no runwire hook spec declares{suggestion}"


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
        ``register_routes`` met by a plugin's tests) are left uncalled, and the host checks
        them when it adds its specs.

    A plugin that fails to import or register, declares another plugin API version, or (with
    host specs) implements an undeclared hook is left out and recorded on
    ``pm.runwire_load_errors`` with its distribution name; the others still load. The host
    reports them (``build_services`` logs them, the CLI prints them).
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
        pm.leave_out_unknown_hooks()
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
            errors.append(_failure(ep.name, dist, exc))
            log.debug("plugin %r left out", ep.name, exc_info=exc)


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
    #: What is wrong with it: why it was left out, the names it conflicts on.
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Family:
    """One registry's hook and what a class returned by it must be."""

    hook: str
    registry: str
    base: type
    key_attr: str


_FAMILIES = (
    _Family("register_node_types", "node_types", NodeType, "type"),
    _Family("register_input_binders", "binders", InputBinder, "kind"),
    _Family("register_output_formatters", "formatters", OutputFormatter, "format"),
    _Family("register_auth_providers", "auth_providers", AuthProvider, "name"),
)


def _checked(family: _Family, returned: Any) -> list[tuple[Any, Any]]:
    """The ``(key, item)`` pairs of what a plugin's hook returned.

    :raises TypeError: not a list of subclasses of the family's base, or a class without its
        key attribute (``type``, ``kind``, ``format``, ``name``) set to a non-empty string.
    """
    if returned is None:
        return []
    if isinstance(returned, (str, bytes, dict)) or not isinstance(returned, Iterable):
        raise TypeError(f"{family.hook} must return a list of classes, not {type(returned).__name__}")
    pairs: list[tuple[Any, Any]] = []
    base = family.base.__name__
    for cls in returned:
        if not isinstance(cls, type) or not issubclass(cls, family.base):
            raise TypeError(f"{family.hook} returned {cls!r}, which is not a subclass of {base}")
        key = getattr(cls, family.key_attr, None)
        if not isinstance(key, str) or not key:
            raise TypeError(f"{base} subclass {cls.__qualname__} does not set {family.key_attr!r} to a name")
        if family.base is NodeType:
            name = getattr(cls, "name", None)
            if name is not None and (not isinstance(name, str) or not name):
                raise TypeError(
                    f"NodeType subclass {cls.__qualname__}: 'name' must be a non-empty string or None"
                )
            pairs.append(((key, name), cls()))
        else:
            pairs.append((key, cls))
    return pairs


class Plugins:
    """Typed facade over a plugin manager: the four registries, built once.

    Each plugin's hooks are called on their own. A plugin whose hook raises or returns an
    invalid class is left out whole (unregistered, none of its classes registered) and recorded
    on :attr:`load_errors` with the other load errors; the rest load. Two plugins claiming one
    name raise :class:`PluginConflict` naming both and the fix, unless ``keep_conflicts``
    (``runwire plugins``, which shows every problem): then the first keeps the name and the
    conflict is recorded on :attr:`conflicts`.
    """

    def __init__(self, pm: pluggy.PluginManager, *, keep_conflicts: bool = False) -> None:
        self.pm = pm
        self.node_types: Registry[tuple[str, str | None], NodeType] = Registry("node type")
        self.binders: Registry[str, type[InputBinder]] = Registry("input binder")
        self.formatters: Registry[str, type[OutputFormatter]] = Registry("output formatter")
        self.auth_providers: Registry[str, type[AuthProvider]] = Registry("auth provider")
        #: Conflicts kept (``keep_conflicts``): each message names both plugins and the fix.
        self.conflicts: list[str] = []
        #: Plugins left out: failed imports, raising hooks, invalid classes, undeclared hooks.
        self.load_errors: list[PluginLoadError] = list(getattr(pm, "runwire_load_errors", []))
        provided = self._call_hooks()
        for family in _FAMILIES:
            registry: Registry[Any, Any] = getattr(self, family.registry)
            for owner, pairs in provided[family.hook]:
                for key, item in pairs:
                    if key in registry:
                        self.conflicts.append(self._conflict(registry, key, owner))
                    else:
                        registry.add(key, item, owner)
        if self.conflicts and not keep_conflicts:
            raise PluginConflict("; ".join(self.conflicts))
        for _, node_type in self.node_types:
            node_type.plugins = self
        self.settings = SettingsTable.collect(pm)  # each plugin's settings_model, built once

    def _call_hooks(self) -> dict[str, list[tuple[str, list[tuple[Any, Any]]]]]:
        """Every family's ``(plugin, pairs)``, in registration order, failing plugins left out."""
        results: dict[str, list[tuple[str, list[tuple[Any, Any]]]]] = {}
        failed: dict[str, tuple[str, BaseException]] = {}
        for family in _FAMILIES:
            results[family.hook] = []
            # registration order: the plugin registered first keeps a name
            for impl in getattr(self.pm.hook, family.hook).get_hookimpls():
                if impl.plugin_name in failed:
                    continue
                try:
                    pairs = _checked(family, impl.function())
                except Exception as error:  # one plugin's bug must not take the others down
                    message = f"{family.hook} failed: {type(error).__name__}: {error}"
                    failed[impl.plugin_name] = (message, error)
                    continue
                results[family.hook].append((impl.plugin_name, pairs))
        for name, (message, exc) in failed.items():
            self.load_errors.append(self._leave_out(name, message, exc))
        return {hook: [(o, p) for o, p in pairs if o not in failed] for hook, pairs in results.items()}

    def _leave_out(self, name: str, error: str, exc: BaseException | None = None) -> PluginLoadError:
        pm = self.pm
        if isinstance(pm, PluginManager):
            return pm.leave_out(name, error, exc)
        text = "".join(traceback.format_exception(exc)) if exc is not None else ""
        if pm.has_plugin(name):
            pm.unregister(name=name)
        return PluginLoadError(name, "runwire (built-in)", error, text)

    def leave_out(self, name: str, error: str, exc: BaseException | None = None) -> PluginLoadError:
        """Leave plugin ``name`` out after the registries were built (a host's hook of it
        raised): unregistered, its classes taken out of the registries, recorded on
        :attr:`load_errors` and returned."""
        failure = self._leave_out(name, error, exc)
        self._forget(name)
        self.load_errors.append(failure)
        return failure

    def leave_out_unknown_hooks(self) -> list[PluginLoadError]:
        """Leave out the plugins implementing a hook no spec declares (called by a host after it
        added its hookspecs, see :meth:`PluginManager.leave_out_unknown_hooks`): unregistered,
        their classes taken out of the registries, recorded on :attr:`load_errors`."""
        if not isinstance(self.pm, PluginManager):
            self.pm.check_pending()
            return []
        failures = self.pm.leave_out_unknown_hooks()
        for failure in failures:
            self._forget(failure.name)
        self.load_errors.extend(failures)
        return failures

    def _forget(self, name: str) -> None:
        for family in _FAMILIES:
            registry: Registry[Any, Any] = getattr(self, family.registry)
            for key in [k for k, owner in registry.owners.items() if owner == name]:
                del registry.items[key], registry.owners[key]

    def distribution(self, name: str) -> str:
        """The distribution plugin ``name`` came from."""
        pm = self.pm
        return pm.distribution(name) if isinstance(pm, PluginManager) else "runwire (built-in)"

    def _conflict(self, registry: Registry[Any, Any], key: Any, owner: str) -> str:
        first = registry.owners[key]
        return (
            f"{registry.family} {_show(key)} is registered by both plugin {first!r} (distribution "
            f"{self.distribution(first)!r}) and plugin {owner!r} (distribution "
            f"{self.distribution(owner)!r}); uninstall one, or block one: {block_hint(owner)}"
        )

    @property
    def problems(self) -> list[str]:
        """Every load error and conflict, as messages naming the plugin and the fix."""
        return [*map(str, self.load_errors), *self.conflicts]

    @classmethod
    def load(
        cls,
        blocked: Iterable[str] | None = None,
        *,
        host_specs: Iterable[ModuleType] = (),
        keep_conflicts: bool = False,
    ) -> Plugins:
        """Build a new plugin manager (built-ins + entry points, plus a host's hookspec
        modules: see :func:`get_plugin_manager`) and its registries.

        :raises PluginConflict: two plugins claim one name (unless ``keep_conflicts``).
        """
        return cls(get_plugin_manager(blocked, host_specs=host_specs), keep_conflicts=keep_conflicts)

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
        """Every registered plugin with the names it provides, and every plugin left out; each
        with its :attr:`PluginInfo.problems`."""
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
        for error in self.load_errors:
            info = infos.setdefault(error.name, PluginInfo(error.name, error.distribution))
            info.problems.append(str(error))
        for conflict in self.conflicts:
            for name in [n for n in infos if f"plugin {n!r}" in conflict]:
                infos[name].problems.append(conflict)
        return list(infos.values())
