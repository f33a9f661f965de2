"""Idempotent submits (docs/api.md, "Idempotent submits"): an ``Idempotency-Key`` replays the
first answer and starts nothing, on every submit route, across servers and under a race."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from runwire_server.store import Store, utcnow
from runwire_server.store.tables import idempotency, runs
from runwire_server.testing import postgres_database, running_server
from tests.helpers import KEY, MakeServer, Server, api, create_workflow, hello_data

REPLAYED = "Idempotent-Replayed"
ADULT = {"name": "Ada", "age": 36}


def run_count(server: Server) -> int:
    with server.client.app.state.services.store.sync.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())


def submit(
    server: Server, route: str, key: str | bytes | None, body: Any = None, who: str = "bootstrap"
) -> Any:
    """POST one submit of ``route`` (a name below) with ``key``."""
    headers = server.headers(who)
    if key is not None:
        headers["Idempotency-Key"] = key  # type: ignore[assignment]
    if route == "run":
        workflow = server.client.app.state.hello  # made by the fixture
        path, json = f"/api/v1/workflows/{workflow}/run/", ADULT
    elif route in ("task", "script"):
        path, json = f"/{route}?who=Ada", None
    else:
        path, json = "/api/execute/", {"executable_name": "hello.sh", "is_async": route == "execute"}
    return server.client.post(path, json=json if body is None else body, headers=headers)


@pytest.fixture
def server(make_server: MakeServer) -> Server:
    made = make_server()
    made.client.app.state.hello = create_workflow(made.client, hello_data(), project=0)  # type: ignore[arg-type]
    return made


# --- the store: one claim wins, on both backends -------------------------------------------------


def test_ten_concurrent_claims_one_wins_then_the_answer_is_read(store: Store) -> None:
    sync = store.sync
    sync.heartbeat("proc-a", "serve", "host", 1)
    results: list[Any] = []
    barrier = threading.Barrier(10)

    def claim() -> None:
        barrier.wait()
        results.append(sync.claim_idempotency_key("key:1", "k", "h1", "proc-a", 86_400, 60))

    threads = [threading.Thread(target=claim) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1
    assert all(r.request_hash == "h1" and not r.finished for r in results if r is not None)

    assert sync.finish_idempotency_key("key:1", "k", "proc-a", 201, "application/json", b'{"a":1}')
    row = sync.claim_idempotency_key("key:1", "k", "h1", "proc-a", 86_400, 60)
    assert row is not None and (row.status_code, row.reply) == (201, b'{"a":1}')
    sync.release_idempotency_key("key:1", "k", "proc-a")  # an answered key is kept
    assert sync.idempotency_row("key:1", "k") is not None
    # a claim whose process has no live lease is abandoned: taken over
    assert sync.claim_idempotency_key("key:1", "dead", "h", "proc-gone", 86_400, 60) is None
    assert sync.claim_idempotency_key("key:1", "dead", "h", "proc-a", 86_400, 60) is None
    held = sync.claim_idempotency_key("key:1", "dead", "h", "proc-b", 86_400, 60)  # proc-a lives
    assert held is not None and not held.finished
    assert sync.purge_idempotency_keys(3600) == 0
    assert sync.purge_idempotency_keys(0) == 2 and sync.idempotency_row("key:1", "k") is None


# --- every submit route ---------------------------------------------------------------------------

ROUTES = ["run", "task", "script", "execute", "execute-blocking"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_retry_replays_the_first_answer_and_starts_nothing(server: Server, route: str) -> None:
    first = submit(server, route, "retry-1")
    assert first.status_code in (200, 201), first.text
    assert REPLAYED not in first.headers
    count = run_count(server)
    again = submit(server, route, "retry-1")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"].startswith("application/json")
    assert run_count(server) == count
    other = submit(server, route, "retry-2")  # another key: another run
    assert other.status_code == first.status_code and other.json() != first.json()
    assert run_count(server) == count + 1


def test_no_key_starts_a_run_each_time(server: Server) -> None:
    assert submit(server, "task", None).json() != submit(server, "task", None).json()
    assert run_count(server) == 2


def test_the_same_key_with_another_request_is_422(server: Server) -> None:
    assert submit(server, "run", "k").status_code == 200
    other = submit(server, "run", "k", body={"name": "Bob", "age": 12})
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert submit(server, "task", "k").status_code == 422  # another route is another request
    assert run_count(server) == 1


def test_keys_are_per_principal(server: Server) -> None:
    mine, yours = submit(server, "task", "shared", who="p0"), submit(server, "task", "shared", who="p0b")
    assert mine.json()["id"] != yours.json()["id"] and REPLAYED not in yours.headers
    assert run_count(server) == 2


@pytest.mark.parametrize(
    "key,detail",
    [
        ("", "empty"),
        ("k" * 256, "at most 255"),
        ("caf\xe9", "printable ASCII"),
        ("a\x01b", "printable ASCII"),
    ],
)
def test_bad_keys_are_400(server: Server, key: str, detail: str) -> None:
    reply = submit(server, "task", key.encode("latin-1"))
    assert reply.status_code == 400 and detail in reply.json()["detail"]
    assert run_count(server) == 0


def test_a_key_older_than_24_hours_starts_a_new_run(server: Server) -> None:
    first = submit(server, "task", "old").json()
    with server.client.app.state.services.store.sync.engine.begin() as conn:
        conn.execute(update(idempotency).values(created_at=utcnow() - timedelta(hours=24, minutes=1)))
    later = submit(server, "task", "old")
    assert later.json()["id"] != first["id"] and REPLAYED not in later.headers
    assert submit(server, "task", "old").json() == later.json()  # the new answer is the one kept
    assert run_count(server) == 2


def test_a_4xx_answer_is_replayed_and_a_5xx_is_not_kept(server: Server) -> None:
    refused = submit(server, "execute", "bad", body={"executable_name": ""})
    assert refused.status_code == 422
    again = submit(server, "execute", "bad", body={"executable_name": ""})
    assert (again.status_code, again.content, again.headers[REPLAYED]) == (422, refused.content, "true")

    directory = {"executable_name": "subdir"}  # refused with 503: not kept, a retry asks again
    assert submit(server, "execute", "dir", body=directory).status_code == 503
    retried = submit(server, "execute", "dir", body=directory)
    assert retried.status_code == 503 and REPLAYED not in retried.headers
    assert server.client.app.state.services.store.sync.idempotency_row("key:bootstrap", "dir") is None


def test_a_retry_while_the_first_is_running_waits_for_its_answer(server: Server, executables: Path) -> None:
    nap = executables / "nap.sh"
    nap.write_text("#!/bin/sh\nsleep 0.5\necho rested\n")
    nap.chmod(0o755)
    body = {"executable_name": "nap.sh", "is_async": False}
    replies: list[Any] = []
    threads = [
        threading.Thread(target=lambda: replies.append(submit(server, "execute", "nap", body=body)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.content for r in replies}) == 1 and replies[0].status_code == 201
    assert "rested" in replies[0].json()["result"]["output"]
    assert sorted(REPLAYED in r.headers for r in replies) == [False, True, True]
    assert run_count(server) == 1


def test_the_key_holds_across_servers_of_one_store(make_server: MakeServer, tmp_path: Path) -> None:
    one, two = make_server(tmp_path / "shared"), make_server(tmp_path / "shared")
    first = submit(one, "task", "everywhere")
    again = submit(two, "task", "everywhere")
    assert (again.content, again.headers[REPLAYED]) == (first.content, "true")
    assert run_count(two) == 1


# --- the race, on live servers ------------------------------------------------------------------


def test_ten_concurrent_submits_with_one_key_on_two_servers_start_one_run(tmp_path: Path) -> None:
    """Two ``runwire serve`` processes on one PostgreSQL store; ten submits at once, split
    between them: one run, ten identical answers."""
    with postgres_database() as url:
        env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_DATABASE_URL": url}
        with running_server(env=env) as one, running_server(env=env) as two:
            with api(one.url) as client:
                workflow = create_workflow(client, hello_data())

            async def race() -> list[httpx.Response]:
                headers = {"X-Api-Key": KEY, "Idempotency-Key": "race"}
                async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                    return await asyncio.gather(
                        *(
                            client.post(
                                f"{(one, two)[i % 2].url}/api/v1/workflows/{workflow}/run/", json=ADULT
                            )
                            for i in range(10)
                        )
                    )

            replies = asyncio.run(race())
            assert {(r.status_code, r.content) for r in replies} == {
                (replies[0].status_code, replies[0].content)
            }
            assert replies[0].json()["status"] == 201
            assert sum(REPLAYED not in r.headers for r in replies) == 1
            with api(two.url) as client:
                history = client.get(f"/api/v1/workflows/{workflow}/history/").json()
            assert history["count"] == 1
            assert history["results"][0]["id"] == replies[0].json()["data"]["id"]


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a process's CPU time from /proc")
def test_retries_waiting_for_a_slow_first_answer_cost_the_server_little(executables: Path) -> None:
    """A hundred retries of one submit that is still running wait for its answer without
    reading the store 40 times a second each (one key's retries must not load the server)."""
    slow = executables / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 5.5\necho done\n")
    slow.chmod(0o755)
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_EXECUTABLES_DIR": str(executables),
        # the first and 100 waiting retries: 101 long-lived requests of one key (default cap 100)
        "RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL": "101",
    }
    body = {"executable_name": "slow.sh", "is_async": False}
    headers = {"X-Api-Key": KEY, "Idempotency-Key": "slow"}
    with running_server(env=env) as server:
        pid = int(server.process.pid)

        async def submits() -> tuple[list[httpx.Response], float]:
            limits = httpx.Limits(max_connections=120)
            async with httpx.AsyncClient(base_url=server.url, timeout=40, limits=limits) as client:
                first = asyncio.create_task(client.post("/api/execute/", json=body, headers=headers))
                await asyncio.sleep(0.5)
                retries = [
                    asyncio.create_task(client.post("/api/execute/", json=body, headers=headers))
                    for _ in range(100)
                ]
                await asyncio.sleep(1.5)  # all are waiting now, checking every 0.5 s at most
                before = _cpu_s(pid)
                await asyncio.sleep(2.5)
                used = _cpu_s(pid) - before
                return await asyncio.gather(first, *retries), used

        replies, used = asyncio.run(submits())
    assert {r.status_code for r in replies} == {201} and len({r.content for r in replies}) == 1
    assert sum(REPLAYED in r.headers for r in replies) == 100
    assert used < 0.5, f"the server used {used:.2f} CPU s in 2.5 s while 100 retries waited"


