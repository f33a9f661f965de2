"""``/metrics``: after a known workload, the metrics (parsed by prometheus-client's own parser)
count exactly what ran, by front door, status, node type and route; who may read them; and a
``runwire worker``'s own metrics port."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from runwire_server.metrics import Metrics, serve_worker_metrics
from runwire_server.queue.broker import COUNT_TTL_S
from runwire_server.testing import (
    free_port,
    postgres_database,
    rabbitmq_namespace,
    redis_namespace,
    running_server,
    running_worker,
)
from tests.helpers import (
    KEY,
    MakeServer,
    api,
    create_workflow,
    make_settings,
    output_workflow,
    poll_task,
    samples,
    start_run,
    value,
    wait_for_run,
)

W = "/api/v1/workflows"


def test_the_metrics_count_a_known_workload(make_server: MakeServer) -> None:
    server = make_server()
    c, boot = server.client, server.headers("bootstrap")
    before = samples(c.get("/metrics", headers=boot).text)
    good = c.post(f"{W}/", json={"project": 1, "title": "ok", "data": output_workflow("hi")}, headers=boot)
    bad = c.post(
        f"{W}/", json={"project": 1, "title": "bad", "data": output_workflow("{{ 1/0 }}")}, headers=boot
    )
    runs = [
        c.post(f"{W}/{workflow.json()['id']}/run/", json={}, headers=boot).json()["data"]["id"]
        for workflow in (good, good, bad)
    ]
    assert [server.wait(run)["status"] for run in runs] == ["succeed", "succeed", "failed"]
    task = c.post("/task?who=x", headers=server.headers("p0")).json()["id"]
    assert poll_task(c, task)["status"] == "ready"
    blocking = {"executable_name": "hello.sh", "is_async": False}
    assert c.post("/api/execute/", json=blocking, headers=boot).status_code == 201
    assert c.get("/metrics", headers=server.headers("p1")).status_code == 403

    page = c.get("/metrics", headers=boot)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)
    assert all(name.startswith("runwire_") for name, _ in found), sorted({n for n, _ in found})

    started = {
        door: value(found, "runwire_runs_started_total", door=door)
        for door in ("workflow", "task", "execute")
    }
    assert started == {"workflow": 3, "task": 1, "execute": 1}
    finished = {
        (door, status): value(found, "runwire_runs_finished_total", door=door, status=status)
        for door in ("workflow", "task", "execute")
        for status in ("succeed", "failed")
    }
    assert finished == {
        ("workflow", "succeed"): 2,
        ("workflow", "failed"): 1,
        ("task", "succeed"): 1,
        ("task", "failed"): 0,
        ("execute", "succeed"): 1,
        ("execute", "failed"): 0,
    }
    durations = {
        d: value(found, "runwire_run_duration_seconds_count", door=d) for d in ("workflow", "task", "execute")
    }
    assert durations == {"workflow": 3, "task": 1, "execute": 1}
    # every run starts at its trigger; the 3 workflow runs and the task end in an output node; the
    # task's script and the execute's program are basic nodes
    nodes = {
        t: value(found, "runwire_node_duration_seconds_count", node_type=t)
        for t in ("trigger-node", "output-node", "basic-node")
    }
    assert nodes == {"trigger-node": 5, "output-node": 4, "basic-node": 2}
    assert value(found, "runwire_runs_in_flight") == 0
    assert value(found, "runwire_queue_depth") == 0
    assert value(found, "runwire_child_processes") == 0

    # the HTTP metrics are the process's (several apps in one pytest process): compare deltas
    def requests(method: str, path: str, status: str) -> float:
        labels = {"app_name": "runwire", "method": method, "path": path, "status_code": status}
        return value(found, "runwire_requests_total", **labels) - value(
            before, "runwire_requests_total", **labels
        )

    assert requests("POST", f"{W}/{{workflow_id}}/run", "200") == 3
    assert requests("POST", "/api/execute", "201") == 1
    assert requests("GET", "/metrics", "403") == 1
    # each request also timed, under the same labels; none still counted in progress
    run_labels = {"app_name": "runwire", "method": "POST", "path": f"{W}/{{workflow_id}}/run"}
    timed = value(found, "runwire_request_duration_seconds_count", **run_labels, status_code="200")
    assert (
        timed - value(before, "runwire_request_duration_seconds_count", **run_labels, status_code="200") == 3
    )
    assert value(found, "runwire_requests_in_progress", **run_labels, status_code="200") == 0
    errors = [labels for name, labels in found if name == "runwire_requests_error_total"]
    assert not [labels for labels in errors if not str(dict(labels)["status_code"]).startswith("5")], errors


def test_metrics_need_an_every_project_key_unless_public_and_may_be_off(make_server: MakeServer) -> None:
    default = make_server()
    statuses = [
        default.client.get("/metrics", headers=default.headers(who)).status_code
        for who in ("anonymous", "p1", "bootstrap")
    ]
    assert statuses == [401, 403, 200]
    assert "/metrics" not in default.client.get("/schema/openapi.json").json()["paths"]
    public = make_server(metrics_public=True)
    assert public.client.get("/metrics").status_code == 200
    off = make_server(metrics=False)
    assert off.client.get("/metrics", headers=off.headers("bootstrap")).status_code == 404


def test_a_worker_serves_its_own_metrics() -> None:
    port = free_port()
    with postgres_database() as database_url, redis_namespace() as (broker_url, namespace):
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": database_url,
            "RUNWIRE_BROKER_URL": broker_url,
            "RUNWIRE_BROKER_NAMESPACE": namespace,
            "RUNWIRE_METRICS_PORT": str(port),
        }
        with running_server(env=env) as server, api(server.url) as client, running_worker(env=env):
            run = start_run(client, create_workflow(client, output_workflow("hi")))
            assert wait_for_run(client, run)["status"] == "succeed"
            found = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            assert value(found, "runwire_runs_finished_total", door="workflow", status="succeed") == 1
            assert value(found, "runwire_node_duration_seconds_count", node_type="output-node") == 1
            assert value(found, "runwire_runs_in_flight") == 0
            assert value(found, "runwire_queue_depth") == 0
            served = samples(client.get("/metrics").text)
            assert value(served, "runwire_runs_started_total", door="workflow") == 1


def open_fds(pid: int) -> int:
    """How many file descriptors process ``pid`` has open now."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_scraping_a_rabbitmq_worker_leaves_no_connection_open() -> None:
    # each scrape is served by a new thread: counting the queue on a channel of that thread's own
    # left one RabbitMQ connection (and its descriptors) open per scrape, for the process's life
    port = free_port()
    with postgres_database() as database_url, rabbitmq_namespace() as (broker_url, namespace):
        env = {
            "RUNWIRE_DATABASE_URL": database_url,
            "RUNWIRE_BROKER_URL": broker_url,
            "RUNWIRE_BROKER_NAMESPACE": namespace,
            "RUNWIRE_METRICS_PORT": str(port),
        }
        with running_worker(env=env) as worker, httpx.Client() as client:
            scrape = f"http://127.0.0.1:{port}/metrics"
            assert value(samples(client.get(scrape).text), "runwire_queue_depth") == 0
            baseline = open_fds(worker.process.pid)
            for _ in range(8):
                time.sleep(COUNT_TTL_S)  # past the count's cache: each scrape counts again
                assert value(samples(client.get(scrape).text), "runwire_queue_depth") == 0
            # a leak holds 4 descriptors per scrape (socket, wake-up socket pair, epoll): 32 here
            assert open_fds(worker.process.pid) <= baseline + 4


def test_a_taken_worker_metrics_port_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(tmp_path, metrics_port=taken.getsockname()[1])
        assert serve_worker_metrics(Metrics(), settings) is None
    assert "RUNWIRE_METRICS_PORT" in caplog.text
    assert serve_worker_metrics(Metrics(), make_settings(tmp_path, metrics_port=0)) is None
