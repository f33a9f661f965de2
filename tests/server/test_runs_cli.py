"""``runwire runs list|show|cancel|tail``: the CLI as a subprocess against a live ``runwire serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runwire_server.testing import RunningServer, free_port, running_server
from tests.helpers import (
    KEY,
    OUTPUT,
    SLEEP,
    api,
    create_workflow,
    hello_data,
    samples,
    sleep_data,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)


@pytest.fixture(scope="module")
def server(sleep_plugin_path: str) -> Iterator[RunningServer]:
    """One live server for the module: the bootstrap key, the test sleep plugin."""
    with running_server(env=with_plugin({"RUNWIRE_API_KEYS": KEY}, sleep_plugin_path)) as live:
        yield live


def runwire(server_url: str, *args: str, key: str = KEY) -> subprocess.CompletedProcess[str]:
    """``runwire runs ARGS`` in a subprocess, pointed at the server by RUNWIRE_URL and RUNWIRE_API_KEY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    env.update(RUNWIRE_URL=server_url, RUNWIRE_API_KEY=key)
    argv = [sys.executable, "-m", "runwire_server", "runs", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_list_show_and_tail_a_finished_run(server: RunningServer) -> None:
    with api(server.url) as client:
        run_id = start_run(
            client, create_workflow(client, hello_data(), title="CLI hello"), '{"name": "Ada"}'
        )
        assert wait_for_run(client, run_id)["status"] == "succeed"

    listed = runwire(server.url, "list", "--door", "workflow")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if run_id in line)
    assert "workflow" in row and "CLI hello" in row and "succeed" in row
    page = json.loads(runwire(server.url, "list", "--json", "--status", "succeed").stdout)
    assert run_id in [r["id"] for r in page["results"]] and page["count"] >= 1

    shown = runwire(server.url, "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "CLI hello" in shown.stdout and "is-adult" in shown.stdout and "adult" in shown.stdout
    assert json.loads(runwire(server.url, "show", run_id, "--json").stdout)["id"] == run_id

    tailed = runwire(server.url, "tail", run_id)  # after the end: the whole story, then exit 0
    assert tailed.returncode == 0, tailed.stderr
    assert "Trigger" in tailed.stdout and f"run {run_id} succeed" in tailed.stdout
    lines = [json.loads(line) for line in runwire(server.url, "tail", run_id, "--json").stdout.splitlines()]
    assert [e["id"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["event"] == "run_finished" and lines[-1]["data"]["status"] == "succeed"


HOSTILE = "evil \x1b]0;owned\x1b\\ \x1b[2J [/x] [bold]"
"""A title any key holder may give a workflow or node: an escape sequence (retitle the terminal,
clear it) and rich markup, one closing tag matching nothing."""


def test_titles_reach_the_terminal_as_text_not_as_escapes_or_markup(server: RunningServer) -> None:
    data = hello_data()
    data["nodes"][0]["data"]["name"] = HOSTILE
    with api(server.url) as client:
        run_id = start_run(client, create_workflow(client, data, title=HOSTILE), '{"name": "Ada"}')
        assert wait_for_run(client, run_id)["status"] == "succeed"
    for args in (("list", "--door", "workflow"), ("show", run_id), ("tail", run_id)):
        done = runwire(server.url, *args)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "\x1b" not in done.stdout, (args, done.stdout)  # each written out as the 4 characters \x1b
        assert "\\x1b[2J" in done.stdout and "[/x]" in done.stdout, (args, done.stdout)


def test_cancel_a_running_run_then_tail_it_and_cancel_it_again(server: RunningServer, tmp_path: Path) -> None:
    with api(server.url) as client:
        workflow_id = create_workflow(client, sleep_data(30, marker_dir=tmp_path), title="CLI sleep")
        run_id = start_run(client, workflow_id)
        wait_for_marker(tmp_path, run_id)

    cancelled = runwire(server.url, "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "ends within 2 s" in cancelled.stdout and "cancelled by" in cancelled.stdout

    tailed = runwire(server.url, "tail", run_id)  # follows it to its end: cancelled, exit 1
    assert tailed.returncode == 1, tailed.stderr
    assert f"run {run_id} cancelled by" in tailed.stdout and SLEEP in tailed.stdout
    assert OUTPUT not in tailed.stdout  # never started

    again = runwire(server.url, "cancel", run_id)
    assert again.returncode == 1 and "already finished (failed)" in again.stderr
    listed = json.loads(runwire(server.url, "list", "--json", "--status", "cancelled").stdout)
    assert [r["id"] for r in listed["results"]] == [run_id]


def test_errors_are_one_line_without_a_traceback(server: RunningServer) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    cases = [
        (runwire(f"http://127.0.0.1:{free_port()}", "list"), "cannot reach the runwire server"),
        (runwire(server.url, "list", key="wrong"), "401"),
        (runwire(server.url, "show", unknown), "404 run not found"),
        (runwire(server.url, "tail", unknown), "404 run not found"),
        (runwire(server.url, "cancel", "not-a-uuid"), "404 run not found"),
    ]
    for done, message in cases:
        assert done.returncode == 1, done.stdout
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_tail_waits_for_a_place_when_its_key_holds_too_many_streams(
    sleep_plugin_path: str, tmp_path: Path
) -> None:
    env = with_plugin(
        {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL": "1"}, sleep_plugin_path
    )
    with running_server(env=env) as live, api(live.url) as client:
        run_id = start_run(client, create_workflow(client, sleep_data(30, marker_dir=tmp_path)))
        wait_for_marker(tmp_path, run_id)
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
        cli_env.update(RUNWIRE_URL=live.url, RUNWIRE_API_KEY=KEY)
        argv = [sys.executable, "-m", "runwire_server", "runs", "tail", run_id]
        with client.stream("GET", f"/api/v1/runs/{run_id}/events/") as held:  # the key's one place
            assert held.status_code == 200
            tail = subprocess.Popen(
                argv, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            refused = 0.0
            while not refused:  # the tail was refused (429) at least once
                found = samples(client.get("/metrics").text)
                refused = sum(
                    count
                    for (name, labels), count in found.items()
                    if name == "runwire_requests_total" and ("status_code", "429") in labels
                )
                assert tail.poll() is None, tail.communicate()
                time.sleep(0.05)
        assert client.post(f"/api/v1/runs/{run_id}/cancel/").status_code == 202
        out, err = tail.communicate(timeout=60)
        assert tail.returncode == 1 and f"run {run_id} cancelled by" in out, (out, err)
