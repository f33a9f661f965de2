"""The runs API: any run the caller may see, whatever front door started it, and lists of them.

``GET /api/v1/runs/{id}/`` and ``GET /api/v1/runs/`` (docs/api.md, "Runs"). Visibility is the
front doors' (:meth:`runwire_server.store.RunRow.visible_to`): a run of one of the caller's
projects, and a front-door run only of the principal that started it (principals with every
project see every run). Anything else is a 404, as a run that does not exist.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from runwire.auth import Principal
from runwire_server.api.bodies import MAX_DB_INT
from runwire_server.api.deps import PrincipalDep, ServicesDep
from runwire_server.api.errors import BadRequest, NotFound
from runwire_server.api.openapi import documented
from runwire_server.api.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_window, paginated
from runwire_server.api.params import Query
from runwire_server.api.run_shapes import RunPage, RunView
from runwire_server.api.waiting import Wait, client_gone
from runwire_server.events import FAILED, FINISHED, SKIPPED, STARTED, Labels, node_times, run_times
from runwire_server.run_endings import Gone
from runwire_server.services import Services
from runwire_server.store import RunRow
from runwire_server.store.rows import iso
from runwire_server.store.run_lists import RunStatusFilter
from runwire_server.trust import WORKFLOW_DOOR

RUNS = "/api/v1/runs"
NODE_KEYS = ("result", "error", "attempts")
_LAST_STATUS = {STARTED: "in progress", FINISHED: "succeed", FAILED: "failed", SKIPPED: "skipped"}
"""A node's status from its last event, when it has no record (a run executed again after a
crash starts with no records, but keeps its log)."""
_TIMES = ("started_at", "finished_at", "duration_s")


async def visible_run(
    services: Services, principal: Principal, run_id: str, wait_s: float = 0, gone: Gone | None = None
) -> RunRow:
    """The run ``run_id`` names, if ``principal`` may see it; once it has ended, or ``wait_s``
    seconds have passed, when ``wait_s`` is given (a long-poll; ``gone``: until the client left).

    :raises NotFound: ``run_id`` is not a UUID, there is no such run, or it is not the caller's.
    """
    try:
        canonical = str(uuid.UUID(run_id))
    except ValueError:
        raise NotFound("run not found") from None
    visible = lambda run: run.visible_to(principal)  # noqa: E731
    run = await services.endings.read_when_ended(
        canonical, wait_s, services.store.get_run, visible, principal.identity, gone
    )
    if run is None or not run.visible_to(principal):
        raise NotFound("run not found")
    return run


async def workflow_labels(services: Services, run: RunRow) -> tuple[str, Labels]:
    """The title of ``run``'s workflow and its nodes' ``(type, title)``: from the prepared
    workflow of the run's version when it is cached, else from the stored workflow (as it is
    now: a node since removed has no labels)."""
    try:
        prepared = services.cache.cached(run.workflow_id, run.workflow_version)
    except Exception:  # a version that may not run (invalid, refused) still has a name and nodes
        prepared = None
    if prepared is not None:
        head = await services.store.get_workflow_head(run.workflow_id)
        labels = {
            node_id: (node.type, getattr(node.data, "name", None) or node.type)
            for node_id, node in prepared.nodes.items()
        }
        return (head.title if head is not None else ""), labels
    row = await services.store.get_workflow(run.workflow_id)
    if row is None:
        return "", {}
    return row.title, raw_labels(row.data)


def raw_labels(data: Any) -> dict[str, tuple[str | None, str | None]]:
    """Node id → ``(type, title)`` read from stored workflow data, however malformed."""
    labels: dict[str, tuple[str | None, str | None]] = {}
    nodes = data.get("nodes") if isinstance(data, dict) else None
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            kind = node.get("type") if isinstance(node.get("type"), str) else None
            inner = node.get("data")
            name = inner.get("name") if isinstance(inner, dict) else None
            labels[node["id"]] = (kind, name if isinstance(name, str) else kind)
    return labels


def summary(services: Services, run: RunRow, title: str) -> dict[str, Any]:
    """A run as lists show it."""
    times = run_times(run)
    return {
        "id": run.id,
        "door": services.trust.door(run.project, title),
        "workflow": {
            "id": run.workflow_id,
            "title": title,
            "version": run.workflow_version,
            "project": run.project,
        },
        "status": run.status,
        "cancelled": run.cancelled,
        "cancelled_by": run.cancelled_by,
        "error": run.error,
        "created_at": iso(run.created_at),
        "finished_at": times["finished_at"],
        "duration_s": times["duration_s"],
    }


def view(services: Services, run: RunRow, title: str, labels: Labels) -> dict[str, Any]:
    """A run with its input, cost and nodes (their records and times)."""
    times = node_times(run.events)
    nodes: dict[str, Any] = {}
    for node_id in [*times, *(n for n in run.nodes if n not in times)]:
        record = run.nodes.get(node_id)
        record = record if isinstance(record, dict) else {}
        timing = times.get(node_id)
        status = record.get("status") or (_LAST_STATUS[timing.last] if timing is not None else None)
        kind, name = labels.get(node_id, (None, None))
        node: dict[str, Any] = {"id": node_id, "type": kind, "title": name, "status": str(status)}
        node.update((key, record[key]) for key in NODE_KEYS if record.get(key) is not None)
        node.update(timing.to_json() if timing is not None else dict.fromkeys(_TIMES))
        nodes[node_id] = node
    out = summary(services, run, title)
    out.update(
        started_at=run_times(run)["started_at"],
        metrics={"total_cost": run.total_cost},
        input=run.input,
        nodes=nodes,
    )
    return out


class RunViewController(Controller):
    """Any run, whatever front door started it."""

    path = RUNS
    tags = ["runs"]

    @get(
        "/{run_id:str}/",
        summary="A run: door, workflow, status, nodes and timings",
        operation_class=documented(replies={200: (RunView, "the run")}),
    )
    async def get_run(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        run_id: FromPath[str],
        wait: Wait = 0,
    ) -> dict[str, Any]:
        """The run (404 ``run not found`` when there is none or it is not the caller's); with
        ``wait``, once it has ended or ``wait`` seconds have passed."""
        run = await visible_run(services, principal, run_id, wait, client_gone(request))
        title, labels = await workflow_labels(services, run)
        return view(services, run, title, labels)

    @get(
        "/",
        summary="Runs the caller may see, newest first",
        operation_class=documented(replies={200: (RunPage, "a page of runs")}),
    )
    async def list_runs(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        principal: PrincipalDep,
        status: Annotated[RunStatusFilter | None, Query()] = None,
        door: Annotated[str | None, Query(max_length=100)] = None,
        workflow: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
        page: Annotated[int, Query(ge=1, le=MAX_DB_INT)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """Paginated runs, filtered by ``status`` (``cancelled``: every cancelled run),
        ``door`` (``workflow`` or a front door's name) and ``workflow`` (an id)."""
        count, results = await run_list(services, principal, status, door, workflow, page, page_size)
        return paginated(request, count, page, page_size, results)


async def run_list(
    services: Services,
    principal: Principal,
    status: RunStatusFilter | None = None,
    door: str | None = None,
    workflow: int | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[int, list[dict[str, Any]]]:
    """The runs ``principal`` may see, newest first, filtered as ``GET /api/v1/runs/`` filters
    them: ``(count, page of summaries)``. The UI's lists call it too.

    :raises BadRequest: ``door`` names no front door.
    """
    doors = services.trust.doors
    names = {WORKFLOW_DOOR, *doors.values()}
    if door is not None and door not in names:
        raise BadRequest(f"'door' must be one of {', '.join(sorted(names))}")
    pairs = None
    if door is not None:
        pairs = [pair for pair, name in doors.items() if name == door or door == WORKFLOW_DOOR]
    owner = principal.identity if principal.projects is not None else None
    offset, limit = page_window(page, page_size)
    count, rows = await services.store.list_runs(
        principal.projects, owner, status, pairs, door == WORKFLOW_DOOR, workflow, offset, limit
    )
    return count, [summary(services, run, title) for run, title in rows]
