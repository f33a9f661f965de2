"""Executes a prepared workflow: graph walk from ``start_node``, branching, concurrency.

Independent branches run as concurrent asyncio tasks; a chain runs inline in one task (no
task per node); at most ``host.max_parallel_nodes`` nodes of a run execute at once. A node
that fails (after its retries) fails the run: running branches are cancelled and recorded,
and nothing else starts. Progress goes to a :class:`RunObserver`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from runwire.errors import InputInvalid, NodeFailed, TemplateError
from runwire.host import DEFAULT_HOST, HostPolicy
from runwire.inputs import apply_input_fields
from runwire.nodes import NodeContext, NodeOutput
from runwire.records import NodeRecord, RunRecord, Status
from runwire.rendered import LazyRenderer
from runwire.sizes import flat_json_size, json_size
from runwire.workflow import PreparedNode, PreparedWorkflow

if TYPE_CHECKING:
    from runwire.template import TemplateRenderer

MAX_RETRY_DELAY = 30.0
DEFAULT_MAX_RESULT_BYTES = 64 * 1024 * 1024
"""Largest node result, as compact JSON in UTF-8 (``RUNWIRE_MAX_RESULT_BYTES`` on the server):
room for a Run Script's two output streams at their default caps (16 MiB each) and its results."""
RUN_RESULTS_PER_NODE_LIMIT = 4
"""A run's results together may take four times a node's limit: its input, a full-size result,
and output nodes passing it on."""
_SMALL_RESULT = 64 * 1024  # measured inline; a result past it is measured on a thread
_TINY_RESULT = 512  # a result this small needs no closer look (and no extra coroutine)
# read once: an enum member looked up on its class costs a few times a global's lookup
_IN_PROGRESS, _SUCCEED, _FAILED, _SKIPPED = Status.IN_PROGRESS, Status.SUCCEED, Status.FAILED, Status.SKIPPED


class RunObserver:
    """Receives a run's progress. Every method is a no-op; override what you need.

    Methods are awaited inline by the engine, so keep them quick (queue slow work).
    """

    async def run_started(self, run: RunRecord) -> None:
        """The run began executing (status ``in progress``)."""

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        """A node is about to run (its record is ``in progress``). An exception fails the node
        without running it (for an observer that must record the start first)."""

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        """A node reached ``succeed``, ``failed`` or ``skipped``."""

    async def run_finished(self, run: RunRecord) -> None:
        """The run is terminal and every node record is final."""


_NO_OBSERVER = RunObserver()


def _overrides(observer: RunObserver, method: str) -> bool:
    """Whether ``observer``'s ``method`` is other than :class:`RunObserver`'s no-op."""
    return getattr(getattr(observer, method), "__func__", None) is not getattr(RunObserver, method)


class Engine:
    """Runs prepared workflows. Stateless between runs; one instance may run many at once."""

    def __init__(
        self,
        renderer: TemplateRenderer | None = None,
        host: HostPolicy = DEFAULT_HOST,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        max_run_bytes: int | None = None,
    ) -> None:
        # Jinja2 is imported at the first template rendered (most starts render none)
        self.renderer: TemplateRenderer | LazyRenderer = renderer or LazyRenderer()
        per_run = RUN_RESULTS_PER_NODE_LIMIT * max_result_bytes
        self.max_run_bytes = max_run_bytes if max_run_bytes is not None else per_run
        """The results of all nodes of one run together, as JSON: past it, the node whose result
        would cross it fails (not retried) and its result is dropped."""
        self.host = host
        """The operator's terms for programs, handed to every node as ``ctx.host``."""
        self.max_result_bytes = max_result_bytes
        """A node whose result is larger, as JSON, fails (not retried) and its result is dropped."""

    async def result_size(self, result: Any) -> int:
        """``result``'s size as compact UTF-8 JSON, exact up to :attr:`max_result_bytes` (past
        it, some larger number); measured on a worker thread once past a few kilobytes."""
        limit = self.max_result_bytes
        size = json_size(result, min(limit, _SMALL_RESULT), utf8=True)
        if size > _SMALL_RESULT and limit > _SMALL_RESULT:
            size = await asyncio.to_thread(json_size, result, limit, utf8=True)
        return size

    def too_large(self, node_id: str) -> str:
        """The error of a node whose result is over :attr:`max_result_bytes`."""
        limit = self.max_result_bytes
        return (
            f"result of node {node_id} is larger than the limit of {limit:,} bytes (as JSON); it was not kept"
        )

    async def execute(
        self,
        workflow: PreparedWorkflow,
        raw_input: Any,
        run_id: str | None = None,
        observer: RunObserver | None = None,
    ) -> RunRecord:
        """Execute ``workflow`` with ``raw_input`` and return the terminal run record.

        Input fields of the trigger are applied first; invalid input fails the run at the
        start node with a message naming each field. Cancelling the call (a time limit)
        cancels every branch it started before the cancellation propagates.
        """
        run = _Run(self, workflow, run_id or str(uuid.uuid4()), observer or _NO_OBSERVER)
        return await run.go(raw_input)


