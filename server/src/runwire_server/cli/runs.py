"""Runs on the command line, over a server's HTTP API: ``runwire runs list|show|cancel|tail``.

Every front door's runs are runs (a workflow run, a ``/task``, an ``/api/execute/`` job); these
commands read them through the runs API (``/api/v1/runs/``), as the key given may see them.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from runwire_server.cli.base import main, with_options
from runwire_server.cli.remote import CLIENT_OPTIONS, Remote
from runwire_server.cli.terminal import printable, shown

if TYPE_CHECKING:  # rich is imported when a runs command prints (runwire's other commands start faster)
    from rich.console import Console
    from rich.text import Text

STATUSES = ("in queue", "in progress", "succeed", "failed", "cancelled")
DOORS = ("workflow", "task", "execute")
STYLES = {
    "succeed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "in progress": "cyan",
    "in queue": "yellow",
}


@main.group()
def runs() -> None:
    """Follow and control runs of a running server (RUNWIRE_URL, RUNWIRE_API_KEY)."""


def _console() -> Console:
    """stdout; piped: wide enough that no cell is wrapped (a terminal wraps at its own width)."""
    from rich.console import Console

    return Console(highlight=False) if sys.stdout.isatty() else Console(width=240, highlight=False)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _when(value: str | None) -> str:
    """An ISO time from the API as ``2025-01-31 17:05:03`` (UTC); empty if none."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def _duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4m 05s``, ``2h 03m``; empty if none."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def _excerpt(value: Any, width: int = 60) -> str:
    """The first line of ``value`` (JSON unless a string), cut to ``width`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width and line == text.strip() else line[: width - 1] + "…"


def _status(run: dict[str, Any]) -> Text:
    """A run's or node's status, coloured; ``cancelled`` for a cancelled run."""
    status = "cancelled" if run.get("cancelled") else str(run.get("status", ""))
    return shown(status, style=STYLES.get(status, ""))


@runs.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs in this status.")
@click.option("--door", type=click.Choice(DOORS), help="Only runs of this front door.")
@click.option("--workflow", "workflow_id", type=click.IntRange(1), help="Only runs of this workflow id.")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's page as JSON.")
@with_options(CLIENT_OPTIONS)
def runs_list(
    status: str | None,
    door: str | None,
    workflow_id: int | None,
    page: int,
    page_size: int,
    as_json: bool,
    url: str,
    key: str,
) -> None:
    """List runs, newest first: id, door, workflow, status, created (UTC), duration, error."""
    from rich.table import Table

    params: dict[str, Any] = {"page": page, "page_size": page_size}
    for name, value in (("status", status), ("door", door), ("workflow", workflow_id)):
        if value is not None:
            params[name] = value
    with Remote(url, key) as remote:
        body = remote.call("GET", "/api/v1/runs/", params=params).json()
    if as_json:
        _print_json(body)
        return
    table = Table("id", "door", "workflow", "status", "created (UTC)", "duration", "error")
    for run in body.get("results", []):
        workflow = run.get("workflow") or {}
        table.add_row(
            shown(run["id"]),
            shown(run.get("door", "")),
            shown(workflow.get("title", "")),
            _status(run),
            _when(run.get("created_at")),
            _duration(run.get("duration_s")),
            shown(_excerpt(run.get("error"))),
        )
    console = _console()
    console.print(table)
    count = int(body.get("count", 0))
    pages = max(1, -(-count // page_size))
    console.print(f"{count} run(s); page {page} of {pages}", style="dim")


@runs.command("show")
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@with_options(CLIENT_OPTIONS)
def runs_show(run_id: str, as_json: bool, url: str, key: str) -> None:
    """Show run ID: its workflow, status, times and error, and a table of its nodes."""
    from rich.table import Table

    with Remote(url, key) as remote:
        run = remote.call("GET", f"/api/v1/runs/{quote(run_id, safe='')}/").json()
    if as_json:
        _print_json(run)
        return
    workflow = run.get("workflow") or {}
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("run", shown(run["id"])),
        ("door", shown(run.get("door", ""))),
        (
            "workflow",
            shown(
                f"{workflow.get('title', '')} (id {workflow.get('id')}, version {workflow.get('version')}, "
                f"project {workflow.get('project')})"
            ),
        ),
        ("status", _status(run)),
        ("created", _when(run.get("created_at"))),
        ("started", _when(run.get("started_at"))),
        ("finished", _when(run.get("finished_at"))),
        ("duration", _duration(run.get("duration_s"))),
        ("cost", str((run.get("metrics") or {}).get("total_cost", ""))),
    ]
    if run.get("cancelled_by"):
        rows.append(("cancelled by", shown(run["cancelled_by"])))
    if run.get("error"):
        rows.append(("error", shown(run["error"], style="red")))
    for name, value in rows:
        fields.add_row(name, value)
    console = _console()
    console.print(fields)
    nodes = Table(
        "node", "type", "title", "status", "attempts", "started (UTC)", "duration", "result / error"
    )
    for node_id, node in (run.get("nodes") or {}).items():
        failed = node.get("error") is not None
        outcome = shown(
            _excerpt(node.get("error") if failed else node.get("result")), style="red" if failed else ""
        )
        nodes.add_row(
            shown(node_id),
            shown(node.get("type", "")),
            shown(node.get("title", "")),
            _status(node),
            str(node.get("attempts", "")),
            _when(node.get("started_at")),
            _duration(node.get("duration_s")),
            outcome,
        )
    console.print(nodes)


@runs.command("cancel")
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@with_options(CLIENT_OPTIONS)
def runs_cancel(run_id: str, as_json: bool, url: str, key: str) -> None:
    """Cancel run ID: a queued run ends at once, a running one within 2 s (its programs killed).

    A run already finished exits 1 with its status.
    """
    with Remote(url, key) as remote:
        response = remote.call("POST", f"/api/v1/runs/{quote(run_id, safe='')}/cancel/", ok=(200, 202))
    reply = response.json()
    if as_json:
        _print_json(reply)
    elif response.status_code == 200:
        who = printable(f"run {reply['id']} cancelled by {reply.get('cancelled_by')}")
        click.echo(f"{who}: it ended at once (failed)")
    else:
        who = printable(f"run {reply['id']} cancelled by {reply.get('cancelled_by')}")
        click.echo(f"{who}: its nodes are being stopped; it ends within 2 s (runwire runs tail to follow it)")


@runs.command("tail")
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print each event as a JSON line.")
@with_options(CLIENT_OPTIONS)
@click.pass_context
def runs_tail(ctx: click.Context, run_id: str, as_json: bool, url: str, key: str) -> None:
    """Follow run ID's events until it ends (the whole story if it already has).

    Exits 0 when the run succeeded, 1 when it failed or was cancelled. A dropped connection is
    resumed where it stopped (Last-Event-ID).
    """
    from runwire_server.cli.tail import Tail

    with Remote(url, key) as remote:
        run = remote.call("GET", f"/api/v1/runs/{quote(run_id, safe='')}/").json()
        tail = Tail(run, _workflow_nodes(remote, run), _console(), as_json)
        with tail:
            for event in remote.events(f"/api/v1/runs/{quote(str(run['id']), safe='')}/events/"):
                if tail.show(event):
                    break
    ctx.exit(0 if tail.succeeded else 1)


def _workflow_nodes(remote: Remote, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes of the run's workflow (their count and titles), if the key may read it; else []."""
    workflow_id = (run.get("workflow") or {}).get("id")
    try:
        reply = remote.client.get(f"/api/v1/workflows/{workflow_id}/")
        nodes = reply.json()["data"]["nodes"] if reply.status_code == 200 else []
    except Exception:  # best effort: the progress then shows no total
        return []
    return [node for node in nodes if isinstance(node, dict)]
