"""Distributed mode: ``runwire serve`` enqueues on a real Redis or RabbitMQ, two ``runwire worker``
processes execute, on a PostgreSQL store; a worker SIGKILLed mid-run has its run finished by the
other (Redis: once its heartbeat is stale; RabbitMQ: once its connection drops).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runwire_server.queue import BrokerQueue, make_broker, queue_name
from runwire_server.settings import Settings, store_url
from runwire_server.store import open_database
from runwire_server.testing import postgres_database, running_server, running_worker
from tests.helpers import (
    KEY,
    SHORT_LEASES,
    api,
    create_workflow,
    sleep_data,
    sleep_pid,
    start_run,
    wait_for_run,
    with_plugin,
)


@pytest.fixture
def distributed_env(sleep_plugin_path: str, broker_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Settings shared by the server and its workers: a Redis or RabbitMQ queue, a PostgreSQL
    store, a short (Redis) heartbeat."""
    with postgres_database() as database_url:
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": database_url,
            **broker_env,
            **SHORT_LEASES,
            "RUNWIRE_BROKER_HEARTBEAT_TIMEOUT_MS": "3000",
            "RUNWIRE_WORKER_THREADS": "1",
        }
        yield with_plugin(env, sleep_plugin_path)


def test_serve_only_enqueues_and_two_workers_share_the_runs(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    with running_server(env=distributed_env) as server, api(server.url) as client:
        workflow_id = create_workflow(client, sleep_data(0.3))
        first = start_run(client, workflow_id)
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["broker"] == "ok" and ready["store"] == "ok" and "workers" not in ready
        assert (
            client.get("/api/v1/workflows/workflow_result/", params={"id": first}).json()["data"]["status"]
            == "in queue"
        )
        with running_worker(env=distributed_env) as one, running_worker(env=distributed_env) as two:
            run_ids = [first, *(start_run(client, workflow_id) for _ in range(9))]
            results = [wait_for_run(client, run_id) for run_id in run_ids]
        assert all(r["status"] == "succeed" for r in results)
        assert {sleep_pid(r) for r in results} == {one.process.pid, two.process.pid}
        assert server.process.pid not in {sleep_pid(r) for r in results}
        history = client.get(f"/api/v1/workflows/{workflow_id}/history/").json()
        assert history["count"] == 10 and {r["status"] for r in history["results"]} == {"succeed"}


def test_runs_stored_without_a_message_are_swept_and_duplicates_run_once(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    """A server that died between storing a run and enqueueing it leaves it ``in queue``: the
    reconciler of any ``runwire serve`` or ``runwire worker`` enqueues it again; extra messages
    for a run are no-ops."""
    env = {**distributed_env, "RUNWIRE_REQUEUE_AFTER_S": "1"}
    markers = tmp_path / "markers"
    markers.mkdir()
    with running_server(env=env) as server, api(server.url) as client:
        workflow_id = create_workflow(client, sleep_data(0.5, markers))
        store = open_database(store_url(env["RUNWIRE_DATABASE_URL"], tmp_path))
        head = store.sync.get_workflow_head(workflow_id)
        assert head is not None
        orphan = str(uuid.uuid4())
        store.sync.create_run(orphan, head, {})  # stored, never enqueued (the server "died")
        store.dispose()
        repeated = start_run(client, workflow_id)
        settings = Settings(
            broker_url=env["RUNWIRE_BROKER_URL"], broker_namespace=env["RUNWIRE_BROKER_NAMESPACE"]
        )
        broker = make_broker(settings)
        queue = BrokerQueue(broker, queue_name(settings))
        queue.enqueue(repeated)  # two duplicate messages for one run
        queue.enqueue(repeated)
        broker.close()
        with running_worker(env=env) as one, running_worker(env=env) as two:
            for run_id in (orphan, repeated):
                assert wait_for_run(client, run_id)["status"] == "succeed"
            logs = server.logs() + one.logs() + two.logs()
        for run_id in (orphan, repeated):
            assert len(list(markers.glob(f"{run_id}.*"))) == 1, sorted(p.name for p in markers.iterdir())
        assert re.search(r"re-enqueued \d+ run\(s\) left in queue", logs), logs[-3000:]
