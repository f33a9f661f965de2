"""The distributed run queue: a Dramatiq broker on Redis or RabbitMQ, the run actor and the worker.

Embedded mode (no broker URL) queues runs on the server's own event loop instead
(:mod:`runwire_server.queue.embedded`); both satisfy :class:`~runwire_server.queue.base.RunQueue`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.message import Message
from dramatiq.middleware import CurrentMessage, Middleware, Retries, ShutdownNotifications, TimeLimit

from runwire.errors import ConfigInvalid
from runwire_server.settings import Settings

QUEUE_NAME = "runwire-runs"
"""The run queue's name on Redis (inside the key namespace); RabbitMQ's is :func:`queue_name`."""
ACTOR_NAME = "runwire_execute_run"
MAX_RETRIES = 3
REDIS_CONNECT_TIMEOUT_S = 5.0
"""Seconds a connection to Redis may take before the enqueue (and the request) fails with 503."""
REDIS_COMMAND_TIMEOUT_S = 5.0
"""Seconds a Redis command may go unanswered before it fails (the idle wait is 1 s at most).

Both are redis-py 8's defaults, set explicitly: older redis-py waited forever."""
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
AMQP_SCHEMES = ("amqp://", "amqps://")

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import redis


def middleware() -> list[Middleware]:
    """The Dramatiq middleware runs need: time limit, shutdown notice, retries, the current message
    (whose id claims the run), and no pipelines etc."""
    return [TimeLimit(), ShutdownNotifications(), Retries(max_retries=MAX_RETRIES), CurrentMessage()]


def is_amqp(url: str) -> bool:
    """Whether ``url`` names a RabbitMQ broker."""
    return url.startswith(AMQP_SCHEMES)


