"""Meta-tests: every hookspec is documented for plugin authors and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from runwire import hookspecs

REPO = Path(__file__).parents[2]
HOOKS = [
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
]


def test_there_are_four_hook_families() -> None:
    assert sorted(HOOKS) == [
        "register_auth_providers",
        "register_input_binders",
        "register_node_types",
        "register_output_formatters",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_has_a_docstring_saying_what_it_returns(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Called" in doc or "Each class" in doc
    assert ":return:" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_in_the_plugin_guide(hook: str) -> None:
    guide = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"`{hook}`" in guide or f"{hook}(" in guide


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_tests(hook: str) -> None:
    tests = [*REPO.glob("tests/**/test_*.py"), *REPO.glob("plugins/*/tests/**/test_*.py")]
    implemented_in = [p for p in tests if f"def {hook}" in p.read_text(encoding="utf-8")]
    assert implemented_in, f"no test registers a plugin implementing {hook}"
