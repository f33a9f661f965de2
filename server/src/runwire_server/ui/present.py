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


def look(status: Any) -> StateLook:
    """The look of a run's or node's status (anything unknown: not started)."""
    try:
        return LOOKS.get(Status(status), NOT_STARTED)
    except ValueError:
        return NOT_STARTED


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
            if raw.isdigit() and int(raw) < len(options):
                result[field_id] = options[int(raw)].get("value")
            else:
                result[field_id] = raw  # refused by the workflow's check, with the field named
            continue
        result[field_id] = raw
    return result
