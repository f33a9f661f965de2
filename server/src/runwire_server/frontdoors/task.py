"""The script-runner front door: ``POST /task[/<path>]`` and ``GET /task/{id}`` (and ``/script`` aliases).

A request is bound by the config's input binders into run input ``{"vars": {...}}`` and stored
as a run of the task's workflow, then enqueued; the reply and the poll use the reference's
shapes (``not-ready`` / ``ready`` with ``results`` and ``attachments`` / ``failed`` with ``error``).
Its hooks (routes, boot-time :class:`TaskDoor`, managed workflow) are in
:mod:`runwire_server.frontdoors.task_door`, the entry point, which imports this module lazily.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath, SkipValidation

from runwire.auth import Principal
from runwire.binders import RequestParts
from runwire.records import Status
from runwire_server.api.bodies import OFF_LOOP_CHARS
from runwire_server.api.deps import PrincipalDep, ServicesDep
from runwire_server.api.enqueue import store_and_enqueue
from runwire_server.api.errors import Forbidden, NotFound
from runwire_server.api.idempotency import IDEMPOTENT
from runwire_server.api.openapi import JSON, documented
from runwire_server.api.waiting import (
    PREFER_WAIT_DOC,
    PREFER_WAIT_OPENAPI,
    Wait,
    client_gone,
    start_as_preferred,
)
from runwire_server.frontdoors.boot import (
    FRONT_DOOR_PROJECT,
    SCRIPT_NODE,
    TASK_KEY,
    TaskDoor,
    boot_task,
)
from runwire_server.frontdoors.shapes import TaskState
from runwire_server.frontdoors.taskconfig import CompiledTask
from runwire_server.run_endings import Gone
from runwire_server.services import Services
from runwire_server.store import RunRow

NOT_READY = "not-ready"
READY = "ready"

TaskDoorDep = SkipValidation[TaskDoor | None]
"""A handler parameter ``task_door: TaskDoorDep`` receives the door's boot-time state."""


def usable_task_door(door: TaskDoor | None, principal: Principal) -> TaskDoor:
    """The mounted task, if the caller may use it."""
    if door is None:
        raise NotFound("no script-runner task is configured on this server (RUNWIRE_TASK_CONFIG)")
    if not principal.may_access(FRONT_DOOR_PROJECT):
        raise Forbidden(f"the task belongs to project {FRONT_DOOR_PROJECT}, which this caller may not use")
    return door


async def request_parts(request: Request[Any, Any, Any], path: str) -> RequestParts:
    """The parts of ``request`` the binders read; the body is parsed when a binder first reads it."""
    raw = await request.body()  # a body over RUNWIRE_MAX_BODY_BYTES is a 413 even when unread
    query = [(k, v) for k, v in request.query_params.multi_items()]
    return RequestParts(path=path.lstrip("/"), query=query, headers=dict(request.headers), raw_body=raw)


async def bind_request(task: CompiledTask, parts: RequestParts, body_size: int) -> dict[str, Any]:
    """``task.bind(parts)``, in a worker thread when the body is large enough that parsing it
    would hold the event loop."""
    if body_size <= OFF_LOOP_CHARS:
        return task.bind(parts)
    return await anyio.to_thread.run_sync(task.bind, parts)


def task_reply(run: RunRow) -> dict[str, Any]:
    """A run in the reference's task shape."""
    if run.status == Status.SUCCEED:
        result = (run.nodes.get(SCRIPT_NODE) or {}).get("result") or {}
        if not isinstance(result, dict):  # an execution update may store anything
            result = {}
        return {
            "id": run.id,
            "status": READY,
            "results": result.get("results", []),
            "attachments": result.get("attachments", {}),
            "stdout": result.get("content", ""),
        }
    if run.status == Status.FAILED:
        return {"id": run.id, "status": Status.FAILED, "error": run.error or "the task failed"}
    return {"id": run.id, "status": NOT_READY}


