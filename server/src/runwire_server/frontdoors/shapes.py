"""The JSON shapes the front doors answer with, for the OpenAPI document (docs/tasks.md,
docs/execute.md); handlers build plain dicts, ``tests/server/test_openapi_truth.py`` checks them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from runwire_server.api.shapes import RunStatus, Shape


class TaskPending(Shape):
    """A task not finished yet (and the reply of a started one)."""

    id: str
    status: Literal["not-ready"]


class TaskReady(Shape):
    """A finished task: its results, attachments and standard output."""

    id: str
    status: Literal["ready"]
    results: Any = Field(description="the results the config's output formatter made")
    attachments: dict[str, str] = Field(description="base64 file contents, keyed by file name")
    stdout: str


class TaskFailed(Shape):
    """A task that failed: why."""

    id: str
    status: Literal["failed"]
    error: str


TaskState = TaskPending | TaskReady | TaskFailed


class ExecutionResult(Shape):
    """The reference's ``ExecutionResult``: output is standard output then standard error."""

    output: str
    return_code: int = Field(description="-1 when the program did not run or was stopped")
    status: Literal["successful", "failed"]


class ExecuteAccepted(Shape):
    """``POST /api/execute/``: the job's id; the result at once for a blocking request."""

    job_id: str
    result: ExecutionResult | None = Field(description="``null`` for an async request")


class CallbackState(Shape):
    """How posting a job's callback went."""

    status: RunStatus | None
    attempts: int
    error: str | None


class JobState(Shape):
    """``GET /api/execute/{job_id}``: the job's run status and, once the program ended, its result."""

    job_id: str
    status: RunStatus
    result: ExecutionResult | None
    callback: CallbackState | None = Field(default=None, description="jobs given a callback only")


class Versions(Shape):
    """``GET /api/version``."""

    api: str
    module: str = Field(description="the runwire-server version")
