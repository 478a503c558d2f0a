"""An account as its owner sees it: balances, and the ledger with the balance after each row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from mailsift.store.engine import Store
from mailsift.store.models import Account, Job, LedgerEntry

LEDGER_PAGE = 50
_EXPORT_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class LedgerLine:
    at: datetime
    kind: str
    api_change: int
    monthly_change: int
    api_after: int
    monthly_after: int
    note: str
    job_name: str  # the file name of the job it concerns, or ""
    job_public_id: str


async def account_by_id(store: Store, account_id: int) -> Account | None:
    async with store.read() as session:
        return await session.get(Account, account_id)


def _lines_query(account_id: int) -> Select[Any]:
    running = (
        select(
            LedgerEntry.id,
            LedgerEntry.created_at,
            LedgerEntry.kind,
            LedgerEntry.api_delta,
            LedgerEntry.monthly_delta,
            func.sum(LedgerEntry.api_delta).over(order_by=LedgerEntry.id).label("api_after"),
            func.sum(LedgerEntry.monthly_delta)
            .over(order_by=LedgerEntry.id)
            .label("monthly_after"),
            LedgerEntry.note,
            LedgerEntry.job_id,
        )
        .where(LedgerEntry.account_id == account_id)
        .subquery()
    )
    return (
        select(running, Job.filename, Job.public_id)
        .outerjoin(Job, Job.id == running.c.job_id)
        .order_by(running.c.id.desc())
    )


def _line(row: tuple[object, ...]) -> LedgerLine:
    _, at, kind, api, monthly, api_after, monthly_after, note, _, name, public_id = row
    assert isinstance(at, datetime)
    return LedgerLine(
        at=at,
        kind=str(kind),
        api_change=int(api),  # type: ignore[call-overload]
        monthly_change=int(monthly),  # type: ignore[call-overload]
        api_after=int(api_after),  # type: ignore[call-overload]
        monthly_after=int(monthly_after),  # type: ignore[call-overload]
        note=str(note or ""),
        job_name=str(name or ""),
        job_public_id=str(public_id or ""),
    )


async def ledger_page(
    store: Store, account_id: int, *, page: int = 1, size: int = LEDGER_PAGE
) -> tuple[list[LedgerLine], int]:
    """One page of the ledger, newest first, and how many pages there are."""
    count = select(func.count()).select_from(LedgerEntry)
    count = count.where(LedgerEntry.account_id == account_id)
    async with store.read() as session:
        total = int(await session.scalar(count) or 0)
        pages = max(1, -(-total // size))
        page = min(max(1, page), pages)
        query = _lines_query(account_id).offset((page - 1) * size).limit(size)
        rows = (await session.execute(query)).all()
    return [_line(tuple(row)) for row in rows], pages


async def ledger_lines(store: Store, account_id: int) -> AsyncIterator[LedgerLine]:
    """The whole ledger, newest first, a batch at a time (for the CSV export)."""
    offset = 0
    while True:
        query = _lines_query(account_id).offset(offset).limit(_EXPORT_BATCH)
        async with store.read() as session:
            rows = (await session.execute(query)).all()
        for row in rows:
            yield _line(tuple(row))
        if len(rows) < _EXPORT_BATCH:
            return
        offset += len(rows)
