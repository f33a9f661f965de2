"""API keys' lifecycle: expiry, revocation and last use, through the CLI, the store and a live server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from runwire.errors import AuthRefused
from runwire_server.cli import main
from runwire_server.settings import store_url
from runwire_server.store import Store, hash_key, open_database, utcnow
from runwire_server.testing import running_server

WORKFLOWS = "/api/v1/workflows/"
CREATED = re.compile(r"key (\d+) \(")


def keys_cli(database_url: str, *args: str) -> Result:
    """``runwire keys ARGS`` in-process, on the store at ``database_url``."""
    return CliRunner().invoke(main, ["keys", *args, "--database-url", database_url])


def create_key(database_url: str, *args: str) -> tuple[str, int, str]:
    """``runwire keys create ARGS``: the key (stdout), its id and what stderr said."""
    result = keys_cli(database_url, "create", *args)
    assert result.exit_code == 0, result.output
    found = CREATED.search(result.stderr)
    assert found is not None, result.stderr
    return result.stdout.strip(), int(found[1]), result.stderr


def listed(database_url: str) -> dict[int, dict[str, Any]]:
    """``runwire keys list --json`` by key id."""
    result = keys_cli(database_url, "list", "--json")
    assert result.exit_code == 0, result.output
    return {item["id"]: item for item in json.loads(result.stdout)}


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("n" * 256, "at most 255 characters, not 256"),
        ("line one\nline two", "control characters"),
        ("\x1b[2Jwiped", "control characters"),
    ],
)
def test_a_name_too_long_or_with_control_characters_is_a_usage_error(
    database_url: str, name: str, refusal: str
) -> None:
    """PostgreSQL refused a name over the column's 255 characters with a traceback; SQLite kept it."""
    result = keys_cli(database_url, "create", "--project", "1", "--name", name)
    assert result.exit_code == 2 and refusal in result.output and "Traceback" not in result.output
    assert listed(database_url) == {}
    longest, _, _ = create_key(database_url, "--project", "1", "--name", "n" * 255)
    many = [arg for project in range(200) for arg in ("--project", str(project))]
    _, many_id, said = create_key(database_url, *many)  # its default name would be ~1,000 characters
    assert longest.startswith("rw_") and "key for 200 projects" in said
    assert listed(database_url)[many_id]["name"] == "key for 200 projects"


