"""The ``runwire`` command line: serve the API, run workers, run and check workflows, keys."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from runwire.check import DEFAULT_MAX_NODES, EDGES_PER_NODE, check_workflow, prepare_workflow, size_problem
from runwire.engine import Engine, RunObserver
from runwire.errors import ConfigInvalid, InputInvalid, PluginConflict, WorkflowInvalid
from runwire.plugins import Plugins
from runwire.records import NodeRecord, RunRecord
from runwire.workflow import WorkflowData, load_workflow_file


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


def _load_sized_workflow(path: Path, max_nodes: int, max_edges: int | None) -> WorkflowData:
    """The workflow in ``path``; :class:`WorkflowInvalid` when it is over the size limits."""
    data = _load_workflow(path)
    edges = sys.maxsize if max_edges == 0 else max_edges
    too_big = size_problem(data, max_nodes or None, edges)
    if too_big is not None:
        raise WorkflowInvalid([too_big])
    return data  # type: ignore[no-any-return]


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
@_size_limit_options
def run(
    file: Path, input_json: str, as_json: bool, progress: bool | None, max_nodes: int, max_edges: int | None
) -> None:
    """Run the workflow in FILE in-process and print its run record."""
    from runwire.inputs import input_from_text

    plugins = _load_plugins()
    try:
        prepared = prepare_workflow(_load_sized_workflow(file, max_nodes, max_edges), plugins)
    except WorkflowInvalid as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    console = Console(stderr=True)
    if progress is None:
        progress = not as_json and console.is_terminal
    observer = ConsoleProgress(console) if progress else None
    try:
        run_input = input_from_text(input_json)
    except InputInvalid as exc:
        raise click.BadParameter("; ".join(exc.problems), param_hint="--input") from None
    record = asyncio.run(Engine().execute(prepared, run_input, observer=observer))
    click.echo(json.dumps(record.to_json(), indent=None if as_json else 2, ensure_ascii=False))
    sys.exit(0 if record.status == "succeed" else 1)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_size_limit_options
def check(file: Path, max_nodes: int, max_edges: int | None) -> None:
    """Validate the workflow in FILE; print every problem and exit 1 if there are any."""
    plugins = _load_plugins()
    try:
        problems = check_workflow(_load_sized_workflow(file, max_nodes, max_edges), plugins)
    except WorkflowInvalid as exc:
        problems = exc.problems
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


def _settings(**overrides: Any) -> Any:
    """Settings from the environment, with the CLI flags that were given on top."""
    from pydantic import ValidationError

    from runwire.errors import ConfigInvalid
    from runwire.fieldproblems import field_problems
    from runwire_server.settings import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(map(str, field_problems(exc)))
        raise click.ClickException(f"invalid settings: {problems}") from None
    except ConfigInvalid as exc:  # a secret file that cannot be read, a secret set twice
        raise click.ClickException(str(exc)) from None


def _prepare_process() -> None:
    """Logging and the memory setting of a long-lived process (``serve``, ``worker``)."""
    import logging

    from runwire_server.memory import pin_mmap_threshold, share_the_gil_sooner

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pin_mmap_threshold()
    share_the_gil_sooner()


def _services(settings: Any) -> Any:
    from runwire.errors import ConfigInvalid
    from runwire_server.services import build_services

    try:
        return build_services(settings, _load_plugins())
    except ConfigInvalid as exc:
        raise click.ClickException(str(exc)) from None


_store_options = [
    click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="RUNWIRE_DATA_DIR"),
    click.option("--database-url", help="RUNWIRE_DATABASE_URL (default: SQLite in the data dir)"),
]


def _with(options: list[Any]) -> Any:
    def wrap(fn: Any) -> Any:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return wrap


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@_with(_store_options)
@click.option("--broker-url", help="RUNWIRE_BROKER_URL (redis://...); default: runs execute in this process")
@click.option("--auth-providers", help="RUNWIRE_AUTH_PROVIDERS, e.g. api-key,auth0 or none")
@click.option("--worker-threads", type=int, help="RUNWIRE_WORKER_THREADS: runs at once (embedded mode)")
@click.option("--task-config", help="RUNWIRE_TASK_CONFIG: a script-runner config.json to mount at /task")
def serve(host: str, port: int, **overrides: Any) -> None:
    """Serve the HTTP API; without a broker URL, also execute runs in this process."""
    import uvicorn

    from runwire_server.api.app import create_app
    from runwire_server.memory import freeze_boot_objects
    from runwire_server.slow_clients import deadline_protocol

    _prepare_process()
    settings = _settings(**overrides)
    try:  # front doors start in create_app: a bad RUNWIRE_TASK_CONFIG stops here, named
        app = create_app(settings, services=_services(settings))
    except (ConfigInvalid, PluginConflict) as exc:
        raise click.ClickException(str(exc)) from None
    freeze_boot_objects()
    mode = (
        "distributed (runwire worker processes execute runs)"
        if settings.broker_url
        else "embedded (runs execute in this process)"
    )
    click.echo(
        f"runwire serve: http://{host}:{port} — {mode}, store {settings.store_url.split('://')[0]}", err=True
    )
    http = deadline_protocol(settings.http_header_timeout_s, settings.http_request_timeout_s)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, loop="auto", http=http,
                lifespan="on", timeout_graceful_shutdown=10,
                timeout_keep_alive=settings.http_keepalive_timeout_s)  # fmt: skip


@main.command()
@_with(_store_options)
@click.option("--broker-url", help="RUNWIRE_BROKER_URL (required: redis://...)")
@click.option("--threads", "worker_threads", type=int, help="RUNWIRE_WORKER_THREADS")
def worker(**overrides: Any) -> None:
    """Execute runs from the broker until SIGTERM/SIGINT (distributed mode)."""
    import signal
    import threading

    from runwire_server.memory import freeze_boot_objects
    from runwire_server.testing import WORKER_READY_LINE

    _prepare_process()
    settings = _settings(**overrides)
    if not settings.broker_url:
        raise click.ClickException(
            "runwire worker needs RUNWIRE_BROKER_URL (or --broker-url), e.g. redis://..."
        )
    services = _services(settings)
    freeze_boot_objects()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    services.start_worker()
    click.echo(
        f"{WORKER_READY_LINE}: {settings.worker_threads} threads, pid {__import__('os').getpid()}", err=True
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        click.echo("runwire worker: stopping (unfinished messages go back to the queue)", err=True)
        services.close()


@main.group()
def keys() -> None:
    """Manage API keys (stored hashed, scoped to projects)."""


_DURATION = re.compile(r"([0-9]{1,9})([mhdw])")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Duration(click.ParamType):
    """A duration: a positive whole number and a unit, m(inutes), h(ours), d(ays) or w(eeks): ``30d``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        """The ``timedelta`` of ``value``; a click usage error for anything else."""
        if isinstance(value, timedelta):
            return value
        match = _DURATION.fullmatch(str(value).strip())
        if match is None or int(match[1]) == 0:
            self.fail(f"{value!r} is not a duration: use a positive whole number and m, h, d or w "
                      "(minutes, hours, days, weeks), e.g. 90m, 12h, 30d, 2w", param, ctx)  # fmt: skip
        try:
            delta = timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
            datetime.now(UTC) + delta
        except OverflowError:
            self.fail(f"{value!r} is too long", param, ctx)
        return delta


