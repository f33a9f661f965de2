"""The OpenAPI document tells the truth: every operation of ``/schema`` is exercised by a real
exchange below, and each request body and response body is valid against the schema documented
for it (a renamed, retyped or missing field makes a reply fail its schema, and this test)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from tests.helpers import HEADERS, ROOT, SERVICE_KEY, hello_data, make_app, make_settings, rewrite_run

SCRIPTS = ROOT / "tests" / "scripts"
SERVICE = {"X-Service-Api-Key": SERVICE_KEY}
TASK_CONFIG = {
    "command": [sys.executable, str(SCRIPTS / "show_args.py"), "$P", "$CITY"],
    "inputs": {
        "path_args": [{"env_var_name": "P", "path_regex": "(.*)", "path_regex_match_group": 1}],
        "query_args": [],
        "body_args": [{"env_var_name": "CITY", "body_jsonpath": "$.city"}],
    },
    "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
}
NO_BODY = object()
STREAM = "text/event-stream"
APPLIED = "Preference-Applied"
Context = dict[str, Any]


@dataclass(frozen=True)
class Exchange:
    """One request, the operation of the schema it is made to, and the status it must get."""

    method: str
    path: str
    """The path as the schema lists it."""
    url: str
    """The URL requested; ``{name}`` is filled from what earlier exchanges kept."""
    status: int
    json: Any = NO_BODY
    text: str | None = None
    """A body sent as ``text/plain``."""
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))
    keep: Callable[[Any], Context] | None = None
    """What later exchanges need from the reply."""
    until: Callable[[Any], bool] | None = None
    """Repeat the request until the reply satisfies this (a run that has finished, ...)."""
    before: Callable[[TestClient[Any], Context], None] | None = None


def _finished(reply: Any) -> bool:
    return reply["data"]["status"] in ("succeed", "failed")


def _reopen(client: TestClient[Any], kept: Context) -> None:
    # as an external execution service's run would be: still going when its progress arrives
    rewrite_run(client.app.state.services.store.sync, kept["run"], "in progress", {})


def _unfinished(claimed: bool) -> Callable[[TestClient[Any], Context], None]:
    def store(client: TestClient[Any], kept: Context) -> None:
        # a run stored but not enqueued (claimed: as if a process executed it), to cancel
        sync = client.app.state.services.store.sync
        kept["unfinished"] = run_id = str(uuid.uuid4())
        sync.create_run(run_id, sync.get_workflow_head(kept["workflow"]), {})
        if claimed:
            sync.claim_run(run_id, "elsewhere")

    return store


WF = "/api/v1/workflows"
WORKFLOW = f"{WF}/{{workflow_id}}"
CANCEL = "/api/v1/runs/{run_id}/cancel"
EXCHANGES = [
    Exchange("get", "/healthz", "/healthz", 200, headers={}),
    Exchange("get", "/readyz", "/readyz", 200, headers={}),
    Exchange(
        "post",
        WF,
        f"{WF}/",
        201,
        json={"project": 1, "title": "truth", "data": hello_data()},
        keep=lambda r: {"workflow": r["id"]},
    ),
    Exchange("post", WF, f"{WF}/", 400, json={"project": "1", "title": "", "data": []}),
    Exchange("post", WF, f"{WF}/", 401, json={"project": 1, "title": "t", "data": {}}, headers={}),
    Exchange("get", WF, f"{WF}/?project=1&page_size=1", 200),
    Exchange("get", WF, f"{WF}/?page=9", 404),
    Exchange("get", f"{WF}/get_nodes", f"{WF}/get_nodes/", 200),
    Exchange("get", WORKFLOW, f"{WF}/{{workflow}}/", 200),
    Exchange("get", WORKFLOW, f"{WF}/999999/", 404),
    Exchange("patch", WORKFLOW, f"{WF}/{{workflow}}/", 200, json={"title": "truth, renamed"}),
    Exchange("patch", WORKFLOW, f"{WF}/{{workflow}}/", 400, json={"title": 5}),
    Exchange("get", f"{WORKFLOW}/input-fields", f"{WF}/{{workflow}}/input-fields/", 200),
    Exchange("get", f"{WORKFLOW}/check_workflow", f"{WF}/{{workflow}}/check_workflow/", 200),
    Exchange(
        "post",
        f"{WORKFLOW}/run",
        f"{WF}/{{workflow}}/run/",
        200,
        json={"name": "Ada", "age": 36},
        keep=lambda r: {"run": r["data"]["id"]},
    ),
    Exchange("post", f"{WORKFLOW}/run", f"{WF}/{{workflow}}/run/", 200, text="just text"),  # refused input
    Exchange(
        "post",
        f"{WORKFLOW}/run",
        f"{WF}/{{workflow}}/run/",
        200,
        json={"name": "Grace"},
        headers={**HEADERS, "Prefer": "wait=30"},  # the reply is the run as a poll shows it
    ),
    Exchange("get", f"{WF}/workflow_result", f"{WF}/workflow_result/?id={{run}}", 200, until=_finished),
    Exchange("get", f"{WF}/workflow_result", f"{WF}/workflow_result/?id={uuid.uuid4()}", 404),
    Exchange("get", f"{WF}/workflow_result", f"{WF}/workflow_result/?id=nope", 400),
    Exchange("get", f"{WORKFLOW}/history", f"{WF}/{{workflow}}/history/?ordering=cost", 200),
    Exchange("post", CANCEL, "/api/v1/runs/{run}/cancel/", 409),  # finished
    Exchange("post", CANCEL, "/api/v1/runs/{unfinished}/cancel/", 200, before=_unfinished(False)),
    Exchange("post", CANCEL, "/api/v1/runs/{unfinished}/cancel/", 202, before=_unfinished(True)),
    Exchange("post", CANCEL, f"/api/v1/runs/{uuid.uuid4()}/cancel/", 404),
    Exchange(
        "post",
        f"{WF}/execution-update/{{run_id}}",
        f"{WF}/execution-update/{{run}}/",
        201,
        json={
            "type": "workflow_execution_progress_change",
            "payload": {"status": "succeed", "data": {"n1": {"status": "succeed", "result": {}}}},
        },
        headers=SERVICE,
        before=_reopen,
    ),
    Exchange(
        "post",
        f"{WF}/execution-update/{{run_id}}",
        f"{WF}/execution-update/{{run}}/",
        403,
        json={"payload": {"status": "failed"}},
    ),
    Exchange("post", "/task", "/task", 200, json={"city": "Oslo"}, keep=lambda r: {"task": r["id"]}),
    Exchange("get", "/task/{task_id}", "/task/{task}", 200, until=lambda r: r["status"] != "not-ready"),
    Exchange("post", "/task/{path}", "/task/plate-7", 200, json={"city": "Bergen"}),
    Exchange(
        "post",
        "/task/{path}",
        "/task/p",
        200,
        json={"city": "Oslo"},
        headers={**HEADERS, "Prefer": "wait=30"},
    ),
    Exchange("post", "/script", "/script", 200, json={"city": "Tromsø"}, keep=lambda r: {"script": r["id"]}),
    Exchange("get", "/script/{task_id}", "/script/{script}", 200),
    Exchange("get", "/script/{task_id}", "/script/not-a-task", 404),
    Exchange("post", "/script/{path}", "/script/x", 400),  # no body: no city,
    Exchange(
        "post",
        "/api/execute",
        "/api/execute/",
        201,
        json={"executable_name": "show_args.py", "args": ["a"], "is_async": False},
    ),
    Exchange(
        "post",
        "/api/execute",
        "/api/execute/",
        201,
        json={"executable_name": "show_args.py"},
        keep=lambda r: {"job": r["job_id"]},
    ),
    Exchange("post", "/api/execute", "/api/execute/", 422, json={"executable_name": 7}),
    Exchange("post", "/api/execute", "/api/execute/", 410, json={"executable_name": "missing.sh"}),
    Exchange(
        "get",
        "/api/execute/{job_id}",
        "/api/execute/{job}",
        200,
        until=lambda r: r["status"] in ("succeed", "failed"),
    ),
    Exchange("get", "/api/v1/runs", "/api/v1/runs/?door=execute&page_size=2", 200),
    Exchange("get", "/api/v1/runs", "/api/v1/runs/?status=gone", 400),
    Exchange("get", "/api/v1/runs/{run_id}", "/api/v1/runs/{job}/", 200),
    Exchange("get", "/api/v1/runs/{run_id}", "/api/v1/runs/{run}/", 200),
    Exchange("get", "/api/v1/runs/{run_id}", "/api/v1/runs/nope/", 404),
    Exchange("get", "/api/v1/runs/{run_id}/events", "/api/v1/runs/{job}/events/", 200),
    Exchange("get", "/api/v1/runs/{run_id}/events", "/api/v1/runs/{job}/events/?last_event_id=x", 400),
    Exchange("get", "/api/version", "/api/version", 200),
    Exchange("delete", WORKFLOW, f"{WF}/{{workflow}}/", 204),
]
"""Real exchanges, in order (later ones use what earlier ones kept), covering every operation."""


@pytest.fixture
def truth_client(tmp_path: Path, plugins: Plugins) -> Iterator[TestClient[Any]]:
    """An app with both front doors mounted: a task config and an executables directory."""
    config = tmp_path / "task.json"
    config.write_text(json.dumps(TASK_CONFIG))
    settings = make_settings(tmp_path, task_config=str(config), executables_dir=str(SCRIPTS))
    with TestClient(make_app(settings, plugins)) as client:
        yield client


def exchange(client: TestClient[Any], step: Exchange, kept: Context) -> Any:
    """Make ``step``'s request (repeated until its ``until`` holds); return the response."""
    if step.before is not None:
        step.before(client, kept)
    url = step.url.format(**kept)
    kwargs: dict[str, Any] = {"headers": dict(step.headers)}
    if step.json is not NO_BODY:
        kwargs["json"] = step.json
    elif step.text is not None:
        kwargs["content"] = step.text
        kwargs["headers"]["Content-Type"] = "text/plain"
    deadline = time.monotonic() + 30
    while True:
        response = client.request(step.method.upper(), url, **kwargs)
        if step.until is None or response.status_code != 200 or step.until(response.json()):
            return response
        assert time.monotonic() < deadline, f"{step.method} {url}: never {step.until}: {response.text}"
        time.sleep(0.02)