@pytest.mark.parametrize(
    ("given", "length"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_create_with_an_expiry(database_url: str, given: str, length: timedelta) -> None:
    key, key_id, said = create_key(database_url, "--project", "3", "--name", "ci", "--expires", given)
    assert key.startswith("rw_") and key not in said and "expires 20" in said
    store = open_database(database_url).sync
    try:
        row = store.get_api_key(key_id)
        assert row is not None and row.name == "ci" and row.projects == [3] and row.status() == "active"
        assert row.expires_at is not None
        # the expiry is counted from just before the key is stored
        assert timedelta(0) <= row.created_at + length - row.expires_at < timedelta(minutes=1)
        assert row.expires_at.isoformat().replace("+00:00", "Z") in said
    finally:
        store.dispose()


def test_create_without_an_expiry_never_expires(database_url: str) -> None:
    key, key_id, said = create_key(database_url, "--project", "1", "--project", "2")
    assert key.startswith("rw_") and "never expires" in said and f"key {key_id} " in said
    assert listed(database_url)[key_id]["expires_at"] is None


@pytest.mark.parametrize("given", ["30", "0d", "-1d", "1.5h", "3y", "d", "30 days", "99999999w"])
def test_bad_durations_are_refused(tmp_path: Path, given: str) -> None:
    database_url = store_url("", tmp_path)
    result = keys_cli(database_url, "create", "--project", "1", "--expires", given)
    assert result.exit_code == 2 and "Invalid value for '--expires'" in result.output
    assert "Traceback" not in result.output and listed(database_url) == {}


def test_list_shows_keys_but_never_their_secret(database_url: str) -> None:
    active, active_id, _ = create_key(database_url, "--project", "1", "--name", "deploy", "--expires", "2w")
    revoked, revoked_id, _ = create_key(database_url, "--project", "2", "--project", "5")
    assert keys_cli(database_url, "revoke", str(revoked_id)).exit_code == 0
    store = open_database(database_url).sync
    try:
        expired_id = store.issue_api_key([4], "old", expires_at=utcnow() - timedelta(seconds=1))[1].id
    finally:
        store.dispose()
    table = keys_cli(database_url, "list")
    machine = keys_cli(database_url, "list", "--json")
    assert table.exit_code == 0 and machine.exit_code == 0
    for secret in (active, revoked):
        for output in (table.output, machine.output):
            assert secret not in output and secret[3:] not in output and hash_key(secret) not in output
    for header in ("id", "name", "projects", "created", "last used", "expires", "status"):
        assert header in table.stdout
    rows = {line.split()[1]: line for line in table.stdout.splitlines() if re.match(r"\W+\d+ ", line)}
    assert set(rows) == {str(active_id), str(revoked_id), str(expired_id)}
    assert "deploy" in rows[str(active_id)] and "active" in rows[str(active_id)]
    assert "2,5" in rows[str(revoked_id)] and "revoked" in rows[str(revoked_id)]
    assert "expired" in rows[str(expired_id)] and "never" in rows[str(expired_id)]  # never used
    items = json.loads(machine.stdout)
    assert [item["status"] for item in items] == ["active", "revoked", "expired"]
    assert set(items[0]) == {
        "id",
        "name",
        "projects",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "status",
    }
    assert items[1]["projects"] == [2, 5] and items[1]["revoked_at"] is not None


def test_revoke_unknown_revoked_and_already_revoked(database_url: str) -> None:
    key, key_id, _ = create_key(database_url, "--project", "1", "--name", "laptop")
    unknown = keys_cli(database_url, "revoke", str(key_id + 100))
    assert unknown.exit_code == 1 and f"no API key with id {key_id + 100}" in unknown.output
    done = keys_cli(database_url, "revoke", str(key_id))
    assert done.exit_code == 0 and f"API key {key_id} (laptop) revoked" in done.output
    again = keys_cli(database_url, "revoke", str(key_id))
    assert again.exit_code == 0 and "already revoked" in again.output
    assert listed(database_url)[key_id]["status"] == "revoked"
    store = open_database(database_url).sync
    try:
        with pytest.raises(AuthRefused, match="API key revoked"):
            store.lookup_api_key(key)
    finally:
        store.dispose()


async def test_expired_and_revoked_keys_are_refused(store: Store) -> None:
    expired = await store.create_api_key([1], "expired", expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(AuthRefused, match="API key expired"):
        await store.lookup_api_key(expired)
    later = await store.create_api_key([1], "later", expires_at=utcnow() + timedelta(hours=1))
    principal = await store.lookup_api_key(later)
    assert principal is not None and principal.claims == {"key_name": "later"}
    both, row = await store.issue_api_key([1], "both", expires_at=utcnow() - timedelta(seconds=1))
    assert await store.revoke_api_key(row.id) and not await store.revoke_api_key(row.id)
    with pytest.raises(AuthRefused, match="API key revoked"):  # revoked wins over expired
        await store.lookup_api_key(both)
    assert not await store.revoke_api_key(row.id + 100) and await store.get_api_key(row.id + 100) is None


async def test_subjects_are_unique_even_when_names_are_not(store: Store) -> None:
    first, second = await store.create_api_key([1], "ci"), await store.create_api_key([1], "ci")
    one, two = await store.lookup_api_key(first), await store.lookup_api_key(second)
    assert one is not None and two is not None and one.subject != two.subject
    ids = [row.id for row in await store.list_api_keys()]
    assert [one.subject, two.subject] == [f"key:{i}" for i in ids]
    assert one.provider == "api-key" and one.claims == two.claims == {"key_name": "ci"}


async def test_last_used_is_written_at_most_once_a_minute_per_process(
    store: Store, database_url: str
) -> None:
    key, row = await store.issue_api_key([1], "busy")
    assert row.last_used_at is None
    await store.lookup_api_key(key)
    first = await store.get_api_key(row.id)
    assert first is not None and first.last_used_at is not None
    await store.lookup_api_key(key)
    store.sync.commit_pending()
    again = await store.get_api_key(row.id)
    assert again is not None and again.last_used_at == first.last_used_at  # not written again
    other = open_database(database_url).sync  # another process keeps its own record of its writes
    try:
        other.lookup_api_key(key)
        seen = other.get_api_key(row.id)
        assert seen is not None and seen.last_used_at is not None and seen.last_used_at != first.last_used_at
    finally:
        other.dispose()


OLD_TABLE = {
    "sqlite": "CREATE TABLE runwire_api_keys (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
    "key_hash VARCHAR(64) NOT NULL UNIQUE, projects JSON NOT NULL, created_at DATETIME NOT NULL)",
    "postgresql": "CREATE TABLE runwire_api_keys (id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
    "key_hash VARCHAR(64) NOT NULL UNIQUE, projects JSON NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL)",
}


def test_a_store_made_before_key_lifecycle_gets_its_columns(database_url: str) -> None:
    old = open_database(database_url).sync
    key = "rw_made-before-expiry-and-revocation"
    with old.engine.begin() as conn:
        conn.execute(text(OLD_TABLE[old.engine.dialect.name]))
        conn.execute(
            text(
                "INSERT INTO runwire_api_keys (name, key_hash, projects, created_at) "
                "VALUES ('old', :hash, '[7]', :now)"
            ),
            {"hash": hash_key(key), "now": utcnow()},
        )
    old.dispose()
    store = open_database(database_url).sync
    try:
        store.create_schema()
        store.create_schema()  # idempotent
        principal = store.lookup_api_key(key)
        assert principal is not None and principal.projects == frozenset({7})
        assert principal.claims == {"key_name": "old"}
        (row,) = store.list_api_keys()
        assert row.status() == "active" and row.expires_at is None and row.last_used_at is not None
        assert store.revoke_api_key(row.id)
        with pytest.raises(AuthRefused, match="revoked"):
            store.lookup_api_key(key)
    finally:
        store.dispose()


def test_a_running_server_refuses_a_key_on_its_next_request_after_revoke_or_expiry(tmp_path: Path) -> None:
    with running_server(env={"RUNWIRE_AUTH_PROVIDERS": "api-key"}, data_dir=tmp_path) as server:

        def runwire(*args: str) -> subprocess.CompletedProcess[str]:
            """A separate ``runwire`` process on the server's store."""
            argv = [sys.executable, "-m", "runwire_server", *args]
            done = subprocess.run(argv, env=server.env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return done

        created = runwire("keys", "create", "--project", "1", "--name", "live")
        key, key_id = created.stdout.strip(), int(CREATED.search(created.stderr)[1])  # type: ignore[index]
        with httpx.Client(base_url=server.url, headers={"X-Api-Key": key}, timeout=10.0) as client:
            assert client.get(WORKFLOWS).status_code == 200
            assert client.get(WORKFLOWS).status_code == 200
            used = json.loads(runwire("keys", "list", "--json").stdout)
            assert used[0]["id"] == key_id and used[0]["last_used_at"] is not None
            runwire("keys", "revoke", str(key_id))
            refused = client.get(WORKFLOWS)
            assert refused.status_code == 401 and refused.json()["detail"] == "API key revoked"
        store = open_database(store_url("", tmp_path)).sync
        try:
            expired = store.create_api_key([1], "past", expires_at=utcnow() - timedelta(seconds=1))
        finally:
            store.dispose()
        reply = httpx.get(f"{server.url}{WORKFLOWS}", headers={"X-Api-Key": expired}, timeout=10.0)
        assert reply.status_code == 401 and reply.json()["detail"] == "API key expired", server.logs()
        unknown = httpx.get(f"{server.url}{WORKFLOWS}", headers={"X-Api-Key": "rw_nope"}, timeout=10.0)
        assert unknown.status_code == 401 and unknown.json()["detail"] == "invalid API key"
