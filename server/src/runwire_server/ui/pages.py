"""The UI's workflow pages: the workflows of the principal's projects, one workflow (graph, run
form, recent runs) and its run form. Runs are in :mod:`runwire_server.ui.runs`.

Every page asks the same store calls and visibility checks as the API (``visible_workflow``,
``run_list``, ``runnable_head`` + ``start_run``), so a principal sees here exactly what its key
sees through the API; what it may not see is a 404, as there.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from runwire.auth import Principal
from runwire.errors import InputInvalid, WorkflowInvalid
from runwire_server.api.bodies import MAX_DB_INT
from runwire_server.api.deps import ServicesDep
from runwire_server.api.enqueue import runnable_head, start_run
from runwire_server.api.errors import NotFound
from runwire_server.api.params import Query
from runwire_server.api.workflows import input_fields, visible_workflow
from runwire_server.services import Services
from runwire_server.store import WorkflowRow
from runwire_server.ui.graph import layout
from runwire_server.ui.present import run_input_from_form
from runwire_server.ui.runs import recent_runs
from runwire_server.ui.session import signed_in, ui_principal
from runwire_server.ui.signin import sign_in_page

PAGE_SIZE = 20
RECENT_RUNS = 10


@get("/")
async def home(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    page: Annotated[int, Query(ge=1, le=MAX_DB_INT)] = 1,
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
        _, runs = await recent_runs(services, principal, row.id, 1)
        items.append({"row": row, "last_run": runs[0] if runs else None})
    context = {"principal": principal, "nav": "workflows", "items": items, "count": count}
    return Template("workflows.html", context={**context, "page": page, "last": last})


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
    total, runs = await recent_runs(services, principal, row.id, RECENT_RUNS)
    context = {
        "principal": principal,
        "nav": "workflows",
        "total_runs": total,
        "row": row,
        "diagram": layout(row.data),
        "fields": input_fields(row.data),
        "managed": services.trust.door(row.project, row.title),
        "runnable": not services.trust.managed(row.project, row.title),
        "runs": runs,
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


ROUTES = [home, workflow_page, run_form]
