"""Bound values cannot become options: real programs run through the Run Script node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import NODE_ID, PY, SCRIPTS, RunScript

SHOW = str(SCRIPTS / "show_args.py")
GREP = shutil.which("grep") or "grep"


@pytest.fixture
def haystack(tmp_path: Path) -> str:
    """A file for grep whose lines look like options."""
    path = tmp_path / "haystack.txt"
    path.write_text("plain line\n--help\n-v\n", encoding="utf-8")
    return str(path)


# Retries are allowed, so a refusal that is tried only once shows it is not retryable.
RETRIES = {"retries": 2, "retry_delay": 0}


def grep_node(command: list[str]) -> dict[str, Any]:
    """A Run Script node running grep with ``$PATTERN`` bound from ``input.pattern``."""
    return {"command": command, "variables": {"PATTERN": "{{ input.pattern }}"}, **RETRIES}


def shown_argv(record: Any) -> list[str]:
    """The argv that show_args.py reported."""
    assert record.status == "succeed", record.error
    return list(json.loads(record.nodes[NODE_ID].result["content"])["argv"])


def assert_refused(record: Any, index: int, value: str) -> None:
    """The node failed on its only attempt, naming the argument and its variable or template."""
    node = record.nodes[NODE_ID]
    assert record.status == "failed" and node.status == "failed"
    assert node.result is None and node.attempts == 1
    error = node.error or ""
    assert f"argument {index} ({value})" in error
    assert "put '--' before it in the command" in error


@pytest.mark.parametrize("pattern", ["--help", "-v", "-", "--", "-1e5", "-5x"])
async def test_a_variable_value_that_looks_like_an_option_is_refused(
    run_script: RunScript, haystack: str, pattern: str
) -> None:
    record = await run_script(grep_node([GREP, "$PATTERN", haystack]), {"pattern": pattern})
    assert_refused(record, 1, "$PATTERN")


async def test_after_a_literal_double_dash_the_value_reaches_the_program_as_an_operand(
    run_script: RunScript, haystack: str
) -> None:
    record = await run_script(grep_node([GREP, "--", "$PATTERN", haystack]), {"pattern": "--help"})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["content"] == "--help\n"
    after = await run_script(
        {"command": [PY, SHOW, "--", "$V", "{{ input.v }}", "--"], "variables": {"V": "{{ input.v }}"}},
        {"v": "-rf"},
    )
    assert shown_argv(after) == ["--", "-rf", "-rf", "--"]


async def test_literal_text_first_keeps_the_value_inside_the_option(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, SHOW, "--x=$V", "-o{{ input.v }}"], "variables": {"V": "{{ input.v }}"}},
        {"v": "-y"},
    )
    assert shown_argv(record) == ["--x=-y", "-o-y"]


async def test_negative_numbers_are_allowed(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, SHOW, "$N", "{{ input.f }}", "$N.5"], "variables": {"N": "{{ input.n }}"}},
        {"n": -3, "f": -2.5},
    )
    assert shown_argv(record) == ["-3", "-2.5", "-3.5"]


async def test_a_template_that_renders_an_option_is_refused(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, SHOW, "ok", "{{ input.x }}"], **RETRIES}, {"x": "--output=/etc/passwd"}
    )
    assert_refused(record, 3, "{{ input.x }}")


async def test_an_empty_value_before_a_literal_dash_is_refused(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, SHOW, "$V-x"], "variables": {"V": "{{ input.v }}"}, **RETRIES}, {"v": ""}
    )
    assert_refused(record, 2, "$V")


async def test_the_args_field_is_the_callers_choice_and_not_checked(run_script: RunScript) -> None:
    record = await run_script({"command": [PY, SHOW], "args": "{{ input.args }}"}, {"args": ["--help", "-v"]})
    assert shown_argv(record) == ["--help", "-v"]
