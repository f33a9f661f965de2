"""The settings tables of the README ("Configuration") and docs/server.md ("Settings") against
`runwire_server.settings.Settings`: every setting is in both, with the default it has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runwire_server.settings import Settings

REPO = Path(__file__).parents[2]
TABLES = {"README.md": "## Configuration", "docs/server.md": "## Settings"}
MIB = 1024 * 1024


def table(doc: str) -> dict[str, str]:
    """Each variable of the section's table and the default the table gives it."""
    section = (REPO / doc).read_text(encoding="utf-8").split(TABLES[doc], 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`RUNWIRE_"):
            continue
        names = re.findall(r"`(RUNWIRE_\w+)`", cells[0])
        defaults = [cells[1]] if len(names) == 1 else re.split(r",\s+(?![^(]*\))", cells[1])
        if len(defaults) != len(names):  # "`3`, `10`" for two names, or one default for both
            defaults = [cells[1]] * len(names)
        rows.update(zip(names, defaults, strict=True))
    return rows


def documents(default: Any, shown: str) -> bool:
    """Whether the table's default cell says `default`."""
    code = re.match(r"`([^`]*)`", shown)
    value = code.group(1) if code else shown
    if default is None:  # derived from another setting
        return "\u00d7" in shown  # the multiplication sign of "4 times nodes"
    if isinstance(default, bool):
        return value == str(default).lower()
    if isinstance(default, int | float):
        size = re.fullmatch(r"(\d+) MiB", value)
        number = int(size.group(1)) * MIB if size else float(value.replace(",", ""))
        return number == default
    if isinstance(default, Path):
        return Path(value) == default
    if default == "":
        return shown.startswith("empty") or shown.startswith("`<")
    return value == default


SETTINGS = {f"RUNWIRE_{name.upper()}": field.default for name, field in Settings.model_fields.items()}


@pytest.mark.parametrize("doc", sorted(TABLES))
def test_every_setting_is_in_the_table_with_its_default(doc: str) -> None:
    rows = table(doc)
    assert sorted(set(SETTINGS) - set(rows)) == [], f"{doc} lacks these settings"
    wrong = {name: rows[name] for name, default in SETTINGS.items() if not documents(default, rows[name])}
    assert wrong == {}, f"{doc}: defaults that are not Settings' ({ {n: SETTINGS[n] for n in wrong} })"


def test_the_server_table_names_only_settings() -> None:
    """docs/server.md's table is the server's; the README's also lists plugins' variables."""
    assert sorted(set(table("docs/server.md")) - set(SETTINGS)) == []
