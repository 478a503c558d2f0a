"""An account as its owner sees it: balances, and the ledger with the balance after each row."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

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


def _newest_first(account_id: int) -> Select[Any]:
    columns: list[Any] = [
        LedgerEntry.id,
        LedgerEntry.created_at,
        LedgerEntry.kind,
        LedgerEntry.api_delta,
        LedgerEntry.monthly_delta,
        LedgerEntry.note,
        Job.filename,
        Job.public_id,
    ]
    return (
        select(*columns)
        .outerjoin(Job, Job.id == LedgerEntry.job_id)
        .where(LedgerEntry.account_id == account_id)
        .order_by(LedgerEntry.id.desc())
    )


def _lines(rows: Sequence[Any], api_after: int, monthly_after: int) -> list[LedgerLine]:
    """Ledger rows, newest first, with the balances after each: walking back from the
    balances after the newest of them (the ledger always adds up to the balances)."""
    lines = []
    for _, at, kind, api, monthly, note, name, public_id in rows:
        lines.append(
            LedgerLine(
                at=at,
                kind=str(kind),
                api_change=int(api),
                monthly_change=int(monthly),
                api_after=api_after,
                monthly_after=monthly_after,
                note=str(note or ""),
                job_name=str(name or ""),
                job_public_id=str(public_id or ""),
            )
        )
        api_after -= int(api)
        monthly_after -= int(monthly)
    return lines


async def _balances_after(
    session: AsyncSession, account_id: int, newest_id: int
) -> tuple[int, int]:
    """The balances just after the ledger row ``newest_id``: the sum of it and all before."""
    query = select(
        func.coalesce(func.sum(LedgerEntry.api_delta), 0),
        func.coalesce(func.sum(LedgerEntry.monthly_delta), 0),
    ).where(LedgerEntry.account_id == account_id, LedgerEntry.id <= newest_id)
    api, monthly = (await session.execute(query)).one()
    return int(api), int(monthly)


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
        query = _newest_first(account_id).offset((page - 1) * size).limit(size)
        rows = (await session.execute(query)).all()
        if not rows:
            return [], pages
        after = await _balances_after(session, account_id, int(rows[0][0]))
    return _lines(rows, *after), pages


async def ledger_lines(store: Store, account_id: int) -> AsyncIterator[LedgerLine]:
    """The whole ledger, newest first, a batch at a time (for the CSV export)."""
    last_id: int | None = None
    after: tuple[int, int] | None = None
    while True:
        query = _newest_first(account_id).limit(_EXPORT_BATCH)
        if last_id is not None:
            query = query.where(LedgerEntry.id < last_id)
        async with store.read() as session:
            rows = (await session.execute(query)).all()
            if rows and after is None:
                after = await _balances_after(session, account_id, int(rows[0][0]))
        if not rows or after is None:
            return
        lines = _lines(rows, *after)
        for line in lines:
            yield line
        after = (lines[-1].api_after - lines[-1].api_change,
                 lines[-1].monthly_after - lines[-1].monthly_change)  # fmt: skip
        last_id = int(rows[-1][0])
        if len(rows) < _EXPORT_BATCH:
            return
