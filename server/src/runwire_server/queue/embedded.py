"""The embedded run queue: runs execute as tasks on the server's own event loop.

Without a broker URL, ``runwire serve`` executes runs itself. It does so on the event loop
that serves the API, as the blocking ``/api/execute/`` already does, rather than in Dramatiq
worker threads fed by an in-process broker: every run that crossed from the loop thread to a
consumer thread and on to a worker thread paid for three thread hand-offs, each a contest for
the GIL with the busy loop, which cost more server CPU than the run itself (docs/server.md,
"Embedded mode"). The run still takes the one path every run takes,
:meth:`runwire_server.executor.RunExecutor.execute`, and every guarantee of the queue stays:
a run is stored before it is enqueued, claimed atomically, retried when the store fails, and
re-enqueued at the next start if the process dies first.

Nodes must not block the event loop (the node hookspec is async for that reason); a node
that has blocking work to do runs it in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable

from runwire_server.store import RunRow

log = logging.getLogger("runwire.server")

Execute = Callable[[str, str, "RunRow | None"], Awaitable[None]]
"""``execute(run_id, claimant, stored)``: what the queue calls for each run."""
Item = tuple[str, str, "RunRow | None", int]
"""A queued delivery: run id, claimant, the run as stored claimed (or ``None``), attempt."""
RETRY_DELAYS_S = (0.1, 1.0, 5.0)
"""Back-off between attempts of a run whose execution failed in the store (as Dramatiq retries)."""


DEFAULT_MAX_WAITING = 10_000


class LoopQueue:
    """Runs enqueued by id, executed at most ``concurrency`` at a time on one event loop.

    Runs enqueued before :meth:`start` (start-up recovery) wait for it. :meth:`enqueue` and
    :meth:`enqueue_stored` may be called from any thread. A waiting run is held by id only (its
    input stays in the store, where it is read back when it starts), so a long queue costs
    little memory; :meth:`full` says when ``max_waiting`` runs wait, and the API then refuses
    new ones (503).
    """

    troubled = False
    """No broker to be in trouble: every call is made inline."""

    def __init__(self, concurrency: int, max_waiting: int = DEFAULT_MAX_WAITING, owner: str = "") -> None:
        self._execute: Execute | None = None
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self._waiting: deque[Item] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._stopping = False
        self._claims = itertools.count()
        # a claim names the process holding the run (``owner``, its lease's id)
        self._prefix = f"{owner}:" if owner else f"loop-{os.getpid()}-{os.urandom(4).hex()}-"

    @property
    def running(self) -> bool:
        """Whether runs are being executed (started, not stopping)."""
        return self._loop is not None and not self._stopping

    def claimant(self) -> str:
        """A new delivery's claim: a run stored with it goes to :meth:`enqueue_stored`."""
        return f"{self._prefix}{next(self._claims)}"

    def enqueue(self, run_id: str) -> None:
        """Execute run ``run_id`` (stored, unclaimed) as soon as a slot is free, claiming it as it starts."""
        self._put((run_id, self.claimant(), None, 0))

    def enqueue_stored(self, run_id: str, claimant: str, stored: RunRow) -> None:
        """Execute ``stored``, just stored already claimed by ``claimant`` (from :meth:`claimant`),
        as soon as a slot is free: the fast path of a new run, with no claim write and no read.

        If no slot is free the run waits by id like any other (its input stays in the store).
        """
        self._put((run_id, claimant, stored, 0))

    def _put(self, item: Item) -> None:
        # the claimant stays with the item through its retries
        loop = self._loop
        if loop is None or threading.get_ident() == self._thread_id:
            self._add(item)
        else:
            loop.call_soon_threadsafe(self._add, item)

    @property
    def waiting(self) -> int:
        """How many runs wait for a slot."""
        return len(self._waiting)

    def depth(self) -> int:
        """How many runs wait for a slot (:attr:`waiting`)."""
        return len(self._waiting)

    def full(self) -> bool:
        """Whether ``max_waiting`` runs wait: a new submit should be refused for now."""
        return len(self._waiting) >= self.max_waiting

    def announce_ended(self, run_id: str) -> None:
        """Nothing: every run ends in this process."""

    def listen_ended(self, callback: Callable[[str], None]) -> None:
        """``None``: every run ends in this process, which wakes its long-polls itself."""
        return None

    def ping(self) -> None:
        """Raise if runs are not being executed (the broker check of ``/readyz``)."""
        if not self.running:
            raise RuntimeError("the embedded run queue is not running")

    async def start(self, execute: Execute) -> None:
        """Start executing runs with ``execute`` on the running event loop (those enqueued so far first)."""
        self._execute = execute
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._stopping = False
        self._fill()

    async def stop(self, timeout_s: float) -> None:
        """Start no more runs; wait up to ``timeout_s`` for those going, then cancel them.

        Runs cancelled or never started stay ``in queue``/``in progress`` in the store and are
        executed again at the next start.
        """
        self._stopping = True
        if self._waiting:
            log.info("%d queued run(s) left for the next start", len(self._waiting))
        tasks = list(self._tasks)
        if not tasks:
            return
        _, going = await asyncio.wait(tasks, timeout=timeout_s)
        for task in going:
            task.cancel()
        if going:
            log.warning("%d run(s) stopped by the shutdown; they run again at the next start", len(going))
            await asyncio.wait(going)

    def _add(self, item: Item) -> None:
        run_id, claimant, stored, attempt = item
        if stored is not None and (self._stopping or self._running >= self.concurrency):
            item = (run_id, claimant, None, attempt)  # wait by id: the input stays in the store
        self._waiting.append(item)
        self._fill()

    def _fill(self) -> None:
        loop = self._loop
        if loop is None or self._stopping:
            return
        while self._waiting and self._running < self.concurrency:
            self._running += 1
            task = loop.create_task(self._run(*self._waiting.popleft()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, run_id: str, claimant: str, stored: RunRow | None, attempt: int) -> None:
        assert self._execute is not None
        try:
            await self._execute(run_id, claimant, stored)
        except Exception as exc:  # the store failed: deliver again later, as a broker would
            if attempt >= len(RETRY_DELAYS_S):
                log.error("run %s: giving up after %d attempts: %s", run_id, attempt + 1, exc)
                return
            delay = RETRY_DELAYS_S[attempt]
            log.warning("run %s: attempt %d failed (%s); retrying in %g s", run_id, attempt + 1, exc, delay)
            assert self._loop is not None
            # claimed again (same claimant), not handed over: the executor must see what the
            # failed attempt had started (a node not safe to repeat is not run twice)
            self._loop.call_later(delay, self._add, (run_id, claimant, None, attempt + 1))
        finally:  # hand the slot on now, not a loop iteration later in a done-callback
            self._running -= 1
            self._fill()
