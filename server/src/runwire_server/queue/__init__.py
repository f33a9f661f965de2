"""The run queue: one protocol, two backends.

- :mod:`~runwire_server.queue.base`: :class:`RunQueue`, what callers ask of any queue.
- :mod:`~runwire_server.queue.embedded`: :class:`LoopQueue`, runs on the server's own event loop
  (``runwire serve`` without a broker URL).
- :mod:`~runwire_server.queue.broker`: :class:`BrokerQueue` on a Dramatiq broker, the run actor and
  the worker threads (the distributed mode, ``runwire worker``); imported when first used.
- :mod:`~runwire_server.queue.redis`: Dramatiq's Redis broker with wake-up notifications.
- :mod:`~runwire_server.queue.rabbitmq`: Dramatiq's RabbitMQ broker with timeouts, the queue's depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runwire_server.queue.base import RunQueue
from runwire_server.queue.embedded import LoopQueue

if TYPE_CHECKING:
    from runwire_server.queue.broker import (
        ACTOR_NAME,
        MAX_RETRIES,
        QUEUE_NAME,
        BrokerQueue,
        declare_run_actor,
        make_broker,
        middleware,
        queue_name,
        start_worker,
    )

_BROKER_NAMES = frozenset(
    {
        "ACTOR_NAME",
        "MAX_RETRIES",
        "QUEUE_NAME",
        "BrokerQueue",
        "declare_run_actor",
        "make_broker",
        "middleware",
        "queue_name",
        "start_worker",
    }
)


def __getattr__(name: str) -> Any:
    """The broker's names, imported on first use: Dramatiq (and Redis or pika with it) stays
    out of a server that has no broker (embedded mode)."""
    if name in _BROKER_NAMES:
        from runwire_server.queue import broker

        return getattr(broker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACTOR_NAME",
    "MAX_RETRIES",
    "QUEUE_NAME",
    "BrokerQueue",
    "LoopQueue",
    "RunQueue",
    "declare_run_actor",
    "make_broker",
    "middleware",
    "queue_name",
    "start_worker",
]
