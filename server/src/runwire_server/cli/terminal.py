"""Text from elsewhere (a server's answer, the store, a program's output), made safe to print.

A run's error often quotes its program's stderr, and a node's or workflow's name is whatever its
author typed: a key holder of any project can put them there. Printed as they are, an escape
sequence in them would act on the terminal of the operator running ``runwire runs show`` (clear
it, retitle it, write to its clipboard: OSC 52), and rich's markup in them (``[/x]``) would be
read as markup, or fail the command. :func:`printable` writes each control character but tab
and newline as ``\\xNN``; :func:`shown` wraps that in a rich ``Text``, which takes no markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported by the commands that draw (a faster start for the rest)
    from rich.text import Text

_VISIBLE = {
    code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code not in (0x09, 0x0A)
}


def printable(value: object) -> str:
    """``str(value)`` with every C0 and C1 control character but tab and newline, and DEL,
    written out as ``\\xNN``."""
    return str(value).translate(_VISIBLE)


def shown(value: object, style: str = "") -> Text:
    """:func:`printable` ``value`` as a rich ``Text`` (styled, never parsed as markup)."""
    from rich.text import Text

    return Text(printable(value), style=style)
