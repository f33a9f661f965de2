"""Long-polls (``?wait=<seconds>``): a poll answers as soon as its run ends, or when its wait is
over with the run as it is; for runs ended in this process (embedded), by a cancel, and by a
``runwire worker`` process; bad ``wait`` values are 400s; a stopping server answers its waiting
polls instead of cutting them off. A start with ``Prefer: wait=<seconds>`` (RFC 7240) answers
the same way, once its new run has ended, and says so with ``Preference-Applied``; a malformed
preference is ignored."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import (
    KEY,
    PY,
    SHORT_LEASES,
    api,
    create_workflow,
    make_key,
    sleep_data,
    start_run,
    wait_for_marker,
    with_plugin,
)

RESULT = "/api/v1/workflows/workflow_result/"
APPLIED = "Preference-Applied"
RUNS = "/api/v1/runs"
UNFINISHED = ("in queue", "in progress")
SLOW_TASK = {
    "command": [PY, "-c", "import sys, time; time.sleep(float(sys.argv[1])); print('[1]')", "$S"],
    "inputs": {
        "path_args": [],
        "query_args": [{"env_var_name": "S", "query_var_name": "s"}],
        "body_args": [],
    },
    "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
}


def _run_path(workflow_id: int) -> str:
    return f"/api/v1/workflows/{workflow_id}/run/"


def _start(client: httpx.Client, path: str, prefer: str, **params: Any) -> httpx.Response:
    """A start (``POST``) with the ``Prefer`` header ``prefer``."""
    return client.post(path, params=params, headers={"Prefer": prefer}, timeout=60)


def _long(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params=params, timeout=60)


def _woken(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    """A poll waiting 30 s, which must be answered by the run's end, well before the 30 s."""
    began = time.monotonic()
    reply = _long(client, path, wait=30, **params)
    assert time.monotonic() - began < 20, "the poll waited out its time: the run's end did not wake it"
    return reply


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """Where the sleep nodes leave a file named after their run when they start."""
    path = tmp_path / "markers"
    path.mkdir()
    return path


def _sleeping(c: httpx.Client, seconds: float, markers: Path, title: str = "Hello") -> str:
    """Start a run of a sleep node of ``seconds``; return its id once the node sleeps."""
    run_id = start_run(c, create_workflow(c, sleep_data(seconds, markers), title=title))
    wait_for_marker(markers, run_id)
    return run_id


