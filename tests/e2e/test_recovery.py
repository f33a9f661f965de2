"""Recovery through process leases, with real processes: a SIGKILLed worker's run ends within
seconds (not after the broker's 60 s heartbeat timeout), a flushed Redis loses no run,
``/readyz`` counts live workers, and two embedded servers on one PostgreSQL leave each other's
runs alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from runwire_server.testing import postgres_database, redis_namespace, running_server, running_worker
from tests.helpers import (
    KEY,
    SHORT_LEASES,
    api,
    create_workflow,
    sleep_data,
    sleep_pid,
    start_run,
    wait_for_marker,
    wait_for_run,
    with_plugin,
)

RECOVERY_TIMEOUT_S = 40.0
"""Longer than the lease path needs (about 15 s), shorter than the broker's own 60 s heartbeat path."""


@pytest.fixture
def database_env(sleep_plugin_path: str) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL store, the bootstrap key, the sleep plugin, short process leases."""
    with postgres_database() as database_url:
        env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_DATABASE_URL": database_url, **SHORT_LEASES}
        yield with_plugin(env, sleep_plugin_path)


def test_a_sigkilled_workers_run_ends_before_the_brokers_heartbeat_timeout(
    database_env: dict[str, str], broker_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**database_env, **broker_env, "RUNWIRE_WORKER_THREADS": "1"}
    markers = tmp_path / "markers"
    markers.mkdir()
    with (
        running_server(env=env) as server,
        api(server.url) as client,
        running_worker(env=env) as one,
        running_worker(env=env) as two,
    ):
        workflow_id = create_workflow(client, sleep_data(1.0, markers))
        run_id = start_run(client, workflow_id)
        running_pid = wait_for_marker(markers, run_id)
        victim, survivor = (one, two) if running_pid == one.process.pid else (two, one)
        victim.kill()
        result = wait_for_run(client, run_id, timeout=RECOVERY_TIMEOUT_S)
        assert result["status"] == "succeed", result
        assert sleep_pid(result) == survivor.process.pid
        assert set(result["data"]) == {n["id"] for n in sleep_data(0)["nodes"]}
        # the survivor keeps taking new work
        assert sleep_pid(wait_for_run(client, start_run(client, workflow_id))) == survivor.process.pid


def test_every_run_ends_when_redis_is_flushed_mid_load(database_env: dict[str, str], tmp_path: Path) -> None:
    with redis_namespace() as (url, namespace):
        env = {
            **database_env,
            "RUNWIRE_BROKER_URL": url,
            "RUNWIRE_BROKER_NAMESPACE": namespace,
            "RUNWIRE_WORKER_THREADS": "2",
        }
        with running_server(env=env) as server, api(server.url) as client:
            workflow_id = create_workflow(client, sleep_data(0.2))
            run_ids = [start_run(client, workflow_id) for _ in range(30)]
            with running_worker(env=env):
                time.sleep(0.5)  # a few runs going, the rest queued
                flushed = redis.Redis.from_url(url)
                keys = list(flushed.scan_iter(match=f"{namespace}:*", count=1000))
                assert keys
                flushed.delete(*keys)  # Redis restarted empty: every queued message is gone
                flushed.close()
                results = [wait_for_run(client, run_id, timeout=90) for run_id in run_ids]
        assert [r["status"] for r in results] == ["succeed"] * len(run_ids)


def test_readyz_needs_a_live_worker_in_distributed_mode(
    database_env: dict[str, str], broker_env: dict[str, str]
) -> None:
    env = {**database_env, **broker_env}
    with running_server(env=env) as server, api(server.url) as client:
        workflow_id = create_workflow(client, sleep_data(0.1))
        start_run(client, workflow_id)
        alone = httpx.get(f"{server.url}/readyz")
        assert alone.status_code == 503, alone.text
        assert alone.json() | {"store": "ok", "broker": "ok"} == {
            "status": "not ready",
            "store": "ok",
            "broker": "ok",
            "workers_alive": 0,
            "runs_queued": 1,
        }
        with running_worker(env=env):
            ready = httpx.get(f"{server.url}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready" and ready.json()["workers_alive"] == 1


def test_a_second_embedded_server_leaves_the_firsts_running_run_alone(
    database_env: dict[str, str], tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    with running_server(env=database_env) as first, api(first.url) as client:
        workflow_id = create_workflow(client, sleep_data(3.0, markers))
        run_id = start_run(client, workflow_id)
        wait_for_marker(markers, run_id)
        with running_server(env=database_env) as second:
            result = wait_for_run(client, run_id)
        assert result["status"] == "succeed", result
        assert sleep_pid(result) == first.process.pid
        assert [p.name for p in markers.iterdir()] == [f"{run_id}.{first.process.pid}"]
        assert "re-enqueued" not in second.logs()
