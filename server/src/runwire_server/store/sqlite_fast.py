"""Hot statements on SQLite without SQLAlchemy's per-execution work.

On SQLite a short statement takes a few microseconds, while SQLAlchemy's execution context,
parameter processing and result wrapping around it take ten times that. A
:class:`SqliteStatement` compiles one SQLAlchemy Core statement once, for the engine's own
dialect, and keeps the bind and result processors of its column types: values are converted
exactly as SQLAlchemy converts them (JSON text, timestamps), so rows written here and rows
written through SQLAlchemy are identical, and errors surface as SQLAlchemy's exceptions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable, ReturnsRows
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


class SqliteStatement:
    """One statement compiled for SQLite, executed on a raw ``sqlite3`` connection."""

    def __init__(self, statement: Executable, dialect: Dialect, column_keys: Sequence[str] = ()) -> None:
        keys = list(column_keys) if isinstance(statement, Insert) else None
        compiled = statement.compile(dialect=dialect, column_keys=keys)  # type: ignore[attr-defined]
        if compiled.positiontup is None:  # pragma: no cover - the SQLite dialects are positional
            raise TypeError("expected a positional (qmark) SQLite dialect")
        self.sql = str(compiled)
        binds = compiled.binds
        binders: list[Processor] = [
            _dialect_type(binds[n].type, dialect).bind_processor(dialect) for n in compiled.positiontup
        ]
        self.template: list[Any] = []
        """Positional values: those the statement itself binds (``values(status=...)``), converted once."""
        self.given: list[tuple[int, str, Processor]] = []
        """(position, name, converter) of each value the caller gives."""
        for i, (name, binder) in enumerate(zip(compiled.positiontup, binders, strict=True)):
            if binds[name].required:
                self.template.append(None)
                self.given.append((i, name, binder))
            else:
                value = compiled.params[name]
                self.template.append(value if binder is None else binder(value))
        columns = statement.exported_columns if isinstance(statement, ReturnsRows) else ()
        self.readers: list[Processor] = [
            _dialect_type(c.type, dialect).result_processor(dialect, None) for c in columns
        ]
        self.converts = any(r is not None for r in self.readers)

    def bind(self, params: dict[str, Any]) -> list[Any]:
        """Positional parameters for ``params`` (named as in the statement), converted."""
        values = self.template.copy()
        for position, name, binder in self.given:
            value = params[name]
            values[position] = value if binder is None else binder(value)
        return values

    def run(self, raw: sqlite3.Connection, params: dict[str, Any], commit: bool) -> list[tuple[Any, ...]]:
        """Execute on ``raw`` (committing if ``commit``); return the rows, converted.

        :raises sqlalchemy.exc.DBAPIError: SQLite refused (as SQLAlchemy would raise it).
        """
        try:
            rows = raw.execute(self.sql, self.bind(params)).fetchall()
            if commit:
                raw.commit()
        except sqlite3.Error as exc:
            if commit:  # else SQLite undid the statement, and earlier writes wait for their commit
                raw.rollback()
            raise DBAPIError.instance(self.sql, params, exc, sqlite3.Error) from exc
        if self.converts:
            readers = self.readers
            rows = [
                tuple(v if r is None or v is None else r(v) for r, v in zip(readers, row, strict=True))
                for row in rows
            ]
        return rows


def _dialect_type(type_: TypeEngine[Any], dialect: Dialect) -> TypeEngine[Any]:
    """The SQLite form of ``type_`` (what SQLAlchemy itself asks for its processors)."""
    return type_.dialect_impl(dialect)
