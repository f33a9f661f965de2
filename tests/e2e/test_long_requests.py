"""Long-lived requests of a real server (event streams, ``?wait=`` polls, ``Prefer: wait``
starts) are capped per principal and in all, and the server raises its open-file limit at start
and keeps the cap under half of it: one key cannot use up the process's file descriptors, and
everyone else (health probes included) is still answered."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from runwire_server.testing import running_server
from tests.helpers import (
    KEY,
    api,
    create_workflow,
    make_key,
    samples,
    sleep_data,
    start_run,
    value,
    wait_for_run,
    with_plugin,
)

RESULT = "/api/v1/workflows/workflow_result/"


def events(run_id: str) -> str:
    return f"/api/v1/runs/{run_id}/events/"


@contextmanager
def stream(url: str, path: str, key: str) -> Iterator[httpx.Response]:
    """An event stream opened on a connection of its own (its reply's head read)."""
    with (
        httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=20) as client,
        client.stream("GET", path) as response,
    ):
        yield response


def refused(response: httpx.Response, status: int, setting: str) -> bool:
    if status != 200:
        response.read()
    return (
        response.status_code == status
        and response.headers.get("Retry-After") == "1"
        and setting in response.json()["detail"]
    )


def test_one_key_cannot_hold_more_than_its_long_requests_and_others_are_still_served(
    tmp_path: Path, sleep_plugin_path: str
) -> None:
    env = with_plugin(
        {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL": "2",
            "RUNWIRE_MAX_LONG_REQUESTS": "3",
        },
        sleep_plugin_path,
    )
    data_dir = tmp_path / "data"
    scoped = make_key(data_dir, 1)
    with (
        running_server(env=env, data_dir=data_dir) as server,
        api(server.url) as operator,
        api(server.url, scoped) as caller,
    ):
        sleeper = create_workflow(caller, sleep_data(60))
        hello = create_workflow(caller)
        long_run = start_run(caller, sleeper)
        done = start_run(caller, hello, '{"name": "Ada", "age": 36}')
        assert wait_for_run(caller, done)["status"] == "succeed"

        with ExitStack() as held:
            first, second = (
                held.enter_context(stream(server.url, events(long_run), scoped)) for _ in range(2)
            )
            assert (first.status_code, second.status_code) == (200, 200)
            # the key's third stream or wait is refused: 429, its own count
            with stream(server.url, events(long_run), scoped) as third:
                assert refused(third, 429, "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL=2")
            assert refused(caller.get(RESULT, params={"id": long_run, "wait": 5}), 429, "PER_PRINCIPAL=2")
            # what does not wait holds nothing: a poll, a finished run's stream, a plain start
            assert caller.get(RESULT, params={"id": long_run}).json()["data"]["status"] == "in progress"
            assert caller.get(RESULT, params={"id": done, "wait": 5}).json()["data"]["status"] == "succeed"
            with stream(server.url, events(done), scoped) as story:
                assert story.status_code == 200 and "run_finished" in story.read().decode()
            # a start asking to wait still starts its run, and answers at once (RFC 7240)
            started = caller.post(
                f"/api/v1/workflows/{hello}/run/",
                json={"name": "Bo", "age": 12},
                headers={"Prefer": "wait=30"},
            )
            assert started.json()["status"] == 201 and "Preference-Applied" not in started.headers
            assert wait_for_run(caller, started.json()["data"]["id"])["status"] == "succeed"

            # another principal gets the last place; past it, the process's cap: 503
            other = held.enter_context(stream(server.url, events(long_run), KEY))
            assert other.status_code == 200
            assert refused(
                operator.get(RESULT, params={"id": long_run, "wait": 5}), 503, "MAX_LONG_REQUESTS=3"
            )
            assert value(samples(operator.get("/metrics").text), "runwire_long_requests") == 3
            # everything short is answered meanwhile
            assert httpx.get(f"{server.url}/healthz").status_code == 200
            assert operator.get("/api/v1/workflows/").status_code == 200
            assert wait_for_run(operator, start_run(operator, hello, '{"name": "Cy", "age": 50}'))[
                "status"
            ] == ("succeed")

        # closed streams give their places back (the server sees the disconnect)
        deadline = time.monotonic() + 30
        while True:
            again = caller.get(RESULT, params={"id": long_run, "wait": 0.2})
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert again.status_code == 200, again.text
        with stream(server.url, events(long_run), scoped) as reopened:
            assert reopened.status_code == 200
        assert caller.post(f"/api/v1/runs/{long_run}/cancel/").status_code == 202


