"""The process-wide limiter: one limit across threads and event loops, cancellation-safe."""

from __future__ import annotations

import asyncio
import threading

import pytest

from runwire.host import DEFAULT_MAX_PROCESSES, HostPolicy
from runwire.slots import Slots


class Meter:
    """Counts holders at once across threads (under a lock) and keeps the most seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = self.done = 0

    async def hold(self, slots: Slots) -> None:
        async with slots:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            await asyncio.sleep(0.005)  # stay a while, so others queue up behind
            with self.lock:
                self.now -= 1
                self.done += 1


def test_the_limit_holds_across_threads_each_with_its_own_loop() -> None:
    slots, meter = Slots(3), Meter()

    def thread_body() -> None:
        async def many() -> None:
            await asyncio.gather(*(meter.hold(slots) for _ in range(10)))

        asyncio.run(many())  # a new event loop in this thread, as a worker thread has

    threads = [threading.Thread(target=thread_body) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meter.done == 40
    assert 1 <= meter.most <= 3
    assert slots.in_use == 0 and slots.waiting == 0


async def test_waiting_never_blocks_the_loop() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    ticks = 0
    while slots.waiting == 0 or ticks < 5:  # the loop keeps turning while the waiter waits
        await asyncio.sleep(0)
        ticks += 1
    assert not waiter.done()
    released = threading.Thread(target=slots.release)  # released from another thread
    released.start()
    released.join()
    await waiter
    assert slots.in_use == 1
    slots.release()


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    while slots.waiting == 0:
        await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.waiting == 0
    slots.release()
    assert slots.in_use == 0
    await asyncio.wait_for(slots.acquire(), 5)  # free at once
    slots.release()


async def test_a_waiter_cancelled_as_it_is_granted_passes_the_slot_on() -> None:
    slots = Slots(1)
    await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    while slots.waiting < 2:
        await asyncio.sleep(0)
    slots.release()  # granted to ``first`` ...
    first.cancel()  # ... which is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 5)  # the slot went on to the next waiter
    assert slots.in_use == 1 and slots.waiting == 0
    slots.release()
    assert slots.in_use == 0


def test_a_waiter_whose_loop_closed_is_skipped() -> None:
    slots = Slots(1)
    holder_loop = asyncio.new_event_loop()
    holder_loop.run_until_complete(slots.acquire())
    dead_loop = asyncio.new_event_loop()
    dead_loop.set_exception_handler(lambda loop, context: None)  # its task dies pending: quiet
    waiter = dead_loop.create_task(slots.acquire())
    while slots.waiting == 0:
        dead_loop.run_until_complete(asyncio.sleep(0))
    dead_loop.close()  # a worker thread's loop that went away with its waiter
    assert not waiter.done()
    slots.release()  # nobody can use it there: back to the pool
    assert slots.in_use == 0
    holder_loop.run_until_complete(asyncio.wait_for(slots.acquire(), 5))
    slots.release()
    holder_loop.close()


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="let nothing run"):
        Slots(0)
    with pytest.raises(RuntimeError, match="more often than acquire"):
        Slots(1).release()


def test_each_host_policy_has_one_limiter_of_its_size() -> None:
    policy = HostPolicy(max_processes=2)
    assert policy.process_slots.limit == 2 and policy.process_slots is policy.process_slots
    assert HostPolicy().process_slots.limit == DEFAULT_MAX_PROCESSES
