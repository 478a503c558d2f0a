"""Bulk inserts for intake: one ``executemany`` of plain tuples, no per-row SQLAlchemy work.

A million-row list spends most of its intake here. SQLAlchemy's per-row parameter handling
costs more than the database's own work, so values go to the driver as tuples, passed
through each column type's bind processor (JSON encoding, UTC datetimes) and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Boolean, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

Processor = Callable[[Any], Any]


class BulkInsert:
    """``INSERT INTO table (columns) VALUES …`` for many rows, prepared once per dialect."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._prepared: dict[str, tuple[str, list[tuple[int, Processor]]]] = {}

    async def run(self, session: AsyncSession, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``, each a sequence of Python values in ``columns`` order."""
        if not rows:
            return
        connection = await session.connection()
        sql, processors = self._prepare(connection.dialect)
        if processors:
            rows = [_processed(row, processors) for row in rows]
        await connection.exec_driver_sql(sql, list(map(tuple, rows)))

    def _prepare(self, dialect: Dialect) -> tuple[str, list[tuple[int, Processor]]]:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            quote = dialect.identifier_preparer.quote
            table = quote(self.table.name)
            names = ", ".join(quote(name) for name in self.columns)
            marks = ", ".join([mark] * len(self.columns))
            # Only our own, quoted table and column names go into the text; values are bound.
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
            processors: list[tuple[int, Processor]] = []
            for index, name in enumerate(self.columns):
                column_type = self.table.c[name].type
                if isinstance(column_type, Boolean):
                    continue  # every driver takes Python bools as they are
                processor = column_type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors.append((index, processor))
            prepared = (sql, processors)
            self._prepared[dialect.name] = prepared
        return prepared


def _processed(row: Sequence[Any], processors: list[tuple[int, Processor]]) -> list[Any]:
    values = list(row)
    for index, processor in processors:
        if values[index] is not None:
            values[index] = processor(values[index])
    return values
