"""The input-binder contract: bind a part of an HTTP request to a named run variable."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


@dataclass(slots=True)
class RequestParts:
    """The parts of an HTTP request a binder may read; built by the server, web-library free.

    :param path: the request path below the route's prefix (``/task/a/b`` → ``"a/b"``).
    :param query: every query parameter in order; a name may repeat.
    :param body: the parsed JSON body, or ``None`` when there was none.
    :param headers: request headers, lower-cased names.
    """

    path: str = ""
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class BinderConfig(BaseModel):
    """Configuration shared by every binder: the variable it binds."""

    model_config = ConfigDict(extra="forbid")

    env_var_name: str


class InputBinder(ABC):
    """Base class of input binders.

    Subclasses set ``kind`` (the config key they serve, e.g. ``"query"``) and
    ``config_model`` (a :class:`BinderConfig` subclass); an instance is built per configured
    variable with its validated config, at start-up, so configuration errors surface early.
    """

    kind: ClassVar[str]
    config_model: ClassVar[type[BinderConfig]] = BinderConfig

    def __init__(self, config: BinderConfig) -> None:
        self.config = config

    @property
    def variable(self) -> str:
        """Name of the variable this binder binds (``$NAME`` in commands)."""
        return self.config.env_var_name

    @abstractmethod
    def bind(self, request: RequestParts) -> Any:
        """Return the variable's value taken from ``request``.

        :raises runwire.errors.BindingError: when the request cannot supply it (a 4xx).
        """
