"""The distributed queue on a real Redis and a real RabbitMQ: scheme choice, depth, readiness."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker

from runwire.errors import ConfigInvalid
from runwire_server.queue import BrokerQueue, make_broker, queue_name
from runwire_server.queue.broker import COUNT_TTL_S
from runwire_server.queue.rabbitmq import with_defaults
from runwire_server.settings import Settings
from runwire_server.testing import free_port, rabbitmq_namespace


def queue_for(broker_env: dict[str, str], max_waiting: int | None = None) -> BrokerQueue:
    settings = Settings(
        broker_url=broker_env["RUNWIRE_BROKER_URL"], broker_namespace=broker_env["RUNWIRE_BROKER_NAMESPACE"]
    )
    namespace = settings.broker_namespace
    return BrokerQueue(make_broker(settings), queue_name(settings), max_waiting, namespace)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6379/0", RedisBroker),
        ("rediss://127.0.0.1:6379/0", RedisBroker),
        ("unix:///tmp/redis.sock", RedisBroker),
        ("amqp://guest:guest@127.0.0.1:5672/", RabbitmqBroker),
        ("amqps://guest:guest@127.0.0.1:5671/", RabbitmqBroker),
    ],
)
def test_the_url_scheme_picks_the_broker(url: str, kind: type) -> None:
    broker = make_broker(Settings(broker_url=url))
    assert isinstance(broker, kind)
    assert [type(m).__name__ for m in broker.middleware][-1] == "CurrentMessage"


def test_other_schemes_are_refused_naming_the_supported_ones() -> None:
    with pytest.raises(
        ConfigInvalid, match=r"'kafka'; use one of redis://, rediss://, unix://, amqp://, amqps://"
    ):
        make_broker(Settings(broker_url="kafka://127.0.0.1:9092"))


def test_rabbitmq_queue_names_follow_the_namespace_and_timeouts_are_bounded() -> None:
    assert queue_name(Settings(broker_url="amqp://h/")) == "runwire-runs"
    assert queue_name(Settings(broker_url="amqp://h/", broker_namespace="prod")) == "prod-runs"
    assert queue_name(Settings(broker_url="redis://h/0", broker_namespace="prod")) == "runwire-runs"
    url = with_defaults("amqp://u:p@h:5672/%2F?socket_timeout=30")
    assert (
        "socket_timeout=30" in url and "stack_timeout=5" in url and url.startswith("amqp://u:p@h:5672/%2F?")
    )


def test_the_queue_counts_its_waiting_runs_and_is_full_at_its_bound(broker_env: dict[str, str]) -> None:
    queue = queue_for(broker_env, max_waiting=2)
    try:
        queue.ping()
        assert queue.waiting() == 0 and not queue.full()
        queue.enqueue("a")
        queue.enqueue("b")
        deadline = time.monotonic() + 5
        while queue.waiting() < 2 and time.monotonic() < deadline:  # RabbitMQ counts asynchronously
            time.sleep(0.02)
        time.sleep(COUNT_TTL_S)  # full() counts again once its last count is this old
        assert queue.waiting() == 2 and queue.full()
    finally:
        queue.broker.close()


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_an_unreachable_broker_fails_ping_but_is_not_full(scheme: str) -> None:
    queue = queue_for(
        {"RUNWIRE_BROKER_URL": f"{scheme}://127.0.0.1:{free_port()}/", "RUNWIRE_BROKER_NAMESPACE": "x"}, 1
    )
    with pytest.raises(Exception, match=r"(?i)connect"):
        queue.ping()
    assert not queue.full()


def test_several_rabbitmq_urls_each_get_the_timeouts_and_keep_their_own_options() -> None:
    """Dramatiq takes ``;``-separated URLs (tried in turn): the defaults go into each one's query.
    They were added to the last one's only, so a first URL with a query of its own had the next
    URL folded into its last value (a start refused) and one without ran on pika's defaults."""
    with rabbitmq_namespace() as (url, namespace):
        queue = queue_for(
            {"RUNWIRE_BROKER_URL": f"{url}?heartbeat=30;{url}", "RUNWIRE_BROKER_NAMESPACE": namespace}
        )
        try:
            queue.ping()
            queue.enqueue("a")
            deadline = time.monotonic() + 5
            while queue.waiting() < 1 and time.monotonic() < deadline:  # RabbitMQ counts asynchronously
                time.sleep(0.02)
            assert queue.waiting() == 1
            assert [(p.heartbeat, p.socket_timeout, p.stack_timeout) for p in queue.broker.parameters] == [
                (30, 5, 5),
                (None, 5, 5),
            ]
        finally:
            queue.broker.close()


def test_a_rabbitmq_connection_dropped_while_idle_is_replaced_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pika answers heartbeats only during calls, so RabbitMQ closes the API's idle connection:
    the next ping, count and enqueue work on a new one, and nothing is logged as an error."""
    with rabbitmq_namespace() as (url, namespace):
        queue = queue_for(
            {"RUNWIRE_BROKER_URL": f"{url}?heartbeat=1", "RUNWIRE_BROKER_NAMESPACE": namespace}, 5
        )
        try:
            queue.ping()
            time.sleep(4)  # RabbitMQ gives up on a connection after two missed heartbeats
            with caplog.at_level(logging.WARNING):
                queue.ping()
                queue.enqueue("a")
                assert not queue.full()
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
        finally:
            queue.broker.close()


def test_servers_hear_the_runs_workers_announce_ended(broker_env: dict[str, str]) -> None:
    """Each listening process (two here) hears every id any process announces; a stopped
    listener hears nothing more; a queue of another namespace is not heard."""
    worker, servers = queue_for(broker_env), [queue_for(broker_env), queue_for(broker_env)]
    heard: list[queue.Queue[str]] = [queue.Queue(), queue.Queue()]
    stops = [server.listen_ended(inbox.put) for server, inbox in zip(servers, heard, strict=True)]
    other = queue_for(
        {**broker_env, "RUNWIRE_BROKER_NAMESPACE": broker_env["RUNWIRE_BROKER_NAMESPACE"] + "-x"}
    )
    try:
        other.announce_ended("elsewhere")
        announced = [str(uuid.uuid4()) for _ in range(3)]
        threads = [threading.Thread(target=worker.announce_ended, args=(run_id,)) for run_id in announced]
        for thread in threads:  # from several threads, as a worker's run threads announce
            thread.start()
        for thread in threads:
            thread.join()
        for inbox in heard:
            assert sorted(inbox.get(timeout=10) for _ in announced) == sorted(announced)
        stops.pop()()
        worker.announce_ended("late")
        assert heard[0].get(timeout=10) == "late"
        with pytest.raises(queue.Empty):
            heard[1].get(timeout=0.5)
    finally:
        for stop in stops:
            stop()
        if other.announcer.rabbitmq:  # what this test made outside the fixture's namespace
            other.broker.channel.exchange_delete(other.announcer.channel)
