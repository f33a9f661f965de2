"""The distributed run queue: a Dramatiq broker on Redis, the run actor and the worker.

Embedded mode (no broker URL) queues runs on the server's own event loop instead
(:mod:`runwire_server.queue.embedded`); both satisfy :class:`~runwire_server.queue.base.RunQueue`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.message import Message
from dramatiq.middleware import CurrentMessage, Middleware, Retries, ShutdownNotifications, TimeLimit

from runwire.errors import ConfigInvalid
from runwire_server.settings import Settings

QUEUE_NAME = "runwire-runs"
ACTOR_NAME = "runwire_execute_run"
MAX_RETRIES = 3
REDIS_CONNECT_TIMEOUT_S = 5.0
"""Seconds a connection to Redis may take before the enqueue (and the request) fails with 503."""
REDIS_COMMAND_TIMEOUT_S = 5.0
"""Seconds a Redis command may go unanswered before it fails (the idle wait is 1 s at most).

Both are redis-py 8's defaults, set explicitly: older redis-py waited forever."""

log = logging.getLogger(__name__)


def middleware() -> list[Middleware]:
    """The Dramatiq middleware runs need: time limit, shutdown notice, retries, the current message
    (whose id claims the run), and no pipelines etc."""
    return [TimeLimit(), ShutdownNotifications(), Retries(max_retries=MAX_RETRIES), CurrentMessage()]


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker ``settings.broker_url`` names (``redis://``, ``rediss://``, ``unix://``).

    :raises ConfigInvalid: the URL is empty or of another scheme.
    """
    url = settings.broker_url
    if url.startswith(("redis://", "rediss://", "unix://")):
        from runwire_server.queue.redis import WakingRedisBroker

        return WakingRedisBroker(
            url=url,
            namespace=settings.broker_namespace,
            heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
            middleware=middleware(),
            socket_keepalive=True,
            # enqueues run on the API's event loop: a Redis that does not answer must fail them
            # (503) rather than hold every request; no command of ours waits longer than this
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
            socket_timeout=REDIS_COMMAND_TIMEOUT_S,
        )
    if not url:
        raise ConfigInvalid("RUNWIRE_BROKER_URL is empty: embedded mode has no broker")
    raise ConfigInvalid(f"RUNWIRE_BROKER_URL: unsupported scheme in {url.split('://')[0]!r}; use redis://")


class BrokerQueue:
    """Enqueues runs by id on a Dramatiq broker (the API's side of the distributed queue)."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        broker.declare_queue(QUEUE_NAME)

    def enqueue(self, run_id: str) -> None:
        """Ask a worker to execute run ``run_id`` (already stored, unclaimed); a worker claims it
        by its message id when it starts it."""
        self.broker.enqueue(
            Message(queue_name=QUEUE_NAME, actor_name=ACTOR_NAME, args=(run_id,), kwargs={}, options={})
        )

    def full(self) -> bool:
        """Never: the broker holds the backlog (its own limits apply)."""
        return False

    def ping(self) -> None:
        """Raise if the broker is unreachable (Redis ``PING``; in-process always answers)."""
        client: Any = getattr(self.broker, "client", None)
        if client is not None:
            client.ping()


def declare_run_actor(broker: dramatiq.Broker, execute: Callable[[str], None], time_limit_s: int) -> Any:
    """Declare the actor that executes a run by id on ``broker`` (the workers' side)."""
    declare = dramatiq.actor(
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=QUEUE_NAME,
        max_retries=MAX_RETRIES,
        time_limit=time_limit_s * 1000,
    )
    return declare(execute)


def start_worker(broker: dramatiq.Broker, threads: int) -> dramatiq.Worker:
    """Start Dramatiq worker threads consuming the run queue of ``broker``.

    The idle timeout bounds how long stopping takes; Redis consumers also fetch (and so send
    their heartbeat) at least that often, so it stays well below the heartbeat timeout.
    """
    worker = dramatiq.Worker(broker, queues={QUEUE_NAME}, worker_threads=threads, worker_timeout=1000)
    worker.start()
    return worker
