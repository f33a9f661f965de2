"""SQLAlchemy engines for the store: SQLite files in WAL mode, network databases with a pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from runwire.jsontext import dumps_stored

NETWORK_POOL_OVERFLOW = 40
"""Connections a network database may open beyond the pool (API calls run in anyio's 40 threads)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # SQLite's own lower() folds ASCII only ("Éclair" would not match "éclair", nor itself once
    # the filter is lowered): Python's, which is Unicode-aware as PostgreSQL's lower() is
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An SQLAlchemy engine for ``url``; SQLite files get WAL mode and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, json_serializer=dumps_stored
            )
        else:
            engine = create_engine(url, poolclass=NullPool, json_serializer=dumps_stored)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # API calls run in anyio's thread pool (40 threads) besides the worker threads
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=NETWORK_POOL_OVERFLOW,
        pool_pre_ping=True,
        json_serializer=dumps_stored,  # every stored value can be sent back as UTF-8
    )
