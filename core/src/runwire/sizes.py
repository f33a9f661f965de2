"""How big a value is once serialized as JSON, found without serializing it.

:func:`json_size` walks a JSON-like value and adds up its compact JSON size; it stops as soon
as the sum passes a limit, so finding that a value is too big costs no more than the limit,
whatever the value's size. Strings are counted as they are stored (quotes included, escape
sequences not), so the figure is a lower bound that is exact for ordinary text.
"""

from __future__ import annotations

import itertools
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from typing import Any

_LOG10_2 = 0.30103


def json_size(value: Any, limit: int, *, utf8: bool = False) -> int:
    """The compact JSON size of ``value``, or some number above ``limit`` once it passes it.

    :param utf8: count strings in UTF-8 bytes; by default they count in characters.
    """
    total = 0
    stack = [value]
    push, pop = stack.append, stack.pop
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
            if utf8 and not item.isascii():
                push(_Utf8Extra(item))
        elif kind is dict:
            total += 1 + 2 * len(item)  # braces, colons, commas
            for key, sub in item.items():  # inline: rows of small values are the common case
                total += len(key) + 2 if type(key) is str else len(str(key)) + 2
                if type(sub) is str and (not utf8 or sub.isascii()):
                    total += len(sub) + 2
                elif sub is None or type(sub) is bool:  # as the loop below counts them
                    total += 5
                else:
                    push(sub)
                if utf8 and type(key) is str and not key.isascii():
                    push(_Utf8Extra(key))
        elif kind is list or kind is tuple:
            total += 1 + len(item)
            if len(item) < _SHORT:
                stack.extend(item)
            elif total <= limit:
                total += _long_sequence(item, stack, utf8)
        elif kind is int:
            total += len(str(item)) if -_BIG < item < _BIG else int(item.bit_length() * _LOG10_2) + 2
        elif kind is float:
            total += len(repr(item))
        elif item is None or kind is bool:
            total += 5
        else:
            total += _other(item, stack)
        if total > limit:
            return total
    return total


def flat_json_size(value: dict[Any, Any]) -> int:
    """:func:`json_size` of ``value`` with ``utf8=True`` when it is a dict of ASCII text keys
    and ASCII text, boolean or ``None`` values (a node's usual result, such as ``{"content":
    "true", "condition": true}``), counted in one loop; ``-1`` for any other dict."""
    total = 1 + 2 * len(value)
    for key, sub in value.items():
        if type(key) is not str or not key.isascii():
            return -1
        kind = type(sub)
        if kind is str:
            if not sub.isascii():
                return -1
            total += len(key) + len(sub) + 4
        elif sub is None or kind is bool:
            total += len(key) + 7
        else:
            return -1
    return total


_SHORT = 16
_BIG = 10**15  # below it, str() of an int is cheap and exact; above, estimate (str() may refuse)


class _Utf8Extra:
    """A non-ASCII string already counted in characters: what its UTF-8 form adds."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _long_sequence(items: list[Any] | tuple[Any, ...], stack: list[Any], utf8: bool) -> int:
    """Size of the strings and ints among ``items``, summed at C speed; the rest go on ``stack``."""
    strings = [x for x in items if type(x) is str]
    size = sum(map(len, strings)) + 2 * len(strings)
    if utf8:
        stack.extend(map(_Utf8Extra, itertools.filterfalse(str.isascii, strings)))
    if len(strings) == len(items):
        return size
    rest = [x for x in items if type(x) is not str]
    ints = [x for x in rest if type(x) is int]
    if ints:
        try:
            size += sum(map(len, map(str, ints)))
        except ValueError:  # an int too long for str(): count them one by one instead
            stack.extend(ints)
        if len(ints) == len(rest):
            return size
        rest = [x for x in rest if type(x) is not int]
    stack.extend(rest)
    return size


def _other(item: Any, stack: list[Any]) -> int:
    """Subclasses, other containers and views; push their parts, return their own share."""
    if type(item) is _Utf8Extra:
        return len(item.text.encode("utf-8", "surrogatepass")) - len(item.text)
    if isinstance(item, str):  # e.g. Markup; counted in characters
        return len(item) + 2
    if isinstance(item, Mapping):
        for key, sub in item.items():
            stack.append(key if isinstance(key, str) else str(key))
            stack.append(sub)
        return 1 + len(item)
    if isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView)):
        stack.extend(item)
        return 1 + len(item)
    if isinstance(item, ItemsView):
        stack.extend(list(pair) for pair in item)
        return 1 + len(item)
    if isinstance(item, (int, float)):
        stack.append(float(item) if isinstance(item, float) else int(item))
        return 0
    return len(str(item)) + 2  # reaches JSON as its str() (``default=str``), e.g. a generator
