"""docs/plugins.md, run as written: every code block, in order, in a scratch virtual environment.

A block is run by its language: ``python`` as a script of its own, ``console``/``sh`` as
shell commands (the ``$ `` lines, in one shell starting in the work directory; every other
non-empty line must appear in their output). An HTML comment just before a block changes that:

- ``<!-- file: PATH -->`` writes the block to ``PATH`` (the reader edits that file);
- ``<!-- excerpt-of: PATH -->`` checks every line of the block is a line of ``PATH``;
- ``<!-- not-run: REASON -->`` skips it (a long-lived process, an upload).

A block of another language needs one of these.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import scratch_venv

GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(
    r"(?:<!--\s*(?P<kind>[a-z-]+):\s*(?P<arg>.*?)\s*-->\s*\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)
RUN = {"python", "console", "sh"}


@dataclass(frozen=True)
class Block:
    """One fenced block of the guide and the directive before it."""

    line: int
    lang: str
    body: str
    directive: str | None
    argument: str


def blocks() -> list[Block]:
    """Every fenced block of the guide, in order."""
    text = GUIDE.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, m.start("lang")) + 1, m["lang"], m["body"], m["kind"], m["arg"] or "")
        for m in BLOCK.finditer(text)
    ]


def test_every_block_is_run_or_says_why_not() -> None:
    found = blocks()
    assert len(found) > 10
    for block in found:
        assert block.directive in {None, "file", "excerpt-of", "not-run"}, block
        shown = block.lang == "text"  # what a command prints, shown; the tests named beside it check it
        assert block.lang in RUN or shown or block.directive is not None, (
            f"line {block.line}: {block.lang} block"
        )
        assert block.directive != "not-run" or block.argument, f"line {block.line}: not-run needs a reason"
    assert sum(b.directive == "not-run" for b in found) <= 4  # sparingly


def shims(bin_dir: Path, python: Path) -> None:
    """Commands of the guide, pointed at the scratch environment."""
    project_bin = Path(sys.executable).parent
    commands = {
        "pip": f'"{sys.executable}" -m pip --python "{python}"',
        "pytest": f'"{python}" -m pytest -p no:cacheprovider',
        "runwire": f'"{python}" -m runwire_server',
        "mypy": f'"{python}" -m mypy',
        "ruff": f'"{project_bin / "ruff"}"',
    }
    for name, command in commands.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        path.chmod(0o755)


def run_console(block: Block, work: Path, env: dict[str, str]) -> None:
    lines = block.body.splitlines()
    commands = [line[2:] for line in lines if line.startswith("$ ")]
    expected = [
        line for line in lines if line.strip() and not line.startswith("$ ") and line.strip() != "..."
    ]
    script = "set -e\n" + "\n".join(commands)
    done = subprocess.run(
        ["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=180
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"guide line {block.line}: {commands}\n{output}"
    for line in expected:
        assert line.rstrip() in output, f"guide line {block.line}: {line!r} not in the output:\n{output}"


def test_the_guide_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="installing offline needs hatchling (the dev group has it)")
    python = scratch_venv(tmp_path / "venv")
    shims(python.parent, python)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWIRE_", "PYTEST_"))}
    # no download: build with the hatchling at hand, from no index
    env |= {"PATH": f"{python.parent}:{env['PATH']}", "PIP_NO_BUILD_ISOLATION": "0", "PIP_NO_INDEX": "1"}
    for number, block in enumerate(blocks()):
        if block.directive == "not-run" or block.lang == "text":
            continue
        if block.directive == "file":
            target = work / block.argument
            assert target.parent.is_dir(), f"guide line {block.line}: no directory for {block.argument}"
            target.write_text(block.body, encoding="utf-8")
        elif block.directive == "excerpt-of":
            lines = (work / block.argument).read_text(encoding="utf-8").splitlines()
            for line in filter(None, block.body.splitlines()):
                assert line in lines, f"guide line {block.line}: {line!r} is not in {block.argument}"
        elif block.lang == "python":
            script = work / f"guide_block_{number}.py"
            script.write_text(block.body, encoding="utf-8")
            done = subprocess.run(
                [str(python), script.name], cwd=work, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"guide line {block.line}:\n{done.stdout}{done.stderr}"
        else:
            run_console(block, work, env)
