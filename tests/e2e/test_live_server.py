"""A real ``runwire serve`` process over HTTP: hostile input, auth modes, keys, crash recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from runwire_server.testing import free_port, postgres_database, running_server
from tests.helpers import (
    KEY,
    ROOT,
    SHORT_LEASES,
    api,
    create_workflow,
    hello_data,
    sleep_data,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)

ENV = {"RUNWIRE_API_KEYS": KEY}


def test_hostile_requests_get_clear_4xx_and_the_server_keeps_serving() -> None:
    with running_server(env={**ENV, "RUNWIRE_MAX_BODY_BYTES": "65536"}) as server, api(server.url) as client:
        workflow_id = create_workflow(client, hello_data())
        run_url = f"/api/v1/workflows/{workflow_id}/run/"
        cases = [
            ("POST", "/api/v1/workflows/", b"{broken", 400),
            ("POST", "/api/v1/workflows/", b"\xff\xfe\xfd", 400),
            ("POST", "/api/v1/workflows/", b"[" * 10_000 + b"]" * 10_000, 400),
            (
                "POST",
                "/api/v1/workflows/",
                json.dumps({"project": "1", "title": [], "data": 3}).encode(),
                400,
            ),
            (
                "POST",
                "/api/v1/workflows/",
                b'{"project": 1, "title": "x", "data": {"b": "' + b"x" * 70_000 + b'"}}',
                413,
            ),
            ("POST", run_url, b"x" * 70_000, 413),
            ("POST", run_url, b"\xc3\x28", 400),
            ("GET", "/api/v1/workflows/?page=-5", b"", 400),
            ("GET", "/api/v1/workflows/?page=banana", b"", 400),
            ("GET", "/api/v1/workflows/workflow_result/?id=../../etc/passwd", b"", 400),
            ("GET", "/api/v1/workflows/..%2F..%2Fetc%2Fpasswd/", b"", 404),
            ("GET", "/api/v1/workflows/99999999999999999999999/", b"", 404),
            ("DELETE", "/api/v1/workflows/get_nodes/", b"", 405),
        ]
        for method, url, body, status in cases:
            response = client.request(method, url, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == status, (method, url[:60], response.text[:200])
            assert response.json()["detail"]
        assert (
            wait_for_run(client, start_run(client, workflow_id, '{"name": "still here"}'))["status"]
            == "succeed"
        )
        assert "Traceback" not in server.logs()


def test_raw_http_garbage_does_not_take_the_server_down() -> None:
    with running_server(env=ENV) as server:
        for garbage in (
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"\x00" * 64,
        ):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(garbage)
                sock.recv(1024)
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_websocket_upgrade_is_answered_as_plain_http_without_advice_in_the_log() -> None:
    """runwire has no WebSocket route and its server loads no WebSocket library (a faster start):
    an upgrade request is an ordinary request, still authenticated, and the log stays quiet."""
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    with running_server(env=ENV) as server:
        assert httpx.get(f"{server.url}/api/v1/workflows/", headers=upgrade).status_code == 401
        listed = httpx.get(f"{server.url}/api/v1/workflows/", headers={**upgrade, "X-Api-Key": KEY})
        assert listed.status_code == 200
        assert "WebSocket" not in server.logs() and "Unsupported upgrade" not in server.logs()


def test_auth_none_opens_the_api_and_says_so_loudly() -> None:
    with running_server(env={"RUNWIRE_AUTH_PROVIDERS": "none"}) as server:
        assert httpx.get(f"{server.url}/api/v1/workflows/").status_code == 200
        assert "accepts EVERY request without" in server.logs()
    with running_server(env=ENV) as server:
        assert httpx.get(f"{server.url}/api/v1/workflows/").status_code == 401
        assert "EVERY request" not in server.logs()


def test_keys_create_makes_a_scoped_key_printed_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    made = subprocess.run(
        [sys.executable, "-m", "runwire_server", "keys", "create", "--project", "2", "--name", "ci"],
        env={**env, "RUNWIRE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip()
    assert key.startswith("rw_") and "\n" not in key and "shown only this once" in made.stderr
    assert key.encode() not in (tmp_path / "runwire.db").read_bytes()
    with (
        running_server(env=ENV, data_dir=tmp_path) as server,
        api(server.url) as admin,
        api(server.url, key) as scoped,
    ):
        theirs = create_workflow(admin, hello_data(), project=1)
        mine = create_workflow(scoped, hello_data(), project=2)
        assert scoped.get(f"/api/v1/workflows/{theirs}/").status_code == 404
        assert scoped.get(f"/api/v1/workflows/{mine}/").status_code == 200
        assert (
            wait_for_run(scoped, start_run(scoped, mine, '{"name": "Ada", "age": 36}'))["status"] == "succeed"
        )
        assert api(server.url, key + "x").get("/api/v1/workflows/").status_code == 401
    bad = subprocess.run(
        [sys.executable, "-m", "runwire_server", "keys", "create", "--project", "x"],
        env={**env, "RUNWIRE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "project" in bad.stderr.lower()


def test_embedded_restart_finishes_runs_a_crash_left_behind(tmp_path: Path, sleep_plugin_path: str) -> None:
    data_dir, markers = tmp_path / "data", tmp_path / "markers"
    markers.mkdir()
    env = with_plugin({**ENV, **SHORT_LEASES}, sleep_plugin_path)
    with running_server(env=env, data_dir=data_dir) as first, api(first.url) as client:
        workflow_id = create_workflow(client, sleep_data(1.0, markers))
        run_ids = [start_run(client, workflow_id) for _ in range(3)]
        wait_for_marker(markers, run_ids[0])
        first.kill()  # SIGKILL: no clean shutdown, runs stay "in progress"/"in queue"
    with running_server(env=env, data_dir=data_dir) as second, api(second.url) as client:
        for run_id in run_ids:
            result = wait_for_run(client, run_id)
            assert result["status"] == "succeed", result
            assert (
                json.loads(json.dumps(result))["data"][sleep_data(0)["nodes"][1]["id"]]["result"]["pid"]
                == second.process.pid
            )
        assert "re-enqueued 3 run(s)" in second.logs()


def test_worker_needs_a_broker_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    done = subprocess.run(
        [sys.executable, "-m", "runwire_server", "worker"],
        env={**env, "RUNWIRE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "RUNWIRE_BROKER_URL" in done.stderr


def test_unreachable_broker_gives_503_and_fails_the_run_instead_of_losing_it() -> None:
    env = {
        **ENV,
        "RUNWIRE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "RUNWIRE_TASK_CONFIG": str(ROOT / "examples" / "task" / "config.json"),
        "RUNWIRE_EXECUTABLES_DIR": str(ROOT / "examples" / "bin"),
    }
    with running_server(env=env) as server, api(server.url) as client:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["broker"].startswith("unreachable")
        workflow_id = create_workflow(client, hello_data())
        response = client.post(f"/api/v1/workflows/{workflow_id}/run/", content='{"name": "x"}')
        assert response.status_code == 503 and "queue" in response.json()["detail"]
        (item,) = client.get(f"/api/v1/workflows/{workflow_id}/history/").json()["results"]
        assert item["status"] == "failed" and "enqueue" in item["error"]
        # the front doors too: the caller is told to retry, so the run must not stay queued
        # (a sweep would execute it after the retry has run it again)
        assert client.post("/task/Paris").status_code == 503
        assert client.post("/api/execute/", json={"executable_name": "hello.sh"}).status_code == 503
        front_door = client.get("/api/v1/workflows/", params={"project": 0}).json()["results"]
        assert len(front_door) == 2
        for workflow in front_door:
            (run,) = client.get(f"/api/v1/workflows/{workflow['id']}/history/").json()["results"]
            assert run["status"] == "failed" and "enqueue" in run["error"], run
        assert "Traceback" not in server.logs()


def test_pollers_see_live_progress_of_a_long_run(sleep_plugin_path: str) -> None:
    with running_server(env=with_plugin(ENV, sleep_plugin_path)) as server, api(server.url) as client:
        nodes = [n["id"] for n in sleep_data(0)["nodes"]]
        run_id = start_run(client, create_workflow(client, sleep_data(1.5)))
        seen: dict[str, str] = {}
        while True:
            data = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}).json()["data"]
            if data["status"] not in ("in queue", "in progress"):
                break
            if set(data["data"]) == set(nodes[:2]):
                seen = {k: v["status"] for k, v in data["data"].items()}
            time.sleep(0.02)
        assert seen == {nodes[0]: "succeed", nodes[1]: "in progress"}
        assert data["status"] == "succeed" and set(data["data"]) == set(nodes)


def test_a_run_over_its_time_limit_fails_with_its_finished_nodes(sleep_plugin_path: str) -> None:
    env = with_plugin(
        {**ENV, "RUNWIRE_RUN_TIME_LIMIT_S": "1", "RUNWIRE_WORKER_THREADS": "1"}, sleep_plugin_path
    )
    with running_server(env=env) as server, api(server.url) as client:
        workflow_id = create_workflow(client, sleep_data(30))
        result = wait_for_run(client, start_run(client, workflow_id), timeout=20)
        trigger, sleep, output = (n["id"] for n in sleep_data(0)["nodes"])
        assert result["status"] == "failed" and "time limit of 1 s" in result["error"]
        assert result["data"][trigger]["status"] == "succeed"
        assert result["data"][sleep]["status"] == "failed" and "time limit" in result["data"][sleep]["error"]
        assert output not in result["data"]
        quick = create_workflow(client, sleep_data(0.01))  # the server runs the next run normally
        assert wait_for_run(client, start_run(client, quick))["status"] == "succeed"


def test_a_stalled_key_lookup_does_not_stall_the_server() -> None:
    """Regression: stored API keys were looked up on the event loop, so a slow PostgreSQL
    froze every request (even /healthz) behind one request with an unknown key."""
    import psycopg

    with postgres_database() as url, running_server(env={**ENV, "RUNWIRE_DATABASE_URL": url}) as server:
        with psycopg.connect(url) as locker, ThreadPoolExecutor(1) as pool:
            locker.execute("LOCK TABLE runwire_api_keys IN ACCESS EXCLUSIVE MODE")
            pending = pool.submit(
                httpx.get, f"{server.url}/api/v1/workflows/", headers={"X-Api-Key": "rw_unknown"}, timeout=60
            )
            deadline = time.monotonic() + 20
            waiting = (  # in this test's database only: other tests may run beside it
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND pid <> pg_backend_pid() AND datname = current_database()"
            )
            while locker.execute(waiting).fetchone() == (0,):
                assert time.monotonic() < deadline and not pending.done(), "the lookup never waited"
                time.sleep(0.02)
            healthy = httpx.get(f"{server.url}/healthz", timeout=10)
            still_waiting = not pending.done()
            locker.rollback()
            assert pending.result().status_code == 401
        assert healthy.status_code == 200 and still_waiting


def test_a_broker_that_never_answers_the_connect_gives_503_not_a_hung_server() -> None:
    """Enqueueing to a black-holed Redis runs into the connect timeout (the enqueue holds the API's
    event loop meanwhile): the request gets 503 and the run is failed, not left waiting. The
    URL's query sets the timeout (redis-py's option names win over runwire's 5 s defaults)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the backlog: later connects hang
            env = {**ENV, "RUNWIRE_BROKER_URL": f"redis://127.0.0.1:{port}/0?socket_connect_timeout=0.5"}
            with running_server(env=env) as server, api(server.url) as client:
                workflow_id = create_workflow(client, hello_data())
                # each of the count and the enqueue waits out the connect timeout: well within 4 s
                # at 0.5 s, not at the default 5 s
                response = client.post(
                    f"/api/v1/workflows/{workflow_id}/run/", content='{"name": "x"}', timeout=4
                )
                assert response.status_code == 503 and "queue" in response.json()["detail"]
                (item,) = client.get(f"/api/v1/workflows/{workflow_id}/history/").json()["results"]
                assert item["status"] == "failed" and "enqueue" in item["error"]