def queue_name(settings: Settings) -> str:
    """The run queue's name: ``runwire-runs`` inside Redis's key namespace; on RabbitMQ, whose
    queues share one virtual host, ``<namespace>-runs`` (``runwire-runs`` by default)."""
    if is_amqp(settings.broker_url):
        return f"{settings.broker_namespace}-runs"
    return QUEUE_NAME


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker ``settings.broker_url`` names: Redis (``redis://``, ``rediss://``, ``unix://``)
    or RabbitMQ (``amqp://``, ``amqps://``).

    :raises ConfigInvalid: the URL is empty or of another scheme.
    """
    url = settings.broker_url
    if url.startswith(REDIS_SCHEMES):
        from runwire_server.queue.redis import WakingRedisBroker

        return WakingRedisBroker(
            client=redis_client(url),
            namespace=settings.broker_namespace,
            heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
            middleware=middleware(),
        )
    if is_amqp(url):
        from runwire_server.queue.rabbitmq import make_rabbitmq_broker

        return make_rabbitmq_broker(url, middleware())
    if not url:
        raise ConfigInvalid("RUNWIRE_BROKER_URL is empty: embedded mode has no broker")
    supported = ", ".join(REDIS_SCHEMES + AMQP_SCHEMES)
    raise ConfigInvalid(
        f"RUNWIRE_BROKER_URL: unsupported scheme {url.split('://')[0]!r}; use one of {supported}"
    )


def redis_client(url: str) -> redis.Redis:
    """A Redis client for ``url`` with runwire's connection options, which the URL's query
    (``?socket_timeout=1``, redis-py's names) overrides.

    Enqueues run on the API's event loop: a Redis that does not answer must fail them (503)
    rather than hold every request, so no command waits longer than the timeouts. The client is
    built here because Dramatiq's broker, given a URL, builds its connection pool from the URL
    alone and drops every other connection option. TCP keepalive is a TCP option: a ``unix://``
    socket's connections take the timeouts only (redis-py refuses every command otherwise).
    """
    import redis

    options: dict[str, Any] = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_COMMAND_TIMEOUT_S,
    }
    if not url.startswith("unix://"):
        options["socket_keepalive"] = True
    pool = redis.ConnectionPool.from_url(url, **options)
    return redis.Redis(connection_pool=pool)


COUNT_TTL_S = 0.25
"""How long :meth:`BrokerQueue.full` trusts its last count of the broker's waiting messages."""


class BrokerQueue:
    """Enqueues runs by id on a Dramatiq broker (the API's side of the distributed queue).

    ``max_waiting`` (``RUNWIRE_QUEUE_MAX``) bounds the messages waiting in the broker's queue:
    past it, :meth:`full` says so and the API refuses new runs (503). The count is asked of
    the broker at most every :data:`COUNT_TTL_S`, not per submit: a submit would otherwise add a
    broker round trip to the hot path, and a broker that does not answer would make every
    submit wait out its timeout twice (the count, then the enqueue).
    """

    def __init__(
        self,
        broker: dramatiq.Broker,
        name: str = QUEUE_NAME,
        max_waiting: int | None = None,
        namespace: str = "runwire",
    ) -> None:
        from runwire_server.queue.endings import Announcer

        self.broker = broker
        self.name = name
        self.max_waiting = max_waiting
        self.announcer = Announcer(broker, namespace)
        """Where runs' ends are announced to servers (:mod:`runwire_server.queue.endings`)."""
        self._depth: int | None = None
        self._counted_at = float("-inf")
        self.troubled = False
        """Whether the last enqueue or count failed, none having succeeded since
        (:func:`runwire_server.queue.base.call_from_loop`)."""
        broker.declare_queue(name)

    @contextmanager
    def _watched(self) -> Iterator[None]:
        try:
            yield
        except Exception:
            self.troubled = True
            raise
        self.troubled = False

    def enqueue(self, run_id: str) -> None:
        """Ask a worker to execute run ``run_id`` (already stored, unclaimed); a worker claims it
        by its message id when it starts it."""
        with self._watched():
            self.broker.enqueue(
                Message(queue_name=self.name, actor_name=ACTOR_NAME, args=(run_id,), kwargs={}, options={})
            )

    def waiting(self) -> int:
        """How many messages wait in the run queue (not yet delivered to a worker).

        :raises Exception: the broker is unreachable.
        """
        from runwire_server.queue.rabbitmq import RabbitmqBroker, queue_depth

        with self._watched():
            if isinstance(self.broker, RabbitmqBroker):
                return queue_depth(self.broker, self.name)
            client: Any = getattr(self.broker, "client", None)
            if client is None:
                return 0
            return int(client.llen(f"{self.broker.namespace}:{self.name}"))  # type: ignore[attr-defined]

    def full(self) -> bool:
        """Whether ``max_waiting`` messages wait already, as last counted (never without a bound;
        a broker that does not answer is not full: the enqueue then fails and the API answers
        503 itself)."""
        if self.max_waiting is None:
            return False
        depth = self.depth()
        return depth is not None and depth >= self.max_waiting

    def depth(self) -> int | None:
        """How many messages wait, as counted at most :data:`COUNT_TTL_S` ago (:meth:`full` and
        the metrics share the count); ``None`` when the broker did not answer."""
        now = time.monotonic()
        if now - self._counted_at >= COUNT_TTL_S:
            self._counted_at = now
            try:
                self._depth = self.waiting()
            except Exception as exc:
                log.warning("could not count the waiting runs: %s", exc)
                self._depth = None
        return self._depth

    def announce_ended(self, run_id: str) -> None:
        """Announce on the broker that ``run_id`` ended (:mod:`runwire_server.queue.endings`)."""
        self.announcer.announce(run_id)

    def listen_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Listen for the runs announced ended (:mod:`runwire_server.queue.endings`)."""
        return self.announcer.listen(callback)

    def ping(self) -> None:
        """Raise if the broker is unreachable (a Redis ``PING``, a RabbitMQ passive queue declare)."""
        self.waiting()


def declare_run_actor(
    broker: dramatiq.Broker, execute: Callable[[str], None], time_limit_s: int, name: str = QUEUE_NAME
) -> Any:
    """Declare the actor that executes a run by id on ``broker``'s queue ``name`` (the workers' side)."""
    declare = dramatiq.actor(
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=name,
        max_retries=MAX_RETRIES,
        time_limit=time_limit_s * 1000,
    )
    return declare(execute)


def start_worker(broker: dramatiq.Broker, threads: int, name: str = QUEUE_NAME) -> dramatiq.Worker:
    """Start Dramatiq worker threads consuming the run queue ``name`` of ``broker``.

    The idle timeout bounds how long stopping takes; Redis consumers also fetch (and so send
    their heartbeat) at least that often, so it stays well below the heartbeat timeout.
    """
    worker = dramatiq.Worker(broker, queues={name}, worker_timeout=1000, worker_threads=threads)
    worker.start()
    return worker
