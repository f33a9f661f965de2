"""The embedded run queue on its own: slots, delivery order, retries, stopping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from runwire_server.queue import LoopQueue
from runwire_server.store import RunRow


def stored_claimed(run_id: str) -> RunRow:
    """A run as the store returns it when created already claimed (embedded fast path)."""
    now = datetime.now(UTC)
    return RunRow(
        id=run_id,
        workflow_id=1,
        project=1,
        workflow_version=1,
        status="in progress",
        input={},
        nodes={},
        total_cost=0.0,
        error=None,
        created_at=now,
        updated_at=now,
    )


async def test_runs_wait_for_a_slot_and_keep_their_claim() -> None:
    queue = LoopQueue(concurrency=2)
    started: list[tuple[str, str, RunRow | None]] = []
    release = asyncio.Event()

    async def execute(run_id: str, claimant: str, stored: RunRow | None) -> None:
        started.append((run_id, claimant, stored))
        await release.wait()

    claim, late_claim = queue.claimant(), queue.claimant()
    queue.enqueue("early")  # before start: waits for it (start-up recovery does this)
    await queue.start(execute)
    claimed = stored_claimed("claimed")
    queue.enqueue_stored("claimed", claim, claimed)
    queue.enqueue_stored("third", late_claim, stored_claimed("third"))
    await asyncio.sleep(0.05)
    assert [s[0] for s in started] == ["early", "claimed"]  # two slots; "third" waits
    assert started[1][1:] == (claim, claimed)  # handed over as stored: no claim write, no read
    assert started[0][1] != claim and started[0][2] is None  # claimed as it starts
    release.set()
    await asyncio.sleep(0.05)
    assert [s[0] for s in started] == ["early", "claimed", "third"]
    assert started[2][1:] == (late_claim, None)  # waited by id, keeps its claim; read back at start
    await queue.stop(timeout_s=1)


async def test_a_store_failure_is_retried_with_the_same_claim() -> None:
    queue = LoopQueue(concurrency=1)
    attempts: list[str] = []
    done = asyncio.Event()

    async def execute(run_id: str, claimant: str, stored: RunRow | None) -> None:
        attempts.append(claimant)
        if len(attempts) < 3:
            raise ConnectionError("database unreachable")
        done.set()

    await queue.start(execute)
    queue.enqueue("run")
    await asyncio.wait_for(done.wait(), timeout=10)  # retried after 0.1 s, then 1 s
    assert len(attempts) == 3 and len(set(attempts)) == 1
    await queue.stop(timeout_s=1)


async def test_stopping_waits_for_running_runs_then_cancels_them() -> None:
    queue = LoopQueue(concurrency=4)
    finished: list[str] = []
    cancelled: list[str] = []

    async def execute(run_id: str, claimant: str, stored: RunRow | None) -> None:
        try:
            await asyncio.sleep(0.05 if run_id == "quick" else 60)
            finished.append(run_id)
        except asyncio.CancelledError:
            cancelled.append(run_id)
            raise

    await queue.start(execute)
    queue.enqueue("quick")
    queue.enqueue("endless")
    await asyncio.sleep(0)
    await queue.stop(timeout_s=0.5)
    assert finished == ["quick"] and cancelled == ["endless"]
    with pytest.raises(RuntimeError, match="not running"):
        queue.ping()
    queue.enqueue("after")  # kept for the next start, not executed
    await asyncio.sleep(0.05)
    assert finished == ["quick"]
