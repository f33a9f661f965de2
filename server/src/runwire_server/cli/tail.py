"""``runwire runs tail``'s display: a line per node event and, on a terminal, a progress bar of
the nodes done out of the workflow's; or, with ``--json``, each event as a JSON line."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from runwire_server.cli.remote import Event
from runwire_server.cli.terminal import printable, shown

DONE_KINDS = {"node_finished", "node_failed", "node_skipped"}
MARKS = {
    "node_started": ("▶", "cyan", "started"),
    "node_finished": ("✔", "green", "succeed"),
    "node_failed": ("✖", "red", "failed"),
    "node_skipped": ("↷", "yellow", "skipped"),
}


class Tail:
    """Shows one run's events as they come; :meth:`show` says when the run has ended."""

    def __init__(
        self, run: dict[str, Any], nodes: list[dict[str, Any]], console: Console, as_json: bool
    ) -> None:
        self.run_id = str(run["id"])
        self.console, self.as_json = console, as_json
        self.titles = {
            str(n.get("id")): printable((n.get("data") or {}).get("name") or n.get("id")) for n in nodes
        }
        self.done: set[str] = set()
        self.succeeded = False
        live = console.is_terminal and not as_json
        self.progress: Progress | None = (
            Progress(
                SpinnerColumn(),
                TextColumn("run {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("nodes"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if live
            else None
        )
        self.task = (
            self.progress.add_task(self.run_id[:8], total=len(nodes) or None)
            if self.progress is not None
            else None
        )

    def __enter__(self) -> Tail:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def show(self, event: Event) -> bool:
        """Show ``event``; ``True`` once it is the run's end (``run_finished``)."""
        data = event.data if isinstance(event.data, dict) else {}
        if self.as_json:
            click.echo(json.dumps(event.to_json(), ensure_ascii=False), nl=True)
        if event.kind == "run_finished":
            self.succeeded = data.get("status") == "succeed" and not data.get("cancelled")
            if not self.as_json:
                self._print(self._ending(data))
            return True
        if event.kind in DONE_KINDS and "node" in data:
            self.done.add(str(data["node"]))
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=len(self.done))
        if not self.as_json and event.kind in MARKS:
            self._print(self._node_line(event.kind, data))
        return False

    def _print(self, line: Text) -> None:
        (self.progress.console if self.progress is not None else self.console).print(line)

    def _node_line(self, kind: str, data: dict[str, Any]) -> Text:
        mark, style, verb = MARKS[kind]
        node = str(data.get("node", ""))
        title = self.titles.get(node) or printable(node)
        line = Text.assemble((f"{mark} ", style), (title, "bold"))
        if title != node:
            line.append(f" [{printable(node)}]", style="dim")
        line.append(f" ({printable(data.get('type', ''))}) {verb}")
        if data.get("duration_s") is not None:
            line.append(f" in {float(data['duration_s']):.2f} s")
        if kind == "node_failed" and data.get("error"):
            line.append(f": {printable(data['error'])}", style="red")
        return line

    def _ending(self, data: dict[str, Any]) -> Text:
        status = str(data.get("status", ""))
        if data.get("cancelled"):
            return shown(f"run {self.run_id} cancelled by {data.get('cancelled_by')}", style="magenta")
        if status == "succeed":
            return shown(f"run {self.run_id} succeed", style="green")
        error = f": {data['error']}" if data.get("error") else ""
        return shown(f"run {self.run_id} {status}{error}", style="red")
