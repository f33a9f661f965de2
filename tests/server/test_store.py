"""The run store against SQLite and PostgreSQL (a fresh database each, dropped afterwards)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.exc import IntegrityError

from runwire_server.settings import store_url
from runwire_server.store import Store, hash_key, open_database
from runwire_server.store.schema import VERSION_TABLE
from runwire_server.store.tables import processes, runs


def test_store_url_resolution(tmp_path: Path) -> None:
    assert store_url("", tmp_path) == f"sqlite:///{(tmp_path / 'runwire.db').resolve()}"
    assert store_url("postgresql://u@h:5432/db", tmp_path) == "postgresql+psycopg://u@h:5432/db"
    assert store_url("postgres://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert store_url("postgresql+psycopg://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert store_url("sqlite:////tmp/x.db", tmp_path) == "sqlite:////tmp/x.db"


def test_sqlite_store_is_created_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "dir"
    made = open_database(store_url("", data_dir))
    made.create_schema()
    made.create_schema()  # idempotent
    assert (data_dir / "runwire.db").exists()
    made.dispose()


async def test_workflow_crud(store: Store) -> None:
    created = await store.create_workflow(3, "First", {"nodes": [], "extra": {"deep": [1, 2]}})
    assert await store.get_workflow(created.id) == created
    updated = await store.update_workflow(created.id, title="Renamed")
    assert updated is not None and updated.title == "Renamed" and updated.version == 2
    assert updated.data == created.data and updated.updated_at >= created.updated_at
    again = await store.update_workflow(created.id, data={"nodes": [{"id": "a"}]})
    assert again is not None and again.version == 3 and again.title == "Renamed"
    assert await store.update_workflow(999_999, title="x") is None
    assert await store.delete_workflow(created.id) and await store.get_workflow(created.id) is None
    assert not await store.delete_workflow(created.id)


async def test_list_workflows_filters_and_pages(store: Store) -> None:
    for i in range(7):
        await store.create_workflow(1 if i % 2 else 2, f"Flow {i} ÄÖ", {})
    count, page = await store.list_workflows(None, offset=0, limit=3)
    assert count == 7 and len(page) == 3
    count, page = await store.list_workflows(frozenset({1}))
    assert count == 3 and {w.project for w in page} == {1}
    count, _ = await store.list_workflows(None, project=2, title="flow")
    assert count == 4
    assert await store.list_workflows(frozenset(), offset=0, limit=10) == (0, [])
    assert (await store.list_workflows(None, title="flow 3 "))[0] == 1


async def test_run_lifecycle_and_atomic_terminal_write(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {"q": [1, {"x": None}]})
    row = await store.get_run(run_id)
    assert row is not None and row.status == "in queue" and row.input == {"q": [1, {"x": None}]}
    claimed = await store.claim_run(run_id)
    assert claimed is not None and claimed.status == "in progress"
    nodes = {"a": {"id": "a", "status": "succeed", "result": {"content": "ünïcode ✓"}}}
    await store.save_run(run_id, "succeed", nodes, 0.25)
    done = await store.get_run(run_id)
    assert done is not None and (done.status, done.nodes, done.total_cost) == ("succeed", nodes, 0.25)
    assert done.result_json() == {
        "id": run_id,
        "status": "succeed",
        "data": nodes,
        "metrics": {"total_cost": 0.25},
    }
    assert await store.claim_run(run_id) is None  # a redelivered message does not run it again
    assert await store.claim_run(str(uuid.uuid4())) is None


@pytest.mark.parametrize("cost", [float("nan"), float("inf")])
async def test_a_total_cost_that_is_no_finite_number_is_stored_with_the_run(
    store: Store, cost: float
) -> None:
    """A plugin's node may report a NaN or infinite cost: the run's terminal write keeps its
    results (SQLite turned NaN into NULL, refused by the column: the whole write failed), on
    both stores alike; what is stored is infinity, which no JSON has either (the API: null)."""
    workflow = await store.create_workflow(1, "w", {})
    run_id, finished_id = str(uuid.uuid4()), str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    assert await store.claim_run(run_id) is not None
    nodes = {"a": {"id": "a", "status": "succeed", "result": {"content": "spent"}}}
    await store.save_run(run_id, "succeed", nodes, cost)
    made = await store.create_run(finished_id, workflow, {}, status="failed", nodes=nodes, total_cost=cost)
    for row in (await store.get_run(run_id), await store.get_run(finished_id), made):
        assert row is not None and row.nodes == nodes and row.total_cost == float("inf")
    count, page = await store.history(workflow.id, "-cost", 0, 10)
    assert count == 2 and {r.id for r in page} == {run_id, finished_id}


async def test_unfinished_runs_are_found_and_requeued(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for run_id in ids:
        await store.create_run(run_id, workflow, {})
    await store.claim_run(ids[1])
    await store.save_run(ids[1], "in progress", {"a": {"id": "a", "status": "succeed"}}, 0.0)
    await store.claim_run(ids[2])
    await store.save_run(ids[2], "failed", {}, 0.0, "boom")
    assert sorted(await store.unfinished_runs()) == sorted(ids[:2])
    await store.requeue_runs(await store.unfinished_runs())
    requeued = await store.get_run(ids[1])
    # the node records stay: the executor that claims it decides whether it may start over
    assert requeued is not None and requeued.status == "in queue"
    assert requeued.nodes == {"a": {"id": "a", "status": "succeed"}}
    failed = await store.get_run(ids[2])
    assert failed is not None and failed.status == "failed" and failed.error == "boom"


async def test_apply_update_merges_node_results(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    await store.save_run(run_id, "in progress", {"a": {"id": "a", "status": "succeed"}}, 0.0)
    assert await store.apply_update(
        run_id, "succeed", {"b": {"id": "b", "status": "succeed", "result": {"content": "x"}}}
    )
    row = await store.get_run(run_id)
    assert row is not None and row.status == "succeed" and set(row.nodes) == {"a", "b"}
    assert not await store.apply_update(str(uuid.uuid4()), "failed", {})


async def test_an_update_does_not_put_a_running_run_back_in_queue(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    assert await store.claim_run(run_id, "p1:m1") is not None  # executing
    assert await store.apply_update(run_id, "in queue", {"a": {"id": "a", "status": "in progress"}})
    row = await store.get_run(run_id)
    assert row is not None and row.status == "in progress" and set(row.nodes) == {"a"}
    # so no reconciler takes it for a lost message and enqueues it again beside its execution
    assert await store.touch_stale_queued_runs(0.0) == []
    assert await store.claim_run(run_id, "p2:m2") is None  # another delivery does not get it
    # a run still waiting may be said to wait
    waiting = str(uuid.uuid4())
    await store.create_run(waiting, workflow, {})
    assert await store.apply_update(waiting, "in queue", {})
    row = await store.get_run(waiting)
    assert row is not None and row.status == "in queue"


async def test_history_orderings(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    other = await store.create_workflow(1, "other", {})
    ids = []
    for cost in (0.3, 0.1, 0.2):
        run_id = str(uuid.uuid4())
        ids.append(run_id)
        await store.create_run(run_id, workflow, {})
        await store.save_run(run_id, "succeed", {}, cost)
    await store.create_run(str(uuid.uuid4()), other, {})
    assert [r.id for r in (await store.history(workflow.id, "created_at"))[1]] == ids
    assert [r.id for r in (await store.history(workflow.id, "-created_at"))[1]] == ids[::-1]
    assert [r.total_cost for r in (await store.history(workflow.id, "cost"))[1]] == [0.1, 0.2, 0.3]
    count, page = await store.history(workflow.id, "-cost", offset=1, limit=1)
    assert count == 3 and [r.total_cost for r in page] == [0.2]
    await store.delete_workflow(workflow.id)
    assert await store.history(workflow.id) == (0, []) and (await store.history(other.id))[0] == 1


async def test_api_keys_hash_scope_and_lookup(store: Store) -> None:
    key = await store.create_api_key([4, 2, 4], "ci")
    assert key.startswith("rw_") and len(key) > 40
    principal = await store.lookup_api_key(key)
    assert principal is not None and principal.projects == frozenset({2, 4})
    assert principal.subject.startswith("key:") and principal.claims == {"key_name": "ci"}
    assert await store.lookup_api_key(key + "x") is None and await store.lookup_api_key("") is None
    assert await store.lookup_api_key("\udcff surrogate") is None
    with store.sync.engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(text("SELECT key_hash FROM runwire_api_keys"))]
    assert hashes == [hash_key(key)]


async def test_history_at_100k_runs_uses_the_indexes(tmp_path: Path) -> None:
    """100,000 runs: history pages come from the (workflow, created_at|cost) indexes, no sort."""
    made = open_database(store_url("", tmp_path))
    made.create_schema()
    workflow = await made.create_workflow(1, "busy", {})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "id": str(uuid.UUID(int=i)),
            "workflow_id": workflow.id,
            "project": 1,
            "status": "succeed",
            "input": {},
            "nodes": {},
            "total_cost": (i * 7919 % 1000) / 1000,
            "error": None,
            "created_at": start + timedelta(seconds=i),
            "updated_at": start + timedelta(seconds=i),
        }
        for i in range(100_000)
    ]
    with made.sync.engine.begin() as conn:
        conn.execute(insert(runs), rows)
    count, page = await made.history(workflow.id, "-created_at", offset=0, limit=20)
    assert count == 100_000 and page[0].id == str(uuid.UUID(int=99_999))
    _, cheapest = await made.history(workflow.id, "cost", offset=0, limit=3)
    assert [r.total_cost for r in cheapest] == [0.0, 0.0, 0.0]
    with made.sync.engine.connect() as conn:
        for order in ("created_at DESC", "total_cost ASC"):
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN SELECT id FROM runwire_runs WHERE workflow_id = 1 ORDER BY {order} LIMIT 20"
                )
            )
            assert "USING INDEX ix_runwire_runs_workflow" in plan and "TEMP B-TREE" not in plan, plan
    made.dispose()


async def test_a_run_is_claimed_once_and_only_its_claimant_can_claim_it_again(store: Store) -> None:
    """Duplicate messages (e.g. re-enqueued by the stale-run sweep) never run a run twice."""
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    assert await store.claim_run(run_id, "message-a") is not None
    assert await store.claim_run(run_id, "message-b") is None  # a duplicate while it runs: no-op
    assert await store.claim_run(run_id) is None
    await store.save_run(run_id, "in progress", {"s": {"id": "s", "status": "in progress"}}, 0.5)
    again = await store.claim_run(run_id, "message-a")  # message-a redelivered: its worker died
    assert again is not None and again.status == "in progress"
    assert again.nodes == {"s": {"id": "s", "status": "in progress"}}  # what was in flight
    await store.save_run(run_id, "succeed", {}, 0.0)
    assert await store.claim_run(run_id, "message-a") is None
    # start-up recovery puts a run back in the queue for any new message
    other = str(uuid.uuid4())
    await store.create_run(other, workflow, {})
    await store.claim_run(other, "lost-message")
    await store.requeue_runs([other])
    assert await store.claim_run(other, "new-message") is not None


async def test_stale_queued_runs_are_found_once_per_grace_period(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    stale, fresh, claimed = (str(uuid.uuid4()) for _ in range(3))
    for run_id in (stale, fresh, claimed):
        await store.create_run(run_id, workflow, {})
    old = datetime.now(UTC) - timedelta(minutes=10)
    with store.sync.engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id.in_([stale, claimed])).values(updated_at=old))
    await store.claim_run(claimed, "m")
    assert await store.touch_stale_queued_runs(60) == [stale]
    assert await store.touch_stale_queued_runs(60) == []  # touched: not again before another minute
    assert sorted(await store.touch_stale_queued_runs(0)) == sorted([stale, fresh])  # never the claimed one


async def test_a_store_made_before_claimants_gets_the_column(database_url: str) -> None:
    made = open_database(database_url)
    made.create_schema()
    with made.sync.engine.begin() as conn:  # as an older runwire made it: no column, no revision
        conn.execute(text("ALTER TABLE runwire_runs DROP COLUMN claimed_by"))
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    made.dispose()
    again = open_database(database_url)
    again.create_schema()
    workflow = await again.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await again.create_run(run_id, workflow, {})
    assert await again.claim_run(run_id, "m") is not None
    again.dispose()


async def test_an_sqlite_workflows_table_made_without_autoincrement_is_rebuilt_keeping_ids(
    tmp_path: Path,
) -> None:
    """Stores made before ids were never reused get AUTOINCREMENT; rows, ids and runs stay."""
    db = tmp_path / "old.db"
    made = open_database(f"sqlite:///{db}")
    made.create_schema()
    kept = [await made.create_workflow(p, f"w{p}", {"p": p}) for p in (1, 2, 3)]
    run_id = str(uuid.uuid4())
    await made.create_run(run_id, kept[1], {"x": 1})
    made.dispose()
    with sqlite3.connect(db) as old:  # the table as runwire made it before: a plain integer key
        old.executescript(
            "PRAGMA foreign_keys=OFF;"
            "CREATE TABLE plain (id INTEGER NOT NULL PRIMARY KEY, project INTEGER NOT NULL,"
            " title VARCHAR(255) NOT NULL, data JSON NOT NULL, version INTEGER NOT NULL,"
            " created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);"
            "INSERT INTO plain SELECT * FROM runwire_workflows;"
            "DROP TABLE runwire_workflows; ALTER TABLE plain RENAME TO runwire_workflows;"
            f"DROP TABLE {VERSION_TABLE};"
        )
    again = open_database(f"sqlite:///{db}")
    again.create_schema()
    again.create_schema()  # idempotent
    with again.sync.engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'runwire_workflows'"
        ).scalar_one()
        indexes = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(runwire_workflows)")}
    assert "AUTOINCREMENT" in sql.upper() and "ix_runwire_workflows_project" in indexes
    assert [await again.get_workflow(w.id) for w in kept] == kept
    assert await again.get_run(run_id) is not None  # dropping the old table did not cascade to runs
    assert await again.delete_workflow(kept[2].id)
    assert (await again.create_workflow(1, "new", {})).id == kept[
        2
    ].id + 1  # the deleted highest id is not reused
    again.dispose()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    """A store on an SQLite file with its schema, and the file (for other connections to read)."""
    db = tmp_path / "deferred.db"
    store = open_database(f"sqlite:///{db}")
    store.create_schema()
    yield store, db
    store.dispose()


def _other_connection_sees(db: Path, run_id: str) -> str | None:
    """A run's status as another connection (another process) reads it from the file."""
    with sqlite3.connect(db) as other:
        row = other.execute("SELECT status FROM runwire_runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


async def test_deferred_writes_are_visible_elsewhere_only_once_committed(
    sqlite_file: tuple[Store, Path],
) -> None:
    store, db = sqlite_file
    workflow = await store.create_workflow(1, "w", {"nodes": []})
    scheduled: list[Callable[[], None]] = []
    store.sync.defer_commits(scheduled.append)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await store.create_run(first, workflow, {"n": 1}, claimed_by="me")
    await store.create_run(second, workflow, {"n": 2})
    assert store.sync.uncommitted and len(scheduled) == 1  # one commit asked for, for both writes
    assert await store.get_run(first) is not None  # this store reads its own writes
    assert _other_connection_sees(db, first) is None
    scheduled.pop()()
    assert not store.sync.uncommitted
    assert _other_connection_sees(db, first) == _other_connection_sees(db, second) == "in queue"
    await store.save_run(first, "succeed", {"a": {"id": "a", "status": "succeed", "result": 1}}, 0.0)
    assert _other_connection_sees(db, first) == "in queue" and len(scheduled) == 1
    store.dispose()  # commits what is pending
    assert _other_connection_sees(db, first) == "succeed"


async def test_a_failed_deferred_write_keeps_the_writes_before_it(sqlite_file: tuple[Store, Path]) -> None:
    store, db = sqlite_file
    workflow = await store.create_workflow(1, "w", {"nodes": []})
    store.sync.defer_commits(lambda commit: None)
    kept = str(uuid.uuid4())
    await store.create_run(kept, workflow, {})
    with pytest.raises(IntegrityError):
        await store.create_run(kept, workflow, {})  # the same id again: refused by SQLite
    store.sync.commit_pending()
    assert _other_connection_sees(db, kept) == "in queue"


async def test_a_workflow_write_commits_deferred_run_writes_first(sqlite_file: tuple[Store, Path]) -> None:
    """Writes through other connections must not wait on (or skip) the deferred transaction."""
    store, db = sqlite_file
    workflow = await store.create_workflow(1, "w", {"nodes": []})
    store.sync.defer_commits(lambda commit: None)
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    await store.update_workflow(workflow.id, title="renamed")
    assert not store.sync.uncommitted and _other_connection_sees(db, run_id) == "in queue"


async def test_only_runs_of_dead_processes_are_released_keeping_their_nodes(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    live, dead = "a" * 12, "b" * 12
    store.sync.heartbeat(live, "worker", "here", 1)
    store.sync.heartbeat(dead, "worker", "there", 2)
    with store.sync.engine.begin() as conn:  # the dead process's lease expired a minute ago
        conn.execute(
            update(processes)
            .where(processes.c.id == dead)
            .values(last_seen=datetime.now(UTC) - timedelta(minutes=1))
        )
    held, orphaned, waiting = (str(uuid.uuid4()) for _ in range(3))
    for run_id in (held, orphaned, waiting):
        await store.create_run(run_id, workflow, {})
    await store.claim_run(held, f"{live}:m1")
    await store.claim_run(orphaned, f"{dead}:m2")
    await store.apply_update(orphaned, "in progress", {"n1": {"status": "in progress"}})
    assert await store.queue_state(10) == (1, 1)
    assert await store.release_orphaned_runs(10) == [orphaned]
    assert await store.release_orphaned_runs(10) == []  # released once
    released = await store.get_run(orphaned)
    assert released is not None and released.status == "in queue"
    assert released.nodes == {"n1": {"status": "in progress"}}  # what was in flight, for the claim
    assert await store.claim_run(orphaned, f"{live}:m3") is not None  # any new delivery may claim it
    # embedded mode also takes runs held by no process, and holds them itself
    assert await store.release_orphaned_runs(10, unowned=True, claim_as=f"{live}:recovered") == [waiting]
    assert await store.release_orphaned_runs(10, unowned=True) == []
    store.sync.forget_process(live)  # a clean stop: what it holds is released at once
    assert sorted(await store.release_orphaned_runs(10)) == sorted([held, orphaned, waiting])
    assert await store.queue_state(10) == (0, 3)


async def test_a_retried_message_adopts_its_runs_claim_on_another_process(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    await store.claim_run(run_id, "aaaaaaaaaaaa:message-1")
    assert not await store.adopt_claim(run_id, "message-2", "bbbbbbbbbbbb:message-2")  # another message
    assert await store.claim_run(run_id, "bbbbbbbbbbbb:message-1") is None  # not before adopting
    assert await store.adopt_claim(run_id, "message-1", "bbbbbbbbbbbb:message-1")
    assert await store.claim_run(run_id, "bbbbbbbbbbbb:message-1") is not None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_result_keyed_by_a_tuple_is_stored_with_the_key_as_text(store: Store) -> None:
    """A plugin's result JSON has no key for: the write stores it (it refused the whole run's
    terminal write)."""
    workflow = await store.create_workflow(1, "w", {})
    run_id = str(uuid.uuid4())
    await store.create_run(run_id, workflow, {})
    assert await store.claim_run(run_id) is not None
    nodes = {"a": {"id": "a", "status": "succeed", "result": {(1, 2): "x"}}}
    await store.save_run(run_id, "succeed", nodes, 0.0)
    done = await store.get_run(run_id)
    assert done is not None and done.status == "succeed"
    assert done.nodes["a"]["result"] == {"(1, 2)": "x"}
