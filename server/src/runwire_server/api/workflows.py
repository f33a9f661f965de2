"""Workflow resources: create, list, read, update, delete, input fields, check, node schemas."""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

from functools import lru_cache
from typing import Annotated, Any, ClassVar, TypeVar

import anyio.to_thread
from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runwire.auth import Principal
from runwire.check import size_problem
from runwire.fieldproblems import field_problems
from runwire.workflow import InputField, parse_workflow_data
from runwire_server.api.bodies import MAX_DB_INT, check_id, read_model
from runwire_server.api.deps import PrincipalDep, ServicesDep
from runwire_server.api.errors import BadRequest, Forbidden, NotFound, Unprocessable
from runwire_server.api.openapi import JSON, documented
from runwire_server.api.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_window, paginated
from runwire_server.api.params import Query
from runwire_server.api.shapes import CheckResult, InputFieldShape, NodeSchema, Workflow, WorkflowPage
from runwire_server.prepared import is_small
from runwire_server.services import Services
from runwire_server.store import WorkflowRow

TRIGGER_TYPE = "trigger-node"


def _valid_data(value: Any, max_nodes: int | None = None, max_edges: int | None = None) -> dict[str, Any]:
    """Workflow ``data`` must have the workflow shape; structural problems are allowed.

    Over the size limits it is refused with 413 before pydantic parses it (parsing 50,000 nodes
    takes about a second; counting them takes nothing).
    """
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object (nodes, edges, viewport, start_node)")
    too_big = size_problem(value, max_nodes, max_edges)
    if too_big is not None:
        raise RequestEntityTooLarge(detail=too_big)
    try:
        parse_workflow_data(value)
    except ValidationError as exc:
        problems = [str(problem) for problem in field_problems(exc)]
        raise ValueError("not a workflow: " + "; ".join(problems[:20])) from None
    return value


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class _WorkflowBody(BaseModel):
    """A body holding workflow ``data``; :func:`limited` makes the variant that enforces limits."""

    model_config = ConfigDict(defer_build=True)
    max_nodes: ClassVar[int | None] = None
    max_edges: ClassVar[int | None] = None


B = TypeVar("B", bound=_WorkflowBody)


@lru_cache(maxsize=16)
def limited(model: type[B], max_nodes: int, max_edges: int | None) -> type[B]:
    """``model`` refusing ``data`` over ``max_nodes``/``max_edges`` with 413 while it is validated
    (which :func:`read_model` may do in a worker thread, so the limits travel with the class)."""
    attrs = {"max_nodes": max_nodes, "max_edges": max_edges, "__module__": model.__module__}
    return type(model.__name__, (model,), attrs)


class WorkflowCreate(_WorkflowBody):
    """Body of ``POST /api/v1/workflows/``."""

    model_config = ConfigDict(extra="ignore", strict=True)

    project: int = Field(ge=0, le=MAX_DB_INT)
    title: str = Field(min_length=1, max_length=255)
    data: dict[str, Any]

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _valid_data(value, cls.max_nodes, cls.max_edges)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _clean_text(value)


class WorkflowPatch(_WorkflowBody):
    """Body of ``PATCH /api/v1/workflows/{id}/``: any of ``title`` and ``data``."""

    model_config = ConfigDict(extra="ignore", strict=True)

    title: str | None = Field(default=None, min_length=1, max_length=255)
    data: dict[str, Any] | None = None

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else _valid_data(value, cls.max_nodes, cls.max_edges)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return value if value is None else _clean_text(value)


def body_model(services: Services, model: type[B]) -> type[B]:
    """``model`` with this server's workflow size limits (RUNWIRE_MAX_NODES, RUNWIRE_MAX_EDGES)."""
    return limited(model, services.settings.max_nodes, services.settings.max_edges)


def refuse_managed(services: Services, project: int, title: str) -> None:
    """Front-door workflows are the server's own: written from its config at boot, changed and run
    only through their front door (``/task``, ``/api/execute/``), never through the workflow API."""
    if services.trust.managed(project, title):
        raise Forbidden(
            f"workflow {title!r} of project {project} is managed by the server's front door; "
            "use the front door (/task or /api/execute/) instead"
        )


async def check_trust(services: Services, project: int, data: dict[str, Any]) -> None:
    """Workflow data sent through the API: privileged nodes only in granted projects (403), no
    operator-only settings (422). Looked at in a worker thread unless ``data`` is small (it costs
    some 10-30 µs a node: 2,000 nodes would hold the event loop for tens of milliseconds)."""
    if is_small(data):
        _check_trust(services, project, data)
    else:
        await anyio.to_thread.run_sync(_check_trust, services, project, data)


def _check_trust(services: Services, project: int, data: dict[str, Any]) -> None:
    trust = services.trust
    refusal = trust.privileged_refusal(project, data)
    if refusal is not None:
        raise Forbidden(refusal)
    problems = trust.operator_only_problems(data)
    if problems:
        raise Unprocessable("; ".join(problems))


async def visible_workflow(services: Services, principal: Principal, workflow_id: int) -> WorkflowRow:
    """The workflow if the caller may see it; otherwise 404 (whether or not it exists)."""
    check_id(workflow_id, "workflow")
    row = await services.store.get_workflow(workflow_id)
    if row is None or not principal.may_access(row.project):
        raise NotFound("workflow not found")
    return row


