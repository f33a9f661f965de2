"""Run-end announcements on RabbitMQ survive dropped connections: a ``runwire worker`` whose idle
publishing connection RabbitMQ closed (missed heartbeats) announces its next runs' ends on a new
one, and a server whose connections were cut (a broker restart, a NAT) listens again and keeps
waking its waiting starts. The store check (every second) would answer them anyway, later: so
the worker's announcements are heard on the exchange itself, and the server's wake-ups are told
apart from the store check by their latency."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pika
import pytest

from runwire_server.testing import postgres_database, rabbitmq_namespace, running_server, running_worker
from tests.helpers import KEY, api, create_workflow

INPUT = '{"name": "Ada", "age": 36}'
STORE_CHECK_S = 1.0
"""The server's safety net: it asks the store this often which waited-for runs have ended."""


@pytest.fixture
def rabbitmq_env() -> Iterator[dict[str, str]]:
    """A server's and worker's settings: a fresh RabbitMQ namespace, a PostgreSQL store, one run
    thread (so every run is announced on the same publishing connection)."""
    with rabbitmq_namespace() as (url, namespace), postgres_database() as database_url:
        yield {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": database_url,
            "RUNWIRE_BROKER_URL": url,
            "RUNWIRE_BROKER_NAMESPACE": namespace,
            "RUNWIRE_WORKER_THREADS": "1",
        }


@contextmanager
def heard_ends(url: str, namespace: str) -> Iterator[Any]:
    """A queue bound to the namespace's announcement exchange; yields a function that returns
    the next run id announced (``None`` after ``timeout`` seconds)."""
    params = pika.URLParameters(url)
    params.heartbeat = 0  # this connection idles between reads
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.exchange_declare(exchange=f"{namespace}-ended", exchange_type="fanout")
    queue = channel.queue_declare(queue="", exclusive=True).method.queue
    channel.queue_bind(queue=queue, exchange=f"{namespace}-ended")

    def next_end(timeout: float = 10.0) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, _, body = channel.basic_get(queue, auto_ack=True)
            if body is not None:
                return str(body.decode())
            connection.sleep(0.02)
        return None

    try:
        yield next_end
    finally:
        connection.close()


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to ``port``; :meth:`cut` resets every connection through it (as
    a broker restart or a NAT that forgot them would) and new ones are accepted afterwards;
    :meth:`freeze` stops relaying, connections left open (a RabbitMQ that stopped answering)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.accepted = 0
        self._transports: set[asyncio.BaseTransport] = set()
        self._relaying = asyncio.Event()
        self._relaying.set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        serve = asyncio.start_server(self._relay, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(serve, self._loop).result(5)
        self.port: int = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Reset every open connection."""

        def reset() -> None:
            for transport in list(self._transports):
                transport.abort()

        self._loop.call_soon_threadsafe(reset)

    def freeze(self) -> None:
        """Stop relaying bytes either way (connections stay open, new ones are accepted)."""
        self._loop.call_soon_threadsafe(self._relaying.clear)

    def close(self) -> None:
        """Stop listening, reset the connections, stop the proxy's thread."""
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._relaying.set)
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._transports |= {writer.transport, upstream_writer.transport}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        self._transports -= {writer.transport, upstream_writer.transport}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._relaying.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


def _started_and_ended(client: httpx.Client, workflow_id: int) -> tuple[dict[str, Any], float]:
    """Start a run preferring to wait 5 s; its reply's data (the run ended) and the seconds it took."""
    began = time.monotonic()
    reply = client.post(
        f"/api/v1/workflows/{workflow_id}/run/", content=INPUT, headers={"Prefer": "wait=5"}, timeout=30
    )
    took = time.monotonic() - began
    assert reply.status_code == 200 and reply.json()["status"] == 201, reply.text
    data: dict[str, Any] = reply.json()["data"]
    assert data["status"] == "succeed", data
    return data, took


def _stored_status(client: httpx.Client, run_id: str) -> str:
    reply = client.get("/api/v1/workflows/workflow_result/", params={"id": run_id})
    return str(reply.json()["data"]["status"])


