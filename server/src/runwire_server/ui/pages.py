"""The UI's pages: the workflows of the principal's projects, one workflow (graph, run form,
recent runs), one run (graph coloured by node state, results, errors) and its state as JSON for
the page's live updates.

Every page asks the same store calls and visibility checks as the API (``visible_workflow``,
``RunRow.visible_to``, ``runnable_head`` + ``start_run``), so a principal sees here exactly what
its key sees through the API; what it may not see is a 404, as there.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Response, Template

from runwire.auth import Principal
from runwire.errors import InputInvalid, WorkflowInvalid
from runwire_server.api.bodies import MAX_DB_INT
from runwire_server.api.deps import ServicesDep
from runwire_server.api.enqueue import runnable_head, start_run
from runwire_server.api.errors import NotFound
from runwire_server.api.workflows import input_fields, visible_workflow
from runwire_server.services import Services
from runwire_server.store import RunRow, WorkflowRow
from runwire_server.ui.graph import layout
from runwire_server.ui.present import is_terminal, look, run_input_from_form, shown
from runwire_server.ui.session import ui_principal
from runwire_server.ui.signin import sign_in_page

PAGE_SIZE = 20
RECENT_RUNS = 10
POLL_MS = 1000
"""How often a run page asks for its run's state while the run is going.

Phase 2 seam: the runs API's event stream (``GET /api/v1/runs/{id}/events/``) replaces polling."""


class SignInNeeded(Exception):
    """No one is signed in: the handler answers with the sign-in page."""


async def signed_in(request: Request[Any, Any, Any]) -> Principal:
    """The principal of the request's session, authenticated now.

    :raises SignInNeeded: there is none (or its credential was just refused).
    """
    principal = await ui_principal(request)
    if principal is None:
        raise SignInNeeded
    return principal


def owner_filter(services: Services, workflow: WorkflowRow, principal: Principal) -> str | None:
    """Whose runs of ``workflow`` the principal sees: a front door's runs are their starter's
    (as the API's history says), other workflows' runs are everyone's."""
    mine_only = services.trust.managed(workflow.project, workflow.title) and principal.projects is not None
    return principal.identity if mine_only else None


def run_summary(run: RunRow) -> dict[str, Any]:
    """What a list shows of a run."""
    return {"id": run.id, "look": look(run.status), "created_at": run.created_at, "error": run.error}