class _Run:
    __slots__ = (
        "active",
        "done",
        "engine",
        "failed_node",
        "hears_finishes",
        "hears_starts",
        "input",
        "node_variables",
        "observer",
        "outstanding",
        "record",
        "remaining",
        "result_bytes",
        "results",
        "slots",
        "tasks",
        "tiny",
        "workflow",
    )

    def __init__(
        self, engine: Engine, workflow: PreparedWorkflow, run_id: str, observer: RunObserver
    ) -> None:
        self.engine = engine
        self.workflow = workflow
        self.observer = observer
        # an observer that keeps RunObserver's no-op for node starts or finishes is not called
        # for them: two awaits per node saved
        self.hears_starts = _overrides(observer, "node_started")
        self.hears_finishes = _overrides(observer, "node_finished")
        self.record = RunRecord(id=run_id, status=Status.IN_PROGRESS)
        self.results: dict[str, dict[str, Any]] = {}
        # what templates see as ``_nodes``, grown with ``results`` (not rebuilt per render: a
        # chain of n templated nodes would cost O(n²))
        self.node_variables: dict[str, dict[str, Any]] = {}
        self.result_bytes = 0
        self.remaining = {nid: len(n.predecessors) for nid, n in workflow.nodes.items()}
        self.active: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.failed_node: str | None = None
        self.outstanding = 0
        self.input: Any = None
        self.done: asyncio.Future[None] | None = None
        # held only while a node's own code runs (not across retry delays, observers or the
        # graph walk), so a waiting branch never holds a slot another branch needs
        self.slots = asyncio.Semaphore(engine.host.max_parallel_nodes)
        # a result this small is counted inline (and needs no closer look)
        self.tiny = min(_TINY_RESULT, engine.max_result_bytes)

    async def go(self, raw_input: Any) -> RunRecord:
        await self.observer.run_started(self.record)
        start = self.workflow.start_node
        try:
            self.input = apply_input_fields(self.workflow.input_fields, raw_input)
        except InputInvalid as exc:
            node = NodeRecord(id=start, status=Status.FAILED, error=str(exc))
            self.record.nodes[start] = node
            self.failed_node = start
            await self.observer.node_finished(self.record, node)
            return await self._finish()
        self.done = asyncio.get_running_loop().create_future()
        try:
            await self._drive(start)
            if self.outstanding > 0:
                await self.done
        except asyncio.CancelledError:  # stopped from outside (a time limit): no branch outlives it
            for task in self.tasks:
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            raise
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        return await self._finish()

    async def _finish(self) -> RunRecord:
        rec = self.record
        rec.status = Status.FAILED if self.failed_node is not None else Status.SUCCEED
        if self.failed_node is not None:
            failed = rec.nodes.get(self.failed_node)
            rec.error = f"node {self.failed_node} failed: {failed.error if failed else 'unknown error'}"
        await self.observer.run_finished(rec)
        return rec

    async def _drive(self, node_id: str | None) -> None:
        """Run a chain inline; spawn a task for each extra branch that becomes ready."""
        nodes = self.workflow.nodes
        while node_id is not None and self.failed_node is None:
            ready = await self._run_node(nodes[node_id])
            if ready is None:
                self._fail(node_id)
                break
            if len(ready) > 1:
                for other in ready[1:]:
                    self._spawn(other)
            node_id = ready[0] if ready else None

    def _spawn(self, node_id: str) -> None:
        self.outstanding += 1
        task = asyncio.get_running_loop().create_task(self._drive(node_id))
        self.tasks.add(task)
        task.add_done_callback(self._branch_done)

    def _branch_done(self, task: asyncio.Task[None]) -> None:
        # A done-callback, not a ``finally``: a task cancelled before it ever ran still counts.
        self.tasks.discard(task)
        self.outstanding -= 1
        if self.outstanding == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def _fail(self, node_id: str) -> None:
        if self.failed_node is None:
            self.failed_node = node_id
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    async def _run_node(self, node: PreparedNode) -> list[str] | None:
        """Run one node (with timeout and retries); return successors now ready, or None on failure."""
        record = NodeRecord(node.id, _IN_PROGRESS)
        self.record.nodes[node.id] = record
        try:
            if self.hears_starts:
                await self.observer.node_started(self.record, node.id)
        except Exception as exc:  # its start could not be recorded (a store down): it must not run
            record.status = Status.FAILED
            record.error = f"not started: its start could not be recorded: {type(exc).__name__}: {exc}"
            await self.observer.node_finished(self.record, record)
            return None
        data = node.data
        retries: int = getattr(data, "retries", 0)
        timeout: float | None = getattr(data, "timeout", None)
        engine = self.engine
        ctx = NodeContext(
            self.record.id, node, self.input, self.results, engine.renderer, engine.host, self.node_variables
        )
        output: NodeOutput | None = None
        try:
            for attempt in range(retries + 1):
                record.attempts = attempt + 1
                try:
                    if not self.outstanding and timeout is None:
                        # no other branch of the run exists, and none can start while this node
                        # runs (branches start from _drive, after it): no slot to wait for
                        output = await node.impl.run(data, ctx)
                    else:
                        async with self.slots:
                            if timeout is None:
                                output = await node.impl.run(data, ctx)
                            else:
                                async with asyncio.timeout(timeout):
                                    output = await node.impl.run(data, ctx)
                    break
                except NodeFailed as exc:
                    record.error = str(exc)
                    if not exc.retryable:
                        break
                except TemplateError as exc:  # a template fails the same way on every attempt
                    record.error = str(exc)
                    break
                except TimeoutError:
                    record.error = f"timed out after {timeout:g} s"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a plugin bug must fail the node, not the process
                    record.error = f"{type(exc).__name__}: {exc}"
                if attempt < retries:
                    await asyncio.sleep(min(getattr(data, "retry_delay", 0.5) * 2**attempt, MAX_RETRY_DELAY))
        except asyncio.CancelledError:
            record.status = Status.FAILED
            record.error = f"cancelled because node {self.failed_node} failed"
            await self.observer.node_finished(self.record, record)
            raise
        if output is not None:  # not retried past a limit: the same node makes the same result again
            result = output.result
            tiny = self.tiny
            size = flat_json_size(result) if type(result) is dict else -1
            if size < 0:
                size = json_size(result, tiny, utf8=True)
            if size <= tiny and self.result_bytes + size <= engine.max_run_bytes:
                self.result_bytes += size  # the usual small result: counted without a coroutine
            else:
                record.error = await self._over_limits(node.id, result)
                if record.error is not None:
                    output = None
        if output is None:
            record.status = _FAILED
            await self.observer.node_finished(self.record, record)
            return None
        record.status = _SUCCEED
        record.error = None
        record.result = result
        record.cost = output.cost
        self.record.total_cost += output.cost
        self.results[node.id] = result
        self.node_variables[node.id] = {"result": result}
        if self.hears_finishes:
            await self.observer.node_finished(self.record, record)
        return await self._advance(node, output.follow)

    async def _over_limits(self, node_id: str, result: Any) -> str | None:
        """Why ``result`` may not be kept (over the node or the run limit), or ``None``; counts it
        into the run's total when it may."""
        engine = self.engine
        tiny = min(_TINY_RESULT, engine.max_result_bytes)
        size = json_size(result, tiny, utf8=True)
        if size > tiny:
            size = await engine.result_size(result)
            if size > engine.max_result_bytes:
                return engine.too_large(node_id)
        if self.result_bytes + size > engine.max_run_bytes:
            return (
                f"result of node {node_id} would take the run's results past the limit of "
                f"{engine.max_run_bytes:,} bytes (as JSON, RUNWIRE_MAX_RUN_BYTES); it was not kept"
            )
        self.result_bytes += size
        return None

    async def _advance(self, node: PreparedNode, follow: Any) -> list[str]:
        """Resolve ``node``'s successors; mark unreachable ones skipped; return the ready ones."""
        ready: list[str] = []
        remaining, active = self.remaining, self.active
        # last successor first, as a stack of them would pop them (the order nodes start in)
        for target, _ in reversed(node.successors):
            if follow is None or target in follow:
                active.add(target)
            remaining[target] -= 1
            if remaining[target] > 0:
                continue
            if target in active:
                ready.append(target)
            else:
                await self._skip(target, ready)
        ready.reverse()
        return ready

    async def _skip(self, first: str, ready: list[str]) -> None:
        """Record ``first`` (every predecessor resolved, none taken) skipped, and what only it
        leads to; a successor it leaves ready (reached by another, taken edge) goes to ``ready``."""
        stack = [first]
        while stack:
            target = stack.pop()
            if target != first:
                self.remaining[target] -= 1
                if self.remaining[target] > 0:
                    continue
                if target in self.active:
                    ready.append(target)
                    continue
            skipped = NodeRecord(id=target, status=_SKIPPED)
            self.record.nodes[target] = skipped
            if self.hears_finishes:
                await self.observer.node_finished(self.record, skipped)
            stack.extend(t for t, _ in self.workflow.nodes[target].successors)
