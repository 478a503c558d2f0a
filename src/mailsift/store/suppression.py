"""Queries of the suppression lists: import, list, remove, and read them all for the index.

Entries are inserted many per round trip with ``ON CONFLICT DO NOTHING`` (SQLite and
PostgreSQL alike), so importing a list twice, or an entry twice, keeps one of each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.engine import Store
from mailsift.store.models import (
    AccountOptions,
    Job,
    SuppressionEntry,
    SuppressionList,
    utcnow,
)
from mailsift.store.results import rowcount

ROWS_PER_ROUND_TRIP = 20_000
_INSERT = "INSERT INTO suppression_entries (list_id, value) VALUES ({mark}, {mark}) "
_INSERT += "ON CONFLICT DO NOTHING"


@dataclass(frozen=True, slots=True)
class ListSummary:
    name: str
    account_id: int | None
    entries: int
    changed_at: datetime


async def find_or_create_list(store: Store, name: str, account_id: int | None) -> int:
    async with store.write() as session:
        found = await _list_id(session, name, account_id)
        if found is not None:
            return found
        created = SuppressionList(name=name, account_id=account_id)
        session.add(created)
        await session.flush()
        return created.id


async def add_entries(store: Store, list_id: int, values: Iterable[str]) -> int:
    """Add normalised entries to a list; returns how many were new."""
    added = 0
    batch: list[tuple[int, str]] = []
    for value in values:
        batch.append((list_id, value))
        if len(batch) >= ROWS_PER_ROUND_TRIP:
            added += await _insert(store, batch)
            batch = []
    if batch:
        added += await _insert(store, batch)
    await _touch(store, list_id)
    return added


async def _insert(store: Store, rows: list[tuple[int, str]]) -> int:
    async with store.write() as session:
        connection = await session.connection()
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        # The drivers' executemany counts the rows of every parameter set together.
        return rowcount(await connection.exec_driver_sql(_INSERT.format(mark=mark), rows))


async def _touch(store: Store, list_id: int) -> None:
    async with store.write() as session:
        await session.execute(
            update(SuppressionList).where(SuppressionList.id == list_id).values(changed_at=utcnow())
        )


async def remove_entries(
    store: Store, name: str, account_id: int | None, values: Iterable[str] | None = None
) -> int | None:
    """Remove entries of a list, or the whole list when ``values`` is ``None``; the number
    of entries removed, ``None`` when there is no such list."""
    async with store.write() as session:
        list_id = await _list_id(session, name, account_id)
        if list_id is None:
            return None
        entries = delete(SuppressionEntry).where(SuppressionEntry.list_id == list_id)
        if values is not None:
            entries = entries.where(SuppressionEntry.value.in_(list(values)))
        removed = rowcount(await session.execute(entries))
        if values is None:
            await session.execute(delete(SuppressionList).where(SuppressionList.id == list_id))
        else:
            await session.execute(
                update(SuppressionList)
                .where(SuppressionList.id == list_id)
                .values(changed_at=utcnow())
            )
        return removed


async def list_summaries(store: Store, account_id: int | None = None) -> list[ListSummary]:
    """Every list (``account_id`` given: the global ones and that account's)."""
    query = (
        select(
            SuppressionList.name,
            SuppressionList.account_id,
            func.count(SuppressionEntry.value),
            SuppressionList.changed_at,
        )
        .outerjoin(SuppressionEntry, SuppressionEntry.list_id == SuppressionList.id)
        .group_by(SuppressionList.id)
        .order_by(SuppressionList.account_id, SuppressionList.name)
    )
    if account_id is not None:
        query = query.where(
            SuppressionList.account_id.is_(None) | (SuppressionList.account_id == account_id)
        )
    async with store.read() as session:
        rows = (await session.execute(query)).all()
    return [ListSummary(name, owner, int(n), changed) for name, owner, n, changed in rows]


async def lists_version(store: Store) -> tuple[int, datetime | None]:
    """Changes whenever a list is created, changed or removed."""
    query = select(func.count(), func.max(SuppressionList.changed_at))
    async with store.read() as session:
        count, changed = (await session.execute(query)).one()
    return int(count), changed


async def all_lists(store: Store) -> dict[int, tuple[int | None, str]]:
    query = select(SuppressionList.id, SuppressionList.account_id, SuppressionList.name)
    async with store.read() as session:
        return {row[0]: (row[1], row[2]) for row in await session.execute(query)}


async def all_entries(
    store: Store, per_piece: int = 50_000
) -> AsyncIterator[list[tuple[int, str]]]:
    """Every entry as (list id, value), a piece at a time."""
    query = select(SuppressionEntry.list_id, SuppressionEntry.value).execution_options(
        yield_per=per_piece
    )
    async with store.read() as session:
        stream = await session.stream(query)
        async for piece in stream.partitions(per_piece):
            yield [(int(list_id), str(value)) for list_id, value in piece]


async def suppressed_to_invalid(store: Store, account_id: int | None) -> bool:
    if account_id is None:
        return False
    query = select(AccountOptions.suppressed_to_invalid).where(
        AccountOptions.account_id == account_id
    )
    async with store.read() as session:
        return bool(await session.scalar(query))


async def set_suppressed_to_invalid(store: Store, account_id: int, value: bool) -> None:
    async with store.write() as session:
        options = await session.get(AccountOptions, account_id)
        if options is None:
            session.add(AccountOptions(account_id=account_id, suppressed_to_invalid=value))
        else:
            options.suppressed_to_invalid = value


async def _list_id(session: AsyncSession, name: str, account_id: int | None) -> int | None:
    owner = (
        SuppressionList.account_id.is_(None)
        if account_id is None
        else SuppressionList.account_id == account_id
    )
    query = select(SuppressionList.id).where(SuppressionList.name == name, owner)
    found = await session.scalar(query)
    return int(found) if found is not None else None


async def job_account_id(store: Store, job_id: int) -> int | None:
    async with store.read() as session:
        found = await session.scalar(select(Job.account_id).where(Job.id == job_id))
    return int(found) if found is not None else None
