"""Bulk inserts for intake: a million rows without SQLAlchemy's per-row work.

``prepare`` turns plain rows into what the driver takes (CPU work: run it in a worker
thread); ``run`` sends them. On PostgreSQL that is one ``executemany`` of tuples. On SQLite
it is a single ``INSERT … SELECT … FROM json_each(?)`` over the whole batch as one JSON
text: SQLite then does all the work in C with the GIL released, instead of taking the GIL
back for every row, which stalls for whole milliseconds while another thread (the list
reader) runs Python.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Boolean, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch ready for the driver: the statement and its parameters."""

    sql: str
    parameters: list[tuple[Any, ...]] | tuple[str]
    rows: int


class BulkInsert:
    """``INSERT INTO table (columns)`` for many rows of plain Python values."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._statements: dict[str, str] = {}
        self._processors: dict[str, list[tuple[int, Processor]]] = {}

    def prepare(self, dialect: Dialect, rows: Sequence[Sequence[Any]]) -> Prepared:
        """The driver's form of ``rows`` (each in ``columns`` order)."""
        processors = self._processors_for(dialect)
        if processors:
            rows = [_processed(row, processors) for row in rows]
        sql = self._statement(dialect)
        if dialect.name == "sqlite":
            return Prepared(sql, (json.dumps(rows, ensure_ascii=False),), len(rows))
        return Prepared(sql, [tuple(row) for row in rows], len(rows))

    async def run(self, session: AsyncSession, prepared: Prepared) -> None:
        if prepared.rows:
            connection = await session.connection()
            await connection.exec_driver_sql(prepared.sql, prepared.parameters)

    def _statement(self, dialect: Dialect) -> str:
        sql = self._statements.get(dialect.name)
        if sql is None:
            quote = dialect.identifier_preparer.quote
            table = quote(self.table.name)
            names = ", ".join(quote(name) for name in self.columns)
            if dialect.name == "sqlite":
                values = ", ".join(
                    f"json_extract(value, '$[{n}]')" for n in range(len(self.columns))
                )
                source = f"SELECT {values} FROM json_each(?)"  # noqa: S608
            else:
                mark = "?" if dialect.paramstyle == "qmark" else "%s"
                source = f"VALUES ({', '.join([mark] * len(self.columns))})"
            # Only our own, quoted table and column names go into the text; values are bound.
            sql = f"INSERT INTO {table} ({names}) {source}"
            self._statements[dialect.name] = sql
        return sql

    def _processors_for(self, dialect: Dialect) -> list[tuple[int, Processor]]:
        processors = self._processors.get(dialect.name)
        if processors is None:
            processors = []
            for index, name in enumerate(self.columns):
                column_type = self.table.c[name].type
                if isinstance(column_type, Boolean):
                    continue  # every driver, and JSON, takes Python bools as they are
                if isinstance(column_type, JSON) and dialect.name == "sqlite":
                    continue  # embedded as JSON in the batch; json_extract gives its text
                processor = column_type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors.append((index, processor))
            self._processors[dialect.name] = processors
        return processors


def _processed(row: Sequence[Any], processors: list[tuple[int, Processor]]) -> list[Any]:
    values = list(row)
    for index, processor in processors:
        if values[index] is not None:
            values[index] = processor(values[index])
    return values
