"""The README's Python example runs as written against the test JWKS server."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import SigningKey, claims, sign

README = Path(__file__).parents[1] / "README.md"


def python_example() -> str:
    match = re.search(r"## From Python.*?```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert match, "README lost its Python example"
    return match.group(1)


async def test_the_readme_python_example_authenticates_a_token(
    auth0_env: dict[str, str], keys: dict[str, SigningKey], capsys: pytest.CaptureFixture[str]
) -> None:
    # the example uses top-level await: run it as the body of a coroutine
    source = "async def example(settings, token):\n" + textwrap.indent(python_example(), "    ")
    namespace: dict[str, Any] = {}
    exec(compile(source, str(README), "exec"), namespace)
    await namespace["example"](auth0_env, sign(keys["current"], claims()))
    assert capsys.readouterr().out == "auth0|alice [12, 307] wrapped\n"
