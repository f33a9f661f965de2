"""Hostile input against every endpoint of one live ``runwire serve`` (table-driven).

Each row sends one hostile request and names the statuses it may get: always a clear 4xx
with a ``{"detail": ...}`` body where it is refused, never a 5xx. Afterwards nothing is lost
(every run any request started reaches a terminal state), the server still answers, and it
logged no traceback. Auth0 tokens (expired, forged, ``alg: none``) are covered live by
``plugins/auth0/tests/test_jwt_e2e.py``; the same server mechanics are exercised here with keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from runwire_server.testing import RunningServer, running_server, wait_for_run
from tests.helpers import KEY, MAX_BODY, ROOT, SERVICE_KEY, TERMINAL, make_key, server_env

DEEP = ("[" * 10_000 + "]" * 10_000).encode()
DEEP_OBJECT = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
NOT_UTF8 = b'{"project": 1, "title": "\xff\xfe", "data": {}}'
HUGE = b'{"pad": "' + b"x" * (MAX_BODY + 10) + b'"}'
MALFORMED = b'{"project": 1, "title": '
REFUSED_JSON = [  # (what, body, words the 4xx detail must hold): JSON that parses but runwire refuses
    ("5,000-digit integer", b'{"x": 1' + b"0" * 5000 + b"}", "more than 4300 digits"),
    ("1e400", b'{"x": 1e400}', "out of range"),
    ("NaN", b'{"x": NaN}', "NaN is not a JSON number"),
    ("-Infinity", b'{"x": [-Infinity]}', "Infinity is not a JSON number"),
    ("lone surrogate", b'{"x": "\\ud800"}', "lone UTF-16 surrogate"),
    ("lone surrogate key", b'{"\\udfff": 1}', "lone UTF-16 surrogate"),
    ("duplicate key", b'{"x": 1, "x": 2}', "duplicate key 'x'"),
]
INJECTION = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
SHELL = "; rm -rf / $(id) `id` | cat /etc/passwd && echo $HOME > /tmp/x"


@dataclass
class Live:
    """The live server and what the table's requests need."""

    server: RunningServer
    workflow: int
    other_workflow: int
    other_run: str
    scoped_key: str
    started: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    env = server_env()
    with running_server(env=env) as server:
        headers = {"X-Api-Key": KEY}
        hello = json.loads((ROOT / "examples" / "hello.json").read_text())
        ids = []
        for project in (1, 2):
            body = {"project": project, "title": f"hostile {project}", "data": hello}
            created = httpx.post(f"{server.url}/api/v1/workflows/", headers=headers, json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        run = httpx.post(f"{server.url}/api/v1/workflows/{ids[1]}/run/", headers=headers, json={"name": "x"})
        other_run = run.json()["data"]["id"]
        key = make_key(server.data_dir, 1, env=server.env)
        state = Live(server, ids[0], ids[1], other_run, key, [other_run])
        yield state
        for run_id in state.started:  # nothing lost: every accepted run ends
            assert wait_for_run(server.url, run_id, headers, timeout=60)["status"] in TERMINAL
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert "Traceback" not in server.logs(), server.logs()[-6000:]


@dataclass(frozen=True)
class Case:
    """One hostile request: ``path`` may name ``{wf}``, ``{other_wf}``, ``{other_run}``."""

    label: str
    method: str
    path: str
    statuses: tuple[int, ...]
    body: bytes | None = None
    headers: dict[str, str] | None = None
    auth: str = "key"  # "key" (bootstrap), "scoped" (project 1 only), "none", or a literal key
    query: dict[str, str] | None = None
    detail: str = ""  # words the refusal's detail must hold
    server: str = "live"  # the fixture that serves it: "live", or "body_task_live" (a body-bound task)


JSON = {"Content-Type": "application/json"}
SERVICE = {"X-Service-Api-Key": SERVICE_KEY, **JSON}
UPDATE = json.dumps({"payload": {"status": "succeed", "data": {}}}).encode()

BODY_ROUTES = [  # (route, method, statuses for malformed/deep/utf8/wrong type, headers)
    ("/api/v1/workflows/", "POST", (400,), JSON),
    ("/api/v1/workflows/{wf}/", "PATCH", (400,), JSON),
    ("/api/v1/workflows/execution-update/{other_run}/", "POST", (400,), SERVICE),
    ("/api/execute/", "POST", (422,), JSON),
]

# The table below keeps one case or generator per line: easier to scan than the formatter's layout.
# fmt: off
CASES: list[Case] = [
    # bodies: malformed, 10,000 deep (array and object), invalid UTF-8, wrong types, over the limit
    *(
        Case(f"{method} {route} {what}", method, route, statuses, body, headers)
        for route, method, statuses, headers in BODY_ROUTES
        for what, body in [
            ("malformed JSON", MALFORMED),
            ("10,000-deep array", DEEP),
            ("10,000-deep object", DEEP_OBJECT),
            ("invalid UTF-8", NOT_UTF8),
            ("a JSON string", b'"just a string"'),
            ("wrong field types", b'{"project": "1", "title": [], "data": 5, "payload": 3, "executable_name": 7}'),
        ]
    ),
    *(
        Case(f"{method} {route} huge body", method, route, (413,), HUGE, headers)
        for route, method, _, headers in [*BODY_ROUTES, ("/api/v1/workflows/{wf}/run/", "POST", (), JSON),
                                           ("/task/x", "POST", (), JSON)]
    ),
    # JSON that parses but holds what cannot be stored or sent back: 400 (422 on execute) naming it
    *(
        Case(f"{method} {route} {what}", method, route, statuses, body, headers, detail=detail, server=server)
        for route, method, statuses, headers, server in [
            *((route, method, statuses, headers, "live") for route, method, statuses, headers in BODY_ROUTES),
            ("/api/v1/workflows/{wf}/run/", "POST", (400,), JSON, "live"),
            ("/task/x", "POST", (400,), JSON, "body_task_live"),
            ("/script/x", "POST", (400,), JSON, "body_task_live"),
        ]
        for what, body, detail in REFUSED_JSON
    ),
    Case("run: text/plain with a 5,000-digit integer is raw input", "POST", "/api/v1/workflows/{wf}/run/",
         (200,), REFUSED_JSON[0][1], {"Content-Type": "text/plain"}),
    Case("run: NaN in text/plain is raw input", "POST", "/api/v1/workflows/{wf}/run/", (200,),
         b'{"name": NaN}', {"Content-Type": "text/plain"}),
    Case("run: 10,000-deep body", "POST", "/api/v1/workflows/{wf}/run/", (400,), DEEP, JSON),
    Case("run: invalid UTF-8", "POST", "/api/v1/workflows/{wf}/run/", (400,), NOT_UTF8, JSON),
    Case("run: malformed JSON is raw input (name missing)", "POST", "/api/v1/workflows/{wf}/run/", (200,),
         MALFORMED, JSON),
    Case("run: wrong type for a number field", "POST", "/api/v1/workflows/{wf}/run/", (200,),
         b'{"name": "a", "age": {"$gt": 1}}', JSON),
    # auth
    Case("no key", "GET", "/api/v1/workflows/", (401,), auth="none"),
    Case("wrong key", "GET", "/api/v1/workflows/", (401,), auth="wrong"),
    Case("empty key", "GET", "/api/v1/workflows/", (401,), auth=""),
    Case("key with a space", "GET", "/api/v1/workflows/", (401,), auth=f"{KEY} x"),
    Case("lower-case header name works", "GET", "/api/v1/workflows/", (200,), headers={"x-api-key": KEY},
         auth="none"),
    Case("SQL in the key", "GET", "/api/v1/workflows/", (401,), auth="' OR '1'='1"),
    Case("no key on /task", "POST", "/task/x", (401,), auth="none"),
    Case("no key on execute", "POST", "/api/execute/", (401,), b"{}", JSON, auth="none"),
    Case("execution-update without service key", "POST", "/api/v1/workflows/execution-update/{other_run}/",
         (403,), UPDATE, JSON),
    Case("execution-update wrong service key", "POST", "/api/v1/workflows/execution-update/{other_run}/",
         (403,), UPDATE, {"X-Service-Api-Key": "nope", **JSON}),
    Case("execution-update empty service key", "POST", "/api/v1/workflows/execution-update/{other_run}/",
         (403,), UPDATE, {"X-Service-Api-Key": "", **JSON}),
    Case("execution-update bad status", "POST", "/api/v1/workflows/execution-update/{other_run}/", (400,),
         b'{"payload": {"status": "hacked"}}', SERVICE),
    Case("execution-update non-UUID run", "POST", "/api/v1/workflows/execution-update/not-a-uuid/", (404,),
         UPDATE, SERVICE),
    Case("execution-update unknown run", "POST", f"/api/v1/workflows/execution-update/{uuid.uuid4()}/",
         (404,), UPDATE, SERVICE),
    # another project's things (scoped key: project 1 only)
    Case("other project's workflow", "GET", "/api/v1/workflows/{other_wf}/", (404,), auth="scoped"),
    Case("other project's run", "GET", "/api/v1/workflows/workflow_result/", (404,), auth="scoped",
         query={"id": "{other_run}"}),
    Case("run other project's workflow", "POST", "/api/v1/workflows/{other_wf}/run/", (404,),
         b'{"name": "x"}', JSON, auth="scoped"),
    Case("delete other project's workflow", "DELETE", "/api/v1/workflows/{other_wf}/", (404,), auth="scoped"),
    Case("history of other project's workflow", "GET", "/api/v1/workflows/{other_wf}/history/", (404,),
         auth="scoped"),
    Case("create in other project", "POST", "/api/v1/workflows/", (403,),
         json.dumps({"project": 2, "title": "t", "data": {"nodes": [], "edges": []}}).encode(), JSON,
         auth="scoped"),
    Case("task with a scoped key (project 0)", "POST", "/task/x", (403,), auth="scoped"),
    Case("other project's run as a task", "GET", "/task/{other_run}", (404,)),
    Case("other project's run as a job", "GET", "/api/execute/{other_run}", (404,)),
    # ids and pages
    Case("non-UUID run id", "GET", "/api/v1/workflows/workflow_result/", (400,), query={"id": "not-a-uuid"}),
    Case("traversal as run id", "GET", "/api/v1/workflows/workflow_result/", (400,),
         query={"id": "../../etc/passwd"}),
    Case("empty run id", "GET", "/api/v1/workflows/workflow_result/", (400,), query={"id": ""}),
    Case("unknown run id", "GET", "/api/v1/workflows/workflow_result/", (404,), query={"id": str(uuid.uuid4())}),
    Case("workflow id beyond int64", "GET", "/api/v1/workflows/99999999999999999999999/", (404,)),
    Case("workflow id beyond int32", "GET", "/api/v1/workflows/2147483648/", (404,)),
    Case("negative workflow id", "GET", "/api/v1/workflows/-1/", (404,)),
    Case("traversal as workflow id", "GET", "/api/v1/workflows/..%2F..%2Fetc%2Fpasswd/", (404,)),
    Case("page past the end", "GET", "/api/v1/workflows/", (404,), query={"page": "999"}),
    Case("huge page", "GET", "/api/v1/workflows/", (400,), query={"page": str(10**30)}),
    Case("page beyond int32", "GET", "/api/v1/workflows/{wf}/history/", (400,), query={"page": str(2**31)}),
    Case("page zero", "GET", "/api/v1/workflows/{wf}/history/", (400,), query={"page": "0"}),
    Case("huge page_size", "GET", "/api/v1/workflows/", (400,), query={"page_size": "100000000"}),
    Case("page_size zero", "GET", "/api/v1/workflows/", (400,), query={"page_size": "0"}),
    Case("page_size text", "GET", "/api/v1/workflows/{wf}/history/", (400,), query={"page_size": "ten"}),
    Case("bad ordering", "GET", "/api/v1/workflows/{wf}/history/", (400,), query={"ordering": "id;DROP"}),
    Case("NUL in title filter", "GET", "/api/v1/workflows/", (400,), query={"title": "a\x00b"}),
    Case("SQL in title filter", "GET", "/api/v1/workflows/", (200,), query={"title": "%' OR 1=1 --"}),
    Case("non-UUID task id", "GET", "/task/not-a-uuid", (404,)),
    Case("non-UUID job id", "GET", "/api/execute/not-a-uuid", (404,)),
    # execute: traversal, absolute paths, shell metacharacters, NUL, private callbacks
    *(
        Case(f"execute {name!r}", "POST", "/api/execute/", statuses,
             json.dumps({"executable_name": name, "is_async": False}).encode(), JSON)
        for name, statuses in [
            ("../../../bin/sh", (400,)),
            ("/bin/sh", (400,)),
            ("hello.sh; id", (422,)),
            ("$(id)", (422,)),
            ("hello.sh\x00", (422,)),
            ("nope.sh", (410,)),
            ("", (422,)),
        ]
    ),
    Case("execute NUL in an argument", "POST", "/api/execute/", (422,),
         json.dumps({"executable_name": "hello.sh", "args": ["a\x00b"]}).encode(), JSON),
    Case("execute callback to loopback", "POST", "/api/execute/", (422,),
         json.dumps({"executable_name": "hello.sh", "callback": "http://127.0.0.1:1/"}).encode(), JSON),
    Case("execute callback not http", "POST", "/api/execute/", (422,),
         json.dumps({"executable_name": "hello.sh", "callback": "file:///etc/passwd"}).encode(), JSON),
    # task: traversal, metacharacters and undecodable bytes in path and query are plain text
    Case("task path traversal", "POST", "/task/..%2F..%2Fetc%2Fpasswd", (200,)),
    Case("task shell metacharacters", "POST", "/task/%3Brm%20-rf%20~", (200,), query={"season": SHELL}),
    Case("task undecodable query", "POST", "/task/x?season=%FF%FE", (200, 400)),
    Case("task NUL in the path", "POST", "/task/a%00b", (400,)),
]
# fmt: on


def _send(live: Live, case: Case) -> httpx.Response:
    names = {"wf": live.workflow, "other_wf": live.other_workflow, "other_run": live.other_run}
    headers = dict(case.headers or {})
    if case.auth == "key":
        headers.setdefault("X-Api-Key", KEY)
    elif case.auth == "scoped":
        headers["X-Api-Key"] = live.scoped_key
    elif case.auth != "none":
        headers["X-Api-Key"] = case.auth
    query = {k: v.format(**names) for k, v in (case.query or {}).items()}
    url = live.url + case.path.format(**names)
    return httpx.request(
        case.method, url, content=case.body, headers=headers, params=query or None, timeout=30
    )


@pytest.fixture(scope="module")
def body_task_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A second live server whose task binds a body variable, so ``/task`` parses its body."""
    config = json.loads((ROOT / "examples" / "task" / "config.json").read_text())
    config["command_rundir_base"] = str(ROOT / "examples" / "task" / "app")
    config["inputs"]["body_args"] = [{"env_var_name": "NOTE", "body_jsonpath": "$.x"}]
    path = tmp_path_factory.mktemp("task") / "config.json"
    path.write_text(json.dumps(config))
    with running_server(env={**server_env(), "RUNWIRE_TASK_CONFIG": str(path)}) as server:
        yield Live(server, 0, 0, "", "")  # its cases are all refused: no run to wait for
        assert "Traceback" not in server.logs(), server.logs()[-6000:]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_hostile_request_is_refused_clearly(live: Live, case: Case, request: pytest.FixtureRequest) -> None:
    server: Live = request.getfixturevalue(case.server)
    response = _send(server, case)
    assert response.status_code in case.statuses, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert isinstance(response.json().get("detail"), str), response.text[:500]
        assert case.detail in response.json()["detail"], response.text[:500]
        assert "Traceback" not in response.text and "/work/" not in response.text
    elif response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        run_id = body.get("id") or body.get("job_id") or (body.get("data") or {}).get("id")
        if isinstance(run_id, str):
            server.started.append(run_id)
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_template_injection_in_workflow_data_fails_that_node_clearly(live: Live) -> None:
    headers = {"X-Api-Key": KEY}
    data = {
        "start_node": "t",
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"input_fields": []}},
            {"id": "evil", "type": "output-node", "data": {"output": INJECTION}},
        ],
        "edges": [{"id": "e", "source": "t", "target": "evil"}],
    }
    created = httpx.post(
        f"{live.url}/api/v1/workflows/",
        headers=headers,
        json={"project": 1, "title": "injection", "data": data},
    )
    assert created.status_code == 201, created.text
    started = httpx.post(f"{live.url}/api/v1/workflows/{created.json()['id']}/run/", headers=headers)
    assert started.json()["status"] == 201, started.text
    result = wait_for_run(live.url, started.json()["data"]["id"], headers)
    assert result["status"] == "failed", result
    node = result["data"]["evil"]
    assert node["status"] == "failed" and "__class__" not in json.dumps(node.get("result"))
    assert "unsafe" in node["error"].lower() or "not allowed" in node["error"].lower(), node["error"]
    assert "evil" in result["error"]


def test_a_lone_surrogate_made_by_a_template_is_stored_and_polled_as_u_fffd(live: Live) -> None:
    headers = {"X-Api-Key": KEY}
    data = {
        "start_node": "t",
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"input_fields": []}},
            {"id": "o", "type": "output-node", "data": {"output": '{{ "\\ud800" ~ input.__raw_input__ }}'}},
        ],
        "edges": [{"id": "e", "source": "t", "target": "o"}],
    }
    created = httpx.post(
        f"{live.url}/api/v1/workflows/",
        headers=headers,
        json={"project": 1, "title": "surrogate", "data": data},
    )
    assert created.status_code == 201, created.text
    workflow = created.json()["id"]
    started = httpx.post(
        f"{live.url}/api/v1/workflows/{workflow}/run/",
        content=b"1e400 NaN",
        headers={**headers, "Content-Type": "text/plain"},
    )
    result = wait_for_run(live.url, started.json()["data"]["id"], headers)
    assert result["status"] == "succeed", result
    assert result["data"]["o"]["result"]["content"] == "\ufffd1e400 NaN"
    history = httpx.get(f"{live.url}/api/v1/workflows/{workflow}/history/", headers=headers)
    assert history.status_code == 200, history.text


def test_template_injection_and_metacharacters_in_input_stay_text(live: Live) -> None:
    headers = {"X-Api-Key": KEY}
    name = f"{INJECTION} {SHELL}"
    started = httpx.post(
        f"{live.url}/api/v1/workflows/{live.workflow}/run/", headers=headers, json={"name": name, "age": 40}
    )
    result = wait_for_run(live.url, started.json()["data"]["id"], headers)
    assert result["status"] == "succeed", result
    assert result["data"]["adult"]["result"]["content"] == f"Welcome, {name}!"


def test_shell_metacharacters_reach_an_executable_as_one_argument(live: Live) -> None:
    reply = httpx.post(
        f"{live.url}/api/execute/",
        headers={"X-Api-Key": KEY},
        timeout=30,
        json={"executable_name": "hello.sh", "args": [SHELL], "is_async": False},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["result"] == {"output": f"hello, {SHELL}\n", "return_code": 0, "status": "successful"}


FORGED = "2026-01-01 00:00:00,000 INFO runwire.server: forged line"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/a%00b",
        "/ui/static/ui.css%00",
        "/ui/static/" + "a" * 300,
        "/ui/static/ui.css/" + "a" * 300,
        "/ui/static/x%0a" + FORGED.replace(" ", "%20") + "%00",
        "/ui/static/..%2f..%2fsession.py",
        "/ui/static/%ff",
    ],
)
def test_hostile_static_paths_are_404_without_a_trace_in_the_log(live: Live, path: str) -> None:
    """The UI's static files answer anyone: a name no file has (a NUL, a name too long for the
    file system, a traversal) is a 404, never a 500 or a log line the path wrote."""
    for method in ("GET", "HEAD"):
        reply = httpx.request(method, httpx.URL(live.url + path), timeout=10)
        assert reply.status_code == 404, (method, path, reply.status_code, reply.text[:300])
    assert httpx.get(f"{live.url}/ui/static/ui.css", timeout=10).status_code == 200
    logs = live.server.logs()
    assert "Traceback" not in logs and FORGED not in logs, logs[-3000:]
