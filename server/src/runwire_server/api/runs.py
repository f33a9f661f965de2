"""Runs: start one, poll its result, list a workflow's history, accept execution updates."""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

import hmac
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel, ConfigDict, Field

from runwire.auth import Principal
from runwire.errors import InputInvalid, WorkflowInvalid
from runwire.inputs import RAW_INPUT_KEY
from runwire.records import TERMINAL, Status
from runwire_server.api.bodies import (
    MAX_DB_INT,
    NOT_JSON,
    off_loop,
    parse_json_or_text,
    read_model,
    read_text,
)
from runwire_server.api.deps import PUBLIC, PrincipalDep, ServicesDep
from runwire_server.api.enqueue import runnable_head, start_run
from runwire_server.api.errors import BadRequest, Forbidden, NotFound
from runwire_server.api.idempotency import IDEMPOTENT
from runwire_server.api.openapi import JSON, documented
from runwire_server.api.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_window, paginated
from runwire_server.api.params import Query
from runwire_server.api.shapes import (
    MissingRunError,
    RunHistoryPage,
    RunResultEnvelope,
    RunStart,
    UpdateAccepted,
)
from runwire_server.api.waiting import (
    PREFER_WAIT_DOC,
    PREFER_WAIT_OPENAPI,
    Wait,
    client_gone,
    start_as_preferred,
)
from runwire_server.api.workflows import visible_workflow
from runwire_server.store.runs import ENDED_BY_UPDATE

RUN_INPUT: dict[str, Any] = {JSON: Any, "text/plain": str}
RUN_INPUT_DOC = (
    "the run input: a JSON object or array; any other body (or text/plain) is "
    "{'__raw_input__': text}; no body is {}; with a JWT, the value of 'input_data' when the object has it"
)


def run_input(text: str, content_type: str, principal: Principal) -> Any:
    """Turn a ``/run/`` body into run input, as the reference's two modes describe.

    API-key mode: a JSON object or array is the input; ``text/plain`` or text that is not
    JSON becomes ``{"__raw_input__": text}``; an empty body is ``{}``. JWT mode: the value of
    ``input_data`` (a body without it is read as in API-key mode).
    """
    if not text.strip():
        return {}
    if content_type.lower().startswith("text/plain"):
        return {RAW_INPUT_KEY: text}
    value = parse_json_or_text(text)
    if value is NOT_JSON:
        return {RAW_INPUT_KEY: text}
    if principal.input_mode == "wrapped" and isinstance(value, dict) and "input_data" in value:
        value = value["input_data"]
        return {} if value is None else value
    if isinstance(value, dict | list):
        return value
    return {RAW_INPUT_KEY: text}


def _envelope(data: dict[str, Any], status: int) -> dict[str, Any]:
    return {"data": data, "status": status}


class ProgressPayload(BaseModel):
    """``payload`` of an execution update: the run's status and per-node results."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str | None = None
    status: Literal["in queue", "in progress", "succeed", "failed"]
    data: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ExecutionUpdate(BaseModel):
    """Body of ``POST /api/v1/workflows/execution-update/{run_id}/``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    type: str = "workflow_execution_progress_change"
    payload: ProgressPayload