async def start_task(
    request: Request[Any, Any, Any],
    services: Services,
    door: TaskDoor | None,
    principal: Principal,
    path: str,
) -> Response[dict[str, Any]]:
    """Bind, store, enqueue; reply ``{"id", "status": "not-ready"}``, or with ``Prefer: wait=<seconds>``
    the task as a poll shows it once it has ended or the seconds have passed, with
    ``Preference-Applied: wait=<seconds>`` (RFC 7240)."""
    door = usable_task_door(door, principal)
    parts = await request_parts(request, path)
    run_input = await bind_request(door.task, parts, len(await request.body()))
    run_id = str(uuid.uuid4())

    start = store_and_enqueue(services, run_id, door.workflow, run_input, principal.identity)
    waited = await start_as_preferred(services, request, run_id, start, principal.identity)
    if waited is None or waited.run is None:
        return Response({"id": run_id, "status": NOT_READY}, headers=waited.headers if waited else None)
    return Response(task_reply(waited.run), headers=waited.headers)


async def poll_task(
    services: Services,
    door: TaskDoor | None,
    principal: Principal,
    task_id: str,
    wait_s: float = 0,
    gone: Gone | None = None,
) -> dict[str, Any]:
    """The task's state (once it has ended or ``wait_s`` seconds have passed, when ``wait_s`` is
    given); 404 for an id that is not a run of this task."""
    door = usable_task_door(door, principal)
    try:
        # Litestar hands the id over with the slash of the sibling ``{path:path}`` route
        canonical = str(uuid.UUID(task_id.lstrip("/")))
    except ValueError:
        raise NotFound("task not found") from None

    def mine(run: RunRow) -> bool:
        return run.workflow_id == door.workflow.id and run.visible_to(principal)

    run = await services.endings.read_when_ended(
        canonical, wait_s, services.store.get_run, mine, principal.identity, gone
    )
    if run is None or not mine(run):
        raise NotFound("task not found")
    return task_reply(run)


START_DOC = documented(
    {JSON: Any},
    body_required=False,
    body_description="JSON, parsed when a binder of the config reads it (body_args, or a plugin binder)",
    replies={200: (TaskState, "the task is started (not-ready); " + PREFER_WAIT_DOC)},
    idempotent=True,
    **PREFER_WAIT_OPENAPI,
)
POLL_DOC = documented(replies={200: (TaskState, "not-ready, ready or failed")})


def _routes(prefix: str) -> list[Any]:
    name = prefix.strip("/")

    @post(
        [prefix, f"{prefix}/{{path:path}}"],
        status_code=200,
        name=f"{name}-start",
        tags=["script-runner"],
        summary="Start a task (script-runner)",
        operation_class=START_DOC,
        **IDEMPOTENT,
    )
    async def start(
        request: Request[Any, Any, Any],
        services: ServicesDep,
        task_door: TaskDoorDep,
        principal: PrincipalDep,
        path: FromPath[str] = "",
    ) -> Response[dict[str, Any]]:
        """Start the configured command with the variables bound from path, query and body."""
        return await start_task(request, services, task_door, principal, path)

    @get(
        f"{prefix}/{{task_id:str}}",
        name=f"{name}-poll",
        tags=["script-runner"],
        summary="Poll a task (script-runner)",
        operation_class=POLL_DOC,
    )
    async def poll(
        request: Request[Any, Any, Any],
        services: ServicesDep,
        task_door: TaskDoorDep,
        principal: PrincipalDep,
        task_id: FromPath[str],
        wait: Wait = 0,
    ) -> dict[str, Any]:
        """``not-ready``, ``ready`` (results, attachments, stdout) or ``failed`` (error); with
        ``wait``, once the task has ended or ``wait`` seconds have passed."""
        return await poll_task(services, task_door, principal, task_id, wait, client_gone(request))

    return [start, poll]


ROUTES = [*_routes("/task"), *_routes("/script")]


def dependencies(services: Services) -> dict[str, Any]:
    """What ``register_dependencies`` gives routes: the compiled task as ``task_door``."""
    return {TASK_KEY: boot_task(services)}
