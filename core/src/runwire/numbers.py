"""Numbers read from text, exactly: what a ``number`` input field and the if/else node take
for a number when they are given text."""

from __future__ import annotations

import math
import re

_INTEGER = re.compile(r"[+-]?\d+")  # \d: the Unicode decimal digits int() and float() read


def number_from_text(text: str) -> int | float | None:
    """The number ``text`` spells (surrounding whitespace ignored), or ``None`` when it spells none.

    An integer numeral is an ``int``, exactly (``"18446744073709551617"`` stays that number,
    where ``float()`` would make it 18446744073709551616, and ``"1" + "0" * 400`` is an integer,
    not infinity); any other numeral (``"4.5"``, ``"1e3"``) a float. Not a number: text
    without one, ``NaN`` and ``Infinity`` (and what overflows to them, ``"1e999"``), Python's
    digit-group underscores (``"1_000"``, which ``int()`` and ``float()`` accept but JSON and
    people do not write), and an integer of more digits than Python converts (4,300).
    """
    stripped = text.strip()
    if "_" in stripped:
        return None
    if _INTEGER.fullmatch(stripped):
        try:
            return int(stripped)
        except ValueError:  # beyond Python's int-to-text digit limit
            return None
    try:
        number = float(stripped)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
