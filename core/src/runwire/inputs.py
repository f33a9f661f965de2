"""Run input handling: turning a request body into ``input`` and applying trigger fields."""

from __future__ import annotations

from typing import Any

from runwire import jsontext
from runwire.errors import InputInvalid
from runwire.numbers import number_from_text
from runwire.workflow import InputField

RAW_INPUT_KEY = "__raw_input__"


def input_from_text(text: str) -> Any:
    """Interpret a flat run body: JSON when it parses as JSON, else ``{"__raw_input__": text}``.

    An empty body gives ``{}``; a JSON scalar (``"hi"``, ``3``) is wrapped like plain text.

    :raises InputInvalid: the text is JSON holding a value runwire refuses (see
        :mod:`runwire.jsontext`: a huge number, ``NaN``, a duplicate key, deep nesting).
    """
    if not text.strip():
        return {}
    try:
        value = jsontext.loads(text)
    except jsontext.JsonRefused as exc:
        if exc.malformed:
            return {RAW_INPUT_KEY: text}
        raise InputInvalid([f"input: {exc}"]) from None
    if isinstance(value, (dict, list)):
        return value
    return {RAW_INPUT_KEY: text}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _coerce_number(field: InputField, value: Any) -> int | float:
    if isinstance(value, bool):
        raise InputInvalid([f"input field {field.id!r} must be a number, got a boolean"])
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        number = number_from_text(value)  # exactly: "18446744073709551617" is not rounded
        if number is not None:
            return number
    raise InputInvalid([f"input field {field.id!r} must be a number, got {value!r:.60}"])


def apply_input_fields(fields: list[InputField], raw: Any) -> Any:
    """Apply trigger input fields to run input and return the input the run sees.

    Missing fields take their ``default_value``; a required field that is still missing,
    a ``number`` that is not numeric, or a ``select`` value outside its ``options`` is
    reported. Every problem is collected before raising, each naming its field.

    :raises InputInvalid: listing every problem.
    """
    if not fields:
        return raw
    if not isinstance(raw, dict):
        if any(f.input_requirements for f in fields):
            raise InputInvalid(["run input must be a JSON object with the trigger's input fields"])
        return raw
    result = dict(raw)
    problems: list[str] = []
    for field in fields:
        value = result.get(field.id)
        if _is_missing(value) and not _is_missing(field.default_value):
            value = field.default_value
        if _is_missing(value):
            if field.input_requirements:
                problems.append(f"input field {field.id!r} is required")
            elif field.id not in result:
                result[field.id] = field.default_value
            continue
        try:
            if field.type == "number":
                value = _coerce_number(field, value)
            elif field.type == "select" and field.options:
                allowed = [o.value for o in field.options]
                if value not in allowed:
                    raise InputInvalid(
                        [f"input field {field.id!r} must be one of {allowed!r}, got {value!r:.60}"]
                    )
        except InputInvalid as exc:
            problems.extend(exc.problems)
            continue
        result[field.id] = value
    if problems:
        raise InputInvalid(problems)
    return result
