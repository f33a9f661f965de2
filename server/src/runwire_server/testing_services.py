"""Services for tests: a fresh PostgreSQL database, Redis or RabbitMQ namespace, or a skip without one.

Re-exported by :mod:`runwire_server.testing`; import from there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

POSTGRES_ADMIN_URL_ENV = "RUNWIRE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL_ENV = "RUNWIRE_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
RABBITMQ_URL_ENV = "RUNWIRE_TEST_RABBITMQ_URL"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


def service_unavailable(reason: str) -> NoReturn:
    """Skip the current test because a service is missing, or fail it when ``CI=true``."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: service-backed tests must run)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def postgres_database(admin_url: str | None = None) -> Iterator[str]:
    """Create a fresh database ``runwire_test_<random>`` and drop it afterwards; yield its URL.

    ``admin_url`` (default ``$RUNWIRE_TEST_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``)
    must be allowed to create databases. Unreachable: :func:`service_unavailable`.
    """
    import psycopg

    admin = admin_url or os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
    name = f"runwire_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        service_unavailable(f"PostgreSQL not reachable at {admin}: {exc}".strip())
    try:
        conn.execute(f'CREATE DATABASE "{name}"')
        base = admin.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@contextmanager
def redis_namespace(url: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(redis_url, namespace)`` with a fresh key namespace; delete its keys afterwards.

    ``url`` defaults to ``$RUNWIRE_TEST_REDIS_URL`` or DB 11 on 127.0.0.1:6379.
    Unreachable: :func:`service_unavailable`.
    """
    import redis

    url = url or os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis not reachable at {url}: {exc}")
    namespace = f"runwire-test-{uuid.uuid4().hex[:10]}"
    try:
        yield url, namespace
    finally:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@contextmanager
def rabbitmq_namespace(url: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(amqp_url, namespace)`` with a fresh namespace (so a fresh run queue,
    ``<namespace>-runs``); delete the queues and the exchange named after it afterwards.

    ``url`` defaults to ``$RUNWIRE_TEST_RABBITMQ_URL`` or guest on 127.0.0.1:5672 (vhost ``/``).
    Unreachable: :func:`service_unavailable`.
    """
    import pika
    import pika.exceptions

    url = url or os.environ.get(RABBITMQ_URL_ENV, DEFAULT_RABBITMQ_URL)
    params = pika.URLParameters(url)
    params.socket_timeout = params.stack_timeout = 3
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPError as exc:
        service_unavailable(f"RabbitMQ not reachable at {url}: {exc!r}")
    namespace = f"runwire-test-{uuid.uuid4().hex[:10]}"
    try:
        yield url, namespace
    finally:
        connection = pika.BlockingConnection(params)
        try:
            for suffix in ("-runs", "-runs.DQ", "-runs.XQ"):
                connection.channel().queue_delete(f"{namespace}{suffix}")
            connection.channel().exchange_delete(f"{namespace}-ended")  # run-end announcements
        finally:
            connection.close()
