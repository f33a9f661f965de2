"""Every loaded plugin's settings, built once by the host (see :mod:`runwire.plugin_settings`).

Imports pydantic-settings only when some plugin declares ``settings_model``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from runwire.errors import ConfigInvalid

if TYPE_CHECKING:
    import pluggy

    from runwire.plugin_settings import PluginSettings

log = logging.getLogger("runwire.plugins")
S = TypeVar("S", bound="PluginSettings")


@dataclass
class SettingsTable:
    """The settings of each plugin that declares a ``settings_model``, or why they are invalid.

    :param models: the declared model of each plugin, by plugin name.
    :param built: the settings built from each model.
    :param errors: a model whose settings are invalid, and the error (naming the plugin and
        the variable); the plugin still loads, and whatever asks for these settings gets it.
    :param errors_by_name: a plugin whose ``settings_model`` is not a settings model.
    """

    models: dict[str, type[PluginSettings]] = field(default_factory=dict)
    built: dict[type[PluginSettings], PluginSettings] = field(default_factory=dict)
    errors: dict[type[PluginSettings], ConfigInvalid] = field(default_factory=dict)
    errors_by_name: dict[str, ConfigInvalid] = field(default_factory=dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, environ: Mapping[str, str] | None = None) -> SettingsTable:
        """Build each registered plugin's ``settings_model`` from ``environ`` (default: the process
        environment); an invalid one is logged and kept in :attr:`errors`."""
        table = cls()
        for name, plugin in pm.list_name_plugin():
            model: Any = getattr(plugin, "settings_model", None)
            if model is None:
                continue
            from runwire.plugin_settings import PluginSettings, build_settings

            if not (isinstance(model, type) and issubclass(model, PluginSettings)):
                table.errors_by_name[name] = ConfigInvalid(
                    f"plugin {name}: settings_model must be a runwire.plugin_settings.PluginSettings subclass"
                )
                continue
            table.models[name] = model
            if model in table.built or model in table.errors:
                continue
            try:
                table.built[model] = build_settings(model, environ, plugin=name)
            except ConfigInvalid as exc:
                log.warning("%s", exc)
                table.errors[model] = exc
        return table

    def of(self, model: type[S]) -> S:
        """The settings built from ``model``; a model no plugin declared is built now, once.

        :raises ConfigInvalid: the settings are invalid (naming the plugin and the variable).
        """
        if model in self.errors:
            raise self.errors[model]
        if model not in self.built:
            from runwire.plugin_settings import build_settings

            self.built[model] = build_settings(model)
        built = self.built[model]
        assert isinstance(built, model)
        return built

    def problem(self, plugin: str) -> str | None:
        """Why ``plugin``'s settings are invalid, or ``None``."""
        if plugin in self.errors_by_name:
            return str(self.errors_by_name[plugin])
        model = self.models.get(plugin)
        error = self.errors.get(model) if model is not None else None
        return None if error is None else str(error)
