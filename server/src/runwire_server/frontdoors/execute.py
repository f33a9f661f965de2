"""The LSO front door: ``POST /api/execute/``, ``GET /api/execute/{job_id}``, ``GET /api/version``.

The executable is resolved inside ``RUNWIRE_EXECUTABLES_DIR`` (refusals map to the reference's
statuses through :data:`ERROR_STATUSES`). Every request is a run of a stored one-node (or, with a
callback, two-node) workflow: async requests are enqueued like any run; a blocking
request (``is_async: false``) is executed right here by the same engine and recorded in the same
store as it goes (stored before its program starts; never run again after a crash), which keeps
its latency that of the program (the reference does the same in its API). Its hooks are in
:mod:`runwire_server.frontdoors.execute_door`, the entry point, which imports this module lazily.
"""

from __future__ import annotations

import functools
import uuid
from importlib import metadata
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, SkipValidation
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runwire.auth import Principal
from runwire.executables import (
    ExecutableIsDirectory,
    ExecutableNameInvalid,
    ExecutableNotExecutable,
    ExecutableNotFound,
    ExecutableOutsideRoot,
    ExecutablesNotConfigured,
    resolve_executable,
)
from runwire.fieldproblems import field_problems
from runwire.netguard import UrlRefused, check_url, split_url
from runwire.records import TERMINAL, Status
from runwire_server.api.bodies import off_loop, parse_json, read_text
from runwire_server.api.deps import PrincipalDep, ServicesDep
from runwire_server.api.enqueue import store_and_enqueue
from runwire_server.api.errors import ApiError, BadRequest, Forbidden, InternalError, NotFound, Unprocessable
from runwire_server.api.idempotency import IDEMPOTENT, keep_even_a_5xx
from runwire_server.api.openapi import JSON, documented
from runwire_server.frontdoors.blocking import run_inline
from runwire_server.frontdoors.boot import (
    CALLBACK_NODE,
    EXECUTE_KEY,
    FRONT_DOOR_PROJECT,
    HTTP_REQUEST,
    RUN_SCRIPT,
    SCRIPT_NODE,
    ExecuteDoor,
    boot_execute,
)
from runwire_server.frontdoors.shapes import ExecuteAccepted, JobState, Versions
from runwire_server.services import Services

API_VERSION = "2.0"
SUCCESSFUL = "successful"
UNSUCCESSFUL = "failed"
"""The execution result's two statuses (LSO's own words, not run statuses)."""

ExecuteDoorDep = SkipValidation[ExecuteDoor]
"""A handler parameter ``execute_door: ExecuteDoorDep`` receives the door's boot-time state."""


class NotConfigured(ApiError):
    """A part this request needs is not installed or configured."""

    status_code = 503


class ExecuteRequest(BaseModel):
    """``POST /api/execute/`` body, with the reference's defaults."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    executable_name: str = Field(min_length=1, max_length=4096)
    args: list[str] = Field(default_factory=list, max_length=10_000)
    callback: str | None = None
    is_async: bool = True

    @field_validator("args")
    @classmethod
    def _no_nul(cls, args: list[str]) -> list[str]:
        for i, arg in enumerate(args):
            if "\x00" in arg:
                raise ValueError(f"args[{i}] contains a NUL character, which a program cannot receive")
        return args

    @field_validator("callback")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                split_url(url)
            except UrlRefused as exc:
                raise ValueError(str(exc)) from None
        return url


def execution_result(record: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    """The reference's ``ExecutionResult`` from the script node's record: output is stdout then stderr."""
    record = record if isinstance(record, dict) else {}
    result = record.get("result")
    if not result or not isinstance(result, dict):  # an execution update may store anything
        message = str(record.get("error") or error or "the executable did not run")
        return {"output": message, "return_code": -1, "status": UNSUCCESSFUL}
    output = (
        str(result.get("content", "")) + str(result.get("stderr", "")) + str(result.get("error", "") or "")
    )
    code = result.get("return_code", -1)
    code = code if isinstance(code, int) and not isinstance(code, bool) else -1
    return {"output": output, "return_code": code, "status": SUCCESSFUL if code == 0 else UNSUCCESSFUL}


async def read_request(request: Request[Any, Any, Any]) -> ExecuteRequest:
    """Parse and validate the body; every problem is a 422 naming its field."""
    try:
        text = await read_text(request)
        value = await off_loop(parse_json, text) if text.strip() else None
    except BadRequest as exc:
        raise Unprocessable(exc.detail) from None
    if not isinstance(value, dict):
        raise Unprocessable("request body must be a JSON object")
    try:
        return ExecuteRequest.model_validate(value)
    except ValidationError as exc:
        errors = [problem.to_json() for problem in field_problems(exc)]
        raise Unprocessable("invalid execute request", errors) from None


def usable_execute_door(services: Services, door: ExecuteDoor, principal: Principal) -> ExecuteDoor:
    """The LSO front door's state, if the caller may use it and a Run Script node is installed."""
    if not principal.may_access(FRONT_DOOR_PROJECT):
        raise Forbidden(f"execute runs belong to project {FRONT_DOOR_PROJECT}, which this caller may not use")
    if services.plugins.node_type("basic-node", RUN_SCRIPT) is None:
        raise NotConfigured("the runwire-subprocess plugin (Run Script node) is not installed")
    return door