@get("/")
async def home(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    page: Annotated[int, QueryParameter(ge=1, le=MAX_DB_INT)] = 1,
) -> Template:
    """The workflows of the principal's projects, with their last run; sign-in without a session."""
    principal = await ui_principal(request)
    if principal is None:
        return sign_in_page(request, str(request.query_params.get("next", "/ui/")))
    offset = (page - 1) * PAGE_SIZE
    count, rows = await services.store.list_workflows(principal.projects, None, None, offset, PAGE_SIZE)
    last = max(1, -(-count // PAGE_SIZE))
    if page > last:
        raise NotFound(f"page {page} is past the last page ({last})")
    items = []
    for row in rows:
        _, runs = await services.store.history(
            row.id, "-created_at", 0, 1, owner_filter(services, row, principal)
        )
        items.append({"row": row, "last_run": run_summary(runs[0]) if runs else None})
    return Template(
        "workflows.html",
        context={"principal": principal, "items": items, "count": count, "page": page, "last": last},
    )


@get("/workflows/{workflow_id:int}")
async def workflow_page(
    request: Request[Any, Any, Any], services: ServicesDep, workflow_id: FromPath[int]
) -> Template:
    """One workflow: its graph, its run form (not for a front door's), its recent runs."""
    principal = await signed_in(request)
    row = await visible_workflow(services, principal, workflow_id)
    return await _workflow_template(services, principal, row)


async def _workflow_template(
    services: Services,
    principal: Principal,
    row: WorkflowRow,
    problems: list[str] | None = None,
    given: dict[str, Any] | None = None,
) -> Template:
    _, runs = await services.store.history(
        row.id, "-created_at", 0, RECENT_RUNS, owner_filter(services, row, principal)
    )
    context = {
        "principal": principal,
        "row": row,
        "diagram": layout(row.data),
        "fields": input_fields(row.data),
        "managed": services.trust.door(row.project, row.title),
        "runnable": not services.trust.managed(row.project, row.title),
        "runs": [run_summary(r) for r in runs],
        "problems": problems or [],
        "given": given or {},
    }
    return Template("workflow.html", context=context, status_code=400 if problems else 200)


@post("/workflows/{workflow_id:int}/run", status_code=303)
async def run_form(
    request: Request[Any, Any, Any], services: ServicesDep, workflow_id: FromPath[int]
) -> Template | Redirect:
    """Start a run from the run form, through the API's own checks, and go to its page."""
    principal = await signed_in(request)
    head = await runnable_head(services, principal, workflow_id)
    row = await visible_workflow(services, principal, workflow_id)
    fields = input_fields(row.data)
    form = await request.form()
    value = run_input_from_form(fields, form)
    try:
        run_id = await start_run(services, head, value)
    except (WorkflowInvalid, InputInvalid) as exc:
        given = {f"input.{k}": v for k, v in form.items() if isinstance(v, str)}
        return await _workflow_template(services, principal, row, list(exc.problems), given)
    return Redirect(f"/ui/runs/{run_id}", status_code=303)


async def visible_run(services: Services, principal: Principal, run_id: str) -> RunRow:
    """The run if the principal may see it; otherwise 404 (whether or not it exists)."""
    try:
        canonical = str(uuid.UUID(run_id))
    except ValueError:
        raise NotFound("workflow run not found") from None
    run = await services.store.get_run(canonical)
    if run is None or not run.visible_to(principal):
        raise NotFound("workflow run not found")
    return run


@get("/runs/{run_id:str}")
async def run_page(request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]) -> Template:
    """One run: the workflow's graph with each node's state, results and errors."""
    principal = await signed_in(request)
    run = await visible_run(services, principal, run_id)
    workflow = await services.store.get_workflow(run.workflow_id)
    data = workflow.data if workflow is not None else {}
    graph = layout(data)
    titles = {n.id: n.title for n in graph.nodes}
    order = [n.id for n in graph.nodes] + [k for k in run.nodes if k not in titles]
    nodes = []
    for node_id in order:
        record = run.nodes.get(node_id)
        record = record if isinstance(record, dict) else {}
        result = record.get("result")
        nodes.append(
            {
                "id": node_id,
                "title": titles.get(node_id, node_id),
                "look": look(record.get("status")),
                "result": shown(result) if result is not None else None,
                "error": record.get("error"),
            }
        )
    context = {
        "principal": principal,
        "run": run,
        "look": look(run.status),
        "workflow": workflow,
        "door": services.trust.door(run.project, workflow.title) if workflow is not None else None,
        "diagram": graph,
        "looks": {n["id"]: n["look"] for n in nodes},
        "nodes": nodes,
        "input": shown(run.input),
        "terminal": is_terminal(run.status),
        "poll_ms": POLL_MS,
    }
    return Template("run.html", context=context)


@get("/runs/{run_id:str}/state")
async def run_state(
    request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
) -> Response[Any]:
    """The run's status and each node's, for the run page's live updates (small JSON)."""
    principal = await signed_in(request)
    run = await visible_run(services, principal, run_id)

    def state(status: Any) -> dict[str, Any]:
        seen = look(status)
        return {"css": seen.css, "word": seen.word, "glyph": seen.glyph}

    nodes = {k: state(v.get("status") if isinstance(v, dict) else None) for k, v in run.nodes.items()}
    body = {
        "status": run.status,
        "terminal": is_terminal(run.status),
        "run": state(run.status),
        "nodes": nodes,
    }
    return Response(body, headers={"Cache-Control": "no-store"})


ROUTES = [home, workflow_page, run_form, run_page, run_state]
