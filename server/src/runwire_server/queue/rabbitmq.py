"""Dramatiq's RabbitMQ broker, with timeouts so an unanswering RabbitMQ fails requests (503)
instead of holding them, and the run queue's depth for readiness and ``RUNWIRE_QUEUE_MAX``.

RabbitMQ pushes messages to consumers (up to their prefetch), so an idle worker starts a new run
as soon as it is enqueued with no wake-up channel of ours, and a killed worker's unacknowledged
messages go back to the queue the moment its connection drops; no heartbeat of ours is needed.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import Middleware
from pika.adapters.blocking_connection import BlockingChannel

__all__ = ["RabbitmqBroker", "make_rabbitmq_broker", "on_channel", "queue_depth"]

T = TypeVar("T")

CONNECTION_DEFAULTS = {
    # seconds; pika's own defaults are 10 and 15, and no limit while RabbitMQ blocks publishers
    "socket_timeout": "5",
    "stack_timeout": "5",
    "blocked_connection_timeout": "5",
}
"""Connection parameters (pika's URL query) set unless the URL sets them."""


def with_defaults(url: str) -> str:
    """``url`` with :data:`CONNECTION_DEFAULTS` added to its query where it does not set them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return urlunsplit(parts._replace(query=urlencode({**CONNECTION_DEFAULTS, **query})))


def make_rabbitmq_broker(url: str, middleware: list[Middleware]) -> RabbitmqBroker:
    """A RabbitMQ broker on ``url`` (``amqp://`` or ``amqps://``) with ``middleware``.

    pika logs every dropped connection as an error with a traceback, also the publishing
    connections RabbitMQ closes while they idle (pika answers heartbeats only during calls),
    which Dramatiq and :func:`queue_depth` replace on their next use; failures that matter are
    logged by Dramatiq and runwire. So pika logs only critical records unless its level is set.
    """
    pika_log = logging.getLogger("pika")
    if pika_log.level == logging.NOTSET:
        pika_log.setLevel(logging.CRITICAL)
    return RabbitmqBroker(url=with_defaults(url), middleware=middleware)


def on_channel(broker: RabbitmqBroker, call: Callable[[BlockingChannel], T]) -> T:
    """``call(channel)`` on this thread's channel. A connection RabbitMQ dropped (its heartbeats
    go unanswered while it idles between calls; a broker restart) or a closed channel is
    replaced once, and ``call`` made again, as Dramatiq's enqueue does.

    :raises ConnectionClosed: RabbitMQ is unreachable (the next call connects again).
    """
    for attempt in range(2):
        try:
            return call(broker.channel)
        except pika.exceptions.AMQPError as exc:
            del broker.connection  # Dramatiq's own way to drop this thread's channel and connection
            if attempt:
                raise ConnectionClosed(exc) from None
    raise AssertionError("unreachable")


class _CountingChannel:
    """One broker's channel for counting its queues, shared by every thread (under a lock).

    Dramatiq's :attr:`RabbitmqBroker.channel` belongs to the calling thread and its connection
    stays open (in ``broker.connections``) until the broker closes, long after a short-lived
    thread that opened it has ended. The counts are asked from such threads (each scrape of a
    worker's metrics port is served by a new thread, ``/metrics`` by a pool that retires idle
    threads), so counting on their channels left one connection open per thread, for good.
    This connection is registered with the broker, so closing the broker closes it too.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connection: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None

    def declare_passive(self, broker: RabbitmqBroker, queue_name: str) -> int:
        """Messages ready in ``queue_name``; a dropped connection is replaced once.

        :raises ConnectionClosed: RabbitMQ is unreachable (the next call connects again).
        """
        with self.lock:
            for attempt in range(2):
                try:
                    if self.channel is None or not self.channel.is_open:
                        self._open(broker)
                    assert self.channel is not None
                    declared = self.channel.queue_declare(queue=queue_name, passive=True)
                    return int(declared.method.message_count)
                except pika.exceptions.AMQPError as exc:
                    self._close(broker)
                    if attempt:
                        raise ConnectionClosed(exc) from None
            raise AssertionError("unreachable")

    def _open(self, broker: RabbitmqBroker) -> None:
        self._close(broker)
        self.connection = pika.BlockingConnection(parameters=broker.parameters)
        broker.connections.add(self.connection)
        self.channel = self.connection.channel()

    def _close(self, broker: RabbitmqBroker) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None:
            broker.connections.discard(connection)
            try:
                if connection.is_open:
                    connection.close()
            except Exception:  # already dropped by RabbitMQ
                pass


_counting: weakref.WeakKeyDictionary[RabbitmqBroker, _CountingChannel] = weakref.WeakKeyDictionary()
_counting_lock = threading.Lock()


def queue_depth(broker: RabbitmqBroker, queue_name: str) -> int:
    """Messages ready in ``queue_name`` (declared first if this process has not yet), by a passive
    declare: one round trip, so it doubles as a ping. Any thread may call it: every thread counts
    on one connection of the broker's (:class:`_CountingChannel`), never on a channel of its own.

    :raises ConnectionClosed: RabbitMQ is unreachable (the next call connects again).
    """
    broker.declare_queue(queue_name, ensure=True)
    with _counting_lock:
        counting = _counting.get(broker)
        if counting is None:
            counting = _counting[broker] = _CountingChannel()
    return counting.declare_passive(broker, queue_name)
