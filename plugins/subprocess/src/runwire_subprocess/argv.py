"""Building a command's argv: ``$NAME`` substitution and ``{{ }}`` templates, never a shell.

An item is split into template regions (``{{ ... }}``) and plain text. In plain text,
``$NAME`` is replaced by the value of variable ``NAME`` wherever it stands (``--x=$NAME``,
``$NAME.csv``); the longest declared name wins, and ``$$`` is a literal ``$``. Template
regions are rendered by the run's sandboxed renderer. Values are inserted once and never
scanned again, so a value holding ``$OTHER`` or ``{{ x }}`` arrives byte for byte.

Bound values cannot become options: an item that *begins* with a value and builds to text
starting with ``-`` is refused, unless it follows a literal ``--`` item or is a plain number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from runwire import NodeFailed, to_text

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_DOLLAR_NAME = re.compile(r"\$(\$|[A-Za-z_][A-Za-z0-9_]*)")
_NUMBER = re.compile(r"-[0-9]+(\.[0-9]+)?")
END_OF_OPTIONS = "--"


def _regions(item: str) -> Iterator[tuple[bool, str]]:
    """Yield ``(is_template, text)`` pieces of ``item`` in order."""
    pos = 0
    for m in _TEMPLATE.finditer(item):
        if m.start() > pos:
            yield False, item[pos : m.start()]
        yield True, m.group(0)
        pos = m.end()
    if pos < len(item):
        yield False, item[pos:]


@lru_cache(maxsize=256)
def _name_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(r"\$(\$" + (f"|{alternatives}" if alternatives else "") + ")")


def unbound_names(items: Collection[str], names: Collection[str]) -> list[str]:
    """``$NAME`` references in the plain text of ``items`` that no name in ``names`` binds."""
    known = _name_pattern(tuple(sorted(names)))
    missing: list[str] = []
    for item in items:
        for is_template, text in _regions(item):
            if is_template:
                continue
            rest = known.sub("", text)
            for m in _DOLLAR_NAME.finditer(rest):
                if m.group(1) != "$" and m.group(1) not in missing:
                    missing.append(m.group(1))
    return missing


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace ``$NAME`` (longest declared name first) and ``$$`` in plain ``text``."""
    if "$" not in text:
        return text
    pattern = _name_pattern(tuple(sorted(values)))
    return pattern.sub(lambda m: "$" if m.group(1) == "$" else values[m.group(1)], text)


def build_item(item: str, values: Mapping[str, str], render: Callable[[str], Any]) -> str:
    """One argv item with variables substituted and templates rendered."""
    if "{{" not in item:
        return substitute(item, values)
    return "".join(
        to_text(render(text)) if is_template else substitute(text, values)
        for is_template, text in _regions(item)
    )


def leading_value(item: str, names: Collection[str]) -> str | None:
    """The ``$NAME`` or ``{{ }}`` template that ``item`` begins with (``None``: literal text first)."""
    template = _TEMPLATE.match(item)
    if template is not None:
        return template.group(0)
    named = _name_pattern(tuple(sorted(names))).match(item)
    if named is not None and named.group(1) != "$":
        return named.group(0)
    return None


def refuse_option_injection(command: Sequence[str], argv: Sequence[str], names: Collection[str]) -> None:
    """Refuse a built item that a bound value turned into an option.

    Checked: items after the program and before the first literal ``--`` item that begin with
    a ``$NAME`` or a ``{{ }}`` template. Such an item may not build to text starting with
    ``-`` unless that text is a plain decimal number (``-5``, ``-2.5``).

    :raises NodeFailed: (not retryable) naming the item's index and its variable or template.
    """
    for index, (item, built) in enumerate(zip(command, argv, strict=True)):
        if item == END_OF_OPTIONS:
            return
        if index == 0 or not built.startswith("-") or _NUMBER.fullmatch(built):
            continue
        value = leading_value(item, names)
        if value is not None:
            raise NodeFailed(
                f"command argument {index} ({value}) starts with '-' after substitution, so the "
                f"program would take it as an option; put '--' before it in the command to pass "
                f"it as an operand",
                retryable=False,
            )


def build_argv(command: Sequence[str], values: Mapping[str, str], render: Callable[[str], Any]) -> list[str]:
    """A command's argv: every item built by :func:`build_item`.

    :raises NodeFailed: a bound value would become an option (:func:`refuse_option_injection`).
    """
    argv = [build_item(item, values, render) for item in command]
    refuse_option_injection(command, argv, values)
    return argv
