"""Live run events (``GET /api/v1/runs/{id}/events/``) read by a real HTTP client from a running
server: read part of a run's story, disconnect, resume with ``Last-Event-ID`` (no gap, no
repeat, ``run_finished`` last); after the end the whole story; relayed from a worker process in
distributed mode; hostile ids and ``Last-Event-ID`` values refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwire_server.api.run_events import RECHECK_S
from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import KEY, api, ui_sign_in

Event = tuple[int, str, dict[str, Any]]
NAP_S = 0.8
STORY = ["node_started", "node_finished", "node_started", "node_finished", "run_finished"]
"""An execute job's: the trigger, then the script, then the run's end."""


def events(response: httpx.Response) -> Iterator[Event]:
    """The events of an SSE response as they arrive: ``(id, event, data)`` (comments skipped)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if fields:
            yield int(fields["id"]), fields["event"], json.loads(fields["data"])
            fields = {}


def read(client: httpx.Client, run_id: str, count: int | None = None, **headers: str) -> list[Event]:
    """Events of ``run_id`` (``count`` of them, then disconnect; ``None``: to the stream's end)."""
    got: list[Event] = []
    url = f"/api/v1/runs/{run_id}/events/"
    with client.stream("GET", url, headers=headers, timeout=20) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in events(response):
            got.append(event)
            if len(got) == count:
                break
    return got


@pytest.fixture
def nap(executables: Path) -> str:
    """An executable in the ``executables`` dir that sleeps :data:`NAP_S` and prints JSON."""
    script = executables / "nap.sh"
    script.write_text(f"#!/bin/sh\nsleep {NAP_S}\necho '{{\"napped\": true}}'\n")
    script.chmod(0o755)
    return script.name


def start_job(client: httpx.Client, executable: str) -> str:
    reply = client.post("/api/execute/", json={"executable_name": executable})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["job_id"])


def check_story(run_id: str, story: list[Event]) -> None:
    assert [e[0] for e in story] == [1, 2, 3, 4, 5]
    assert [e[1] for e in story] == STORY
    assert all(data["run"] == run_id for _, _, data in story)
    script = story[3][2]
    assert script["node"] == "script" and script["type"] == "basic-node"
    assert script["duration_s"] >= NAP_S - 0.05 and script["result"]["content"].strip() == '{"napped": true}'
    assert story[4][2] | {"at": None} == {
        "run": run_id,
        "status": "succeed",
        "error": None,
        "cancelled": False,
        "cancelled_by": None,
        "at": None,
    }


def test_a_client_resumes_with_last_event_id_and_one_after_the_end_gets_everything(
    executables: Path, nap: str
) -> None:
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_EXECUTABLES_DIR": str(executables)}
    with running_server(env=env) as server, api(server.url) as client:
        run_id = start_job(client, nap)
        first = read(client, run_id, count=3)  # the script has started: disconnect while it naps
        rest = read(client, run_id, **{"Last-Event-ID": str(first[-1][0])})
        check_story(run_id, first + rest)
        whole = read(client, run_id)
        assert whole == first + rest
        with client.stream("GET", f"/api/v1/runs/{run_id}/events/?last_event_id=2") as response:
            assert [e[0] for e in events(response)] == [3, 4, 5]
        assert read(client, run_id, **{"Last-Event-ID": "5"}) == []  # it had everything
        for url, headers, status in (
            ("/api/v1/runs/not-a-uuid/events/", {}, 404),
            (f"/api/v1/runs/{run_id}/events/", {"Last-Event-ID": "soon"}, 400),
            (f"/api/v1/runs/{run_id}/events/", {"Last-Event-ID": "-1"}, 400),
            (f"/api/v1/runs/{run_id}/events/", {"Last-Event-ID": "9" * 40}, 400),
            (f"/api/v1/runs/{run_id}/events/?last_event_id=1e3", {}, 400),
            (f"/api/v1/runs/{run_id}/events/", {"X-Api-Key": "rw_" + "A" * 43}, 401),
        ):
            reply = client.get(url, headers=headers)
            assert reply.status_code == status, (url, headers, reply.text)
            assert "detail" in reply.json()


@pytest.mark.parametrize("broker_env", ["redis"], indirect=True)
def test_events_of_a_run_a_worker_executes_are_relayed(
    broker_env: dict[str, str], executables: Path, nap: str
) -> None:
    with postgres_database() as database_url:
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": database_url,
            "RUNWIRE_EXECUTABLES_DIR": str(executables),
            **broker_env,
        }
        with (
            running_server(env=env) as server,
            running_worker(env=env),
            api(server.url) as client,
        ):
            run_id = start_job(client, nap)
            check_story(run_id, read(client, run_id))


