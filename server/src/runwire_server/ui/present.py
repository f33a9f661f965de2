"""How the UI tells states and values: a word and a glyph per state (never colour alone), run
input from a form, results as pretty JSON folded when long."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runwire.records import TERMINAL, Status

FOLD_LINES = 12
"""A value shown in more lines than this starts folded (``<details>``)."""
MAX_SHOWN_CHARS = 100_000
"""A value longer than this (as JSON) is cut on the page; the API has all of it."""


@dataclass(frozen=True, slots=True)
class StateLook:
    """A state as the page shows it: CSS class, word, glyph (shape), and whether it is final."""

    css: str
    word: str
    glyph: str
    final: bool


LOOKS = {
    Status.IN_QUEUE: StateLook("queued", "queued", "◔", False),
    Status.IN_PROGRESS: StateLook("running", "running", "▶", False),
    Status.SUCCEED: StateLook("succeeded", "succeeded", "✓", True),
    Status.FAILED: StateLook("failed", "failed", "✕", True),
    Status.SKIPPED: StateLook("skipped", "skipped", "\u2013", True),  # en dash,
}
NOT_STARTED = StateLook("pending", "not started", "○", False)
CANCELLED = StateLook("cancelled", "cancelled", "⊘", True)
CANCELLING = StateLook("running", "cancelling", "▶", False)
ERROR_EXCERPT_CHARS = 80


def look(status: Any) -> StateLook:
    """The look of a run's or node's status (anything unknown: not started)."""
    try:
        return LOOKS.get(Status(status), NOT_STARTED)
    except ValueError:
        return NOT_STARTED


def run_look(status: Any, cancelled_by: str | None) -> StateLook:
    """The look of a run: a cancelled one is told as ``cancelled`` (its status is ``failed``),
    one being stopped as ``cancelling``."""
    if cancelled_by is None:
        return look(status)
    return CANCELLED if is_terminal(str(status)) else CANCELLING


def duration(seconds: Any) -> str:
    """A duration as people read it: ``0.42 s``, ``12.3 s``, ``2 min 05 s``, ``1 h 02 min``;
    empty when there is none (yet)."""
    if not isinstance(seconds, int | float) or seconds < 0:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def excerpt(text: Any, limit: int = ERROR_EXCERPT_CHARS) -> str:
    """The first line of ``text``, cut to ``limit`` characters (an error in a list)."""
    if not isinstance(text, str) or not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def is_terminal(status: str) -> bool:
    """Whether a run with ``status`` changes no more."""
    return status in TERMINAL


@dataclass(frozen=True, slots=True)
class Shown:
    """A value as pretty JSON: its text, its line count, whether to fold it and whether it was cut."""

    text: str
    lines: int
    folded: bool
    cut: bool


def shown(value: Any) -> Shown:
    """``value`` as indented JSON (not-JSON values as text), folded past :data:`FOLD_LINES` lines."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    cut = len(text) > MAX_SHOWN_CHARS
    if cut:
        text = text[:MAX_SHOWN_CHARS]
    lines = text.count("\n") + 1
    return Shown(text, lines, lines > FOLD_LINES or cut, cut)


def run_input_from_form(fields: list[dict[str, Any]], form: Any) -> dict[str, Any]:
    """Run input from the run form: one text value per input field (``select`` fields send the
    index of their option, mapped back to its value). Empty values are left out, so defaults and
    the "required" check apply as they would to an API body; the workflow's own checks
    (:func:`runwire.inputs.apply_input_fields`) then judge the input exactly as for the API."""
    result: dict[str, Any] = {}
    for spec in fields:
        field_id = str(spec.get("id"))
        raw = form.get(f"input.{field_id}")
        if not isinstance(raw, str) or raw == "":
            continue
        options = spec.get("options") or []
        if spec.get("type") == "select" and options:
            index = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else -1
            if 0 <= index < len(options):  # not int() of any text: '²' is a digit, 5,000 digits too many
                result[field_id] = options[index].get("value")
            else:
                result[field_id] = raw  # refused by the workflow's check, with the field named
            continue
        result[field_id] = raw
    return result
