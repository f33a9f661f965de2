"""Models that refuse keys they do not declare, naming each with a "did you mean".

:class:`~runwire.nodes.NodeData`, :class:`~runwire.formatters.FormatterOptions` and
:class:`~runwire.binders.BinderConfig` (and so every plugin's subclass of them) are
:class:`KnownKeys` models: a key that is neither a field nor an alias of the model, nor listed
in its ``extra_keys``, is a validation error at that key, e.g.
``data.tmeout: unknown field (did you mean 'timeout'?)``. Workflow checks, ``runwire check`` and
config.json start-up report it like any other invalid field.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


def unknown_key_message(key: str, known: list[str]) -> str:
    """``unknown field``, with the closest of ``known`` as a suggestion when one is close."""
    close = difflib.get_close_matches(key, known, n=1)
    return (
        f"unknown field (did you mean {close[0]!r}?)"
        if close
        else f"unknown field (known: {', '.join(known)})"
    )


class KnownKeys(BaseModel):
    """A model refusing undeclared keys with a "did you mean" (see the module docstring).

    ``extra_keys`` lists keys accepted besides the fields (kept on the model as pydantic extras
    when its config allows extras); ``None`` turns the check off for a subclass that takes any key.
    """

    # every node, binder and formatter model inherits this: validators are built on first use,
    # not while a server starts (which validates none)
    model_config = ConfigDict(defer_build=True)
    extra_keys: ClassVar[frozenset[str] | None] = frozenset()

    @classmethod
    def known_keys(cls) -> list[str]:
        """The field names and aliases this model accepts, sorted (``extra_keys`` excluded)."""
        names = set(cls.model_fields)
        names.update(f.alias for f in cls.model_fields.values() if f.alias)
        return sorted(names)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, value: Any) -> Any:
        allowed = _ALLOWED.get(cls)
        if allowed is not None and type(value) is dict and allowed.issuperset(value):
            return value  # the common case, checked once per node: a set operation in C
        if cls.extra_keys is None or not isinstance(value, Mapping):
            return value
        allowed = _allowed_keys(cls)
        if all(key in allowed for key in value):
            return value
        known = cls.known_keys()
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_field", "{message}", {"message": unknown_key_message(key, known)}
                ),
                loc=(key,),
                input=item,
            )
            for key, item in value.items()
            if isinstance(key, str) and key not in allowed
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return value


_ALLOWED: dict[type[KnownKeys], frozenset[str]] = {}


def _allowed_keys(model: type[KnownKeys]) -> frozenset[str]:
    """The keys ``model`` accepts (fields, aliases, ``extra_keys``), computed once per class."""
    allowed = _ALLOWED.get(model)
    if allowed is None:
        allowed = _ALLOWED[model] = frozenset({*model.known_keys(), *(model.extra_keys or ())})
    return allowed
