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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import Middleware
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

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
    """``url`` with :data:`CONNECTION_DEFAULTS` added to its query where it does not set them;
    each of several ``;``-separated URLs (Dramatiq tries them in turn) gets them in its own."""
    return ";".join(_one_with_defaults(one) for one in url.split(";"))


def _one_with_defaults(url: str) -> str:
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


class NoAnswer(pika.exceptions.StreamLostError):
    """RabbitMQ did not answer a call on an open connection within its ``socket_timeout``."""


@contextmanager
def answered_within(connection: BlockingConnection, seconds: float) -> Iterator[None]:
    """Drop ``connection`` if what is done on it in the block waits longer than ``seconds`` (the
    blocking call then raises :class:`NoAnswer`).

    pika bounds only the connect (``socket_timeout``) and the handshake (``stack_timeout``): on an
    open connection, a reply that never comes is waited for until its heartbeat check gives up
    (two heartbeat intervals and more: over two minutes at RabbitMQ's default 60 s), and the
    server's event loop with it. The timer is pika's own, the one its heartbeat check drops a
    silent connection with; it fires while the call waits for its reply.
    """
    impl = connection._impl

    def expire() -> None:
        impl._terminate_stream(NoAnswer(f"RabbitMQ did not answer within {seconds:g} s"))

    timer = impl._adapter_call_later(seconds, expire)
    try:
        yield
    finally:
        if connection.is_open:
            impl._adapter_remove_timeout(timer)


def on_channel(broker: RabbitmqBroker, call: Callable[[BlockingChannel], T]) -> T:
    """``call(channel)`` on this thread's channel, waiting at most the connection's
    ``socket_timeout`` for RabbitMQ's answer (:func:`answered_within`). A connection RabbitMQ
    dropped (its heartbeats go unanswered while it idles between calls; a broker restart), that
    did not answer, or a closed channel is replaced once, and ``call`` made again, as
    Dramatiq's enqueue does.

    :raises ConnectionClosed: RabbitMQ is unreachable (the next call connects again).
    """
    for attempt in range(2):
        try:
            connection = broker.connection
            with answered_within(connection, answer_timeout(broker)):
                return call(broker.channel)
        except pika.exceptions.AMQPError as exc:
            del broker.connection  # Dramatiq's own way to drop this thread's channel and connection
            if attempt:
                raise ConnectionClosed(exc) from None
    raise AssertionError("unreachable")


def answer_timeout(broker: RabbitmqBroker) -> float:
    """Seconds :func:`on_channel` and the count wait for an answer: the ``socket_timeout`` of the
    broker's (first) connection parameters, runwire's 5 s unless the URL sets it."""
    parameters = broker.parameters[0] if isinstance(broker.parameters, list) else broker.parameters
    return float(parameters.socket_timeout or CONNECTION_DEFAULTS["socket_timeout"])


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
                    assert self.connection is not None and self.channel is not None
                    with answered_within(self.connection, answer_timeout(broker)):
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