def test_a_worker_announces_ends_after_rabbitmq_dropped_its_idle_connection(
    rabbitmq_env: dict[str, str],
) -> None:
    url, namespace = rabbitmq_env["RUNWIRE_BROKER_URL"], rabbitmq_env["RUNWIRE_BROKER_NAMESPACE"]
    # pika answers heartbeats only during calls: RabbitMQ closes a run thread's publishing
    # connection once it idled through two (here 1 s) heartbeats
    worker_env = {**rabbitmq_env, "RUNWIRE_BROKER_URL": f"{url}?heartbeat=1"}
    with (
        heard_ends(url, namespace) as next_end,
        running_server(env=rabbitmq_env) as server,
        running_worker(env=worker_env) as worker,
        api(server.url) as client,
    ):
        workflow_id = create_workflow(client)
        first, _ = _started_and_ended(client, workflow_id)
        assert next_end() == first["id"]
        time.sleep(4)  # the publishing connection is dropped
        for _ in range(2):  # announced on a new connection, and that one is kept
            run, _ = _started_and_ended(client, workflow_id)
            assert next_end() == run["id"], "the worker did not announce the run's end"
            assert _stored_status(client, run["id"]) == "succeed"
        assert worker.process.poll() is None
        assert "Traceback" not in worker.logs(), worker.logs()


def test_a_server_whose_connections_were_cut_keeps_waking_waiting_starts(
    rabbitmq_env: dict[str, str],
) -> None:
    url = rabbitmq_env["RUNWIRE_BROKER_URL"]
    params = pika.URLParameters(url)
    proxy = CuttableProxy(params.port)
    proxied = url.replace(f"{params.host}:{params.port}", f"127.0.0.1:{proxy.port}", 1)
    try:
        with (
            running_server(env={**rabbitmq_env, "RUNWIRE_BROKER_URL": proxied}) as server,
            running_worker(env=rabbitmq_env) as worker,
            api(server.url) as client,
        ):
            workflow_id = create_workflow(client)
            _, took = _started_and_ended(client, workflow_id)
            proxy.cut()  # the server's listener and its publishing connection
            # the listener connects again after a second or so; until then the store check
            # answers the starts, a second after each began (the settle between starts keeps
            # that phase); a start woken by the announcement answers well before
            fastest = float("inf")
            for _ in range(8):
                time.sleep(STORE_CHECK_S + 0.2)
                run, took = _started_and_ended(client, workflow_id)
                assert _stored_status(client, run["id"]) == "succeed"
                fastest = min(fastest, took)
                if fastest < 0.8 * STORE_CHECK_S:
                    break
            assert fastest < 0.8 * STORE_CHECK_S, (
                f"no announcement woke a start after the cut ({fastest:.2f} s)"
            )
            assert worker.process.poll() is None and server.process.poll() is None
    finally:
        proxy.close()


def test_a_rabbitmq_that_stops_answering_gives_503_not_a_hung_server(rabbitmq_env: dict[str, str]) -> None:
    """A RabbitMQ that stops answering on an open connection (frozen, a network that black-holes)
    fails the submit with 503 after the connection's ``socket_timeout`` (0.5 s in the URL here):
    pika itself bounds only the connect and the handshake, and waited for the queue count's reply
    until its heartbeat check gave up, over two minutes holding the server's event loop."""
    url = rabbitmq_env["RUNWIRE_BROKER_URL"]
    params = pika.URLParameters(url)
    proxy = CuttableProxy(params.port)
    proxied = url.replace(f"{params.host}:{params.port}", f"127.0.0.1:{proxy.port}", 1)
    env = {**rabbitmq_env, "RUNWIRE_BROKER_URL": f"{proxied}?socket_timeout=0.5&stack_timeout=0.5"}
    try:
        with running_server(env=env) as server, api(server.url) as client:
            workflow_id = create_workflow(client)
            first = client.post(f"/api/v1/workflows/{workflow_id}/run/", content=INPUT)
            assert first.status_code == 200, first.text  # the server's connection is open
            proxy.freeze()
            time.sleep(0.3)  # past the queue count's cache: the next submit asks RabbitMQ
            reply = client.post(f"/api/v1/workflows/{workflow_id}/run/", content=INPUT, timeout=15)
            assert reply.status_code == 503 and "queue" in reply.json()["detail"], reply.text
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        proxy.close()
