"""The UI's runs: the list across front doors (filtered by status and door, paged), one run
(graph, node states and timings, results, a front door's command and outputs), its live part
as an HTML fragment, its live events, and the cancel button.

Nothing here queries or decides on its own: the list is :func:`~runwire_server.api.run_views.run_list`
(``GET /api/v1/runs/``), a run is :func:`~runwire_server.api.run_views.view` (``GET
/api/v1/runs/{id}/``), the events are :func:`~runwire_server.api.run_events.event_stream` and
the cancel is :func:`~runwire_server.api.run_cancel.cancel_run`, each called with the session's
principal. The events route exists because a browser's ``EventSource`` cannot send the API's
credential headers: it relays the API's stream to the session instead.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

import uuid
from typing import Annotated, Any, cast, get_args
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, Template

from runwire.auth import Principal
from runwire_server.api.bodies import MAX_DB_INT
from runwire_server.api.deps import ServicesDep
from runwire_server.api.errors import BadRequest, Conflict, NotFound
from runwire_server.api.params import Query
from runwire_server.api.run_cancel import cancel_run
from runwire_server.api.run_events import event_stream
from runwire_server.api.run_views import run_list, view, visible_run, workflow_labels
from runwire_server.frontdoors.boot import SCRIPT_NODE
from runwire_server.services import Services
from runwire_server.store.run_lists import RunStatusFilter
from runwire_server.trust import WORKFLOW_DOOR
from runwire_server.ui.graph import layout
from runwire_server.ui.present import duration, excerpt, is_terminal, look, run_look, shown
from runwire_server.ui.session import Credential, session_alive, signed_in

PAGE_SIZE = 20
STATUSES: list[tuple[str, str]] = [
    ("in queue", "queued"),
    ("in progress", "running"),
    ("succeed", "succeeded"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
]
"""The status filter's choices: the API's value and the word the UI uses for it."""
NOTICES = {
    "stopping": "Cancelled: the run is being stopped (within 2 s).",
    "ended": "Cancelled: the run was queued and has ended.",
    "finished": "The run had already finished: there was nothing to cancel.",
}
"""What the run page says after its cancel button (``?cancel=``): fixed texts, nothing echoed."""


def listed(item: dict[str, Any]) -> dict[str, Any]:
    """A run summary of the runs API as a list row shows it."""
    return {
        **item,
        "look": run_look(item["status"], item["cancelled_by"]),
        "duration": duration(item["duration_s"]),
        "error_excerpt": excerpt(item["error"]),
    }


async def recent_runs(
    services: Services, principal: Principal, workflow_id: int, count: int
) -> tuple[int, list[dict[str, Any]]]:
    """The newest ``count`` runs of a workflow the principal may see, as the runs list shows them."""
    total, items = await run_list(services, principal, workflow=workflow_id, page_size=count)
    return total, [listed(i) for i in items]


def _choice(value: str | None, allowed: set[str], name: str) -> str | None:
    """A filter's value from the GET form: empty is none; anything else must be one of ``allowed``."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise BadRequest(f"'{name}' must be one of {', '.join(sorted(allowed))}")
    return value


