"""Dramatiq's Redis broker, tuned so an idle worker starts a new run within milliseconds.

Dramatiq's own Redis consumer polls with a growing back-off (up to its idle timeout) when a
queue is empty. Here every enqueue also pushes a wake-up token on a per-queue list, in the same
round trip (a pipeline), and a consumer that found the queue empty sends its next fetch behind a
``BLPOP`` on that list, again in one round trip: Redis blocks the consumer's connection until a
token arrives (or the idle timeout passes), then runs the fetch at once. Redis hands each token
to one waiting consumer (the longest waiting), so an enqueue wakes one idle consumer, not all of
them, and no consumer fetches just to find the queue empty. Tokens are hints: delivery stays
with Dramatiq's fetch, which every idle consumer also makes at least every idle timeout (a token
lost costs latency only). Consumers also keep their heartbeat fresh while every slot is busy,
and queue maintenance (moving the unacked messages of dead workers back to their queue) runs at
least every half heartbeat timeout instead of by chance, so a killed worker's runs are picked up
by another promptly.

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
from dramatiq.middleware import CurrentMessage
from dramatiq.worker import WorkerThread
from redis.exceptions import NoScriptError

BUSY_POLL_SECONDS = 0.002
"""How long a consumer whose prefetch slots are all taken waits before looking again."""
WAKEUP_TOKENS_MAX = 64
"""The most wake-up tokens a queue's list keeps. Tokens pile up only while no consumer waits
(each is busy, and will fetch before it waits again), so the oldest are dropped: each token left
over costs one empty fetch later."""


class WakingRedisBroker(RedisBroker):
    """A :class:`dramatiq.brokers.redis.RedisBroker` with wake-up tokens (see module doc)."""

    def __init__(
        self, *, client: redis.Redis, namespace: str, heartbeat_timeout: int, **options: Any
    ) -> None:
        super().__init__(client=client, namespace=namespace, heartbeat_timeout=heartbeat_timeout, **options)
        self.maintenance_interval_ms = heartbeat_timeout // 2
        self._maintenance_due = threading.local()
        self._with_settlement = threading.local()
        """Per worker thread: what :meth:`publish` left for its message's ack (or nack) to send."""

    @property
    def consumer_class(self) -> type[_WakingConsumer]:
        """Consumers that block on the wake-up list when idle."""
        return _WakingConsumer

    def wakeup_key(self, queue_name: str) -> str:
        """The list of wake-up tokens of ``queue_name`` (one pushed per message enqueued)."""
        return f"{self.namespace}:__wakeup__.{queue_name}"

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        """Dramatiq's ``enqueue`` command (its ``dispatch`` script) and a wake-up token, in one
        round trip: a pipeline, sent from the API's event loop (Dramatiq's ``enqueue`` calls this)."""
        key = self.wakeup_key(queue_name)
        args = self._dispatch_args("enqueue", queue_name, message_id, data)
        pipe = self.client.pipeline(transaction=False)
        pipe.evalsha(self.scripts["dispatch"].sha, 1, self.namespace, *args)
        pipe.rpush(key, b"1")
        pipe.ltrim(key, -WAKEUP_TOKENS_MAX, -1)
        try:
            pipe.execute()
        except NoScriptError:  # a restarted Redis forgot the script: Dramatiq's own call loads it
            self._dispatch("enqueue")(queue_name, message_id, data)
            self.client.rpush(key, b"1")

    def _dispatch_args(self, command: str, queue_name: str, *args: Any) -> list[Any]:
        """The arguments of Dramatiq's ``dispatch`` script, as its ``_dispatch`` builds them."""
        return [
            command,
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            self._should_do_maintenance(command),
            self._max_unpack_size(),
            *args,
        ]

    def publish(self, channel: str, payload: str) -> None:
        """Publish ``payload`` on the pub/sub ``channel``. From a worker thread executing a message
        (a run announcing its end), the ``PUBLISH`` goes with that message's ack or nack, which
        follows as soon as the actor returns: one round trip instead of two."""
        if CurrentMessage.get_current_message() is None or not isinstance(
            threading.current_thread(), WorkerThread
        ):
            self.client.publish(channel, payload)
            return
        pending: list[tuple[str, str]] | None = getattr(self._with_settlement, "items", None)
        if pending is None:
            pending = self._with_settlement.items = []
        pending.append((channel, payload))

    def settle(self, command: str, queue_name: str, message_id: str) -> None:
        """Dramatiq's ``ack`` or ``nack`` of ``message_id``, after what :meth:`publish` left for it
        on this thread, in one round trip."""
        pending: list[tuple[str, str]] | None = getattr(self._with_settlement, "items", None)
        if not pending:
            getattr(self, f"do_{command}")(queue_name, message_id)
            return
        pipe = self.client.pipeline(transaction=False)
        for channel, payload in pending:
            pipe.publish(channel, payload)
        args = self._dispatch_args(command, queue_name, message_id)
        pipe.evalsha(self.scripts["dispatch"].sha, 1, self.namespace, *args)
        try:
            pipe.execute()
        except NoScriptError:  # a restarted Redis forgot the script: Dramatiq's own call loads it
            getattr(self, f"do_{command}")(queue_name, message_id)
        pending.clear()  # after a connection error they go with Dramatiq's next try of the ack

    def heartbeat(self) -> None:
        """Record that this broker's process is alive (what every dispatch also does)."""
        self.client.zadd(f"{self.namespace}:__heartbeats__", {self.broker_id: current_millis()})

    def fetch(self, queue_name: str, count: int, maintenance: bool, wait_s: float = 0.0) -> list[bytes]:
        """Fetch up to ``count`` messages; with ``maintenance``, first requeue dead workers' messages.
        With ``wait_s``, first wait up to that long for a wake-up token: both in one round trip
        (a pipeline: Redis runs the fetch as soon as the ``BLPOP`` before it returns).

        Maintenance is per queue (Dramatiq's script only looks at the queue it is called for).
        """
        self._maintenance_due.value = maintenance
        try:
            if wait_s <= 0:
                return list(self.do_fetch(queue_name, count))
            args = self._dispatch_args("fetch", queue_name, count)
            pipe = self.client.pipeline(transaction=False)
            pipe.blpop([self.wakeup_key(queue_name)], timeout=wait_s)
            pipe.evalsha(self.scripts["dispatch"].sha, 1, self.namespace, *args)
            try:
                _, messages = pipe.execute()
            except NoScriptError:  # a restarted Redis forgot the script: Dramatiq's own call loads it
                return list(self.do_fetch(queue_name, count))
            return list(messages)
        finally:
            self._maintenance_due.value = False

    def _should_do_maintenance(self, command: str) -> int:
        if command == "fetch" and getattr(self._maintenance_due, "value", False):
            return 1
        return super()._should_do_maintenance(command)