@pytest.fixture(scope="module")
def embedded(sleep_plugin_path: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One embedded ``runwire serve`` for the module's tests (with the slow task mounted)."""
    root = tmp_path_factory.mktemp("long-poll")
    config = root / "task.json"
    config.write_text(json.dumps(SLOW_TASK))
    env = with_plugin({"RUNWIRE_API_KEYS": KEY, "RUNWIRE_TASK_CONFIG": str(config)}, sleep_plugin_path)
    with running_server(env=env, data_dir=root / "data") as server:
        yield server


def test_a_waiting_poll_answers_when_the_run_ends(embedded: Any, markers: Path) -> None:
    with api(embedded.url) as c:
        run_id = _sleeping(c, 1.0, markers)
        assert c.get(RESULT, params={"id": run_id}).json()["data"]["status"] in UNFINISHED
        reply = _woken(c, RESULT, id=run_id)
        assert reply.status_code == 200
        assert reply.json()["data"]["status"] == "succeed"  # one request: it waited for the end
        # the runs API waits the same way; an ended run answers at once
        other = start_run(c, create_workflow(c, sleep_data(0.5, markers), title="other"))
        view = _woken(c, f"{RUNS}/{other}/").json()
        assert view["status"] == "succeed" and view["finished_at"] is not None
        assert _long(c, RESULT, id=run_id, wait=20).json()["data"]["status"] == "succeed"


def test_a_wait_that_runs_out_answers_with_the_run_as_it_is(embedded: Any, markers: Path) -> None:
    with api(embedded.url) as c:
        run_id = _sleeping(c, 60, markers)
        reply = _long(c, RESULT, id=run_id, wait=0.3)
        assert reply.status_code == 200 and reply.json()["data"]["status"] in UNFINISHED
        assert _long(c, f"{RUNS}/{run_id}/", wait=0.2).json()["status"] in UNFINISHED
        assert c.post(f"{RUNS}/{run_id}/cancel/").status_code in (200, 202)


def test_a_cancel_wakes_the_waiting_poll(embedded: Any, markers: Path) -> None:
    with api(embedded.url) as c:
        run_id = _sleeping(c, 60, markers)
        answers: list[httpx.Response] = []
        poll = threading.Thread(
            target=lambda: answers.append(_long(api(embedded.url), RESULT, id=run_id, wait=30))
        )
        poll.start()
        time.sleep(0.5)  # the poll waits in the server (a settle delay, not a measure)
        assert c.post(f"{RUNS}/{run_id}/cancel/").status_code in (200, 202)  # queued or running
        poll.join(20)  # well before its wait is over: the cancel ended the run
        assert not poll.is_alive() and answers[0].status_code == 200
        data = answers[0].json()["data"]
        assert data["status"] == "failed"


def test_a_task_poll_waits_for_its_task(embedded: Any) -> None:
    with api(embedded.url) as c:
        task = c.post("/task", params={"s": "1"}).json()
        assert task["status"] == "not-ready"
        assert c.get(f"/task/{task['id']}").json()["status"] == "not-ready"
        reply = _woken(c, f"/task/{task['id']}")
        assert reply.status_code == 200 and reply.json()["status"] == "ready"
        assert reply.json()["results"] == [1]
        done = c.post("/script", params={"s": "0"}).json()["id"]
        assert _long(c, f"/script/{done}", wait=20).json()["status"] == "ready"


def test_bad_waits_and_unknown_runs_answer_at_once(embedded: Any, markers: Path) -> None:
    with api(embedded.url) as c:
        run_id = start_run(c, create_workflow(c, sleep_data(0, markers)))
        task_id = c.post("/task", params={"s": "0"}).json()["id"]
        for bad in ("-1", "31", "abc", "nan", "inf", "1e999", "", "0x10", "{{ ''.__class__ }}"):
            for path, params in (
                (RESULT, {"id": run_id, "wait": bad}),
                (f"{RUNS}/{run_id}/", {"wait": bad}),
                (f"/task/{task_id}", {"wait": bad}),
            ):
                reply = c.get(path, params=params)
                assert reply.status_code == 400, (path, bad, reply.text)
                assert "wait" in reply.text
        # unknown, malformed and other principals' runs: 404 without waiting out the 30 s
        unknown = str(uuid.uuid4())
        assert _long(c, RESULT, id=unknown, wait=30).status_code == 404
        assert _long(c, f"{RUNS}/{unknown}/", wait=30).status_code == 404
        assert _long(c, f"{RUNS}/not-a-uuid/", wait=30).status_code == 404
        assert _long(c, f"/task/{unknown}", wait=30).status_code == 404
        assert _long(c, f"/task/{run_id}", wait=30).status_code == 404  # a run, but not of the task
        assert _long(c, RESULT, id=run_id, wait=30).json()["data"]["status"] == "succeed"
        with api(embedded.url, key="wrong") as stranger:
            assert _long(stranger, RESULT, id=run_id, wait=30).status_code == 401


def test_stopping_the_server_answers_its_waiting_polls(
    sleep_plugin_path: str, tmp_path: Path, markers: Path
) -> None:
    env = with_plugin({"RUNWIRE_API_KEYS": KEY}, sleep_plugin_path)
    with running_server(env=env, data_dir=tmp_path / "data") as server, api(server.url) as c:
        run_id = _sleeping(c, 4, markers)  # still running at the signal; a stop waits for it
        answers: list[Any] = []

        def poll() -> None:
            try:
                answers.append(_long(api(server.url), RESULT, id=run_id, wait=30))
            except httpx.HTTPError as exc:
                answers.append(exc)

        waiting = threading.Thread(target=poll)
        waiting.start()
        time.sleep(1.0)  # the poll has reached the server and waits (a settle delay, not a measure)
        server.process.send_signal(signal.SIGTERM)
        waiting.join(40)
        assert isinstance(answers[0], httpx.Response), answers  # answered, not cut off
        assert answers[0].status_code == 200
        assert answers[0].json()["data"]["status"] in UNFINISHED


def test_a_waiting_poll_learns_of_a_run_a_worker_ended(
    broker_env: dict[str, str], sleep_plugin_path: str, markers: Path
) -> None:
    with postgres_database() as database_url:
        env = with_plugin(
            {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_DATABASE_URL": database_url, **broker_env, **SHORT_LEASES},
            sleep_plugin_path,
        )
        with running_server(env=env) as server, running_worker(env=env) as worker, api(server.url) as c:
            run_id = start_run(c, create_workflow(c, sleep_data(1.0, markers)))
            assert wait_for_marker(markers, run_id) == worker.process.pid  # on Redis, on RabbitMQ
            assert c.get(RESULT, params={"id": run_id}).json()["data"]["status"] in UNFINISHED
            reply = _woken(c, RESULT, id=run_id)
            assert reply.status_code == 200 and reply.json()["data"]["status"] == "succeed"
            quick = create_workflow(c, sleep_data(0, markers), title="quick")
            assert _woken(c, f"{RUNS}/{start_run(c, quick)}/").json()["status"] == "succeed"
            began = time.monotonic()  # a start that waits hears of the end from the worker too
            assert _start(c, _run_path(quick), "wait=30").json()["data"]["status"] == "succeed"
            assert time.monotonic() - began < 20, "the start waited out its time"


def test_a_key_of_another_project_is_not_kept_waiting(embedded: Any, markers: Path) -> None:
    """A poll for an unfinished run the caller may not see answers 404 at once, as without
    ``wait``: a scoped key of another project, and a project-0 key for another key's task."""
    other, door_key = make_key(embedded.data_dir, 2), make_key(embedded.data_dir, 0)
    with api(embedded.url) as c, api(embedded.url, key=other) as stranger, api(embedded.url, door_key) as p0:
        run_id = _sleeping(c, 60, markers)
        task_id = c.post("/task", params={"s": "60"}).json()["id"]
        began = time.monotonic()
        assert _long(stranger, RESULT, id=run_id, wait=30).status_code == 404
        assert _long(stranger, f"{RUNS}/{run_id}/", wait=30).status_code == 404
        assert _long(p0, f"/task/{task_id}", wait=30).status_code == 404  # started by another key
        assert _long(p0, f"{RUNS}/{task_id}/", wait=30).status_code == 404
        refused = _start(stranger, _run_path(create_workflow(c, sleep_data(60, markers))), "wait=30")
        assert refused.status_code in (403, 404), refused.text  # another project's: nothing started
        assert time.monotonic() - began < 20, "a poll the caller may not see waited"
        assert _long(c, RESULT, id=run_id, wait=0.1).json()["data"]["status"] in UNFINISHED
        for cancelled in (run_id, task_id):
            assert c.post(f"{RUNS}/{cancelled}/cancel/").status_code in (200, 202)


def test_a_start_that_prefers_to_wait_answers_when_its_run_ends(embedded: Any, markers: Path) -> None:
    with api(embedded.url) as c:
        quick = create_workflow(c, sleep_data(0.5, markers), title="quick")
        began = time.monotonic()
        reply = _start(c, _run_path(quick), "respond-async, wait=30")
        assert time.monotonic() - began < 20, "the start waited out its time: the run's end did not wake it"
        assert reply.status_code == 200 and reply.json()["status"] == 201, reply.text
        data = reply.json()["data"]
        assert data["status"] == "succeed" and set(data) == {"id", "status", "data", "metrics"}
        assert c.get(RESULT, params={"id": data["id"]}).json()["data"] == data  # what a poll shows
        # a wait of 1e999 (or inf) is capped at 30 s, not refused: the run ends well before
        assert _start(c, _run_path(quick), "wait=1e999").json()["data"]["status"] == "succeed"
        # a wait that runs out answers with the run as it is, which a poll then follows
        slow = create_workflow(c, sleep_data(60, markers), title="slow")
        data = _start(c, _run_path(slow), "wait=0.3").json()["data"]
        assert data["status"] in UNFINISHED
        assert c.post(f"{RUNS}/{data['id']}/cancel/").status_code in (200, 202)
        assert _woken(c, RESULT, id=data["id"]).json()["data"]["status"] == "failed"
        # input the trigger refuses: the same 400 envelope, nothing waited for
        refused = _start(c, _run_path(create_workflow(c)), "wait=30").json()
        assert refused["status"] == 400 and refused["data"]["errors"], refused


def test_a_malformed_wait_preference_is_ignored(embedded: Any, markers: Path) -> None:
    """RFC 7240: a preference the server cannot honour is ignored; the start answers at once."""
    with api(embedded.url) as c:
        slow = create_workflow(c, sleep_data(60, markers), title="slow")
        long_junk = "respond-async, " * 2_000 + "wait=x"  # 30 KB of preferences, no usable wait
        for prefer in (
            "wait=abc",
            "wait=-1",
            "wait=nan",
            "wait",
            "wait=",
            "wait=0",
            "{{ ''.__class__ }}",
            long_junk,
        ):
            began = time.monotonic()
            reply = _start(c, _run_path(slow), prefer)
            assert time.monotonic() - began < 10, prefer[:40]
            assert reply.status_code == 200 and reply.json()["data"]["status"] == "created", (
                prefer,
                reply.text,
            )
            assert APPLIED not in reply.headers, prefer[:40]  # nothing was honoured
            assert c.post(f"{RUNS}/{reply.json()['data']['id']}/cancel/").status_code in (200, 202)
            started = _start(c, "/task", prefer, s="60")
            task = started.json()
            assert task["status"] == "not-ready" and set(task) == {"id", "status"}, (prefer[:40], task)
            assert APPLIED not in started.headers, prefer[:40]
            assert c.post(f"{RUNS}/{task['id']}/cancel/").status_code in (200, 202)


def test_a_task_start_that_prefers_to_wait_answers_ready(embedded: Any) -> None:
    with api(embedded.url) as c:
        reply = _start(c, "/task", "wait=30", s="0.2")
        assert reply.status_code == 200 and reply.json()["status"] == "ready", reply.text
        assert reply.json()["results"] == [1] and c.get(f"/task/{reply.json()['id']}").json() == reply.json()
        assert _start(c, "/script", "wait=30", s="0").json()["status"] == "ready"
        pending = _start(c, "/task", "wait=0.3", s="60").json()
        assert pending == {"id": pending["id"], "status": "not-ready"}
        assert c.post(f"{RUNS}/{pending['id']}/cancel/").status_code in (200, 202)


def test_a_replayed_start_gets_the_answer_its_wait_gave(embedded: Any, markers: Path) -> None:
    with api(embedded.url) as c:
        quick = create_workflow(c, sleep_data(0, markers), title="quick")
        headers = {"Prefer": "wait=30", "Idempotency-Key": str(uuid.uuid4())}
        first = c.post(_run_path(quick), headers=headers, timeout=60)
        again = c.post(_run_path(quick), headers=headers, timeout=60)
        assert first.json()["data"]["status"] == "succeed"
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        # the replay did not wait (nor read its own Prefer): it does not claim to have
        assert first.headers[APPLIED] == "wait=30" and APPLIED not in again.headers


def test_a_start_that_waited_says_so_with_preference_applied(embedded: Any, markers: Path) -> None:
    """RFC 7240 §3: ``Preference-Applied: wait=<the seconds applied>`` exactly when the start
    waited, capped seconds included; not without ``Prefer``, nor for a start refused before it."""
    with api(embedded.url) as c:
        quick = create_workflow(c, sleep_data(0, markers), title="quick")
        for prefer, applied in (
            ("wait=30", "wait=30"),
            ("respond-async, wait=5", "wait=5"),
            ("wait=1e999", "wait=30"),
            ("wait=120", "wait=30"),
            ('wait="2.50"', "wait=2.5"),
            ("wait=0.0125", "wait=0.013"),  # to the millisecond
        ):
            reply = _start(c, _run_path(quick), prefer)
            assert reply.json()["data"]["status"] == "succeed", (prefer, reply.text)
            assert reply.headers[APPLIED] == applied, prefer
        slow = create_workflow(c, sleep_data(60, markers), title="slow")
        out_of_time = _start(c, _run_path(slow), "wait=0.3")  # the wait ran out: still applied
        assert out_of_time.headers[APPLIED] == "wait=0.3"
        assert c.post(f"{RUNS}/{out_of_time.json()['data']['id']}/cancel/").status_code in (200, 202)
        plain = c.post(_run_path(quick))
        assert plain.json()["data"]["status"] == "created" and APPLIED not in plain.headers
        tiny = _start(c, _run_path(quick), "wait=1e-300")  # under a millisecond: no wait
        assert tiny.json()["data"]["status"] == "created" and APPLIED not in tiny.headers
        refused = _start(c, _run_path(create_workflow(c)), "wait=30")  # input the trigger refuses
        assert refused.json()["status"] == 400 and APPLIED not in refused.headers

        for path, prefer, applied in (
            ("/task", "wait=30", "wait=30"),
            ("/task/some/path", "wait=120", "wait=30"),
            ("/script", "wait=1e999", "wait=30"),
        ):
            task = _start(c, path, prefer, s="0")
            assert task.json()["status"] == "ready", (path, task.text)
            assert task.headers[APPLIED] == applied, (path, prefer)
        plain_task = c.post("/task", params={"s": "0"})
        assert plain_task.json()["status"] == "not-ready" and APPLIED not in plain_task.headers


def test_the_openapi_document_declares_prefer_and_preference_applied(embedded: Any) -> None:
    document = httpx.get(f"{embedded.url}/schema/openapi.json").json()
    starts = [
        "/api/v1/workflows/{workflow_id}/run",
        "/task",
        "/task/{path}",
        "/script",
        "/script/{path}",
    ]
    for path in starts:
        operation = document["paths"][path]["post"]
        prefer = [p for p in operation["parameters"] if p["name"] == "Prefer"]
        assert len(prefer) == 1, (path, operation["parameters"])
        assert prefer[0]["in"] == "header" and prefer[0]["required"] is False, path
        assert prefer[0]["schema"] == {"type": "string"} and "wait=" in prefer[0]["description"], path
        headers = operation["responses"]["200"]["headers"]
        assert set(headers) == {APPLIED} and headers[APPLIED]["schema"] == {"type": "string"}, path
    polls = [("/api/v1/workflows/workflow_result", "get"), ("/task/{task_id}", "get")]
    for path, method in polls:  # a poll waits with ?wait=, not Prefer
        operation = document["paths"][path][method]
        assert all(p["name"] != "Prefer" for p in operation.get("parameters", [])), path
