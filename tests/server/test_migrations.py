"""Schema migrations on SQLite and PostgreSQL: processes started at once on a fresh store all come
up, a store made before revisions is brought forward keeping its rows, a newer store is refused,
and the newest revision is exactly ``store/tables.py``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text

from runwire_server.cli import main
from runwire_server.store import hash_key, open_database
from runwire_server.store.schema import VERSION_TABLE, current_revision, head_revision
from runwire_server.store.tables import metadata
from runwire_server.testing import WORKER_READY_LINE, free_port, redis_namespace


def _env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "RUNWIRE_DATA_DIR": str(data_dir),
        "RUNWIRE_DATABASE_URL": database_url,
        **extra,
    }


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "runwire_server", *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def broker_and_processes() -> Iterator[tuple[str, str, list[subprocess.Popen[bytes]]]]:
    """``(redis_url, namespace, processes)``: a fresh Redis namespace, and a list of processes to
    SIGTERM (SIGKILL after 10 s) when the test ends. The processes are stopped before the
    namespace's keys are deleted: a live ``runwire worker`` writes its broker heartbeat
    (``<namespace>:__heartbeats__``) back at its next fetch, which would outlive the test."""
    with redis_namespace() as (redis_url, namespace):
        started: list[subprocess.Popen[bytes]] = []
        try:
            yield redis_url, namespace, started
        finally:
            for proc in started:
                if proc.poll() is None:
                    proc.terminate()
            for proc in started:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _at_head(database_url: str) -> bool:
    store = open_database(database_url)
    try:
        with store.sync.engine.connect() as conn:
            return current_revision(conn) == head_revision()
    finally:
        store.dispose()


def test_serve_and_four_workers_started_at_once_on_a_fresh_store_all_come_up(
    database_url: str,
    tmp_path: Path,
    broker_and_processes: tuple[str, str, list[subprocess.Popen[bytes]]],
) -> None:
    """The race that killed processes with ``table runwire_workflows already exists`` (SQLite)
    or a duplicate key on ``pg_type_typname_nsp_index`` (PostgreSQL)."""
    redis_url, namespace, stopped = broker_and_processes
    env = _env(
        database_url,
        tmp_path,
        RUNWIRE_BROKER_URL=redis_url,
        RUNWIRE_BROKER_NAMESPACE=namespace,
        RUNWIRE_WORKER_THREADS="1",
        RUNWIRE_AUTH_PROVIDERS="none",
    )
    port = free_port()
    logs = [tmp_path / f"p{i}.log" for i in range(5)]
    argvs = [["serve", "--host", "127.0.0.1", "--port", str(port)]] + [["worker"]] * 4
    stopped.extend(_spawn(argv, env, log) for argv, log in zip(argvs, logs, strict=True))
    deadline = time.monotonic() + 60
    serving = False
    while time.monotonic() < deadline:
        for proc, log in zip(stopped, logs, strict=True):
            assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()[-4000:]}"
        if not serving:
            with contextlib.suppress(httpx.TransportError):
                serving = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        if serving and all(WORKER_READY_LINE in log.read_text() for log in logs[1:]):
            break
        time.sleep(0.1)
    else:
        pytest.fail("not every process came up:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
    migrated = [log for log in logs if "store schema upgraded from revision (none)" in log.read_text()]
    assert len(migrated) == 1, "exactly one process migrated the fresh store"
    assert _at_head(database_url)


def test_five_upgrades_at_once_one_migrates_and_again_is_a_no_op(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url, tmp_path)
    logs = [tmp_path / f"upgrade{i}.log" for i in range(5)]
    procs = [_spawn(["db", "upgrade"], env, log) for log in logs]
    assert [proc.wait(60) for proc in procs] == [0] * 5, [log.read_text() for log in logs]
    said = sorted(log.read_text().strip() for log in logs)
    head = head_revision()
    assert said == [f"store schema already at the newest revision, {head}: nothing to do"] * 4 + [
        f"store schema upgraded from revision (none) to {head}"
    ]
    runner = CliRunner()
    again = runner.invoke(
        main, ["db", "upgrade", "--database-url", database_url, "--data-dir", str(tmp_path)]
    )
    assert again.exit_code == 0 and "nothing to do" in again.output
    current = runner.invoke(
        main, ["db", "current", "--database-url", database_url, "--data-dir", str(tmp_path)]
    )
    assert current.output.strip() == f"{head} (the newest)"


OLD_TABLES = {  # as the first runwire made them (before in-place columns and SQLite AUTOINCREMENT)
    "sqlite": [
        "CREATE TABLE runwire_workflows (id INTEGER NOT NULL, project INTEGER NOT NULL, title VARCHAR(255) NOT NULL,"
        " data JSON NOT NULL, version INTEGER NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,"
        " PRIMARY KEY (id))",
        "CREATE INDEX ix_runwire_workflows_project ON runwire_workflows (project)",
        "CREATE TABLE runwire_runs (id VARCHAR(36) NOT NULL, workflow_id INTEGER NOT NULL, project INTEGER NOT NULL,"
        " status VARCHAR(16) NOT NULL, input JSON, nodes JSON NOT NULL, total_cost FLOAT NOT NULL, error TEXT,"
        " created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id),"
        " FOREIGN KEY(workflow_id) REFERENCES runwire_workflows (id) ON DELETE CASCADE)",
        "CREATE TABLE runwire_api_keys (id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, key_hash VARCHAR(64) NOT NULL,"
        " projects JSON NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id), UNIQUE (key_hash))",
    ],
    "postgresql": [
        "CREATE TABLE runwire_workflows (id SERIAL NOT NULL, project INTEGER NOT NULL, title VARCHAR(255) NOT NULL,"
        " data JSON NOT NULL, version INTEGER NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " updated_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id))",
        "CREATE INDEX ix_runwire_workflows_project ON runwire_workflows (project)",
        "CREATE TABLE runwire_runs (id VARCHAR(36) NOT NULL, workflow_id INTEGER NOT NULL, project INTEGER NOT NULL,"
        " status VARCHAR(16) NOT NULL, input JSON, nodes JSON NOT NULL, total_cost FLOAT NOT NULL, error TEXT,"
        " created_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " PRIMARY KEY (id), FOREIGN KEY(workflow_id) REFERENCES runwire_workflows (id) ON DELETE CASCADE)",
        "CREATE TABLE runwire_api_keys (id SERIAL NOT NULL, name VARCHAR(255) NOT NULL, key_hash VARCHAR(64) NOT NULL,"
        " projects JSON NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id), UNIQUE (key_hash))",
    ],
}


async def test_a_store_made_before_revisions_is_upgraded_keeping_its_rows(
    database_url: str, tmp_path: Path
) -> None:
    old = open_database(database_url)
    with old.sync.engine.begin() as conn:
        for ddl in OLD_TABLES[conn.dialect.name]:
            conn.execute(text(ddl))
        conn.execute(
            text(
                "INSERT INTO runwire_workflows (project, title, data, version, created_at, updated_at)"
                " VALUES (4, 'kept', '{\"nodes\": []}', 2, :now, :now)"
            ),
            {"now": "2026-01-02 03:04:05"},
        )
        conn.execute(
            text(
                "INSERT INTO runwire_runs (id, workflow_id, project, status, input, nodes, total_cost,"
                " created_at, updated_at) VALUES ('r1', 1, 4, 'succeed', '{}', '{}', 0.5, :now, :now)"
            ),
            {"now": "2026-01-02 03:04:05"},
        )
        conn.execute(
            text(
                "INSERT INTO runwire_api_keys (name, key_hash, projects, created_at)"
                " VALUES ('old', :hash, '[4]', :now)"
            ),
            {"hash": hash_key("rw_old"), "now": "2026-01-02"},
        )
    old.dispose()

    result = CliRunner().invoke(
        main, ["db", "upgrade", "--database-url", database_url, "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"store schema upgraded from revision (none) to {head_revision()}"

    store = open_database(database_url)
    try:
        workflow = await store.get_workflow(1)
        assert workflow is not None and (workflow.title, workflow.version, workflow.data) == (
            "kept",
            2,
            {"nodes": []},
        )
        run = await store.get_run("r1")
        assert run is not None and run.total_cost == 0.5 and run.workflow_version == 1
        principal = await store.lookup_api_key("rw_old")
        assert principal is not None and principal.projects == frozenset({4})
        assert (await store.create_workflow(1, "new", {})).id == 2
        with store.sync.engine.connect() as conn:
            assert _schema_differences(conn) == []
    finally:
        store.dispose()


def test_a_store_upgraded_by_a_newer_runwire_is_refused(database_url: str, tmp_path: Path) -> None:
    store = open_database(database_url)
    store.create_schema()
    with store.sync.engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_from_the_future'"))
    store.dispose()
    runner = CliRunner()
    for argv in (["db", "upgrade"], ["keys", "list"]):
        result = runner.invoke(main, [*argv, "--database-url", database_url, "--data-dir", str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert "'9999_from_the_future', which this runwire does not know" in result.output
        assert "a newer runwire has upgraded it" in result.output
    current = runner.invoke(
        main, ["db", "current", "--database-url", database_url, "--data-dir", str(tmp_path)]
    )
    assert current.exit_code == 0 and "9999_from_the_future (unknown to this runwire" in current.output
    serve = subprocess.run(
        [sys.executable, "-m", "runwire_server", "serve", "--port", str(free_port())],
        env=_env(database_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 1 and "which this runwire does not know" in serve.stderr


def _schema_differences(conn: object) -> list[object]:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})  # type: ignore[arg-type]
    return list(compare_metadata(context, metadata))


def test_the_newest_revision_is_the_schema_of_tables_py(database_url: str) -> None:
    """A change to ``store/tables.py`` without a revision (``runwire db revision``) fails here."""
    store = open_database(database_url)
    try:
        store.create_schema()
        with store.sync.engine.connect() as conn:
            assert _schema_differences(conn) == []
    finally:
        store.dispose()
