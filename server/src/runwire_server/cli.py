"""The ``runwire`` command line: run and check workflows locally, list plugins, serve."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from runwire.check import check_workflow, prepare_workflow
from runwire.engine import Engine, RunObserver
from runwire.errors import PluginConflict, WorkflowInvalid
from runwire.plugins import Plugins
from runwire.records import NodeRecord, RunRecord
from runwire.workflow import load_workflow_file


def _load_plugins() -> Plugins:
    try:
        plugins = Plugins.load()
    except PluginConflict as exc:
        raise click.ClickException(str(exc)) from None
    for error in plugins.load_errors:
        click.echo(f"warning: {error}", err=True)
    return plugins


def _load_workflow(path: Path) -> Any:
    try:
        return load_workflow_file(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


class ConsoleProgress(RunObserver):
    """Prints one line per node as it starts and finishes (to stderr)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        self.console.print(f"[cyan]▶[/] {node_id} [dim]running[/]")

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        style = {"succeed": "green", "failed": "red", "skipped": "yellow"}.get(record.status, "white")
        detail = f" — {record.error}" if record.error else ""
        self.console.print(f"[{style}]■[/] {record.id} [{style}]{record.status}[/]{detail}", highlight=False)


@click.group()
@click.version_option(package_name="runwire-server")
def main() -> None:
    """runwire: turn scripts and node graphs into authenticated HTTP APIs."""


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--input", "input_json", default="{}", help="Run input as JSON (or plain text).")
@click.option("--json", "as_json", is_flag=True, help="Print only the run record as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show node-by-node progress on stderr (default: when stderr is a terminal and not --json).",
)
def run(file: Path, input_json: str, as_json: bool, progress: bool | None) -> None:
    """Run the workflow in FILE in-process and print its run record."""
    from runwire.inputs import input_from_text

    plugins = _load_plugins()
    try:
        prepared = prepare_workflow(_load_workflow(file), plugins)
    except WorkflowInvalid as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    console = Console(stderr=True)
    if progress is None:
        progress = not as_json and console.is_terminal
    observer = ConsoleProgress(console) if progress else None
    record = asyncio.run(Engine().execute(prepared, input_from_text(input_json), observer=observer))
    click.echo(json.dumps(record.to_json(), indent=None if as_json else 2, ensure_ascii=False))
    sys.exit(0 if record.status == "succeed" else 1)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(file: Path) -> None:
    """Validate the workflow in FILE; print every problem and exit 1 if there are any."""
    plugins = _load_plugins()
    problems = check_workflow(_load_workflow(file), plugins)
    for problem in problems:
        click.echo(problem)
    if problems:
        sys.exit(1)
    click.echo("ok: no problems found")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins with their node types, binders, formatters and auth providers."""
    loaded = _load_plugins()
    infos = loaded.describe()
    if as_json:
        click.echo(json.dumps([vars(i) for i in infos], indent=2))
        return
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
    for error in loaded.load_errors:
        click.echo(f"FAILED  {error}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (placeholder until the server lands: only /healthz)."""
    import uvicorn
    from litestar import Litestar, get

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(Litestar([healthz]), host=host, port=port, log_level="info")