# Dramatiq internals used here: the private `_RedisConsumer` (its fields, ack, nack and requeue as
# they are), the broker's `_should_do_maintenance`, `_max_unpack_size` and its `do_<command>` calls
# into the Lua `dispatch` script, whose arguments `_dispatch_args` builds as `_dispatch` does.
# Subclassing the public `Consumer` instead would still have to speak that private
# script protocol, so the dependency is bounded instead: `dramatiq>=2.0,<2.3` in
# server/pyproject.toml, the releases whose brokers/redis.py and dispatch.lua are identical.
# Re-read those two files of a new release before widening the bound.
class _WakingConsumer(_RedisConsumer):
    """Fetches like Dramatiq's consumer; once the queue is empty, waits for a wake-up token."""

    broker: WakingRedisBroker

    def __init__(self, broker: WakingRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self._idle_wait_s = min(timeout, broker.heartbeat_timeout / 4) / 1000
        """How long an idle consumer waits for a token before it fetches anyway: the idle timeout,
        or less when the heartbeat timeout is short (an idle consumer's fetch is its heartbeat,
        stamped when it is sent)."""
        self._last_beat = time.monotonic()
        self._last_maintenance = 0.0
        self._drained = False
        """Whether the last fetch got fewer messages than it asked for (the queue was empty)."""

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
                # a message enqueued since the queue was found empty comes with a token: wait for one
                wait_s = self._idle_wait_s if self._drained else 0.0
                now = self._last_beat = time.monotonic()
                maintenance = (now - self._last_maintenance) * 1000 >= self.broker.maintenance_interval_ms
                if maintenance:
                    self._last_maintenance = now
                wanted = self.prefetch - self.outstanding_message_count
                self.message_cache = self.broker.fetch(self.queue_name, wanted, maintenance, wait_s)
                self._drained = len(self.message_cache) < wanted
                if wait_s and not self.message_cache:
                    return None  # idle: the consumer thread looks up (stopping, delayed messages)
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def ack(self, message: MessageProxy) -> None:
        """Acknowledge ``message`` as Dramatiq does, with what the run published (one round trip)."""
        self._settle("ack", message)

    def nack(self, message: MessageProxy) -> None:
        """Dead-letter ``message`` as Dramatiq does, with what the run published (one round trip)."""
        self._settle("nack", message)

    def _settle(self, command: str, message: MessageProxy) -> None:
        try:
            self.broker.settle(command, self.queue_name, message.options["redis_message_id"])
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
        finally:
            self.queued_message_ids.discard(message.message_id)

    def _keep_alive(self) -> None:
        # fetch (which refreshes the heartbeat) is skipped while every slot is busy
        now = time.monotonic()
        if (now - self._last_beat) * 1000 >= self.broker.heartbeat_timeout / 4:
            self._last_beat = now
            self.broker.heartbeat()