def test_an_open_stream_ends_soon_after_its_key_is_revoked(executables: Path) -> None:
    """A revoked key (through the API or its UI session) stops getting a run's events within
    ``RECHECK_S`` even from a stream it opened before; the run itself goes on."""
    sleeper = executables / "sleeper.sh"
    sleeper.write_text("#!/bin/sh\nsleep 30\necho woke\n")
    sleeper.chmod(0o755)
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_EXECUTABLES_DIR": str(executables)}
    with running_server(env=env) as server:
        created = subprocess.run(
            [sys.executable, "-m", "runwire_server", "keys", "create", "--project", "0", "--name", "s"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        found = re.search(r"key (\d+) \(", created.stderr)
        assert found is not None, created.stderr
        key, key_id = created.stdout.strip(), found[1]
        with api(server.url, key) as client, httpx.Client(base_url=server.url, timeout=20) as browser:
            run_id = start_job(client, sleeper.name)
            ui_sign_in(browser, key)
            seen: dict[str, list[str]] = {"api": [], "ui": []}
            ended: dict[str, float] = {}

            def follow(name: str, http: httpx.Client, url: str) -> None:
                with http.stream("GET", url, timeout=20) as response:
                    assert response.status_code == 200, response.read()
                    for line in response.iter_lines():
                        if line.startswith("event: "):
                            seen[name].append(line.removeprefix("event: "))
                ended[name] = time.monotonic()

            streams = [
                threading.Thread(target=follow, args=("api", client, f"/api/v1/runs/{run_id}/events/")),
                threading.Thread(target=follow, args=("ui", browser, f"/ui/runs/{run_id}/events")),
            ]
            for stream in streams:
                stream.start()
            deadline = time.monotonic() + 10
            while min(len(seen["api"]), len(seen["ui"])) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)  # both have seen the script start
            assert seen["api"][:3] == seen["ui"][:3] == STORY[:3], seen
            revoked = subprocess.run(
                [sys.executable, "-m", "runwire_server", "keys", "revoke", key_id],
                env=server.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert revoked.returncode == 0, revoked.stderr
            at = time.monotonic()
            for stream in streams:
                stream.join(timeout=15)
            assert seen["api"] == seen["ui"] == STORY[:3], seen  # nothing of the script's end
            assert all(ended[name] - at < RECHECK_S + 2 for name in ("api", "ui")), (ended, at)
        boot = api(server.url)
        shown = boot.get("/api/v1/workflows/workflow_result/", params={"id": run_id}).json()
        assert shown["data"]["status"] == "in progress", shown  # the run went on; no need to wait it out
        assert boot.post(f"/api/v1/runs/{run_id}/cancel/").status_code == 202


def test_signing_out_ends_the_sessions_open_event_stream(executables: Path) -> None:
    """A run page left open in another tab stops getting events within ``RECHECK_S`` of its
    session being signed out, though the key itself is still good; the run goes on."""
    sleeper = executables / "sleeper.sh"
    sleeper.write_text("#!/bin/sh\nsleep 30\necho woke\n")
    sleeper.chmod(0o755)
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_EXECUTABLES_DIR": str(executables)}
    with (
        running_server(env=env) as server,
        api(server.url) as client,
        httpx.Client(base_url=server.url, timeout=20) as tab,
    ):
        run_id = start_job(client, sleeper.name)
        token = ui_sign_in(tab, KEY)
        seen: list[str] = []
        ended: list[float] = []

        def follow() -> None:
            with (
                httpx.Client(base_url=server.url, cookies=tab.cookies, timeout=20) as other_tab,
                other_tab.stream("GET", f"/ui/runs/{run_id}/events") as response,
            ):
                assert response.status_code == 200, response.read()
                seen.extend(line for line in response.iter_lines() if line.startswith("event: "))
            ended.append(time.monotonic())

        stream = threading.Thread(target=follow)
        stream.start()
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the script has started
        assert tab.post("/ui/sign-out", data={"_csrf_token": token}).status_code in (200, 303)
        at = time.monotonic()
        stream.join(timeout=15)
        assert ended and ended[0] - at < RECHECK_S + 2, (ended, at)
        assert [e.removeprefix("event: ") for e in seen] == STORY[:3]
        shown = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}).json()
        assert shown["data"]["status"] == "in progress", shown
        assert client.post(f"/api/v1/runs/{run_id}/cancel/").status_code == 202


def test_without_authentication_a_ui_stream_follows_its_run_to_the_end(executables: Path) -> None:
    """With ``RUNWIRE_AUTH_PROVIDERS=none`` the UI needs no sign-in, so there is no session for
    the stream to outlive: it relays the whole run, past ``RECHECK_S``, in one response."""
    sleeper = executables / "sleeper.sh"
    sleeper.write_text(f"#!/bin/sh\nsleep {RECHECK_S + 1.5}\necho woke\n")
    sleeper.chmod(0o755)
    env = {"RUNWIRE_AUTH_PROVIDERS": "none", "RUNWIRE_EXECUTABLES_DIR": str(executables)}
    with running_server(env=env) as server, api(server.url) as client:
        run_id = start_job(client, sleeper.name)
        with (
            httpx.Client(base_url=server.url, timeout=30) as tab,
            tab.stream("GET", f"/ui/runs/{run_id}/events") as response,
        ):
            assert response.status_code == 200, response.read()
            seen = [
                line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")
            ]
        assert seen == STORY
