"""The JSON shapes the API answers with, for its OpenAPI document (handlers build plain dicts).

Each model describes one response body field for field (docs/api.md); nothing validates with
them at run time. ``tests/server/test_openapi_truth.py`` checks every one against real replies.
Their validators are therefore built when the document is (``defer_build``), not while the
server starts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["in queue", "in progress", "succeed", "failed"]


class Shape(BaseModel):
    """A documented body: exactly these fields (an unknown one is a documentation error)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Workflow(Shape):
    """A workflow (``POST``/``GET``/``PATCH`` of the workflow resource)."""

    id: int
    project: int
    title: str
    data: dict[str, Any] = Field(description="nodes, edges, viewport, start_node")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")


class Page(Shape):
    """Fields of every paginated list."""

    count: int = Field(description="items over all pages")
    next: str | None = Field(description="URL of the next page")
    previous: str | None = Field(description="URL of the previous page")


class WorkflowPage(Page):
    """A page of workflows."""

    results: list[Workflow]


class NodeSchema(Shape):
    """One installed node type (``get_nodes``)."""

    type: str
    name: str | None = Field(description="the node type's sub-name (basic-node has several)")
    title: str
    description: str
    privileged: bool
    blocking: bool = Field(False, description="the node's work runs in a worker thread")
    rerun_safe: bool = Field(
        True,
        description="a run interrupted after this node started may start over (by default; "
        "an HTTP Request's depends on its method, a node's rerun_if_interrupted overrides it)",
    )
    schema_: dict[str, Any] = Field(alias="schema", description="JSON schema of the node's ``data``")


class SelectOptionShape(BaseModel):
    """A choice of a select input field (further keys are kept as sent)."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class InputFieldShape(BaseModel):
    """An input field of the trigger node, defaults filled in (further keys are kept as sent)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str
    title: str
    type: str
    input_requirements: bool
    placeholder: str
    tooltip: str
    default_value: Any
    options: list[dict[str, Any]]


class CheckResult(Shape):
    """``check_workflow``: valid, or every structural problem."""

    valid: bool
    errors: list[str] = Field(description="each names its node or edge")


class Metrics(Shape):
    """A run's cost."""

    total_cost: float


class RunResult(Shape):
    """A run's state and per-node results (``workflow_result`` ``data``)."""

    id: str
    status: RunStatus
    data: dict[str, dict[str, Any]] = Field(description="per node id: its status, result, error, ...")
    metrics: Metrics
    error: str | None = Field(default=None, description="why the run failed (failed runs only)")


class RunResultEnvelope(Shape):
    """``workflow_result``: the run wrapped as the reference does."""

    data: RunResult
    status: Literal[200]


class MissingRun(Shape):
    """``workflow_result`` for a run that does not exist (or is not the caller's)."""

    id: str
    status: Literal["not found"]
    data: dict[str, Any]
    metrics: Metrics


class MissingRunError(Shape):
    """404 of ``workflow_result``: the error body and the reference's envelope."""

    detail: str
    data: MissingRun
    status: Literal[404]


class RunHistoryItem(RunResult):
    """One run of a workflow's history."""

    workflow: int
    input_data: Any
    cost: float
    created_at: str
    updated_at: str


class RunHistoryPage(Page):
    """A page of a workflow's runs."""

    results: list[RunHistoryItem]


class RunCreated(Shape):
    """``data`` of a started run."""

    id: str
    status: Literal["created"]


class RunRefusedData(Shape):
    """``data`` of a run not started: the workflow's structural errors, or its refused input."""

    errors: list[str]


class RunStart(Shape):
    """``run``: always HTTP 200; the reference's own status is in the body. With ``Prefer: wait``
    (a runwire extension) ``data`` is the run as ``workflow_result`` shows it."""

    data: RunCreated | RunRefusedData | RunResult
    status: Literal[201, 400]


class UpdateDetail(Shape):
    """``detail`` of an accepted execution update."""

    msg: Literal["ok"]


class UpdateAccepted(Shape):
    """An accepted execution update."""

    status: Literal["created"]
    detail: UpdateDetail


class Liveness(Shape):
    """``/healthz``."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """``/readyz``: the verdict and one entry per dependency (``store``, ``workers`` or ``broker``)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    status: Literal["ready", "not ready"]
    store: str = Field(description="``ok`` or what failed")
    workers_alive: int | None = Field(
        default=None,
        description="distributed mode: worker processes that heartbeated within RUNWIRE_PROCESS_TIMEOUT_S "
        "(none: not ready); absent in embedded mode, ``null`` when the store did not answer",
    )
    runs_queued: int | None = Field(
        default=None, description="runs ``in queue`` in the store; ``null`` when the store did not answer"
    )
