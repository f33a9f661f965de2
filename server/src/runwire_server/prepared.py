"""Checked and prepared workflows, cached by version: what a run executes, checked once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from pydantic import ValidationError

from runwire.check import prepare_workflow, size_problem
from runwire.errors import WorkflowInvalid
from runwire.fieldproblems import field_problems
from runwire.plugins import Plugins
from runwire.workflow import PreparedWorkflow, WorkflowData, parse_workflow_data
from runwire_server.store import Store, WorkflowRow

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

    async def load_async(self, store: Store, workflow_id: int, version: int) -> PreparedWorkflow | None:
        """The prepared workflow: from the cache, else loaded from ``store`` (its current
        version) and prepared, in a worker thread when it is big.

        ``None`` when the workflow no longer exists.

        :raises WorkflowInvalid: the workflow has structural problems or is over the size limits.
        :raises runwire_server.trust.RunRefused: the gate refuses it.
        """
        prepared = self.cached(workflow_id, version)
        if prepared is not None:
            return prepared
        workflow = await store.get_workflow(workflow_id)
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
