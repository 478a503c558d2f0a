"""A job's result rows as the result files need them, read in pieces.

Each row: the original cells (JSON text), result, reason, the four flags spelled ``true`` /
``false``, the typo suggestion, MX host, SMTP code (text, ``""`` when none) and message, in
the file's order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Select, String, Text, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.engine import Store
from mailsift.store.errors import StoreUnavailable, one_line
from mailsift.store.models import JobItem
from mailsift.store.url import sqlite_file

ROWS_PER_PIECE = 5_000
_FLAGS = ("free", "disposable", "role", "accept_all")
_LITERAL = {"literal_binds": True}  # the job id is an integer of ours: safe to inline

Pieces = AsyncIterator[Sequence[Sequence[Any]]]


@asynccontextmanager
async def result_pieces(
    store: Store, job_id: int, results: Sequence[str] | None = None
) -> AsyncIterator[Pieces]:
    """The job's rows whose result is one of ``results`` (``None``: any final one),
    ``ROWS_PER_PIECE`` at a time, the next piece fetched while the caller formats this one."""
    query = _items(job_id, results)
    async with store.read() as session, _partitions(session, query) as pieces:
        yield pieces


def local_reader(store: Store, job_id: int) -> Callable[[], Iterator[list[Any]]] | None:
    """On a SQLite file: a blocking function (run it in a thread) yielding the pieces of
    every final row through a read-only connection of its own; ``None`` elsewhere.

    A million rows through the async driver cost more than formatting them; WAL keeps this
    reader from ever blocking writers.
    """
    database = sqlite_file(store.url) if store.is_sqlite else None
    if database is None:
        return None
    query = _items(job_id, None)
    sql = str(query.compile(dialect=store.engine.dialect, compile_kwargs=_LITERAL))

    def pieces() -> Iterator[list[Any]]:
        try:
            connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database unavailable: {one_line(exc)}") from exc
        try:
            cursor = connection.execute(sql)
            while rows := cursor.fetchmany(ROWS_PER_PIECE):
                yield rows
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database unavailable: {one_line(exc)}") from exc
        finally:
            connection.close()

    return pieces


@asynccontextmanager
async def _partitions(session: AsyncSession, query: Select[Any]) -> AsyncIterator[Pieces]:
    connection = await session.connection()
    stream = await connection.stream(query)
    partitions = stream.partitions()
    upcoming = asyncio.ensure_future(anext(partitions, None))

    async def ahead() -> Pieces:
        nonlocal upcoming
        while (piece := await upcoming) is not None:
            upcoming = asyncio.ensure_future(anext(partitions, None))
            yield piece

    try:
        yield ahead()
    finally:
        upcoming.cancel()
        await asyncio.gather(upcoming, return_exceptions=True)
        await stream.close()


def _items(job_id: int, results: Sequence[str] | None) -> Select[Any]:
    """Cells and result columns, all text: flags and codes are spelled out by the database."""
    items = JobItem.__table__.c  # Core columns: no ORM work per row
    query = (
        select(
            cast(items.cells, Text),  # decoded by the caller: cheaper than the JSON type
            items.email,  # the address verified, which may differ from the cell as given
            items.result,
            items.reason,
            *(case((items[flag], "true"), else_="false") for flag in _FLAGS),
            items.did_you_mean,
            items.mx_host,
            func.coalesce(cast(items.smtp_code, String), ""),
            items.smtp_message,
        )
        .where(items.job_id == job_id)
        .order_by(items.seq)
        .execution_options(yield_per=ROWS_PER_PIECE)
    )
    if results is None:
        return query.where(items.result.is_not(None))
    return query.where(items.result.in_(results))
