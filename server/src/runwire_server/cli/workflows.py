"""Workflow files on the command line: ``runwire run``, ``runwire check``, ``runwire plugins``."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runwire.check import DEFAULT_MAX_NODES, EDGES_PER_NODE, check_workflow, prepare_workflow, size_problem
from runwire.engine import Engine, RunObserver
from runwire.errors import InputInvalid, WorkflowInvalid
from runwire.plugins import Plugins
from runwire.records import NodeRecord, RunRecord, Status
from runwire.workflow import (
    PlainWorkflow,
    WorkflowData,
    parse_workflow_file,
    plain_workflow,
    read_workflow_file,
)
from runwire_server.cli.base import load_plugins, main
from runwire_server.cli.terminal import printable

if TYPE_CHECKING:  # rich is imported only when progress is shown (a faster start)
    from rich.console import Console


def _load_workflow(path: Path) -> WorkflowData | PlainWorkflow:
    """The workflow in ``path``: read without a model per node and edge when its JSON is plainly
    of the right shape (:func:`runwire.workflow.plain_workflow`), else validated (and refused,
    with the problems, as :func:`runwire.workflow.load_workflow_file` does)."""
    try:
        raw = read_workflow_file(path)
        plain = plain_workflow(raw)
        return plain if plain is not None else parse_workflow_file(path, raw)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _size_limit_options(fn: Any) -> Any:
    """``--max-nodes`` and ``--max-edges``: the server's limits, from the same variables."""
    fn = click.option(
        "--max-edges",
        type=click.IntRange(min=0),
        envvar="RUNWIRE_MAX_EDGES",
        default=None,
        help=f"Likewise for edges (RUNWIRE_MAX_EDGES); default {EDGES_PER_NODE} x --max-nodes; 0: no limit.",
    )(fn)
    return click.option(
        "--max-nodes",
        type=click.IntRange(min=0),
        envvar="RUNWIRE_MAX_NODES",
        default=DEFAULT_MAX_NODES,
        show_default=True,
        help="Refuse a workflow with more nodes, as the server does (RUNWIRE_MAX_NODES); 0: no limit.",
    )(fn)


def _load_sized_workflow(path: Path, max_nodes: int, max_edges: int | None) -> WorkflowData | PlainWorkflow:
    """The workflow in ``path``; :class:`WorkflowInvalid` when it is over the size limits."""
    data = _load_workflow(path)
    edges = sys.maxsize if max_edges == 0 else max_edges
    too_big = size_problem(data, max_nodes or None, edges)
    if too_big is not None:
        raise WorkflowInvalid([too_big])
    return data


