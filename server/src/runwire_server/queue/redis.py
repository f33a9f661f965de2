"""Dramatiq's Redis broker, tuned so an idle worker starts a new run within milliseconds.

Dramatiq's own Redis consumer polls with a growing back-off (up to its idle timeout) when a
queue is empty. Here every enqueue also publishes on a per-queue channel and an idle consumer
blocks on that channel instead of sleeping, so it wakes as soon as work arrives. Consumers
also keep their heartbeat fresh while every slot is busy, and queue maintenance (moving the
unacked messages of dead workers back to their queue) runs at least every half heartbeat
timeout instead of by chance, so a killed worker's runs are picked up by another promptly.

Dramatiq offers no public way to extend its Redis consumer, so this module leans on its internals
(see the comment on ``_WakingConsumer``) and server/pyproject.toml bounds Dramatiq's version.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

BUSY_POLL_SECONDS = 0.002
"""How long a consumer whose prefetch slots are all taken waits before looking again."""


class WakingRedisBroker(RedisBroker):
    """A :class:`dramatiq.brokers.redis.RedisBroker` with wake-up notifications (see module doc)."""

    def __init__(self, *, url: str, namespace: str, heartbeat_timeout: int, **options: Any) -> None:
        super().__init__(url=url, namespace=namespace, heartbeat_timeout=heartbeat_timeout, **options)
        self.maintenance_interval_ms = heartbeat_timeout // 2
        self._maintenance_due = threading.local()

    @property
    def consumer_class(self) -> type[_WakingConsumer]:
        """Consumers that block on the wake-up channel when idle."""
        return _WakingConsumer

    def wakeup_channel(self, queue_name: str) -> str:
        """The pub/sub channel announcing new messages on ``queue_name``."""
        return f"{self.namespace}:__wakeup__.{queue_name}"

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """Enqueue like Dramatiq, then wake idle consumers of the message's queue."""
        enqueued = super().enqueue(message, delay=delay)
        self.client.publish(self.wakeup_channel(enqueued.queue_name), b"1")
        return enqueued

    def heartbeat(self) -> None:
        """Record that this broker's process is alive (what every dispatch also does)."""
        self.client.zadd(f"{self.namespace}:__heartbeats__", {self.broker_id: current_millis()})

    def fetch(self, queue_name: str, count: int, maintenance: bool) -> list[bytes]:
        """Fetch up to ``count`` messages; with ``maintenance``, first requeue dead workers' messages.

        Maintenance is per queue (Dramatiq's script only looks at the queue it is called for).
        """
        self._maintenance_due.value = maintenance
        try:
            return list(self.do_fetch(queue_name, count))
        finally:
            self._maintenance_due.value = False

    def _should_do_maintenance(self, command: str) -> int:
        if command == "fetch" and getattr(self._maintenance_due, "value", False):
            return 1
        return super()._should_do_maintenance(command)


# Dramatiq internals used here: the private `_RedisConsumer` (its fields, ack, nack and requeue as
# they are), the broker's `_should_do_maintenance` and its `do_<command>` calls into the Lua
# `dispatch` script. Subclassing the public `Consumer` instead would still have to speak that private
# script protocol, so the dependency is bounded instead: `dramatiq>=2.0,<2.3` in
# server/pyproject.toml, the releases whose brokers/redis.py and dispatch.lua are identical.
# Re-read those two files of a new release before widening the bound.
class _WakingConsumer(_RedisConsumer):
    """Fetches like Dramatiq's consumer; when the queue is empty, waits on the wake-up channel."""

    broker: WakingRedisBroker

    def __init__(self, broker: WakingRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self._pubsub = broker.client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(broker.wakeup_channel(queue_name))
        self._last_beat = time.monotonic()
        self._last_maintenance = 0.0

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:
                        continue
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                if self.outstanding_message_count >= self.prefetch:
                    self._keep_alive()
                    time.sleep(BUSY_POLL_SECONDS)
                    return None
                now = self._last_beat = time.monotonic()
                maintenance = (now - self._last_maintenance) * 1000 >= self.broker.maintenance_interval_ms
                if maintenance:
                    self._last_maintenance = now
                self.message_cache = self.broker.fetch(
                    self.queue_name, self.prefetch - self.outstanding_message_count, maintenance
                )
                if self.message_cache:
                    continue
                self._wait_for_wakeup(self.timeout / 1000)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def _keep_alive(self) -> None:
        # fetch (which refreshes the heartbeat) is skipped while every slot is busy
        now = time.monotonic()
        if (now - self._last_beat) * 1000 >= self.broker.heartbeat_timeout / 4:
            self._last_beat = now
            self.broker.heartbeat()

    def _wait_for_wakeup(self, timeout: float) -> None:
        if self._pubsub.get_message(timeout=timeout) is not None:
            while self._pubsub.get_message(timeout=0) is not None:
                pass  # one fetch serves every pending notification

    def close(self) -> None:
        """Close the wake-up subscription too."""
        try:
            self._pubsub.close()
        finally:
            super().close()
