"""Run retention: finished runs older than ``RUNWIRE_RUN_RETENTION`` are deleted in the background.

Every ``runwire serve`` and ``runwire worker`` sweeps from its reconciler thread
(:mod:`runwire_server.reconciler`): soon after start, then every ``RUNWIRE_RETENTION_SWEEP_S``.
A sweep deletes at most :data:`BATCHES` batches of :data:`BATCH` runs, each batch its own short
statement (so the hot path waits at most one batch for the database's write lock); when it
stops at that cap, the next sweep comes at the next reconciler tick instead. Only runs
``succeed`` or ``failed`` are deleted, by the time they were last written (``updated_at``): a
run still ``in queue`` or ``in progress`` is never touched. Concurrent sweeps of several
processes are harmless: a run is deleted once, by whichever statement reaches it first.

A deleted run is unknown to every front door, which answers for it as for an id it never
issued (ScriptRun's ``"not found"`` envelope, ``/task``'s and ``/api/execute/``'s 404).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runwire_server.store.sync import SyncStore

log = logging.getLogger("runwire.server")

BATCH = 500
"""Runs deleted per statement."""
BATCHES = 4
"""Statements per sweep; past them the sweep yields to the rest of the reconciler's tick."""
MIN_RETENTION_S = 60
"""The shortest retention accepted: shorter would delete runs their clients are still polling."""

_DURATION = re.compile(r"([0-9]{1,12})\s*([smhdw]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_retention(text: str) -> int | None:
    """``RUNWIRE_RUN_RETENTION`` in seconds: ``30d``, ``12h``, ``90m``, ``3600s``, ``2w`` or a
    bare number of seconds; ``None`` for an empty value (keep every run).

    :raises ValueError: anything else, or less than :data:`MIN_RETENTION_S` seconds.
    """
    text = text.strip().lower()
    if not text:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: use a whole number with s, m, h, d or w "
            "(seconds, minutes, hours, days, weeks), e.g. 30d, 12h, 90m, 3600s; empty keeps every run"
        )
    seconds = int(match[1]) * _UNIT_S[match[2]]
    if seconds < MIN_RETENTION_S:
        raise ValueError(f"{text!r} is shorter than the minimum, {MIN_RETENTION_S} s")
    try:
        datetime.now(UTC) - timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long") from None
    return seconds


def delete_expired_runs(store: SyncStore, retention_s: float, batches: int = BATCHES) -> tuple[int, bool]:
    """Delete finished runs last written more than ``retention_s`` seconds ago, at most
    ``batches`` batches of :data:`BATCH`; return (how many, whether some may be left)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_s)
    total = 0
    for _ in range(batches):
        deleted = store.delete_finished_runs(cutoff, BATCH)
        total += deleted
        if deleted < BATCH:
            return total, False
    return total, True


@dataclass
class RetentionSweep:
    """When the reconciler sweeps: the retention and the interval between sweeps."""

    retention_s: float
    interval_s: float
    _next: float = field(default=0.0, init=False)
    """``time.monotonic()`` of the next sweep (0: at the first tick)."""

    def maybe_sweep(self, store: SyncStore) -> int:
        """Sweep if it is time (blocking); return how many runs were deleted."""
        now = time.monotonic()
        if now < self._next:
            return 0
        deleted, more = delete_expired_runs(store, self.retention_s)
        self._next = now if more else now + self.interval_s
        if deleted:
            log.info("deleted %d finished run(s) older than RUNWIRE_RUN_RETENTION", deleted)
        return deleted
