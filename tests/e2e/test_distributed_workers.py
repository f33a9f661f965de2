"""Distributed mode: ``runwire serve`` enqueues on a real Redis or RabbitMQ, two ``runwire worker``
processes execute, on a PostgreSQL store; a worker SIGKILLed mid-run has its run finished by the
other (Redis: once its heartbeat is stale; RabbitMQ: once its connection drops).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from runwire_server.queue import BrokerQueue, make_broker, queue_name
from runwire_server.settings import Settings, store_url
from runwire_server.store import open_database
from runwire_server.testing import postgres_database, redis_namespace, running_server, running_worker
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


@contextmanager
def unix_socket_relay(path: Path, port: int) -> Iterator[None]:
    """A Unix socket at ``path`` relaying every connection to ``127.0.0.1:port``."""

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(asyncio.start_unix_server(relay, str(path)), loop).result(5)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_a_redis_unix_socket_url_takes_runs(tmp_path: Path) -> None:
    """A ``unix://`` broker URL (documented beside ``redis://``) works: the server reaches Redis
    through its socket (here a relay to the test Redis), enqueues and reports the broker ready.
    A worker connects the same way (:func:`runwire_server.queue.broker.redis_client`)."""
    with redis_namespace() as (url, namespace):
        parsed = urlsplit(url)
        socket_path = tmp_path / "redis.sock"
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_BROKER_URL": f"unix://{socket_path}?db={parsed.path.strip('/') or '0'}",
            "RUNWIRE_BROKER_NAMESPACE": namespace,
        }
        with (
            unix_socket_relay(socket_path, parsed.port or 6379),
            running_server(env=env) as server,
            api(server.url) as client,
        ):
            workflow_id = create_workflow(client)
            reply = client.post(f"/api/v1/workflows/{workflow_id}/run/", content='{"name": "Ada", "age": 36}')
            assert reply.status_code == 200, reply.text  # not 503: the queue is reachable
            run_id = reply.json()["data"]["id"]
            result = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id}).json()
            assert result["data"]["status"] == "in queue", result
            assert httpx.get(f"{server.url}/readyz").json()["broker"] == "ok"
