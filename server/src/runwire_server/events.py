"""A run's event log: the compact entries stored with a run, its timings, and the live events
(``GET /api/v1/runs/{id}/events/``) made of them.

The log is the run row's ``events`` column, a JSON list written by
:class:`~runwire_server.progress.StoreObserver` in the same statement as the node records
(progress writes and the terminal write), so it costs no statement of its own. Each entry is
``[kind, node_id, at]``: ``kind`` is :data:`STARTED` (``"s"``), :data:`FINISHED` (``"f"``,
succeeded), :data:`FAILED` (``"x"``) or :data:`SKIPPED` (``"k"``); ``at`` is Unix time in seconds
(to the millisecond). The log is only ever appended to (a run executed again after a crash continues
its log), so an event's id, its 1-based position in the log, names it for ever: a client that
resumes after id ``n`` misses nothing and gets nothing twice.

Results and errors are not copied into the log: a ``node_finished`` or ``node_failed`` event
takes them from the run's node records when it is sent. The last event, ``run_finished``, is
not stored either: it is made from the terminal row (status, error, ``cancelled_by``,
``updated_at``) with id ``len(log) + 1``, so every way a run ends (its own end, an error, a
cancellation, recovery) ends the stream without writing anything more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runwire.records import TERMINAL, Status
from runwire_server.store.rows import RunRow, iso

STARTED = "s"
FINISHED = "f"
FAILED = "x"
SKIPPED = "k"
EVENT_NAMES = {
    STARTED: "node_started",
    FINISHED: "node_finished",
    FAILED: "node_failed",
    SKIPPED: "node_skipped",
}
"""Each stored kind's event name in the stream."""
RUN_FINISHED = "run_finished"
_ENDED: dict[str, str] = {Status.SUCCEED: FINISHED, Status.FAILED: FAILED, Status.SKIPPED: SKIPPED}

Entry = tuple[str, str, float]
"""A parsed log entry: ``(kind, node_id, at)``."""
Labels = Mapping[str, tuple[str | None, str | None]]
"""Node id → ``(type, title)`` as the run's workflow names them."""


def _now() -> float:
    """Now in Unix seconds, to the millisecond below (never after the write that stores it)."""
    return math.floor(time.time() * 1000) / 1000


def started(node_id: str) -> list[Any]:
    """The log entry of a node that starts now."""
    return [STARTED, node_id, _now()]


def ended(node_id: str, status: str) -> list[Any]:
    """The log entry of a node that reached ``status`` (succeed, failed or skipped) now."""
    return [_ENDED.get(status, FAILED), node_id, _now()]


def parse(item: Any) -> Entry | None:
    """A stored entry as ``(kind, node_id, at)``; ``None`` for one this version cannot read."""
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) >= 3:
        kind, node, at = item[0], item[1], item[2]
        if kind in EVENT_NAMES and isinstance(node, str) and isinstance(at, int | float):
            return kind, node, float(at)
    return None


def at_iso(at: float | None) -> str | None:
    """A log time as ISO 8601 UTC (as the API writes every time), or ``None``."""
    return None if at is None else iso(datetime.fromtimestamp(at, UTC))


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start), 3)


@dataclass(slots=True)
class NodeTimes:
    """When a node last started and when it then ended (Unix seconds; ``None``: not (yet))."""

    started_at: float | None = None
    finished_at: float | None = None
    last: str = STARTED
    """The kind of the node's last entry."""

    def to_json(self) -> dict[str, Any]:
        """``started_at``, ``finished_at`` (ISO 8601) and ``duration_s``."""
        return {
            "started_at": at_iso(self.started_at),
            "finished_at": at_iso(self.finished_at),
            "duration_s": _seconds(self.started_at, self.finished_at),
        }


def node_times(log: list[Any] | None) -> dict[str, NodeTimes]:
    """Each node's times in the log, in the order nodes first appear (a node started again
    counts from its last start)."""
    times: dict[str, NodeTimes] = {}
    for item in log or ():
        entry = parse(item)
        if entry is None:
            continue
        kind, node, at = entry
        if kind == STARTED:
            times[node] = NodeTimes(at)
        else:
            found = times.setdefault(node, NodeTimes())
            found.finished_at, found.last = at, kind
    return times


def run_times(run: RunRow) -> dict[str, Any]:
    """A run's ``started_at`` (its first event), ``finished_at`` (its last write, once terminal)
    and ``duration_s``, as the runs API gives them."""
    first = next((e for e in map(parse, run.events or ()) if e is not None), None)
    start = first[2] if first is not None else None
    end = run.updated_at.timestamp() if run.status in TERMINAL else None
    return {"started_at": at_iso(start), "finished_at": at_iso(end), "duration_s": _seconds(start, end)}


def run_finished(run: RunRow) -> dict[str, Any]:
    """The data of a terminal run's ``run_finished`` event."""
    return {
        "run": run.id,
        "status": run.status,
        "error": run.error,
        "cancelled": run.cancelled,
        "cancelled_by": run.cancelled_by,
        "at": iso(run.updated_at),
    }


@dataclass
class EventReader:
    """Turns successive reads of one run's row into its events, each once, from id ``after + 1``.

    :meth:`read` is given the row each time it is read again; it yields ``(id, event name,
    data)`` for what is new, and after the run ended, ``run_finished`` (then :attr:`done`).
    """

    labels: Labels
    after: int = 0
    """The last id the client has (``Last-Event-ID``); only later ones are given."""
    done: bool = False
    _scanned: int = 0
    _starts: dict[str, float] = field(default_factory=dict)

    def read(self, run: RunRow) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """The events of ``run`` not given yet (none once :attr:`done`)."""
        if self.done:
            return
        log = run.events or []
        while self._scanned < len(log):
            index = self._scanned
            self._scanned += 1
            entry = parse(log[index])
            if entry is None:  # an entry of a newer version: its id stays taken
                continue
            kind, node, at = entry
            if kind == STARTED:
                self._starts[node] = at
            if index + 1 > self.after:
                yield index + 1, EVENT_NAMES[kind], self._data(run, entry)
        if run.status in TERMINAL:
            self.done = True
            if len(log) + 1 > self.after:
                yield len(log) + 1, RUN_FINISHED, run_finished(run)

    def _data(self, run: RunRow, entry: Entry) -> dict[str, Any]:
        kind, node, at = entry
        data: dict[str, Any] = {
            "run": run.id,
            "node": node,
            "type": self.labels.get(node, (None, None))[0],
            "at": at_iso(at),
        }
        if kind in (FINISHED, FAILED):
            data["duration_s"] = _seconds(self._starts.get(node), at)
            record = run.nodes.get(node)
            record = record if isinstance(record, dict) else {}
            if kind == FINISHED:
                data["result"] = record.get("result")
            else:
                data["error"] = record.get("error")
        return data
