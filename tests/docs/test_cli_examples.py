"""The `runwire` command lines of docs/workflows.md and the README, run as written.

Each ``$ `` line of a ```console block in docs/workflows.md runs on its own, from the checkout's
root, with no ``RUNWIRE_*`` variable but those the line sets; the lines under it (up to the
next ``$ ``) must appear in its output. It must exit 0, except a ``runwire check`` shown
printing problems, which exits 1. The README's inline ``.venv/bin/runwire`` commands run the
same way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from runwire_server.cli import main

REPO = Path(__file__).parents[2]


@dataclass(frozen=True)
class Command:
    """One documented command line and the output shown under it."""

    where: str
    line: str
    expected: tuple[str, ...]


def console_commands(doc: str) -> list[Command]:
    text = (REPO / doc).read_text(encoding="utf-8")
    found: list[Command] = []
    for block in re.finditer(r"```console\n(.*?)```", text, re.S):
        start = text.count("\n", 0, block.start()) + 2
        lines = block.group(1).splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("$ "):
                continue
            expected: list[str] = []
            for following in lines[index + 1 :]:
                if following.startswith("$ "):
                    break
                if following.strip():
                    expected.append(following.rstrip())
            found.append(Command(f"{doc}:{start + index}", line[2:], tuple(expected)))
    return found


def readme_commands() -> list[Command]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [
        Command(f"README.md:{text.count(chr(10), 0, m.start()) + 1}", m.group(1), ())
        for m in re.finditer(r"`(\.venv/bin/runwire [^`]+)`", text)
    ]


COMMANDS = console_commands("docs/workflows.md") + readme_commands()


def test_the_docs_show_commands() -> None:
    assert len(console_commands("docs/workflows.md")) >= 7
    assert len(readme_commands()) >= 2


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.where)
def test_command_runs_as_written(command: Command) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    bin_dir = Path(sys.executable).parent  # the checkout's .venv/bin under `make test`
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    line = command.line.replace(".venv/bin/runwire", str(bin_dir / "runwire"))
    done = subprocess.run(
        ["bash", "-c", line], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    shows_problems = line.startswith("runwire check") and bool(command.expected)
    assert done.returncode == (1 if shows_problems else 0), f"{command.where}: {line}\n{output}"
    for expected in command.expected:
        assert expected in output, f"{command.where}: {expected!r} not in the output of {line}:\n{output}"


def long_options(command: click.Command) -> set[str]:
    return {
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in param.opts + param.secondary_opts
        if opt.startswith("--")
    }


def command_line_section() -> dict[str, set[str]]:
    """docs/server.md's "Command line" block: each command and the flags it shows."""
    text = (REPO / "docs" / "server.md").read_text(encoding="utf-8").split("## Command line", 1)[1]
    block = re.search(r"```\n(.*?)```", text, re.S)
    assert block, "server.md's Command line section has a block"
    shown: dict[str, set[str]] = {}
    current = ""
    for line in block.group(1).splitlines():
        if line.startswith("runwire "):
            words = re.match(r"runwire ((?:[a-z][a-z-]* ?)+)", line)
            assert words, line
            current = words.group(1).strip()
            shown[current] = set()
        shown[current] |= set(re.findall(r"--[a-z-]+", line))
    return shown


def test_server_doc_command_line_matches_the_cli() -> None:
    shown = command_line_section()
    documented_groups = {"serve", "worker", "keys", "db", "runs"}
    expected: dict[str, set[str]] = {}
    for name in documented_groups:
        command = main.commands[name]
        if isinstance(command, click.Group):
            for sub, leaf in command.commands.items():
                if not leaf.hidden:
                    expected[f"{name} {sub}"] = long_options(leaf)
        else:
            expected[name] = long_options(command)
    assert shown == expected


@pytest.mark.parametrize(
    ("name", "doc"),
    [
        ("run", "workflows.md"),
        ("check", "workflows.md"),
        ("plugins", "workflows.md"),
        ("new-plugin", "plugins.md"),
    ],
)
def test_every_flag_is_documented(name: str, doc: str) -> None:
    text = (REPO / "docs" / doc).read_text(encoding="utf-8")
    missing = {opt for opt in long_options(main.commands[name]) if not re.search(rf"{opt}\b", text)}
    assert missing == set(), f"runwire {name}: flags docs/{doc} does not name"
