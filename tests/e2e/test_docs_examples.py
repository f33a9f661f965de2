"""The Python examples of docs/api.md, run in order against a live server (base URL and key
filled in): start and poll a run, then long-poll it."""

from __future__ import annotations

import contextlib
import io
import re

from runwire_server.testing import running_server
from tests.helpers import ROOT


def python_blocks(path: str) -> list[str]:
    """The ```python blocks of a Markdown file."""
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), flags=re.S)


def test_api_doc_example_runs_against_a_live_server() -> None:
    example = "\n".join(python_blocks("docs/api.md"))
    with running_server(env={"RUNWIRE_API_KEYS": "my-key"}) as server:
        code = example.replace('"http://127.0.0.1:8000"', repr(server.url))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "docs/api.md", "exec"), {})
    assert printed.getvalue().split() == ["Hello", "John", "Doe", "succeed", "Hello", "Ada"]
