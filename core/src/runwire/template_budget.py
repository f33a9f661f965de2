"""The budget of template rendering, without Jinja2: the size limits and the charging of
what a rendering builds (:mod:`runwire.template_limits` bounds Jinja's operations with them;
:mod:`runwire.references` renders plain lookups with them alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from runwire.errors import TemplateRefused
from runwire.sizes import json_size

MAX_OUTPUT_CHARS = 1_000_000
"""Largest value one template may build or return, in characters of its JSON form."""
MAX_BUILT_CHARS = 8_000_000
"""Everything one rendering (all templates of one node's data) may build, in characters."""
MAX_FOLDED_CHARS = 10_000
"""What Jinja may build while compiling (constant folding); larger folds run at render time."""
MAX_EXPONENT = 1_000
MAX_INT_BITS = 100_000

_SCALARS = (int, float, bool, type(None))


class Budget:
    """Characters a rendering may still build, out of ``limit``."""

    __slots__ = ("limit", "remaining")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.remaining = limit


_BUDGET: ContextVar[Budget | None] = ContextVar("runwire_template_budget", default=None)


@contextmanager
def budget(chars: int) -> Iterator[None]:
    """Charge everything built inside the block to a fresh budget of ``chars``."""
    token = _BUDGET.set(Budget(chars))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def open_budget(chars: int) -> Token[Budget | None] | None:
    """Start charging a fresh budget of ``chars`` unless one is active (then keep charging it).

    Returns what :func:`close_budget` needs; a pair of calls, not a context manager, because
    this runs once per rendered string and a generator-based ``with`` costs more than a render.
    """
    if _BUDGET.get() is not None:
        return None
    return _BUDGET.set(Budget(chars))


def close_budget(token: Token[Budget | None] | None) -> None:
    """End the budget :func:`open_budget` started, if it started one."""
    if token is not None:
        _BUDGET.reset(token)


def refuse(what: str, size: int, limit: int = MAX_OUTPUT_CHARS) -> TemplateRefused:
    """The error for a value over a limit; ``size`` may be a lower bound."""
    return TemplateRefused(f"{what} too large: over the limit of {limit:,} characters (at least {size:,})")


def spend(size: int, what: str) -> None:
    """Check one value of ``size`` against the per-value limit and charge it to the budget."""
    if size > MAX_OUTPUT_CHARS:
        raise refuse(what, size)
    current = _BUDGET.get()
    if current is None:  # evaluated outside a rendering: the per-value limit only
        return
    current.remaining -= size
    if current.remaining < 0:
        raise TemplateRefused(
            f"templates build too much: over the limit of {current.limit:,} characters in all"
        )


def joined_output(chunks: Iterable[str]) -> str:
    """The text of a template's chunks, refused once it passes :data:`MAX_OUTPUT_CHARS`
    (before the rest is made), and spent from the open budget."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise refuse("template output", size)
        parts.append(chunk)
    spend(size, "template output")
    return "".join(parts)


def value_size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Size of ``value`` as a template result: a string's length, anything else as JSON."""
    if isinstance(value, str):
        return len(value)
    return json_size(value, limit)


def charge(value: Any, what: str) -> Any:
    """Charge an already built ``value`` and return it."""
    if not isinstance(value, _SCALARS):
        spend(value_size(value), what)
    return value