def test_two_idempotency_key_headers_are_400_and_start_nothing() -> None:
    """Over HTTP to ``runwire serve``: two headers, different or equal, are refused (before the
    first was used and the second silently ignored); the key stays free for a proper retry."""
    with running_server(env={"RUNWIRE_API_KEYS": KEY}) as live, api(live.url) as client:
        workflow = create_workflow(client, hello_data())
        path = f"/api/v1/workflows/{workflow}/run/"
        for second in ("other", "dup"):
            headers = [("X-Api-Key", KEY), ("Idempotency-Key", "dup"), ("Idempotency-Key", second)]
            reply = httpx.post(f"{live.url}{path}", json=ADULT, headers=headers, timeout=30)
            assert reply.status_code == 400, reply.text
            assert reply.json()["detail"] == "the request has 2 Idempotency-Key headers; send exactly one"
        assert client.get(f"/api/v1/workflows/{workflow}/history/").json()["count"] == 0
        first = client.post(path, json=ADULT, headers={"Idempotency-Key": "dup"})
        assert first.status_code == 200 and REPLAYED not in first.headers
        assert client.post(path, json=ADULT, headers={"Idempotency-Key": "dup"}).headers[REPLAYED] == "true"
        assert client.get(f"/api/v1/workflows/{workflow}/history/").json()["count"] == 1
        assert "Traceback" not in live.logs()
