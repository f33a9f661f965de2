"""Plugin settings: a pydantic-settings model a plugin declares and the host builds once.

A plugin module (or plugin object) sets ``settings_model`` to a :class:`PluginSettings`
subclass. The host builds it when it loads the plugins (:class:`runwire.plugins.Plugins`),
from the process environment, each field also from a ``<NAME>_FILE`` file (container
secrets, :func:`runwire.secretfiles.read_secret`), and hands it to the plugin's classes:
``NodeType.plugin_settings(Model)`` and ``AuthServices.settings_of(Model)``. Plugins read no
``os.environ`` themselves. This module imports pydantic-settings; :mod:`runwire.plugins`
imports it only when some plugin declares settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

from runwire.errors import ConfigInvalid
from runwire.fieldproblems import field_problems
from runwire.secretfiles import read_secret

__all__ = ["MASK", "NoDecode", "PluginSettings", "SettingsConfigDict", "build_settings", "masked"]

S = TypeVar("S", bound="PluginSettings")
MASK = "****"

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("runwire_plugin_settings_environ", default=None)


class PluginSettings(BaseSettings):
    """Base of a plugin's settings: set ``model_config = SettingsConfigDict(env_prefix=...)``.

    A field ``api_url`` with ``env_prefix="MYPLUGIN_"`` is the variable ``MYPLUGIN_API_URL``
    (a ``validation_alias`` names another variable), or the content of the file
    ``MYPLUGIN_API_URL_FILE`` names. Empty values count as unset; text is stripped. Mark
    secrets ``SecretStr``: ``runwire plugins`` shows them as ``****``. Instances are frozen.
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", env_ignore_empty=True, str_strip_whitespace=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment the host builds from (no ``.env`` files)."""
        return (init_settings, _EnvironSource(settings_cls))

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each field's environment variable, keyed by field name."""
        prefix = str(cls.model_config.get("env_prefix") or "")
        return {name: _variable(prefix, name, info) for name, info in cls.model_fields.items()}


def _variable(prefix: str, name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    return alias if isinstance(alias, str) else (prefix + name).upper()


class _EnvironSource(EnvSettingsSource):
    """The environment being built from, with ``<NAME>_FILE`` files read in place of values."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        resolved = dict(environ)
        model = self.settings_cls
        if issubclass(model, PluginSettings):
            for variable in model.variables().values():
                value = read_secret(environ, variable)
                if value is not None:
                    resolved[variable] = value
        return parse_env_vars(resolved, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


@contextmanager
def _building_from(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def build_settings(model: type[S], environ: Mapping[str, str] | None = None, *, plugin: str = "") -> S:
    """Build ``model`` from ``environ`` (the process environment by default).

    :raises ConfigInvalid: a value is invalid or missing, a setting is given both directly and
        as a file, or a file cannot be read; the message names the plugin and the variable.
    """
    where = f"plugin {plugin}: " if plugin else ""
    variables = model.variables()
    try:
        with _building_from(environ):
            return model()
    except ValidationError as exc:
        problems = []
        for problem in field_problems(exc):
            head = problem.field.split(".", 1)[0]
            name = variables.get(head, problem.field)
            message = problem.message.removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name else message)
        raise ConfigInvalid(where + "; ".join(problems)) from None
    except SettingsError as exc:
        raise ConfigInvalid(where + _settings_error(str(exc), variables)) from None
    except ConfigInvalid as exc:
        raise ConfigInvalid(where + str(exc)) from None


def _settings_error(message: str, variables: Mapping[str, str]) -> str:
    for name, variable in variables.items():
        if f'"{name}"' in message:
            return f"{variable}: {message}"
    return message


def masked(settings: PluginSettings) -> dict[str, str]:
    """The settings as ``{VARIABLE: shown value}``: secrets as ``****`` (``""`` when unset)."""
    shown: dict[str, str] = {}
    for name, variable in type(settings).variables().items():
        value: Any = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown[variable] = MASK if value.get_secret_value() else ""
        elif value is None:
            shown[variable] = ""
        elif isinstance(value, tuple | list | frozenset | set):
            shown[variable] = ",".join(str(v) for v in value)
        else:
            shown[variable] = str(value)
    return shown