def test_a_broker_that_accepts_but_never_answers_gives_503_not_a_hung_server() -> None:
    """An enqueue to a Redis that accepted the connection but never answers runs into the command
    timeout (with none, as under redis-py < 8, it held the API's event loop and every request).
    That first failure holds the event loop for the timeout; later submits wait for the broker
    in a worker thread while the server answers everything else."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # connections complete in the backlog; nothing ever reads or answers
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0?socket_timeout=2"
        with running_server(env={**ENV, "RUNWIRE_BROKER_URL": url}) as server, api(server.url) as client:
            workflow_id = create_workflow(client, hello_data())
            run_path = f"/api/v1/workflows/{workflow_id}/run/"
            response = client.post(run_path, content='{"name": "x"}', timeout=60)
            assert response.status_code == 503 and "queue" in response.json()["detail"]
            (item,) = client.get(f"/api/v1/workflows/{workflow_id}/history/").json()["results"]
            assert item["status"] == "failed" and "enqueue" in item["error"]
            with ThreadPoolExecutor(1) as pool:
                second = pool.submit(client.post, run_path, content='{"name": "y"}', timeout=60)
                answered = []
                while not second.done():  # the count and the enqueue: 2 s each, off the loop
                    answered.append(httpx.get(f"{server.url}/healthz", timeout=1).status_code)
                    time.sleep(0.2)
                assert second.result().status_code == 503
            assert len(answered) > 5 and set(answered) == {200}, answered
