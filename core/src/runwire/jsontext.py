"""Strict JSON: the one reader and writer of JSON text that crosses runwire's edges.

Python's ``json`` accepts what other parsers refuse and what cannot be stored or sent back:
``NaN``/``Infinity``, numbers that overflow to ``inf``, duplicate keys (the last one silently
wins), lone UTF-16 surrogates (``"\\ud800"``, not encodable as UTF-8), and it raises a bare
``ValueError`` for integers beyond Python's int-to-text digit limit (4,300 by default; what is
accepted can therefore always be written back out). :func:`loads` refuses each of
these, and nesting deeper than a limit, with :class:`JsonRefused` saying what and where.

Reading is done by jiter (pydantic's JSON parser, in Rust), which refuses ``NaN`` and lone
surrogates itself, in one pass; a duplicate key is found by counting the text's colons against
the keys read (:func:`_has_duplicate_keys`). The standard library's parser, with a hook per
object, reads the text instead whenever jiter refuses it or it holds a duplicate key (so every
refusal is worded as before) and whenever jiter's limits differ from Python's (an integer digit
limit other than jiter's 4,300). Either way one walk then checks the depth and infinite numbers.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from itertools import chain
from typing import Any

import jiter
import pydantic_core

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonRefused(ValueError):
    """Text that is not JSON runwire accepts; the message says why.

    ``malformed`` is true when the text is not JSON at all (a syntax error), false when it is
    JSON holding a value runwire refuses (a huge number, ``NaN``, a duplicate key, ...).
    """

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def _parse_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number (NaN and Infinity are refused)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonRefused(f"duplicate key {key!r:.80} in a JSON object")
            seen.add(key)
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_parse_constant)
_CONTAINERS = (dict, list)
_INFINITE = (math.inf, -math.inf)


def check_value(value: Any, max_depth: int = MAX_DEPTH, strings: bool = True) -> None:
    """Refuse a parsed value nested deeper than ``max_depth``, holding an infinite number
    (what a literal beyond ±1.8e308 parses to) or (``strings``) a lone surrogate.

    :raises JsonRefused: naming the problem.
    """
    level = [value]
    depth = 0
    while level:
        _check_scalars(level, strings)
        level = [c for c in level if isinstance(c, _CONTAINERS)]
        if not level:
            return
        depth += 1
        if depth > max_depth:
            raise JsonRefused(f"JSON is nested deeper than {max_depth} levels")
        children: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
                if strings:
                    _check_scalars(list(item), strings)
            else:
                children.extend(item)
        level = children


def _check_scalars(items: list[Any], strings: bool) -> None:
    # ``in`` compares in C: far cheaper than a parse_float hook called for every number
    for infinite in _INFINITE:
        if infinite in items:
            raise JsonRefused(f"a number is out of range (beyond ±1.8e308, read as {infinite})")
    if strings:
        for item in items:
            if isinstance(item, str) and _SURROGATE.search(item):
                raise JsonRefused(f"a string holds a lone UTF-16 surrogate ({item!r:.60}), which is not text")


_JITER_INT_DIGITS = 4300  # jiter refuses longer integers, whatever Python's limit
_SLOW = object()


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly (see the module docstring for what is refused).

    :raises JsonRefused: ``malformed=True`` for a syntax error (with line and column), else
        naming the refused value.
    """
    value = _fast_loads(text, max_depth)
    if value is not _SLOW:
        return value
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonRefused(
            f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", malformed=True
        ) from None
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(f"JSON is nested deeper than {max_depth} levels") from None
    except ValueError:  # Python's int-to-text digit limit (4,300 by default): not a syntax error
        raise JsonRefused(f"an integer has more than {sys.get_int_max_str_digits()} digits") from None
    # a lone surrogate can only come from a \u escape, or from a str that already holds one
    strings = _SURROGATE_ESCAPE.search(text) is not None or has_lone_surrogate(text)
    check_value(value, max_depth, strings)
    return value


def _fast_loads(text: str, max_depth: int) -> Any:
    """``text`` read by jiter and checked, or :data:`_SLOW` when the standard library's reader
    must decide (jiter refused it, it holds a duplicate key, or jiter's limits are not Python's)."""
    digits = sys.get_int_max_str_digits()
    if digits and digits < _JITER_INT_DIGITS:
        return _SLOW  # a shorter integer limit than jiter's
    # a surrogate escape to judge (no backslash, found by ``memchr``, rules most texts out at a
    # fiftieth of the search's cost)
    if "\\" in text and _SURROGATE_ESCAPE.search(text) is not None:
        return _SLOW
    try:
        data = text.encode("utf-8")
        # duplicate keys are found by counting (:func:`_has_duplicate_keys`), not by jiter's
        # check: a set of every object's keys, about a third of its reading
        value = jiter.from_json(data, allow_inf_nan=False, catch_duplicate_keys=False, cache_mode="keys")
    except (ValueError, UnicodeEncodeError):  # the other reader words the refusal
        return _SLOW
    try:
        keys = _check_parsed(value, max_depth)
    except JsonRefused:  # a duplicate key is refused first, as the other reader refuses it
        if _has_duplicate_keys(text, data, value, -1):
            return _SLOW
        raise
    return _SLOW if _has_duplicate_keys(text, data, value, keys) else value