def input_fields(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The input fields declared by the workflow's trigger node(s), with defaults filled in."""
    listed = data.get("nodes")
    nodes: list[Any] = listed if isinstance(listed, list) else []
    triggers = [n for n in nodes if isinstance(n, dict) and n.get("type") == TRIGGER_TYPE]
    start = data.get("start_node")
    triggers.sort(key=lambda n: n.get("id") != start)
    fields: list[dict[str, Any]] = []
    for node in triggers:
        given = node.get("data")
        node_data: dict[str, Any] = given if isinstance(given, dict) else {}
        for raw in node_data.get("input_fields") or []:
            try:
                fields.append(InputField.model_validate(raw).model_dump(mode="json"))
            except ValidationError:
                continue  # reported by check_workflow
    return fields


class WorkflowController(Controller):
    """``/api/v1/workflows/``: the workflow resource of the ScriptRun reference."""

    path = "/api/v1/workflows"
    tags = ["workflows"]

    @post(
        "/",
        status_code=201,
        summary="Create a workflow",
        operation_class=documented({JSON: WorkflowCreate}, replies={201: (Workflow, "the stored workflow")}),
    )
    async def create(
        self, request: Request[Any, Any, Any], services: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Store a workflow (``project``, ``title``, ``data``); structural problems are allowed."""
        body = await read_model(request, body_model(services, WorkflowCreate))
        if not principal.may_access(body.project):
            raise Forbidden(f"no access to project {body.project}")
        refuse_managed(services, body.project, body.title)
        await check_trust(services, body.project, body.data)
        row = await services.store.create_workflow(body.project, body.title, body.data)
        return row.to_json()

    @get(
        "/",
        summary="List workflows",
        operation_class=documented(replies={200: (WorkflowPage, "a page of workflows")}),
    )
    async def list_workflows(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        project: Annotated[int | None, Query(ge=0, le=MAX_DB_INT)] = None,
        title: Annotated[str | None, Query(max_length=255)] = None,
        page: Annotated[int, Query(ge=1, le=MAX_DB_INT)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """Workflows the caller may see, filtered by ``project`` and ``title`` (case-insensitive)."""
        if title is not None and "\x00" in title:
            raise BadRequest("title must not contain NUL characters")
        offset, limit = page_window(page, page_size)
        count, rows = await services.store.list_workflows(principal.projects, project, title, offset, limit)
        return paginated(request, count, page, page_size, [r.to_json() for r in rows])

    @get(
        "/get_nodes/",
        summary="Node schemas of every installed node type",
        operation_class=documented(replies={200: (list[NodeSchema], "one schema per node type")}),
    )
    async def get_nodes(self, services: ServicesDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """One schema per registered node type (from the plugins), for editors."""
        return services.node_schemas

    @get(
        "/{workflow_id:int}/",
        summary="Read a workflow",
        operation_class=documented(replies={200: (Workflow, "the workflow")}),
    )
    async def read(
        self, services: ServicesDep, principal: PrincipalDep, workflow_id: FromPath[int]
    ) -> dict[str, Any]:
        """The workflow with ``workflow_id``."""
        return (await visible_workflow(services, principal, workflow_id)).to_json()

    @patch(
        "/{workflow_id:int}/",
        summary="Update a workflow",
        operation_class=documented({JSON: WorkflowPatch}, replies={200: (Workflow, "the updated workflow")}),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        workflow_id: FromPath[int],
    ) -> dict[str, Any]:
        """Change ``title`` and/or ``data``."""
        current = await visible_workflow(services, principal, workflow_id)
        refuse_managed(services, current.project, current.title)
        body = await read_model(request, body_model(services, WorkflowPatch))
        refuse_managed(services, current.project, body.title or "")
        if body.data is not None:
            await check_trust(services, current.project, body.data)
        row = await services.store.update_workflow(workflow_id, body.title, body.data)
        if row is None:
            raise NotFound("workflow not found")
        return row.to_json()

    @delete("/{workflow_id:int}/", status_code=204, summary="Delete a workflow")
    async def remove(
        self, services: ServicesDep, principal: PrincipalDep, workflow_id: FromPath[int]
    ) -> None:
        """Delete the workflow and its run history."""
        current = await visible_workflow(services, principal, workflow_id)
        refuse_managed(services, current.project, current.title)
        if not await services.store.delete_workflow(workflow_id):
            raise NotFound("workflow not found")
        services.cache.forget(workflow_id)

    @get(
        "/{workflow_id:int}/input-fields/",
        summary="Input fields of the trigger node",
        operation_class=documented(
            replies={200: (list[InputFieldShape], "the trigger's input fields, in order")}
        ),
    )
    async def input_fields(
        self, services: ServicesDep, principal: PrincipalDep, workflow_id: FromPath[int]
    ) -> list[dict[str, Any]]:
        """What the workflow expects as run input."""
        return input_fields((await visible_workflow(services, principal, workflow_id)).data)

    @get(
        "/{workflow_id:int}/check_workflow/",
        summary="Validate a workflow's structure",
        operation_class=documented(replies={200: (CheckResult, "valid, or every problem")}),
    )
    async def check(
        self, services: ServicesDep, principal: PrincipalDep, workflow_id: FromPath[int]
    ) -> dict[str, Any]:
        """``{"valid": bool, "errors": [...]}``: every structural problem, each naming its node or edge."""
        row = await visible_workflow(services, principal, workflow_id)
        problems = await services.cache.problems_async(row)
        return {"valid": not problems, "errors": problems}