@get("/runs")
async def runs_page(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    door: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_DB_INT)] = 1,
) -> Template:
    """Runs across front doors, newest first, filtered by status and door (a GET form), paged."""
    principal = await signed_in(request)
    chosen_status = cast(RunStatusFilter | None, _choice(status, set(get_args(RunStatusFilter)), "status"))
    doors = sorted({WORKFLOW_DOOR, *services.trust.doors.values()})
    chosen_door = _choice(door, set(doors), "door")
    count, items = await run_list(
        services,
        principal,
        chosen_status,
        chosen_door,
        None,
        page,
        PAGE_SIZE,  # type: ignore[arg-type]
    )
    last = max(1, -(-count // PAGE_SIZE))
    if page > last:
        raise NotFound(f"page {page} is past the last page ({last})")
    filters = {k: v for k, v in (("status", chosen_status), ("door", chosen_door)) if v}

    def link(number: int) -> str:
        return "/ui/runs?" + urlencode({**filters, "page": number})

    context = {
        "principal": principal,
        "nav": "runs",
        "runs": [listed(i) for i in items],
        "count": count,
        "page": page,
        "last": last,
        "statuses": STATUSES,
        "doors": doors,
        "status": chosen_status or "",
        "door": chosen_door or "",
        "prev": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < last else None,
    }
    return Template("runs.html", context=context)


def _command(run: dict[str, Any], door: str, data: Any) -> dict[str, Any] | None:
    """A front-door run's command, arguments, exit code and outputs (its Run Script node's
    record), or ``None`` for a workflow run."""
    if door == WORKFLOW_DOOR:
        return None
    given = run["input"] if isinstance(run["input"], dict) else {}
    command: Any = given.get("executable")
    if command is None:  # a task: the operator's configured command
        nodes = data.get("nodes") if isinstance(data, dict) else None
        for node in nodes if isinstance(nodes, list) else ():
            if (
                isinstance(node, dict)
                and node.get("id") == SCRIPT_NODE
                and isinstance(node.get("data"), dict)
            ):
                command = node["data"].get("command")
    arguments = given.get("args") if "args" in given else given.get("vars")
    record: dict[str, Any] = run["nodes"].get(SCRIPT_NODE) or {}
    result: dict[str, Any] = record["result"] if isinstance(record.get("result"), dict) else {}
    return {
        "command": " ".join(map(str, command)) if isinstance(command, list) else command,
        "arguments": shown(arguments) if arguments not in (None, [], {}) else None,
        "exit_code": result.get("return_code"),
        "stdout": result.get("content"),
        "stderr": result.get("stderr"),
        "problem": result.get("error") or record.get("error"),
    }


async def run_context(
    services: Services, principal: Principal, run_id: str, notice: str | None = None
) -> dict[str, Any]:
    """What the run page and its live fragment show, from the runs API's view of the run."""
    row = await visible_run(services, principal, run_id)
    title, labels = await workflow_labels(services, row)
    run = view(services, row, title, labels)
    workflow = await services.store.get_workflow(row.workflow_id)
    data = workflow.data if workflow is not None else {}
    graph = layout(data)
    titles = {n.id: n.title for n in graph.nodes}
    order = [n.id for n in graph.nodes] + [k for k in run["nodes"] if k not in titles]
    nodes = []
    for node_id in order:
        node = run["nodes"].get(node_id) or {}
        result = node.get("result")
        nodes.append(
            {
                "id": node_id,
                "title": titles.get(node_id) or node.get("title") or node_id,
                "look": look(node.get("status")),
                "started_at": node.get("started_at"),
                "finished_at": node.get("finished_at"),
                "duration": duration(node.get("duration_s")),
                "result": shown(result) if result is not None else None,
                "error": node.get("error"),
            }
        )
    terminal = is_terminal(run["status"])
    return {
        "principal": principal,
        "nav": "runs",
        "run": run,
        "row": row,
        "look": run_look(run["status"], run["cancelled_by"]),
        "workflow": workflow,
        "door": run["door"],
        "command": _command(run, run["door"], data),
        "duration": duration(run["duration_s"]),
        "diagram": graph,
        "looks": {n["id"]: n["look"] for n in nodes},
        "nodes": nodes,
        "input": shown(run["input"]),
        "terminal": terminal,
        "notice": NOTICES.get(notice or ""),
    }


@get("/runs/{run_id:str}")
async def run_page(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    run_id: FromPath[str],
    cancel: Annotated[str | None, Query(max_length=20)] = None,
) -> Template:
    """One run: status, timings, the graph with each node's state, results, errors."""
    principal = await signed_in(request)
    return Template("run.html", context=await run_context(services, principal, run_id, cancel))


@get("/runs/{run_id:str}/live")
async def run_live(request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]) -> Template:
    """The run page's changing part (status, timings, graph, nodes) as an HTML fragment, which
    the page fetches again when the run's events say something changed."""
    principal = await signed_in(request)
    context = await run_context(services, principal, run_id)
    return Template("run_live.html", context=context, headers={"Cache-Control": "no-store"})


@get("/runs/{run_id:str}/events")
async def run_events(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    run_id: FromPath[str],
    last_event_id: Annotated[str | None, Query(max_length=40)] = None,
) -> ServerSentEvent:
    """The run's live events, as ``GET /api/v1/runs/{id}/events/`` sends them, for the session
    (``Last-Event-ID`` resumes, as there)."""
    principal = await signed_in(request)
    credential = Credential.from_session(request.session)
    credentials = credential.headers() if credential is not None else {}
    # without a stored credential (RUNWIRE_AUTH_PROVIDERS=none) there is no session to end
    alive = session_alive(request) if credential is not None else None
    return await event_stream(request, services, principal, run_id, last_event_id, credentials, alive)


@post("/runs/{run_id:str}/cancel", status_code=303)
async def cancel_form(
    request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
) -> Redirect:
    """The cancel button: cancel the run as ``POST /api/v1/runs/{id}/cancel/`` does, then back to
    its page, which says what happened (a run that had already finished is a message there)."""
    principal = await signed_in(request)
    try:
        body, status = await cancel_run(services, principal, run_id)
        canonical, notice = str(body["id"]), ("ended" if status == 200 else "stopping")
    except Conflict:  # visible (else NotFound), so the id is a UUID
        canonical, notice = str(uuid.UUID(run_id)), "finished"
    return Redirect(f"/ui/runs/{canonical}?cancel={notice}", status_code=303)


ROUTES = [runs_page, run_page, run_live, run_events, cancel_form]