@post(
    "/api/execute/",
    status_code=201,
    tags=["lso"],
    summary="Run an executable (LSO)",
    operation_class=documented(
        {JSON: ExecuteRequest}, replies={201: (ExecuteAccepted, "the job")}, idempotent=True
    ),
    **IDEMPOTENT,
)
async def start_execute(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    execute_door: ExecuteDoorDep,
    principal: PrincipalDep,
) -> Response[dict[str, Any]]:
    """Async: 201 ``{"job_id", "result": null}`` and a callback when done. Blocking: the result."""
    door = usable_execute_door(services, execute_door, principal)
    body = await read_request(request)
    resolve_executable(body.executable_name, door.root)  # refused now with the reference's status
    job_id = str(uuid.uuid4())
    # the caller's name: the node resolves it in the executables directory again when it runs
    run_input: dict[str, Any] = {"job_id": job_id, "executable": body.executable_name, "args": body.args}
    if not body.is_async:  # a long-lived request: it holds its connection while its program runs
        release = services.long_requests.hold(principal.identity)
        try:
            record = await run_inline(services, door, job_id, run_input, principal.identity)
        except InternalError:  # its program may have run: a retry with its key must not run it again
            keep_even_a_5xx(request)
            raise
        finally:
            release()
        script = record.nodes.get(SCRIPT_NODE)
        reply = {
            "job_id": job_id,
            "result": execution_result(script.to_json() if script else None, record.error),
        }
        return Response(reply, status_code=201)
    callback = body.callback is not None
    if body.callback is not None:
        if services.plugins.node_type("basic-node", HTTP_REQUEST) is None:
            raise NotConfigured(
                "callbacks need the runwire-http plugin (HTTP Request node), which is not installed"
            )
        try:  # refused now with a clear 422; the HTTP node checks again when it posts
            await check_url(body.callback)
        except UrlRefused as exc:
            raise Unprocessable(f"callback refused: {exc}") from None
        run_input["callback"] = body.callback
    row = await door.workflow(services.store, callback)
    await store_and_enqueue(services, job_id, row, run_input, principal.identity)
    return Response({"job_id": job_id, "result": None}, status_code=201)


@get(
    "/api/execute/{job_id:str}",
    tags=["lso"],
    summary="Poll a job (runwire addition to LSO)",
    operation_class=documented(replies={200: (JobState, "the job's state")}),
)
async def poll_execute(
    services: ServicesDep, execute_door: ExecuteDoorDep, principal: PrincipalDep, job_id: FromPath[str]
) -> dict[str, Any]:
    """``{"job_id", "status", "result"}`` (+ ``callback``: its status, attempts and error)."""
    door = usable_execute_door(services, execute_door, principal)
    try:
        canonical = str(uuid.UUID(job_id))
    except ValueError:
        raise NotFound("job not found") from None
    run = await services.store.get_run(canonical)
    if (
        run is None
        or run.workflow_id not in await door.workflow_ids(services.store)
        or not run.visible_to(principal)
    ):
        raise NotFound("job not found")
    script = run.nodes.get(SCRIPT_NODE)
    done = run.status in TERMINAL or (script is not None and script.get("status") == Status.SUCCEED)
    reply: dict[str, Any] = {
        "job_id": canonical,
        "status": run.status,
        "result": execution_result(script, run.error) if done else None,
    }
    hook = run.nodes.get(CALLBACK_NODE)
    if hook is not None:
        reply["callback"] = {
            "status": hook.get("status"),
            "attempts": hook.get("attempts", 1),
            "error": hook.get("error"),
        }
    return reply


@get(
    "/api/version",
    tags=["lso"],
    summary="API and module versions (LSO)",
    operation_class=documented(replies={200: (Versions, "the versions")}),
)
async def version(principal: PrincipalDep) -> dict[str, str]:
    """``{"api": "2.0", "module": <runwire-server version>}``."""
    return {"api": API_VERSION, "module": _module_version()}


@functools.cache
def _module_version() -> str:
    return metadata.version("runwire-server")


ROUTES = [start_execute, poll_execute, version]


ERROR_STATUSES: dict[type[Exception], int] = {
    ExecutableOutsideRoot: 400,
    ExecutableNameInvalid: 422,
    ExecutableNotFound: 410,
    ExecutableNotExecutable: 403,
    ExecutableIsDirectory: 503,
    ExecutablesNotConfigured: 503,
}
"""The reference's statuses for an ``executable_name`` that cannot run."""


def dependencies(services: Services) -> dict[str, Any]:
    """What ``register_dependencies`` gives routes: the executables directory and timeout as
    ``execute_door``."""
    return {EXECUTE_KEY: boot_execute(services)}
