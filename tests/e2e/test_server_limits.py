"""Limits of a real server: a full embedded queue answers 503 with Retry-After (and the runs that
waited keep their input, read back from the store); slow clients are dropped; /healthz answers
throughout."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from runwire_server.testing import running_server
from tests.helpers import (
    KEY,
    ROOT,
    api,
    create_workflow,
    hello_data,
    sleep_data,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)


def test_a_full_queue_refuses_new_runs_with_503_and_retry_after(
    tmp_path: Path, sleep_plugin_path: str
) -> None:
    env = with_plugin(
        {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_WORKER_THREADS": "1",
            "RUNWIRE_QUEUE_MAX": "2",
            "RUNWIRE_TASK_CONFIG": str(ROOT / "examples" / "task" / "config.json"),
            "RUNWIRE_EXECUTABLES_DIR": str(ROOT / "examples" / "bin"),
        },
        sleep_plugin_path,
    )
    big = "x" * 500_000  # waiting runs hold their input in the store, not in the server
    with running_server(env=env) as server, api(server.url) as client:
        blocker = start_run(client, create_workflow(client, sleep_data(3.0, tmp_path)))
        wait_for_marker(tmp_path, blocker)  # the one slot is taken
        hello = create_workflow(client, hello_data())
        waiting = [start_run(client, hello, json.dumps({"name": f"{big}{i}", "age": 40})) for i in range(2)]

        late = {"url": f"/api/v1/workflows/{hello}/run/", "json": {"name": "late"}}
        refused = client.post(**late, headers={"Idempotency-Key": "late"})  # type: ignore[arg-type]
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert "RUNWIRE_QUEUE_MAX=2" in refused.json()["detail"]
        task = client.post("/task/Paris")
        job = client.post("/api/execute/", json={"executable_name": "hello.sh"})
        assert (task.status_code, job.status_code) == (503, 503)
        assert "Retry-After" in task.headers and "Retry-After" in job.headers
        assert httpx.get(f"{server.url}/healthz").status_code == 200

        for i, run_id in enumerate(waiting):
            result = wait_for_run(client, run_id)
            assert result["status"] == "succeed"
            assert any(f"{big}{i}" in json.dumps(node.get("result")) for node in result["data"].values())
        assert start_run(client, hello, '{"name": "now", "age": 1}')  # room again
        retried = client.post(**late, headers={"Idempotency-Key": "late"})  # type: ignore[arg-type]
        assert (
            retried.json()["status"] == 201 and "Idempotent-Replayed" not in retried.headers
        )  # 503 not kept


def test_slow_clients_are_dropped_and_the_server_keeps_answering() -> None:
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_HTTP_HEADER_TIMEOUT_S": "1",
        "RUNWIRE_HTTP_REQUEST_TIMEOUT_S": "1",
        "RUNWIRE_HTTP_KEEPALIVE_TIMEOUT_S": "1",
    }
    with running_server(env=env) as server:
        address = ("127.0.0.1", server.port)
        trickle_headers = socket.create_connection(address)
        trickle_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        trickle_body = socket.create_connection(address)
        trickle_body.sendall(
            b"POST /api/v1/workflows/ HTTP/1.1\r\nHost: x\r\nX-Api-Key: "
            + KEY.encode()
            + b"\r\nContent-Length: 1000\r\n\r\n{"
        )
        silent = socket.create_connection(address)
        idle = socket.create_connection(address)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        for sock in (trickle_headers, trickle_body, silent, idle):
            sock.settimeout(30)  # a bound for the test, not a measurement: the server closes first
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            sock.close()
            assert received == b"" or received.startswith(b"HTTP/1.1 200"), received[:100]
        assert httpx.get(f"{server.url}/healthz").status_code == 200