def _has_duplicate_keys(text: str, data: bytes, value: Any, keys: int) -> bool:
    """Whether the JSON ``text`` (``data`` in UTF-8) holds an object with a key twice, ``value``
    being what jiter read from it without its duplicate-key check (the last of equal keys
    kept) and ``keys`` the number of keys in it (``-1``: not counted).

    Outside strings, a colon is in JSON text only after a key, so the text holds as many colons
    as keys (each duplicate included) plus those inside its strings. When that is ``keys``,
    every key was kept: no duplicate (the usual case, a count in C). Otherwise ``value``'s
    compact JSON, which holds one colon per key kept and the colons of the strings kept, has
    as many colons as the text exactly when nothing was dropped, provided no escape in the
    text stands for a colon (``\\u003a``); with one, jiter reads the text again with its check.
    """
    colons = text.count(":")
    if colons == keys:
        return False
    if "\\u003" not in text:
        try:
            return colons != pydantic_core.to_json(value).count(b":")
        except (ValueError, RecursionError):  # a value to_json does not write (nested too deeply)
            pass
    try:
        jiter.from_json(data, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError:
        return True
    return False


def _check_parsed(value: Any, max_depth: int) -> int:
    """:func:`check_value` without the string check, for what a parser made (only ``dict``,
    ``list`` and scalars); returns the number of keys of its objects. Each level is flattened
    by C iteration (``map``, ``chain``), and filtered by a comprehension only when it mixes
    containers and scalars."""
    level = [value]
    depth = 0
    keys = 0
    while True:
        kinds = set(map(type, level))
        if float in kinds:
            _check_scalars(level, strings=False)
        has_dicts, has_lists = dict in kinds, list in kinds
        if has_dicts:  # each value of an object is a key's: the next level counts them
            dicts = level if len(kinds) == 1 else [c for c in level if type(c) is dict]
            values = list(chain.from_iterable(map(dict.values, dicts)))
            keys += len(values)
            if has_lists:
                values.extend(chain.from_iterable([c for c in level if type(c) is list]))
            level = values  # a level of objects only (nodes, edges) needed no filtering
        elif has_lists:
            lists = level if len(kinds) == 1 else [c for c in level if type(c) is list]
            level = list(chain.from_iterable(lists))
        else:
            return keys
        depth += 1
        if depth > max_depth:
            raise JsonRefused(f"JSON is nested deeper than {max_depth} levels")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a UTF-16 surrogate on its own (it cannot be written as UTF-8)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` as a database text column holds it on every store: each NUL character
    (PostgreSQL's text types refuse it) and each lone surrogate (not UTF-8: no database takes
    it) becomes U+FFFD, as :func:`dumps_stored` does in JSON. A run's ``error`` is stored so
    (it may quote what a program wrote to stderr), the same on SQLite and PostgreSQL."""
    if "\x00" not in text and text.isascii():
        return text
    return _UNSTORABLE_TEXT.sub("\ufffd", text)


def dumps(value: Any, *, compact: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """Write ``value`` as JSON text (non-ASCII kept as is); the inverse of :func:`loads`.

    :raises JsonRefused: the value has no JSON form (``NaN``, an integer beyond the digit
        limit, a lone surrogate, a key that is not a string, number or boolean, an object of a
        type JSON does not have and no ``default`` converts, a cycle).
    """
    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":") if compact else None,
            default=default,
        )
    except (ValueError, TypeError, RecursionError) as exc:
        raise JsonRefused(f"the value has no JSON form: {exc}") from None
    if has_lone_surrogate(text):
        raise JsonRefused("the value has no JSON form: a string holds a lone UTF-16 surrogate")
    return text


def dumps_stored(value: Any) -> str:
    """JSON text of a value runwire produced (a node result), for a store and a UTF-8 reply.

    As ``json.dumps``, but a lone surrogate (a template or a parser may make one) becomes
    U+FFFD, as a UTF-8 decoder does with bytes it cannot read: what is stored can always be
    sent back, so no poll of that run fails. A value with no JSON form (a plugin's object,
    ``NaN``, an integer beyond the digit limit, a key that is not a string, number or boolean)
    is stored as its text, or ``null`` for a number that is not finite, rather than losing the
    whole record.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except (ValueError, TypeError, RecursionError):  # TypeError: a key such as a tuple
        text = json.dumps(_storable(value), ensure_ascii=False, allow_nan=False, default=str)
    return _SURROGATE.sub("\ufffd", text) if has_lone_surrogate(text) else text


def _storable(value: Any, depth: int = 0) -> Any:
    """``value`` with non-finite floats as ``None``, huge integers and anything nested too
    deeply (or in a cycle) as text."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            str(value)
        except ValueError:
            return f"<an integer of {value.bit_length()} bits>"
        return value
    if isinstance(value, dict):
        return {str(k): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v, depth + 1) for v in value]
    return value


def to_text(value: Any) -> str:
    """Turn a rendered value into text: strings as is, anything else as JSON (what a node that
    shows a value as text uses: ``runwire.to_text``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
