"""The JSON shapes of the runs API (``/api/v1/runs/``), for its OpenAPI document (docs/api.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runwire_server.api.shapes import Metrics, Page, RunStatus, Shape


class RunWorkflow(Shape):
    """The workflow a run is of: its version when the run was started."""

    id: int
    title: str
    version: int
    project: int


class RunNodeView(Shape):
    """A node of a run: its record, and its times from the run's event log."""

    id: str
    type: str | None = Field(description="the workflow's node type (``basic-node``, ...)")
    title: str | None = Field(description="the node's name in the workflow (``Run Script``, ...)")
    status: str = Field(description="in progress, succeed, failed or skipped")
    result: Any = Field(default=None, description="a finished node's result")
    error: str | None = Field(default=None, description="a failed node's error")
    attempts: int | None = Field(default=None, description="how often it ran, when it was retried")
    started_at: str | None = Field(description="ISO 8601, UTC; null for a node that never started")
    finished_at: str | None = Field(description="ISO 8601, UTC; null while it runs")
    duration_s: float | None


class RunSummary(Shape):
    """A run in a list of runs."""

    id: str
    door: str = Field(description="how it was started: workflow, task, execute (or another front door)")
    workflow: RunWorkflow
    status: RunStatus = Field(description="a cancelled run is failed")
    cancelled: bool
    cancelled_by: str | None = Field(description="the principal that cancelled it")
    error: str | None
    created_at: str = Field(description="ISO 8601, UTC")
    finished_at: str | None = Field(description="ISO 8601, UTC; null until it is succeed or failed")
    duration_s: float | None = Field(description="from its first node's start to its end")


class RunView(RunSummary):
    """One run (``GET /api/v1/runs/{id}/``)."""

    started_at: str | None = Field(description="ISO 8601, UTC: its first node's start")
    metrics: Metrics
    input: Any
    nodes: dict[str, RunNodeView] = Field(
        description="the nodes with a record or an event, by id (the workflow has the others)"
    )


class RunPage(Page):
    """A page of runs, newest first."""

    results: list[RunSummary]