def test_the_open_file_limit_is_raised_at_most_to_65536(tmp_path: Path) -> None:
    # programs inherit it: a container's hard limit (often 1048576) is not handed to them whole
    probe = subprocess.run(["prlimit", "--nofile=64:100000", "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:  # a hard limit over the current one needs CAP_SYS_RESOURCE
        pytest.skip(f"cannot give a process a hard open-file limit of 100000 here: {probe.stderr.strip()}")
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec prlimit --nofile=64:100000 -- {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    with running_server(env={"RUNWIRE_API_KEYS": KEY}, python=str(wrapper)) as server:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        logs = server.logs()
    found = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
    assert found is not None and (found[1], found[2]) == ("65536", "100000"), limits
    assert "open-file limit raised from 64 to 65536 (the hard limit, at most 65536)" in logs


def test_the_open_file_limit_is_raised_and_bounds_connections_long_requests_and_warnings(
    tmp_path: Path,
) -> None:
    # the soft limit at 64, the hard one at 1000: the server starts with 1000; one program slot
    # keeps 64 + 8 descriptors from connections (at most 928), half of those may wait (464)
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec prlimit --nofile=64:1000 -- {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_MAX_PROCESSES": "1", "RUNWIRE_HEARTBEAT_S": "0.2"}
    with running_server(env=env, python=str(wrapper)) as server, api(server.url) as client:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        found = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
        assert found is not None and (found[1], found[2]) == ("1000", "1000"), limits
        logs = server.logs()
        assert "open-file limit raised from 64 to 1000" in logs
        assert "at most 928 connections at once" in logs
        assert "RUNWIRE_MAX_LONG_REQUESTS=1000 lowered to 464: half of the 928 connections" in logs
        assert "set RUNWIRE_MAX_LONG_REQUESTS=464 to keep this quiet" in logs
        metrics = samples(client.get("/metrics").text)
        assert value(metrics, "runwire_open_files_limit") == 1000
        assert 0 < value(metrics, "runwire_open_files") < 100

        # connections that never send a request: past 928 each new one is answered 503 and
        # closed, and with 90 % of the descriptors in use the log says so
        with ExitStack() as held:
            sockets = [
                held.enter_context(socket.create_connection(("127.0.0.1", server.port))) for _ in range(940)
            ]
            sockets[-1].settimeout(10)
            assert sockets[-1].recv(100).startswith(b"HTTP/1.1 503 Service Unavailable")
            deadline = time.monotonic() + 20
            while "file descriptors in use (the open-file limit)" not in server.logs():
                assert time.monotonic() < deadline, server.logs()[-3000:]
                time.sleep(0.05)
            assert "928 connections open (RUNWIRE_MAX_CONNECTIONS)" in server.logs()
            assert len(list(Path(f"/proc/{server.process.pid}/fd").iterdir())) < 1000
        deadline = time.monotonic() + 20
        while True:  # they are closed: the server answers again
            try:
                if httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)


def gated_executables(tmp_path: Path) -> Path:
    """A RUNWIRE_EXECUTABLES_DIR holding ``gate.sh``: it touches ``tmp_path/started``, runs until
    ``tmp_path/go`` exists, then prints its first argument."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gate = bin_dir / "gate.sh"
    gate.write_text(
        f'#!/bin/sh\ntouch {tmp_path}/started\nwhile [ ! -f {tmp_path}/go ]; do sleep 0.02; done\necho "$1"\n'
    )
    gate.chmod(0o755)
    return bin_dir


def test_a_blocking_execute_over_the_cap_starts_nothing_and_its_idempotency_key_is_not_kept(
    tmp_path: Path,
) -> None:
    bin_dir = gated_executables(tmp_path)
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_EXECUTABLES_DIR": str(bin_dir),
        "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL": "1",
    }
    with running_server(env=env) as server, api(server.url) as client:
        job = {"executable_name": "gate.sh", "is_async": False}
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/api/execute/", json={**job, "args": ["first"]}, timeout=60)
            deadline = time.monotonic() + 30
            while not (tmp_path / "started").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            second = {"json": {**job, "args": ["second"]}, "headers": {"Idempotency-Key": "again"}}
            over = client.post("/api/execute/", **second)  # type: ignore[arg-type]
            assert refused(over, 429, "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL=1")
            # an async job is not long-lived: it is accepted meanwhile
            assert client.post("/api/execute/", json={**job, "is_async": True}).status_code == 201
            (tmp_path / "go").touch()
            assert first.result().json()["result"]["output"] == "first\n"
        retried = client.post("/api/execute/", **second)  # type: ignore[arg-type]
        assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
        assert retried.json()["result"]["output"] == "second\n"


def test_a_submit_waiting_for_its_idempotency_keys_first_answer_counts_against_the_cap(
    tmp_path: Path,
) -> None:
    # a retry waiting for the first request's answer keeps its connection for up to 30 s: without
    # the cap, one key could hold any number of them by repeating one key and body
    bin_dir = gated_executables(tmp_path)
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_EXECUTABLES_DIR": str(bin_dir),
        "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL": "2",
    }
    submit = {
        "json": {"executable_name": "gate.sh", "is_async": False, "args": ["once"]},
        "headers": {"Idempotency-Key": "k1"},
        "timeout": 60,
    }
    with running_server(env=env) as server, api(server.url) as client:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/api/execute/", **submit)  # holds one place
            deadline = time.monotonic() + 30
            while not (tmp_path / "started").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            # a stream of a running run takes the key's second place
            run_id = client.get("/api/v1/runs/", params={"door": "execute"}).json()["results"][0]["id"]
            with stream(server.url, events(run_id), KEY) as open_stream:
                assert open_stream.status_code == 200
                # the same submit again would wait for the first one's answer: over the cap, 429
                # at once (it waited 30 s, then 409), the key left to the first request
                again = client.post("/api/execute/", **submit)  # type: ignore[arg-type]
                assert refused(again, 429, "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL=2"), again.text
            (tmp_path / "go").touch()
            answer = first.result()
            assert answer.status_code == 201 and answer.json()["result"]["output"] == "once\n"
        replayed = client.post("/api/execute/", **submit)  # type: ignore[arg-type]
        assert replayed.headers.get("Idempotent-Replayed") == "true"
        assert replayed.json() == answer.json()


def test_a_wait_whose_client_has_gone_gives_its_place_back_at_once(
    tmp_path: Path, sleep_plugin_path: str
) -> None:
    # a client whose timeout is shorter than its wait gives up; the wait held its place for up to
    # 30 s more, for nobody, and the key's next waits were 429
    env = with_plugin(
        {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL": "1"}, sleep_plugin_path
    )
    with running_server(env=env) as server, api(server.url) as client:
        sleeper = create_workflow(client, sleep_data(60))
        run = start_run(client, sleeper)
        gives_up = httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}, timeout=1)
        waits = (
            ("GET", RESULT, {"id": run, "wait": 30}, {}),
            ("GET", f"/api/v1/runs/{run}/", {"wait": 30}, {}),
            ("POST", f"/api/v1/workflows/{sleeper}/run/", {}, {"Prefer": "wait=30"}),
        )
        for method, path, params, headers in waits:
            try:
                gives_up.request(method, path, params=params, headers=headers, json={})
            except httpx.ReadTimeout:
                pass
            else:
                raise AssertionError(f"{method} {path} answered within 1 s")
            gives_up.close()  # the connection is closed: the server sees its client leave
            gives_up = httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}, timeout=1)
            deadline = time.monotonic() + 10  # well within the 30 s the wait asked for
            while value(samples(client.get("/metrics").text), "runwire_long_requests") != 0:
                assert time.monotonic() < deadline, f"{method} {path} still holds its place"
                time.sleep(0.05)
            # the key's one place is free again: its next wait is let in (not 429)
            assert client.get(RESULT, params={"id": run, "wait": 0.1}).status_code == 200
        gives_up.close()
        for started in client.get("/api/v1/runs/", params={"status": "in progress"}).json()["results"]:
            assert client.post(f"/api/v1/runs/{started['id']}/cancel/").status_code == 202
