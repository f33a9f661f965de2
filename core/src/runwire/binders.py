"""The input-binder contract: bind a part of an HTTP request to a named run variable."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ConfigDict

from runwire.errors import BindingError
from runwire.jsontext import JsonRefused, dumps, has_lone_surrogate
from runwire.knownkeys import KnownKeys


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


class BinderConfig(KnownKeys):
    """Configuration shared by every binder: the variable it binds.

    A key the model does not declare is a configuration error naming it, with a suggestion:
    ``inputs.query_args.0.env_var_nme: unknown field (did you mean 'env_var_name'?)``.
    """

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
        """Return the variable's value taken from ``request``: text, as a program's argv gets it.

        The host checks what comes back (:func:`bound_text`): a number, boolean, list or
        object is passed on as compact JSON; ``None``, bytes or anything JSON cannot carry is
        refused with a 400 naming the binder. Return ``""`` when the request has no value.

        :raises runwire.errors.BindingError: when the request cannot supply it (a 4xx).
        """


def as_text(value: Any) -> str:
    """A value as argv text: a string as is, anything else as compact JSON (``null`` for ``None``).

    :raises JsonRefused: a lone surrogate, or a value with no JSON form (``NaN``, bytes, an
        integer beyond the digit limit, ...), with the reason.
    """
    if isinstance(value, str):
        if has_lone_surrogate(value):
            raise JsonRefused(f"{value!r:.60} holds a lone UTF-16 surrogate, which is not text")
        return value
    return dumps(value, compact=True)


def bound_text(binder: InputBinder, value: Any) -> str:
    """What ``binder.bind()`` returned, checked at the seam and made argv text (:func:`as_text`).

    :raises BindingError: ``None``, a value with no JSON form, or text with a NUL character
        (a program's argv cannot carry one), naming the binder and its variable.
    """
    where = f"input binder {binder.kind!r} (variable {binder.variable})"
    if value is None:
        raise BindingError(f'{where} returned None; a binder returns text ("" when the request has no value)')
    if isinstance(value, bytes | bytearray):
        raise BindingError(f"{where} returned bytes; a binder returns text (decode it first)")
    try:
        text = as_text(value)
    except JsonRefused as exc:
        raise BindingError(
            f"{where} returned a value of type {type(value).__name__} that has no text form: {exc}"
        ) from None
    if "\x00" in text:
        raise BindingError(
            f"variable {binder.variable} contains a NUL character, which a program cannot receive"
        )
    return text
