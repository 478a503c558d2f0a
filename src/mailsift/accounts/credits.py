"""Spending credit: reserving it for jobs, charging real-time calls, giving back the unused.

- A job reserves one credit per unique, syntactically valid address, in the transaction that
  queues it (``job_reservation`` is the ``reserve`` hook of ``jobs.service.create_job``). Short
  of credit, or over its cap of unfinished jobs, the job is refused whole.
- A finished job is settled once: addresses it never verified, and those the server gave up on
  (``unexpected_error``), are given back. The settlement is a ledger row even when it returns
  nothing, which is what makes it happen exactly once.
- A real-time verification costs one credit (API credit from the API, monthly credit from the
  dashboard), refunded when the engine itself failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.accounts.errors import InsufficientCredit, TooManyJobs
from mailsift.accounts.ledger import Balance, Kind, balance_column, deltas, record
from mailsift.store.engine import Store
from mailsift.store.models import (
    ACTIVE_STAGES,
    Account,
    Job,
    JobItem,
    JobStage,
    LedgerEntry,
    utcnow,
)
from mailsift.verify.model import Reason

FINISHED_STAGES = (JobStage.COMPLETED, JobStage.FAILED, JobStage.CANCELLED)
SETTLE_LOOKBACK = timedelta(days=30)

# The shape of ``jobs.service.Reserve``: (session, job, billable addresses).
Reserve = Callable[[AsyncSession, Job, int], Awaitable[None]]


def job_reservation(
    account_id: int, *, balance: Balance = Balance.API, max_in_flight: int | None = None
) -> Reserve:
    """The ``reserve`` hook for a job of ``account_id``, spending ``balance``."""

    async def reserve(session: AsyncSession, job: Job, billable: int) -> None:
        available = await _lock_balance(session, account_id, balance)
        if max_in_flight is not None:
            others = await jobs_in_flight(session, account_id, stages=ACTIVE_STAGES)
            if others >= max_in_flight:
                raise TooManyJobs(max_in_flight)
        if billable == 0:
            return
        if not await _take(session, account_id, balance, billable):
            raise InsufficientCredit(str(balance), billable, available)
        job.credits_reserved = billable
        record(
            session,
            account_id,
            Kind.RESERVE,
            job_id=job.id,
            note=f"{billable:,} unique valid address(es)",
            **deltas(balance, -billable),
        )

    return reserve


async def jobs_in_flight(
    session: AsyncSession,
    account_id: int,
    *,
    stages: tuple[JobStage, ...] = (JobStage.RECEIVING, *ACTIVE_STAGES),
) -> int:
    """The account's jobs in ``stages`` (by default: still being received, queued or running)."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(Job.account_id == account_id, Job.stage.in_(stages))
    )
    return int(await session.scalar(query) or 0)


async def charge_one(
    store: Store, account_id: int, note: str = "", *, balance: Balance = Balance.API
) -> None:
    """Take one credit for a real-time verification; ``InsufficientCredit`` if none."""
    async with store.write() as session:
        if not await _take(session, account_id, balance, 1):
            available = await _balance(session, account_id, balance)
            raise InsufficientCredit(str(balance), 1, available)
        record(session, account_id, Kind.CHARGE, note=note, **deltas(balance, -1))


async def refund_one(
    store: Store, account_id: int, note: str = "", *, balance: Balance = Balance.API
) -> None:
    async with store.write() as session:
        await _give(session, account_id, balance, 1)
        record(session, account_id, Kind.REFUND, note=note, **deltas(balance, 1))


async def settle_job(store: Store, job_id: int, *, everything: bool = False) -> int:
    """Give back a finished job's unused credit, once; returns the credits given back.

    ``everything`` gives back the whole reservation (a job withdrawn before its owner ever
    heard of it).
    """
    async with store.write() as session:
        return await _settle(session, job_id, everything=everything)


async def settle_finished_jobs(store: Store, *, lookback: timedelta = SETTLE_LOOKBACK) -> int:
    """Settle every recent finished job not settled yet (a process died before it could)."""
    settled = exists().where(LedgerEntry.job_id == Job.id, LedgerEntry.kind == Kind.SETTLE)
    query = select(Job.id).where(
        Job.stage.in_(FINISHED_STAGES),
        Job.credits_reserved > 0,
        Job.created_at >= utcnow() - lookback,
        ~settled,
    )
    async with store.read() as session:
        job_ids = list((await session.execute(query)).scalars())
    for job_id in job_ids:
        await settle_job(store, job_id)
    return len(job_ids)


async def _settle(session: AsyncSession, job_id: int, *, everything: bool) -> int:
    job = await session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.account_id is None or job.credits_reserved <= 0:
        return 0
    if job.stage not in FINISHED_STAGES or await _already_settled(session, job_id):
        return 0
    balance, reserved = await _reservation(session, job_id)
    unused = reserved if everything else await _unused(session, job_id)
    due = min(unused, reserved)
    if due:
        await _give(session, job.account_id, balance, due)
    record(
        session,
        job.account_id,
        Kind.SETTLE,
        job_id=job_id,
        note=f"{due:,} unused credit(s) returned",
        **deltas(balance, due),
    )
    return due


async def _already_settled(session: AsyncSession, job_id: int) -> bool:
    query = select(LedgerEntry.id).where(
        LedgerEntry.job_id == job_id, LedgerEntry.kind == Kind.SETTLE
    )
    return (await session.execute(query.limit(1))).first() is not None


async def _reservation(session: AsyncSession, job_id: int) -> tuple[Balance, int]:
    """Which balance the job's reservation came from, and how much it took."""
    query = select(
        func.coalesce(func.sum(LedgerEntry.api_delta), 0),
        func.coalesce(func.sum(LedgerEntry.monthly_delta), 0),
    ).where(LedgerEntry.job_id == job_id, LedgerEntry.kind == Kind.RESERVE)
    api, monthly = (await session.execute(query)).one()
    if monthly:
        return Balance.MONTHLY, -int(monthly)
    return Balance.API, -int(api)


async def _unused(session: AsyncSession, job_id: int) -> int:
    """Billable addresses the job never verified or that the server gave up on."""
    query = (
        select(func.count())
        .select_from(JobItem)
        .where(
            JobItem.job_id == job_id,
            JobItem.chunk.is_not(None),
            JobItem.result.is_(None) | (JobItem.reason == Reason.UNEXPECTED_ERROR),
        )
    )
    return int(await session.scalar(query) or 0)


async def _lock_balance(session: AsyncSession, account_id: int, balance: Balance) -> int:
    """Read a balance, locking the account row (PostgreSQL) until the transaction ends.

    The lock serialises one account's reservations, so the count of jobs in flight read
    after it is exact. SQLite needs none: its writers take turns already.
    """
    query = select(balance_column(balance)).where(Account.id == account_id).with_for_update()
    return int((await session.execute(query)).scalar_one())


async def _balance(session: AsyncSession, account_id: int, balance: Balance) -> int:
    query = select(balance_column(balance)).where(Account.id == account_id)
    return int((await session.execute(query)).scalar_one_or_none() or 0)


async def _take(session: AsyncSession, account_id: int, balance: Balance, amount: int) -> bool:
    column = balance_column(balance)
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, column >= amount)
        .values({column: column - amount})
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def _give(session: AsyncSession, account_id: int, balance: Balance, amount: int) -> None:
    column = balance_column(balance)
    await session.execute(
        update(Account).where(Account.id == account_id).values({column: column + amount})
    )
