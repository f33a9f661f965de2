"""The auth-provider contract: turn request headers into a principal, or refuse."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from runwire.plugin_settings import PluginSettings
    from runwire.settingstable import SettingsTable

S = TypeVar("S", bound="PluginSettings")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    :param subject: a stable, unique identifier (``key:<id>`` of a stored API key, a token's ``sub``).
    :param provider: name of the auth provider that accepted the credentials.
    :param projects: project ids this principal may touch; ``None`` means every project.
    :param input_mode: ``"flat"`` (API-key style run bodies) or ``"wrapped"`` (JWT style,
        ``{"input_data": {...}}``), as the ScriptRun reference distinguishes them.
    :param claims: what else the provider knows (a token's claims; a stored key's ``key_name``).
    """

    subject: str
    provider: str
    projects: frozenset[int] | None = None
    input_mode: Literal["flat", "wrapped"] = "flat"
    claims: Mapping[str, object] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """``provider:subject``: who started a run, as the run remembers it."""
        return f"{self.provider}:{self.subject}"

    def may_access(self, project: int) -> bool:
        """Whether this principal may read or change things of ``project``."""
        return self.projects is None or project in self.projects


class ApiKeyStore(Protocol):
    """Looks up API keys made by ``runwire keys create`` (implemented by the server's store)."""

    async def lookup(self, key: str) -> Principal | None:
        """Return the principal of ``key``, or ``None`` if no such key exists.

        :raises runwire.errors.AuthRefused: the key exists but is revoked or expired.
        """
        ...


@dataclass(slots=True)
class AuthServices:
    """What an auth provider gets at construction.

    :param settings: configuration values (the process environment by default).
    :param api_keys: the server's API-key store, when it has one.
    :param plugin_settings: every plugin's settings, built by the host (``Plugins.settings``).
    """

    settings: Mapping[str, str] = field(default_factory=dict)
    api_keys: ApiKeyStore | None = None
    plugin_settings: SettingsTable | None = None

    def settings_of(self, model: type[S]) -> S:
        """A plugin's settings (its ``settings_model``): as the host built them at load time
        (:attr:`plugin_settings`), else built from :attr:`settings` (``<NAME>_FILE`` files too).

        :raises runwire.errors.ConfigInvalid: the settings are invalid, naming the variable.
        """
        if self.plugin_settings is not None and model in self.plugin_settings.models.values():
            return self.plugin_settings.of(model)
        from runwire.plugin_settings import build_settings

        return build_settings(model, self.settings)


class AuthProvider(ABC):
    """Base class of auth providers.

    Subclasses set ``name`` (what ``RUNWIRE_AUTH_PROVIDERS`` lists). The server builds one
    instance per enabled provider at start-up and asks them in the configured order.
    """

    name: ClassVar[str]

    def __init__(self, services: AuthServices) -> None:
        self.services = services

    @abstractmethod
    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """Authenticate a request from its headers (names lower-cased).

        :return: the principal, or ``None`` when the request carries no credentials of this
            provider's kind (the next provider is asked; if none accepts, 401).
        :raises runwire.errors.AuthRefused: credentials of this kind are present but invalid.
        """