@contextmanager
def _key_store(overrides: dict[str, Any]) -> Iterator[Any]:
    """The configured store, its schema brought up to date; disposed of afterwards."""
    from runwire_server.hostsetup import open_store

    store = open_store(_settings(**overrides))
    try:
        yield store
    finally:
        store.dispose()


def _when(value: datetime | None, missing: str = "never") -> str:
    """A stored time for people: ``2025-01-31 17:05`` (UTC), or ``missing``."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else missing


@keys.command("create")
@click.option("--project", "projects", type=click.IntRange(0, 2**31 - 1), multiple=True, required=True,
              help="Project the key may access (repeat for several).")  # fmt: skip
@click.option("--name", default="", help="A label to recognise the key by.")
@click.option(
    "--expires", type=Duration(), help="Refuse the key after this long: 90m, 12h, 30d, 2w (default: never)."
)
@_with(_store_options)
def keys_create(projects: tuple[int, ...], name: str, expires: timedelta | None, **overrides: Any) -> None:
    """Create an API key for PROJECT(s) and print it once (only its hash is stored).

    Its id (for ``runwire keys revoke``) and its expiry go to stderr.
    """
    from runwire_server.store import iso, utcnow

    with _key_store(overrides) as store:
        key, row = store.issue_api_key(projects, name, utcnow() + expires if expires else None)
    click.echo(key)
    until = f"expires {iso(row.expires_at)}" if row.expires_at is not None else "never expires"
    click.echo(
        f"key {row.id} ({row.name}) for project(s) {', '.join(map(str, row.projects))} created, {until}; "
        "it is shown only this once",
        err=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (times in ISO 8601 UTC, null if none).")
@_with(_store_options)
def keys_list(as_json: bool, **overrides: Any) -> None:
    """List API keys: id, name, projects, created, last used, expires, status (never a secret).

    Status is active, expired or revoked. Last used is written at most once a minute per key
    per server or worker process, so it may lag by that much.
    """
    from rich.table import Table
    from rich.text import Text

    from runwire_server.store import utcnow

    with _key_store(overrides) as store:
        rows = store.list_api_keys()
    now = utcnow()
    if as_json:
        click.echo(json.dumps([row.to_json(now) for row in rows], indent=2, ensure_ascii=False))
        return
    table = Table("id", "name", "projects", "created (UTC)", "last used", "expires", "status")
    colour = {"active": "green", "expired": "yellow", "revoked": "red"}
    for row in rows:
        status = row.status(now)
        times = (_when(row.created_at), _when(row.last_used_at), _when(row.expires_at))
        projects = ",".join(map(str, row.projects))
        table.add_row(str(row.id), Text(row.name), projects, *times, Text(status, style=colour[status]))
    # piped: wide enough that no cell is wrapped (a terminal wraps at its own width)
    (Console(highlight=False) if sys.stdout.isatty() else Console(width=240, highlight=False)).print(table)


@keys.command("revoke")
@click.argument("key_id", metavar="ID", type=int)
@_with(_store_options)
def keys_revoke(key_id: int, **overrides: Any) -> None:
    """Revoke the API key with ID (see ``runwire keys list``): its next request gets 401."""
    with _key_store(overrides) as store:
        revoked = store.revoke_api_key(key_id)
        row = store.get_api_key(key_id)
    if row is None:
        raise click.ClickException(f"no API key with id {key_id} (runwire keys list shows them)")
    if revoked:
        click.echo(f"API key {key_id} ({row.name}) revoked: requests with it now get 401")
    else:
        click.echo(f"API key {key_id} ({row.name}) was already revoked (at {_when(row.revoked_at)} UTC)")