class ConsoleProgress(RunObserver):
    """Prints one line per node as it starts and finishes (to stderr)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        from rich.text import Text

        self.console.print(Text.assemble(("▶ ", "cyan"), printable(node_id), (" running", "dim")))

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        from rich.text import Text

        styles: dict[str, str] = {Status.SUCCEED: "green", Status.FAILED: "red", Status.SKIPPED: "yellow"}
        style = styles.get(record.status, "white")
        line = Text.assemble(("■ ", style), printable(record.id), " ", (str(record.status), style))
        if record.error:  # a program's stderr, the input's values: never markup, never escapes
            line.append(f" — {printable(record.error)}")
        self.console.print(line, highlight=False)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--input", "input_json", default="{}", help="Run input as JSON (or plain text).")
@click.option("--json", "as_json", is_flag=True, help="Print only the run record as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show node-by-node progress on stderr (default: when stderr is a terminal and not --json).",
)
@_size_limit_options
def run(
    file: Path, input_json: str, as_json: bool, progress: bool | None, max_nodes: int, max_edges: int | None
) -> None:
    """Run the workflow in FILE in-process and print its run record."""
    from runwire.inputs import input_from_text

    # Loading the plugins, reading and preparing the workflow make objects that live until the
    # command ends, and no garbage to speak of: no collections meanwhile (those of a workflow of
    # thousands of nodes walked everything made so far over and over, a cost per node growing
    # with the workflow), then frozen, so the run's collections skip them. Young collections
    # every 20,000 allocations (not 700) keep the run's own results from being walked over and
    # over too (see bench/engine.py)
    collecting = gc.isenabled()
    gc.disable()
    try:
        plugins = load_plugins()
        prepared = prepare_workflow(_load_sized_workflow(file, max_nodes, max_edges), plugins)
        gc.freeze()
    except WorkflowInvalid as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    finally:
        if collecting:
            gc.enable()
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    if progress is None:
        progress = not as_json and sys.stderr.isatty()
    observer = None
    if progress:
        from rich.console import Console

        observer = ConsoleProgress(Console(stderr=True))
    try:
        run_input = input_from_text(input_json)
    except InputInvalid as exc:
        raise click.BadParameter("; ".join(exc.problems), param_hint="--input") from None
    records: list[RunRecord] = []

    async def execute() -> None:
        # returns nothing: on the way out, Python 3.11's asyncio.run formats the main task,
        # its result included (restoring the SIGINT handler), at a cost that grows with the run
        records.append(await Engine().execute(prepared, run_input, observer=observer))

    asyncio.run(execute())
    record = records[0]
    shown = record.to_json()
    if record.error is not None:  # as the store's error column holds it (a NUL as U+FFFD)
        from runwire.jsontext import storable_text

        shown["error"] = storable_text(record.error)
    click.echo(compact_json(shown) if as_json else pretty_json(shown))
    sys.exit(0 if record.status == Status.SUCCEED else 1)


def compact_json(value: dict[str, Any]) -> str:
    """``value`` as one line of JSON, the way the server's API writes it (msgspec: no spaces,
    a non-finite number as ``null``), several times faster than :func:`json.dumps` (a
    10,000-node run's record is megabytes). A value msgspec refuses (a lone surrogate a template
    made, nesting deeper than it goes) or writes otherwise than the server stores it (bytes as
    base64, a date, a set or an enum, which the store writes as their text: msgspec's
    ``to_builtins`` changes them) is written as the server stores it (:func:`_as_stored`)."""
    import msgspec

    try:
        if msgspec.to_builtins(value) == value:  # JSON's own types only: as the server stores them
            return msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError, RecursionError):  # UnicodeEncodeError: a ValueError
        pass
    return json.dumps(_as_stored(value), ensure_ascii=False, separators=(",", ":"))


def pretty_json(value: dict[str, Any]) -> str:
    """``value`` as indented JSON; what has no JSON form (``NaN``, an object of a plugin's), or
    could not be printed (a lone surrogate), as the server stores it (:func:`_as_stored`)."""
    from runwire.jsontext import has_lone_surrogate

    try:  # NaN and Infinity are no JSON: null, as stored
        text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is None or has_lone_surrogate(text):
        text = json.dumps(_as_stored(value), indent=2, ensure_ascii=False)
    return text


def _as_stored(record: dict[str, Any]) -> dict[str, Any]:
    """A run's ``record`` as the server stores a run's results and its API sends them back
    (:func:`runwire.jsontext.dumps_stored`; ``data`` on its own, as the store's node results,
    so that what is nested too deeply is cut at the same depth): a lone surrogate as
    U+FFFD, a non-finite number as ``null``, an object JSON does not have as its text. Printing
    the record as it was failed with a ``UnicodeEncodeError`` or ``TypeError`` traceback once
    the run had ended."""
    from runwire.jsontext import dumps_stored

    stored: dict[str, Any] = json.loads(dumps_stored(record))
    if isinstance(record.get("data"), dict):
        stored["data"] = json.loads(dumps_stored(record["data"]))
    return stored


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_size_limit_options
def check(file: Path, max_nodes: int, max_edges: int | None) -> None:
    """Validate the workflow in FILE; print every problem and exit 1 if there are any."""
    plugins = load_plugins()
    try:
        problems = check_workflow(_load_sized_workflow(file, max_nodes, max_edges), plugins)
    except WorkflowInvalid as exc:
        problems = exc.problems
    for problem in problems:
        click.echo(problem)
    if problems:
        sys.exit(1)
    click.echo("ok: no problems found")


def shown_settings(plugins: Plugins, name: str) -> dict[str, str] | None:
    """Plugin ``name``'s settings as ``runwire plugins`` shows them: secrets as ``****``, an
    invalid setting as ``{"error": ...}``; ``None`` when the plugin declares no settings."""
    from runwire.plugin_settings import masked

    problem = plugins.settings.problem(name)
    if problem is not None:
        return {"error": problem}
    model = plugins.settings.models.get(name)
    return None if model is None else masked(plugins.settings.of(model))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 if any plugin failed or conflicts (for CI).")
@click.option("-v", "--verbose", is_flag=True, help="Add the traceback of each failure.")
def plugins(as_json: bool, strict: bool, verbose: bool) -> None:
    """List installed plugins with their node types, binders, formatters and auth providers,
    and every problem: a plugin left out (with why and the fix), two plugins claiming one name."""
    loaded = load_plugins(warn=False, keep_conflicts=True)
    infos = loaded.describe()
    if as_json:
        click.echo(
            json.dumps([{**vars(i), "settings": shown_settings(loaded, i.name)} for i in infos], indent=2)
        )
    else:
        for info in infos:
            click.echo(f"{info.name}  ({info.distribution})")
            for label, items in (
                ("node types", info.node_types),
                ("input binders", info.binders),
                ("output formatters", info.formatters),
                ("auth providers", info.auth_providers),
            ):
                if items:
                    click.echo(f"    {label}: {', '.join(items)}")
            if (shown := shown_settings(loaded, info.name)) is not None:
                text = shown.get("error") or ", ".join(f"{k}={v}" for k, v in shown.items()) or "(none)"
                click.echo(f"    settings: {text}")
        for error in loaded.load_errors:
            click.echo(f"FAILED  {error}")
            if verbose and error.traceback:
                click.echo(textwrap.indent(error.traceback.rstrip(), "    "))
        for conflict in loaded.conflicts:
            click.echo(f"CONFLICT  {conflict}")
    problems = len(loaded.problems)
    if problems:
        click.echo(f"{problems} plugin problem(s)", err=True)
    if strict and problems:
        sys.exit(1)
