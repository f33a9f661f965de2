"""The LSO front door over HTTP: blocking and async execution, polling, callbacks, refusals."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.helpers import HEADERS, TERMINAL, MakeClient, echo_config, poll_job, rewrite_run

HOSTILE = ["; rm -rf /", "$(id)", "`id`", "a\nb", "'q' \"d\"", "$RUNDIR", "{{ ''.__class__ }}", "--x=$(id)"]


def execute(client: Any, **body: Any) -> Any:
    return client.post("/api/execute/", json=body, headers=HEADERS)


def test_sync_returns_output_code_and_status(make_client: MakeClient) -> None:
    client = make_client()
    reply = execute(client, executable_name="show_args.py", args=["one", "two"], is_async=False)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert set(body) == {"job_id", "result"}
    result = body["result"]
    assert result["status"] == "successful" and result["return_code"] == 0
    assert json.loads(result["output"])["argv"] == ["one", "two"]
    polled = poll_job(client, body["job_id"])  # recorded in the store like any run
    assert polled["status"] == "succeed" and polled["result"] == result


def test_sync_output_is_stdout_then_stderr_and_nonzero_is_failed(
    make_client: MakeClient, executables: Path
) -> None:
    script = executables / "fail.sh"
    script.write_text("#!/bin/sh\necho out\necho err >&2\nexit 3\n")
    script.chmod(0o755)
    result = execute(make_client(), executable_name="fail.sh", is_async=False).json()["result"]
    assert result == {"output": "out\nerr\n", "return_code": 3, "status": "failed"}


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_args_arrive_byte_for_byte(make_client: MakeClient, value: str) -> None:
    reply = execute(make_client(), executable_name="show_args.py", args=[value, f"x{value}"], is_async=False)
    assert json.loads(reply.json()["result"]["output"])["argv"] == [value, f"x{value}"]


def test_bench_script_without_argument_prints_its_csv(make_client: MakeClient) -> None:
    result = execute(make_client(), executable_name="bench_csv.sh", is_async=False).json()["result"]
    assert result["status"] == "successful"
    assert result["output"].splitlines() == ["sample,well,value", "s1,A01,0.1", "s2,A02,0.2", "s3,A03,0.3"]


@pytest.mark.parametrize(
    "name,status",
    [
        ("/bin/sh", 400),
        ("../outside.sh", 400),
        ("subdir/../../outside.sh", 400),
        ("escape.sh", 400),  # a symlink resolving outside the directory
        ("show_args.py; id", 422),
        ("$(id)", 422),
        ("show args.py", 422),
        ("show_args.py\x00", 422),
        ("missing.sh", 410),
        ("not-executable.sh", 403),
        ("subdir", 503),
    ],
)
def test_executable_refusals(make_client: MakeClient, name: str, status: int) -> None:
    reply = execute(make_client(), executable_name=name, is_async=False)
    assert reply.status_code == status, reply.text
    assert "detail" in reply.json()


def test_without_an_executables_dir_nothing_runs(make_client: MakeClient) -> None:
    reply = execute(make_client(executables_dir=""), executable_name="show_args.py")
    assert reply.status_code == 503 and "RUNWIRE_EXECUTABLES_DIR" in reply.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b"{nope",
        b"[" * 10_000 + b"]" * 10_000,
        b'"just a string"',
        b"{}",
        b'{"executable_name": 3}',
        b'{"executable_name": "show_args.py", "args": "not a list"}',
        b'{"executable_name": "show_args.py", "args": [1, 2]}',
        b'{"executable_name": "show_args.py", "args": ["a\\u0000b"]}',
        b'{"executable_name": "show_args.py", "callback": "ftp://example.com/x"}',
        b'{"executable_name": "show_args.py", "callback": "not a url"}',
        b'{"executable_name": "show_args.py", "callback": "http://user:pw@example.com/x"}',
        b'{"executable_name": "show_args.py", "callback": "http://127.0.0.1:0/x"}',
        b'{"executable_name": "show_args.py", "is_async": "maybe"}',
        b'{"executable_name": "\xff"}',
    ],
)
def test_invalid_bodies_are_422(make_client: MakeClient, body: bytes) -> None:
    reply = make_client().post(
        "/api/execute/", content=body, headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert reply.status_code == 422, reply.text


def test_async_returns_job_id_then_poll_gives_the_result(make_client: MakeClient) -> None:
    client = make_client()
    reply = execute(client, executable_name="show_args.py", args=["async"])
    assert reply.status_code == 201
    body = reply.json()
    assert body["result"] is None and set(body) == {"job_id", "result"}
    polled = poll_job(client, body["job_id"])
    assert polled["status"] == "succeed"
    assert polled["result"]["status"] == "successful"
    assert json.loads(polled["result"]["output"])["argv"] == ["async"]
    assert "callback" not in polled


def test_poll_unknown_and_foreign_ids_are_404(make_client: MakeClient) -> None:
    from tests.helpers import lims_config

    client = make_client(lims_config())
    for job_id in ("00000000-0000-4000-8000-000000000000", "nope"):
        assert client.get(f"/api/execute/{job_id}", headers=HEADERS).status_code == 404
    task_id = client.post("/task/x", headers=HEADERS).json()["id"]
    assert client.get(f"/api/execute/{task_id}", headers=HEADERS).status_code == 404


def test_timeout_kills_the_group_and_reports_failed(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(execute_timeout=1)
    pidfile = tmp_path / "pids"
    reply = execute(client, executable_name="never_exits.py", args=[str(pidfile)], is_async=False)
    result = reply.json()["result"]
    assert result["status"] == "failed" and result["return_code"] == -1
    assert "timed out after 1 s" in result["output"] and result["output"].startswith("started\n")
    parent, child = (int(p) for p in pidfile.read_text().split())
    for pid in (parent, child):
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_a_100_mb_output_is_capped_and_the_server_stays_up(make_client: MakeClient) -> None:
    client = make_client()
    result = execute(client, executable_name="flood.py", args=["100"], is_async=False).json()["result"]
    assert result["status"] == "successful"
    assert len(result["output"]) < 40 * 1024 * 1024
    assert "[runwire: output truncated," in result["output"]
    assert client.get("/healthz").status_code == 200
    assert execute(client, executable_name="show_args.py", is_async=False).status_code == 201


def test_version(make_client: MakeClient) -> None:
    client = make_client()
    body = client.get("/api/version", headers=HEADERS).json()
    assert body["api"] == "2.0" and body["module"]
    assert client.get("/api/version").status_code == 401


def test_auth_is_required(make_client: MakeClient) -> None:
    client = make_client()
    assert client.post("/api/execute/", json={"executable_name": "show_args.py"}).status_code == 401


# -- callbacks ------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Any:
    """A real callback receiver on 127.0.0.1."""
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        yield server


def test_callback_receives_the_result(
    make_client: MakeClient, receiver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.1")
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    client = make_client()
    reply = execute(client, executable_name="show_args.py", args=["cb"], callback=receiver.url_for("/hook"))
    job_id = reply.json()["job_id"]
    polled = poll_job(client, job_id)
    assert polled["status"] == "succeed", polled
    assert polled["callback"] == {"status": "succeed", "attempts": 1, "error": None}
    ((request, _),) = receiver.log
    payload = request.get_json()
    assert payload["job_id"] == job_id
    assert payload["result"]["status"] == "successful" and payload["result"]["return_code"] == 0
    assert json.loads(payload["result"]["output"])["argv"] == ["cb"]
    assert polled["result"] == payload["result"]


def test_callback_is_retried_with_back_off_and_attempts_are_recorded(
    make_client: MakeClient, receiver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.1")
    calls: list[float] = []

    def flaky(request: Request) -> Response:
        calls.append(time.monotonic())
        return Response("not yet", status=503) if len(calls) < 3 else Response("ok")

    receiver.expect_request("/hook", method="POST").respond_with_handler(flaky)
    client = make_client()
    job_id = execute(client, executable_name="show_args.py", callback=receiver.url_for("/hook")).json()[
        "job_id"
    ]
    polled = poll_job(client, job_id)
    assert polled["status"] == "succeed"
    assert polled["callback"]["attempts"] == 3 and len(calls) == 3
    assert calls[2] - calls[1] > calls[1] - calls[0] > 0  # the delay doubles


def test_failed_executable_is_still_called_back(
    make_client: MakeClient, receiver: HTTPServer, monkeypatch: pytest.MonkeyPatch, executables: Path
) -> None:
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.1")
    script = executables / "fail.sh"
    script.write_text("#!/bin/sh\necho nope >&2\nexit 2\n")
    script.chmod(0o755)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    client = make_client()
    job_id = execute(client, executable_name="fail.sh", callback=receiver.url_for("/hook")).json()["job_id"]
    poll_job(client, job_id)
    ((request, _),) = receiver.log
    assert request.get_json()["result"] == {"output": "nope\n", "return_code": 2, "status": "failed"}


def test_callback_to_a_private_address_obeys_the_allow_list(
    make_client: MakeClient, receiver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNWIRE_HTTP_ALLOW", raising=False)
    client = make_client()
    for url in (
        receiver.url_for("/hook"),
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
    ):
        reply = execute(client, executable_name="show_args.py", callback=url)
        assert reply.status_code == 422, reply.text
        assert "non-public address" in reply.json()["detail"]
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.1")
    client = make_client()  # the HTTP plugin's settings are read when a server boots
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    job_id = execute(client, executable_name="show_args.py", callback=receiver.url_for("/hook")).json()[
        "job_id"
    ]
    assert poll_job(client, job_id)["callback"]["status"] == "succeed"
    assert len(receiver.log) == 1


@pytest.mark.parametrize(
    "stored",
    ["text", [1, 2], {"return_code": "x", "results": 5}, {"return_code": None}, {"return_code": True}],
    ids=["string", "list", "wrong types", "null code", "bool code"],
)
def test_odd_results_from_the_execution_service_never_break_a_poll(
    make_client: MakeClient, stored: Any
) -> None:
    """Regression: ``int(return_code)`` and ``result.get`` on what an execution update stored were 500s.

    An execution update may change only an unfinished run, so each run is put back in progress
    first, as one an external execution service is still running.
    """
    client = make_client(config=echo_config(), service_api_key="service-key")
    job = client.post("/api/execute/", headers=HEADERS, json={"executable_name": "show_args.py"}).json()[
        "job_id"
    ]
    task = client.post("/task/x", headers=HEADERS, json={"city": "c", "tags": ["t"]}).json()["id"]
    store = client.app.state.services.store.sync
    for run_id in (job, task):
        deadline = time.monotonic() + 30
        while store.get_run(run_id).status not in TERMINAL:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        rewrite_run(store, run_id, "in progress", {})
        update = {
            "payload": {"status": "succeed", "data": {"script": {"status": "succeed", "result": stored}}}
        }
        applied = client.post(
            f"/api/v1/workflows/execution-update/{run_id}/",
            json=update,
            headers={"X-Service-Api-Key": "service-key"},
        )
        assert applied.status_code == 201, applied.text
    polled = client.get(f"/api/execute/{job}", headers=HEADERS)
    assert polled.status_code == 200, polled.text
    assert polled.json()["result"]["return_code"] == -1, polled.json()
    assert client.get(f"/task/{task}", headers=HEADERS).status_code == 200
