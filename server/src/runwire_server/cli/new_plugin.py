"""``runwire new-plugin NAME``: write a ready plugin distribution from the templates.

The templates are package data (``runwire_server/templates/new_plugin/``), rendered with
Jinja2 using ``<< >>``/``<% %>`` delimiters so the ``{{ }}`` of runwire's own templates pass
through untouched. Every template ends in ``.tmpl`` (so no tool takes them for source: they are
not valid Python or TOML before rendering), dropped on writing; ``src/module/`` becomes
``src/<module>/``.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import click

import runwire
from runwire_server.cli.base import main

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
TEMPLATES = "templates/new_plugin"
#: Template files only written with a flag, by flag.
OPTIONAL = {
    "binder": ("src/module/binder.py", "tests/test_binder.py"),
    "formatter": ("src/module/formatter.py", "tests/test_formatter.py"),
    "auth": ("src/module/auth.py", "tests/test_auth.py"),
}


@dataclass(frozen=True)
class PluginNames:
    """The names derived from ``runwire new-plugin NAME``."""

    name: str  # the entry point's name: what RUNWIRE_BLOCKED_PLUGINS and `runwire plugins` show
    dist: str  # the distribution, runwire-<name>
    module: str  # the import package, runwire_<ident>
    ident: str  # <name> as an identifier: the binder's kind
    title: str  # the node's name, "My Thing"

    @classmethod
    def parse(cls, raw: str) -> PluginNames:
        """Names for ``raw`` (a leading ``runwire-`` is dropped).

        :raises click.BadParameter: ``raw`` is not lower-case letters and digits, with single
            ``-`` or ``_`` between them, starting with a letter.
        """
        name = raw.removeprefix("runwire-").removeprefix("runwire_")
        if not NAME.match(name):
            raise click.BadParameter(
                f"{raw!r} is not a plugin name: use lower-case letters and digits, with single '-' or '_' "
                "between them, starting with a letter (e.g. 'reverse' or 'my-thing')",
                param_hint="NAME",
            )
        ident = name.replace("-", "_")
        if keyword.iskeyword(ident):
            raise click.BadParameter(f"{raw!r} is a Python keyword", param_hint="NAME")
        title = " ".join(part.capitalize() for part in re.split(r"[-_]", name))
        return cls(name, f"runwire-{name}", f"runwire_{ident}", ident, title)


_BASES = (
    ("auth", "AuthProvider"),
    ("binder", "InputBinder"),
    ("node", "NodeType"),
    ("formatter", "OutputFormatter"),
)


def _templates() -> Traversable:
    return files("runwire_server").joinpath(TEMPLATES)


def _walk(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        relative = f"{prefix}{entry.name}"
        found += _walk(entry, f"{relative}/") if entry.is_dir() else [(relative, entry)]
    return found


def render_plugin(names: PluginNames, *, binder: bool, formatter: bool, auth: bool) -> dict[str, str]:
    """The files of the new distribution, by relative path."""
    import jinja2  # here, not at the top: every command imports this module, few render (a faster start)

    flags = {"binder": binder, "formatter": formatter, "auth": auth}
    skipped = {path for flag, paths in OPTIONAL.items() if not flags[flag] for path in paths}
    env = jinja2.Environment(
        variable_start_string="<<",
        variable_end_string=">>",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    context: dict[str, Any] = {
        **vars(names),
        **flags,
        "node_name": names.title,
        "class_prefix": names.title.replace(" ", ""),
        "title_dashed": names.title.replace(" ", "-"),
        "env": names.ident.upper(),
        "description": f"the {names.title!r} node" + (", and more" if any(flags.values()) else ""),
        "hook_imports": ", ".join([c for flag, c in _BASES if flags.get(flag, True)] + ["hookimpl"]),
        "api_version": runwire.PLUGIN_API_VERSION,
        "runwire_version": runwire.__version__,
    }
    out: dict[str, str] = {}
    for relative, entry in _walk(_templates()):
        relative = relative.removesuffix(".tmpl")
        if relative in skipped:
            continue
        target = relative.replace("src/module/", f"src/{names.module}/", 1)
        out[target] = env.from_string(entry.read_text(encoding="utf-8")).render(context)
    return out


def write_plugin(directory: Path, files_: dict[str, str]) -> None:
    """Write ``files_`` under ``directory`` (which must not exist or be empty)."""
    for relative, text in files_.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write it (default: ./runwire-NAME); must not exist or be empty.",
)
@click.option("--binder", is_flag=True, help="Add an input binder (a request header as a variable).")
@click.option("--formatter", is_flag=True, help="Add an output formatter (a file's lines).")
@click.option("--auth", is_flag=True, help="Add an auth provider (a shared token header).")
def new_plugin(name: str, directory: Path | None, binder: bool, formatter: bool, auth: bool) -> None:
    """Write a ready plugin distribution NAME: a node type (and with flags a binder, a formatter,
    an auth provider), its tests, README, pyproject with the entry point. Then
    `pip install -e DIR` and run `pytest` in it."""
    names = PluginNames.parse(name)
    target = directory or Path(names.dist)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(f"{target} exists and is not an empty directory: choose another --dir")
    try:
        write_plugin(target, render_plugin(names, binder=binder, formatter=formatter, auth=auth))
    except OSError as exc:  # a name too long for the file system, a read-only --dir, a full disk
        raise click.ClickException(f"cannot write {exc.filename or target}: {exc.strerror or exc}") from None
    click.echo(f"wrote {names.dist} (plugin {names.name!r}, module {names.module}) in {target}")
    click.echo(f"next: pip install -e '{target}[test]' && (cd {target} && pytest)")