class RunController(Controller):
    """Run a workflow and follow its runs."""

    path = "/api/v1/workflows"
    tags = ["runs"]

    @post(
        "/{workflow_id:int}/run/",
        status_code=200,
        summary="Start a run",
        operation_class=documented(
            RUN_INPUT,
            body_required=False,
            body_description=RUN_INPUT_DOC,
            replies={200: (RunStart, "started (status 201), or refused (status 400); " + PREFER_WAIT_DOC)},
            idempotent=True,
            **PREFER_WAIT_OPENAPI,
        ),
        **IDEMPOTENT,
    )
    async def run(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        workflow_id: FromPath[int],
    ) -> Response[dict[str, Any]]:
        """Store a run ``in queue``, then enqueue it.

        Replies ``{"data": {"id": <run uuid>, "status": "created"}, "status": 201}``.

        A workflow with structural errors, or input its trigger refuses, replies
        ``{"data": {"errors": [...]}, "status": 400}`` and starts nothing.

        With ``Prefer: wait=<seconds>``, the reply waits for the run to end (or the seconds to
        pass), and its ``data`` is the run as ``workflow_result`` shows it (``status`` still 201);
        the reply then carries ``Preference-Applied: wait=<seconds>`` (RFC 7240).
        """
        head = await runnable_head(services, principal, workflow_id)
        text = await read_text(request)
        value = await off_loop(run_input, text, request.headers.get("content-type", ""), principal)
        run_id = str(uuid.uuid4())
        try:
            waited = await start_as_preferred(
                services, request, run_id, start_run(services, head, value, run_id), principal.identity
            )
        except (WorkflowInvalid, InputInvalid) as exc:
            return Response(_envelope({"errors": exc.problems}, 400))
        if waited is None or waited.run is None:  # no wait asked, or deleted with its workflow meanwhile
            return Response(
                _envelope({"id": run_id, "status": "created"}, 201),
                headers=waited.headers if waited else None,
            )
        return Response(_envelope(waited.run.result_json(), 201), headers=waited.headers)

    @get(
        "/workflow_result/",
        summary="Poll a run's status and result",
        operation_class=documented(
            replies={
                200: (RunResultEnvelope, "the run"),
                404: (MissingRunError, "no such run (or not the caller's)"),
            }
        ),
    )
    async def workflow_result(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        run_id: Annotated[str | None, Query(name="id")] = None,
        wait: Wait = 0,
    ) -> Any:
        """The run's ``{"id", "status", "data", "metrics"}`` wrapped in ``{"data", "status": 200}``;
        with ``wait``, once the run has ended or ``wait`` seconds have passed."""
        if not run_id:
            raise BadRequest("the 'id' query parameter (the run's UUID) is required")
        canonical = _canonical_uuid(run_id)
        if canonical is None:
            raise BadRequest("'id' must be a workflow run UUID")
        visible = lambda run: run.visible_to(principal)  # noqa: E731
        run = await services.endings.read_when_ended(
            canonical, wait, services.store.get_run, visible, principal.identity, client_gone(request)
        )
        if run is None or not run.visible_to(principal):
            missing = {
                "id": canonical,
                "status": Status.NOT_FOUND,
                "data": {},
                "metrics": {"total_cost": 0.0},
            }
            raise NotFound("workflow run not found", extra=_envelope(missing, 404))
        return _envelope(run.result_json(), 200)

    @get(
        "/{workflow_id:int}/history/",
        summary="A workflow's runs",
        operation_class=documented(replies={200: (RunHistoryPage, "a page of runs")}),
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        workflow_id: FromPath[int],
        ordering: FromQuery[Literal["created_at", "-created_at", "cost", "-cost"]] = "-created_at",
        page: Annotated[int, Query(ge=1, le=MAX_DB_INT)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """Paginated run history, newest first unless ``ordering`` says otherwise."""
        workflow = await visible_workflow(services, principal, workflow_id)
        offset, limit = page_window(page, page_size)
        # a front door's runs belong to whoever started them: others see only their own
        mine_only = (
            services.trust.managed(workflow.project, workflow.title) and principal.projects is not None
        )
        owner = principal.identity if mine_only else None
        count, rows = await services.store.history(workflow_id, ordering, offset, limit, owner)
        return paginated(request, count, page, page_size, [r.history_json() for r in rows])

    # public to the app's guard: the service key below is this route's authentication
    @post(
        "/execution-update/{run_id:str}/",
        status_code=201,
        summary="Execution service progress (internal)",
        opt={PUBLIC: True},
        operation_class=documented(
            {JSON: ExecutionUpdate}, replies={201: (UpdateAccepted, "the update is applied")}
        ),
    )
    async def execution_update(
        self, request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
    ) -> dict[str, Any]:
        """Apply a progress payload to a run; needs ``X-Service-Api-Key`` (403 otherwise)."""
        expected = services.settings.service_api_key.encode()
        given = request.headers.get("x-service-api-key", "").encode("utf-8", "surrogateescape")
        if not expected or not hmac.compare_digest(expected, given):
            raise Forbidden("a valid X-Service-Api-Key is required")
        canonical = _canonical_uuid(run_id)
        if canonical is None:
            raise NotFound("workflow run not found")
        update = await read_model(request, ExecutionUpdate)
        if update.payload.id is not None and _canonical_uuid(update.payload.id) != canonical:
            raise BadRequest("payload.id does not match the run id in the path")
        nodes = {node_id: {**record, "id": node_id} for node_id, record in update.payload.data.items()}
        if not await services.store.apply_update(canonical, update.payload.status, nodes):
            raise NotFound("workflow run not found")
        if update.payload.status in TERMINAL:  # ended: its executing here would only be dropped
            services.executor.cancellations.cancel(canonical, ENDED_BY_UPDATE)
        return {"status": "created", "detail": {"msg": "ok"}}


def _canonical_uuid(value: str) -> str | None:
    """``value`` as a lower-case hyphenated UUID, or ``None`` if it is not one."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
