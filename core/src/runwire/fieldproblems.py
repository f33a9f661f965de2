"""Pydantic validation errors as problems that name their field: the one way runwire reports them."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What is wrong (``message``) with the value at ``field`` (a dotted path, ``""``: the whole value)."""

    field: str
    message: str

    def __str__(self) -> str:
        """``field: message``, or the message alone for the whole value."""
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_json(self) -> dict[str, str]:
        """``{"field", "message"}``, as the API lists problems in an error body's ``errors``."""
        return {"field": self.field, "message": self.message}


def field_problems(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    """Every problem of ``exc``, in pydantic's order, without the input values or documentation URLs.

    :param prefix: a dotted path put in front of each field, for a value validated inside a larger
        one (``"data"`` for a node's data, ``"inputs.path_args.0"`` for a binder's config).

    >>> from pydantic import BaseModel
    >>> class Point(BaseModel):
    ...     x: int
    >>> try:
    ...     Point.model_validate({"x": "one"})
    ... except ValidationError as exc:
    ...     [str(p) for p in field_problems(exc, "origin")]
    ['origin.x: Input should be a valid integer, unable to parse string as an integer']
    """
    head = [part for part in prefix.split(".") if part]
    return [
        FieldProblem(".".join([*head, *(str(part) for part in error["loc"])]), error["msg"])
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
