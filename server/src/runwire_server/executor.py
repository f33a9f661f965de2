"""Executes stored runs by id: on the server's event loop (embedded) or in Dramatiq worker threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from dramatiq.middleware import CurrentMessage
from pydantic import ValidationError

from runwire.check import prepare_workflow, size_problem
from runwire.engine import DEFAULT_MAX_RESULT_BYTES, Engine, RunObserver
from runwire.errors import WorkflowInvalid
from runwire.fieldproblems import field_problems
from runwire.host import DEFAULT_HOST, HostPolicy
from runwire.plugins import Plugins
from runwire.records import FAILED, IN_PROGRESS, SKIPPED, SUCCEED, NodeRecord, RunRecord
from runwire.workflow import PreparedWorkflow, WorkflowData, parse_workflow_data
from runwire_server.store import RunRow, Store, WorkflowRow
from runwire_server.trust import RunRefused

log = logging.getLogger(__name__)

T = TypeVar("T")
DbCall = Callable[..., Awaitable[Any]]
"""How a store method is called: ``await db(store.method, *args)`` (inline, or in a thread)."""
PROGRESS_INTERVAL_S = 0.05
"""Progress of a running run is written at most this often (and not at all for quicker runs)."""


Gate = Callable[[WorkflowRow], Exception | None]
"""Asked once per prepared workflow version: the error that refuses running it, or ``None``."""


class PreparedCache:
    """Checked and prepared workflows keyed by ``(id, version)``, least recently used dropped.

    Workflow ids are never reused (see the store), so a key names one graph for ever: each
    version is checked once, and its problems, prepared graph or refusal are kept. A workflow
    over the size limits (``max_nodes``/``max_edges``, e.g. stored before they were lowered)
    is refused before it is parsed. The cache holds ``size`` versions and ``max_cached_nodes``
    nodes at most (a prepared node takes ~1-2 KB: 256 versions of 2,000 nodes would be ~1 GB).
    A ``gate`` (the trust model's
    :meth:`runwire_server.trust.Trust.gate`) refuses versions that may not run; its refusal is
    cached with them and raised wherever they are asked for. On an event loop, use the
    ``*_async`` methods: they check big workflows in a worker thread.
    """

    def __init__(
        self,
        plugins: Plugins,
        size: int = 256,
        gate: Gate | None = None,
        max_nodes: int | None = None,
        max_edges: int | None = None,
        max_cached_nodes: int = 50_000,
    ) -> None:
        self.plugins = plugins
        self.size = size
        self.max_cached_nodes = max_cached_nodes
        self.gate = gate
        self.max_nodes = max_nodes
        self.max_edges = max_edges
        self._items: OrderedDict[tuple[int, int], _Checked] = OrderedDict()
        self._cached_nodes = 0
        self._building: dict[tuple[int, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def cached(self, workflow_id: int, version: int) -> PreparedWorkflow | None:
        """The prepared ``(workflow_id, version)`` if cached; ``None`` if not (yet) prepared.

        :raises WorkflowInvalid: it was prepared and has structural problems.
        :raises runwire_server.trust.RunRefused: the gate refuses it.
        """
        checked = self._get((workflow_id, version))
        return None if checked is None else checked.prepared()

    async def load_async(
        self, store: Store, db: DbCall, workflow_id: int, version: int
    ) -> PreparedWorkflow | None:
        """The prepared workflow: from the cache, else loaded from ``store`` through ``db`` (its
        current version) and prepared, in a worker thread when it is big.

        ``None`` when the workflow no longer exists.

        :raises WorkflowInvalid: the workflow has structural problems or is over the size limits.
        :raises runwire_server.trust.RunRefused: the gate refuses it.
        """
        prepared = self.cached(workflow_id, version)
        if prepared is not None:
            return prepared
        workflow = await db(store.get_workflow, workflow_id)
        return await self.prepare_async(workflow) if workflow is not None else None

    def prepare(self, workflow: WorkflowRow) -> PreparedWorkflow:
        """The runnable form of ``workflow``.

        :raises WorkflowInvalid: the workflow has structural problems or is over the size limits.
        :raises runwire_server.trust.RunRefused: the gate refuses it.
        """
        return self._checked(workflow).prepared()

    async def prepare_async(self, workflow: WorkflowRow) -> PreparedWorkflow:
        """:meth:`prepare` for an event loop (a big workflow is checked in a worker thread)."""
        return (await self._checked_async(workflow)).prepared()

    def problems(self, workflow: WorkflowRow) -> list[str]:
        """Every structural problem of ``workflow`` (empty when it can run), or the size limit it is over."""
        return list(self._checked(workflow).problems)

    async def problems_async(self, workflow: WorkflowRow) -> list[str]:
        """:meth:`problems` for an event loop (a big workflow is checked in a worker thread)."""
        return list((await self._checked_async(workflow)).problems)

    def forget(self, workflow_id: int) -> None:
        """Drop every cached version of a deleted workflow."""
        with self._lock:
            for key in [k for k in self._items if k[0] == workflow_id]:
                self._cached_nodes -= self._items.pop(key).nodes

    def _get(self, key: tuple[int, int]) -> _Checked | None:
        with self._lock:
            checked = self._items.get(key)
            if checked is not None:
                self._items.move_to_end(key)
        return checked

    async def _checked_async(self, workflow: WorkflowRow) -> _Checked:
        checked = self._get((workflow.id, workflow.version))
        if checked is not None:
            return checked
        if is_small(workflow.data):
            return self._checked(workflow)
        return await anyio.to_thread.run_sync(self._checked, workflow)

    def _checked(self, workflow: WorkflowRow) -> _Checked:
        """The cached check of ``workflow``, made once even when asked for by many at a time."""
        key = (workflow.id, workflow.version)
        checked = self._get(key)
        if checked is not None:
            return checked
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            checked = self._get(key)
            if checked is not None:
                return checked
            try:
                checked = self._check(workflow)
                with self._lock:
                    self._items[key] = checked
                    self._cached_nodes += checked.nodes
                    while len(self._items) > 1 and (
                        len(self._items) > self.size or self._cached_nodes > self.max_cached_nodes
                    ):
                        self._cached_nodes -= self._items.popitem(last=False)[1].nodes
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return checked

    def _check(self, workflow: WorkflowRow) -> _Checked:
        too_big = size_problem(workflow.data, self.max_nodes, self.max_edges)
        if too_big is not None:
            return _Checked([too_big], WorkflowInvalid([too_big]), 1)
        refusal = self.gate(workflow) if self.gate is not None else None
        outcome: PreparedWorkflow | Exception
        try:
            outcome = prepare_workflow(parse_data(workflow.data), self.plugins)
            problems: list[str] = []
        except WorkflowInvalid as exc:
            outcome, problems = exc, exc.problems
        if refusal is not None:  # it cannot run, so check_workflow must not call it valid
            problems = [*problems, f"workflow: {refusal}"]
        outcome = refusal or outcome
        weight = 1 + len(problems) + (len(outcome.nodes) if isinstance(outcome, PreparedWorkflow) else 0)
        return _Checked(problems, outcome, weight)


@dataclass(frozen=True, slots=True)
class _Checked:
    """One workflow version checked: its problems, and what running it gives (the prepared
    graph, or the error that refuses it: structural problems, size limits, the trust gate)."""

    problems: list[str]
    outcome: PreparedWorkflow | Exception
    nodes: int
    """What it weighs in the cache, in nodes: 1 + its problems + its prepared nodes."""

    def prepared(self) -> PreparedWorkflow:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


INLINE_MAX_VALUES = 64
INLINE_MAX_TEMPLATES = 2
INLINE_MAX_CHARS = 4096


def is_small(data: Any) -> bool:
    """Whether looking at workflow ``data`` (its check, the trust rules) may run on the event loop.

    The threshold: at most 64 JSON values, 2 template strings and 4 KiB of text (a front
    door's one to three nodes, a tiny hand-made graph). Measured, such a workflow checks in
    ~0.3 ms once its templates are compiled and 1-2 ms while they are not (a cold Jinja compile
    is ~1 ms, hence the template cap), against ~0.2 ms for a hand-off to a worker thread: inline
    is cheaper and stays within a few milliseconds. Anything bigger goes to a thread, and is
    only done once per workflow version. Costs 64 steps at most.
    """
    budget, templates, chars = INLINE_MAX_VALUES, 0, 0
    stack = [data]
    while stack:
        item = stack.pop()
        budget -= 1
        if isinstance(item, dict | list):
            if len(item) > budget:
                return False
            stack.extend(item.values() if isinstance(item, dict) else item)
        elif isinstance(item, str):
            chars += len(item)
            templates += "{{" in item
            if chars > INLINE_MAX_CHARS or templates > INLINE_MAX_TEMPLATES:
                return False
    return budget >= 0


def parse_data(raw: Any) -> WorkflowData:
    """Parse stored workflow data; a shape error becomes :class:`WorkflowInvalid`."""
    try:
        return parse_workflow_data(raw)
    except ValidationError as exc:
        raise WorkflowInvalid([str(problem) for problem in field_problems(exc, "data")]) from None


def nodes_json(run: RunRecord) -> dict[str, Any]:
    """A run's node records in the reference's per-node shape."""
    return {node_id: record.to_json() for node_id, record in run.nodes.items()}


class StoreObserver(RunObserver):
    """Persists a run's progress: changes at most every ``interval``, the terminal state always.

    A run that ends within ``interval`` of a change is written once, when it is terminal; a
    longer one shows its finished and running nodes to pollers while it goes on.
    """

    def __init__(self, store: Store, db: DbCall, interval: float = PROGRESS_INTERVAL_S) -> None:
        self.store = store
        self.db = db
        self.interval = interval
        self.run: RunRecord | None = None
        """The run as last reported (what was done when a run is stopped from outside)."""
        self._pending: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    def _changed(self, run: RunRecord) -> None:
        self.run = run
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.interval, self._flush, run)

    def _flush(self, run: RunRecord) -> None:
        self._pending = None
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write_progress(run))
        else:  # the previous write is still going (a slow database): try again later
            self._changed(run)

    async def _write_progress(self, run: RunRecord) -> None:
        try:
            await self.db(self.store.save_run, run.id, IN_PROGRESS, nodes_json(run), run.total_cost)
        except Exception as exc:  # progress is best-effort; the terminal write is not
            log.warning("could not write the progress of run %s: %s", run.id, exc)

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        """Schedule a progress write."""
        self._changed(run)

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        """Schedule a progress write."""
        self._changed(run)

    async def settle(self) -> None:
        """Drop a scheduled progress write and wait for one under way (before the final write,
        which a late progress write would otherwise undo)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None

    async def run_finished(self, run: RunRecord) -> None:
        """Write the terminal status together with every node result."""
        await self.settle()
        await self.db(self.store.save_run, run.id, run.status, nodes_json(run), run.total_cost, run.error)


async def call_inline(call: Callable[..., T], *args: Any) -> T:
    """A :data:`DbCall` that calls the store right here (a worker thread's own loop)."""
    return call(*args)


class RunExecutor:
    """Loads a run and its workflow from the store, executes it and records the outcome.

    :meth:`execute` is the one path every run takes: on the server's event loop in embedded
    mode (:mod:`runwire_server.queue.embedded`), and through :meth:`__call__`, the Dramatiq actor, in
    ``runwire worker`` threads, each with its own event loop. The engine and the
    prepared-workflow cache are shared.
    """

    def __init__(
        self,
        store: Store,
        plugins: Plugins,
        cache: PreparedCache | None = None,
        time_limit_s: float = 3600.0,
        host: HostPolicy = DEFAULT_HOST,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        max_run_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.plugins = plugins
        self.cache = cache or PreparedCache(plugins)
        self.time_limit_s = time_limit_s
        self.engine = Engine(host=host, max_result_bytes=max_result_bytes, max_run_bytes=max_run_bytes)
        self._local = threading.local()

    async def execute(
        self, run_id: str, claimant: str, db: DbCall = call_inline, stored: RunRow | None = None
    ) -> None:
        """Execute run ``run_id`` unless another claimant has it, or it is terminal or gone.

        ``claimant`` identifies this delivery of the run (a queue message): duplicates are
        no-ops, while the same delivery repeated (its worker died) starts the run over. A run
        passed as ``stored`` was stored claimed by ``claimant`` (embedded mode, the process that
        stored it): it is neither claimed again nor read back, and shows ``in queue`` until its
        first progress write. Store calls go through ``db``. Every failure of the run is
        recorded on it; an exception escapes only when the store itself fails (the delivery
        should be retried).
        """
        store = self.store
        run = stored if stored is not None else await db(store.claim_run, run_id, claimant)
        if run is None:
            return
        try:
            prepared = await self.cache.load_async(store, db, run.workflow_id, run.workflow_version)
        except WorkflowInvalid as exc:
            await db(store.save_run, run_id, FAILED, {}, 0.0, f"workflow is invalid: {exc}")
            return
        except RunRefused as exc:
            await db(store.save_run, run_id, FAILED, {}, 0.0, f"refused: {exc}")
            return
        if prepared is None:
            error = "the workflow was deleted before the run started"
            await db(store.save_run, run_id, FAILED, {}, 0.0, error)
            return
        observer = StoreObserver(store, db)
        try:
            async with asyncio.timeout(self.time_limit_s):
                await self.engine.execute(prepared, run.input, run_id=run_id, observer=observer)
        except TimeoutError:
            await observer.settle()
            limit = f"the run exceeded its time limit of {self.time_limit_s:g} s (RUNWIRE_RUN_TIME_LIMIT_S)"
            await db(store.save_run, run_id, FAILED, _stopped_nodes(observer.run, limit), 0.0, limit)
        except Exception as exc:
            log.exception("run %s stopped by an internal error", run_id)
            error = f"internal error: {type(exc).__name__}: {exc}"
            await db(store.save_run, run_id, FAILED, {}, 0.0, error)

    def __call__(self, run_id: str) -> None:
        """The Dramatiq actor: :meth:`execute` on this worker thread's own event loop, claimed
        for the current queue message."""
        message = CurrentMessage.get_current_message()
        loop = self._loop()
        try:
            loop.run_until_complete(self.execute(run_id, message.message_id if message is not None else ""))
        except BaseException:
            self._local.loop = None  # a loop an exception went through is not reused
            with contextlib.suppress(Exception):
                loop.close()
            raise

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._local.loop = loop
        return loop


def _stopped_nodes(run: RunRecord | None, reason: str) -> dict[str, Any]:
    """Node results of a run stopped from outside: unfinished nodes failed with ``reason``."""
    nodes = nodes_json(run) if run is not None else {}
    for node in nodes.values():
        if node["status"] not in (SUCCEED, SKIPPED):
            node.update(status=FAILED, error=reason)
    return nodes