def problems(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    """Why ``value`` is not valid against ``schema`` (its ``#/components`` refs resolved in ``document``)."""
    rooted = {**schema, "components": document.get("components", {})}
    validator = jsonschema_rs.Draft202012Validator(rooted)
    return [
        f"{'/'.join(map(str, e.instance_path)) or '(body)'}: {e.message}"
        for e in validator.iter_errors(value)
    ]


def response_schema(operation: dict[str, Any], status: int) -> dict[str, Any] | None:
    """The schema documented for a ``status`` reply (``default`` for statuses not listed)."""
    responses = operation["responses"]
    response = responses.get(str(status)) or responses.get("default")
    assert response is not None, f"status {status} is not documented"
    content = response.get("content")
    if content is None or STREAM in content:  # an event stream: its events are checked by its own tests
        return None
    return content["application/json"]["schema"]


def test_every_operation_documents_its_bodies_truthfully(truth_client: TestClient[Any]) -> None:
    document = truth_client.get("/schema/openapi.json").json()
    methods = {"get", "put", "post", "patch", "delete"}
    listed = {(m, path) for path, item in document["paths"].items() for m in item if m in methods}
    covered = {(step.method, step.path) for step in EXCHANGES}
    assert listed - covered == set(), "operations with no exchange in EXCHANGES"
    assert covered - listed == set(), "exchanges with operations the schema does not list"

    kept: Context = {}
    failures: list[str] = []
    for step in EXCHANGES:
        operation = document["paths"][step.path][step.method]
        label = f"{step.method.upper()} {step.url} -> {step.status}"
        if step.json is not NO_BODY or step.text is not None:
            media = "application/json" if step.text is None else "text/plain"
            assert "requestBody" in operation, f"{label}: no request body is documented"
            body_schema = operation["requestBody"]["content"][media]["schema"]
            if step.status < 300:  # a refused body need not fit the schema
                sent = step.json if step.text is None else step.text
                failures += [f"{label}: request {p}" for p in problems(document, body_schema, sent)]
        response = exchange(truth_client, step, kept)
        assert response.status_code == step.status, f"{label}: {response.status_code} {response.text}"
        assert ("Prefer" in step.headers) == (APPLIED in response.headers), label
        if APPLIED in response.headers:  # a start that waited: the header is documented for it
            documented = operation["responses"][str(step.status)].get("headers", {})
            assert APPLIED in documented, f"{label}: an undocumented {APPLIED} header"
        schema = response_schema(operation, step.status)
        if STREAM in operation["responses"].get(str(step.status), {}).get("content", {}):
            assert response.headers["content-type"].startswith(STREAM), label
            assert "event: run_finished" in response.text, f"{label}: {response.text[-300:]}"
        elif schema is None:
            assert not response.content, f"{label}: a body where none is documented"
        else:
            body = response.json()
            failures += [f"{label}: response {p}" for p in problems(document, schema, body)]
            if step.keep is not None:
                kept.update(step.keep(body))
    assert not failures, "\n".join(failures)


def test_the_check_fails_on_a_documented_field_that_is_not_sent(truth_client: TestClient[Any]) -> None:
    document = truth_client.get("/schema/openapi.json").json()
    workflow = document["components"]["schemas"]["Workflow"]
    renamed = {**workflow, "required": [*workflow["required"], "titel"]}
    created = truth_client.post(
        f"{WF}/", json={"project": 1, "title": "t", "data": hello_data()}, headers=HEADERS
    ).json()
    assert problems(document, workflow, created) == []
    assert problems(document, renamed, created) != []
    assert problems(document, workflow, {**created, "titel": created.pop("title")}) != []
