"""Run-end announcements on the broker: a worker tells the servers that a run it executed ended.

A server's long-polls (:mod:`runwire_server.run_endings`) wait for runs that ``runwire worker``
processes execute. After a worker's store has written a run terminal (committed), the worker
publishes its id, and each server listens in a thread of its own: on Redis a pub/sub channel
(``<namespace>:__ended__``), on RabbitMQ a fanout exchange (``<namespace>-ended``) with an
exclusive queue per listening server. On RabbitMQ a worker publishes on its run thread's own
connection, replaced (and the announcement sent again) once if RabbitMQ dropped it while it
idled. An announcement lost (the broker went away, a listener reconnecting) costs latency only:
servers also ask the store now and then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runwire_server.queue.rabbitmq import RabbitmqBroker, on_channel

log = logging.getLogger("runwire.server")

LISTEN_POLL_S = 0.5
"""How often a listening thread looks up from the broker to see whether it should stop."""
RECONNECT_S = 1.0
READY_WAIT_S = 1.0
"""How long :meth:`Announcer.listen` waits for its subscription (milliseconds when the broker answers)."""


class Announcer:
    """Publishes ended runs' ids on ``broker`` and listens for them (Redis or RabbitMQ)."""

    def __init__(self, broker: Any, namespace: str) -> None:
        self.broker = broker
        self.rabbitmq = isinstance(broker, RabbitmqBroker)
        self.channel = f"{namespace}-ended" if self.rabbitmq else f"{namespace}:__ended__"
        """The Redis channel or RabbitMQ exchange the ids go through."""
        self._declared = threading.local()

    def announce(self, run_id: str) -> None:
        """Publish ``run_id`` (from any thread). A failure is logged, never raised: the run is
        stored already, and listeners also ask the store."""
        try:
            if self.rabbitmq:
                # Dramatiq's channel of this thread, replaced once if RabbitMQ dropped it
                on_channel(self.broker, lambda channel: self._publish_rabbitmq(channel, run_id))
            elif hasattr(self.broker, "settle"):  # WakingRedisBroker: with the message's ack
                self.broker.publish(self.channel, run_id)
            else:
                self.broker.client.publish(self.channel, run_id)
        except Exception as exc:
            log.warning("could not announce the end of run %s: %s", run_id, exc)

    def _publish_rabbitmq(self, channel: Any, run_id: str) -> None:
        if getattr(self._declared, "channel", None) is not channel:
            channel.exchange_declare(exchange=self.channel, exchange_type="fanout")
            self._declared.channel = channel
        channel.basic_publish(exchange=self.channel, routing_key="", body=run_id.encode())

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(run id)`` from a daemon thread for each announcement; returns once it
        listens (or after :data:`READY_WAIT_S`: a broker that does not answer must not hold a
        server's start), with the function that stops it."""
        listener = _Listener(callback)
        target = self._listen_rabbitmq if self.rabbitmq else self._listen_redis
        thread = threading.Thread(target=self._forever, args=(target, listener), daemon=True)
        thread.name = "runwire-run-endings"
        thread.start()
        listener.listening.wait(READY_WAIT_S)

        def stop_listening() -> None:
            listener.stop.set()
            thread.join(2 * LISTEN_POLL_S)

        return stop_listening

    def _forever(self, target: Callable[[_Listener], None], listener: _Listener) -> None:
        while not listener.stop.is_set():
            try:
                target(listener)
            except Exception as exc:  # the broker went away: listen again shortly
                log.warning("lost the run-endings channel (%s); listening again in %g s", exc, RECONNECT_S)
                listener.stop.wait(RECONNECT_S)

    def _listen_redis(self, listener: _Listener) -> None:
        import redis

        # a client of its own, with short timeouts: a Redis that stops answering must neither
        # hold this thread past a stop nor share a connection pool the broker closes at shutdown
        pool = self.broker.client.connection_pool
        options = {**pool.connection_kwargs, "socket_timeout": 2 * LISTEN_POLL_S}
        client = redis.Redis(connection_pool=redis.ConnectionPool(pool.connection_class, **options))
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            listener.listening.set()
            while not listener.stop.is_set():
                message = pubsub.get_message(timeout=LISTEN_POLL_S)
                if message is not None:
                    listener.callback(message["data"].decode())
        finally:
            pubsub.close()
            client.close()

    def _listen_rabbitmq(self, listener: _Listener) -> None:
        import pika

        connection = pika.BlockingConnection(parameters=self.broker.parameters)
        try:
            channel = connection.channel()
            channel.exchange_declare(exchange=self.channel, exchange_type="fanout")
            queue = channel.queue_declare(queue="", exclusive=True).method.queue
            channel.queue_bind(queue=queue, exchange=self.channel)
            listener.listening.set()
            for _, _, body in channel.consume(queue, auto_ack=True, inactivity_timeout=LISTEN_POLL_S):
                if listener.stop.is_set():
                    break
                if body is not None:
                    listener.callback(body.decode())
        finally:
            connection.close()


@dataclass
class _Listener:
    callback: Callable[[str], None]
    stop: threading.Event = field(default_factory=threading.Event)
    listening: threading.Event = field(default_factory=threading.Event)
