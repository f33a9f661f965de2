"""The front doors on real ``runwire serve`` processes: embedded, and with Redis + ``runwire worker``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest

from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import HEADERS, KEY, lims_config


class Receiver(BaseHTTPRequestHandler):
    """A callback receiver: records each JSON body it is sent."""

    received: list[Any] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    """A real HTTP server on 127.0.0.1 recording callbacks; yields (url, received bodies)."""
    received: list[Any] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    finally:
        server.shutdown()
        server.server_close()


def env_for(tmp_path: Path, executables: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(lims_config()))
    return {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_TASK_CONFIG": str(config),
        "RUNWIRE_EXECUTABLES_DIR": str(executables),
        "RUNWIRE_HTTP_ALLOW": "127.0.0.1",
        **extra,
    }


def wait_for(fetch: Any, done: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def exercise(url: str, callback_url: str, received: list[Any]) -> None:
    """A task, a blocking execute and an async execute with a callback, against ``url``."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        task = client.post("/task/n1a54tmd").json()
        assert task["status"] == "not-ready"
        done = wait_for(
            lambda: client.get(f"/task/{task['id']}").json(), lambda b: b["status"] != "not-ready"
        )
        assert done["status"] == "ready", done
        assert [r["plateCell"] for r in done["results"]] == ["A01", "A02"]
        assert list(done["attachments"]) == ["results-n1a54tmd.pdf"]

        sync = client.post("/api/execute/", json={"executable_name": "bench_csv.sh", "is_async": False})
        assert sync.status_code == 201
        assert sync.json()["result"]["status"] == "successful"

        job = client.post(
            "/api/execute/",
            json={"executable_name": "show_args.py", "args": ["$(id)"], "callback": callback_url},
        )
        assert job.status_code == 201 and job.json()["result"] is None
        job_id = job.json()["job_id"]
        wait_for(lambda: received, lambda r: len(r) > 0)
        assert received[0]["job_id"] == job_id
        assert json.loads(received[0]["result"]["output"])["argv"] == ["$(id)"]
        polled = wait_for(
            lambda: client.get(f"/api/execute/{job_id}").json(), lambda b: b["status"] == "succeed"
        )
        assert polled["callback"]["status"] == "succeed"


def test_embedded_server(tmp_path: Path, executables: Path, receiver: tuple[str, list[Any]]) -> None:
    with running_server(env=env_for(tmp_path, executables)) as server:
        exercise(server.url, *receiver)


def test_distributed_workers(
    tmp_path: Path, executables: Path, receiver: tuple[str, list[Any]], broker_env: dict[str, str]
) -> None:
    with postgres_database() as database_url:
        env = env_for(tmp_path, executables, RUNWIRE_DATABASE_URL=database_url, **broker_env)
        with running_server(env=env) as server, running_worker(env=env) as worker:
            exercise(server.url, *receiver)
            assert "runwire worker" in worker.logs()


def test_serve_refuses_an_invalid_task_config(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"command": ["x"], "inputs": {"query_args": [{"env_var_name": "A"}]}}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runwire_server",
            "serve",
            "--port",
            "0",
            "--task-config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "inputs.query_args.0.query_var_name" in proc.stderr
    assert "Traceback" not in proc.stderr
