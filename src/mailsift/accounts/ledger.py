"""The ledger: every change of a balance is one row, written in the same transaction."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from mailsift.store.models import Account, LedgerEntry


class Balance(StrEnum):
    """The two balances: API calls spend ``api``, dashboard uploads spend ``monthly``."""

    API = "api"
    MONTHLY = "monthly"


def balance_column(balance: Balance) -> InstrumentedAttribute[int]:
    """The ``accounts`` column holding ``balance``."""
    return Account.api_credits if balance is Balance.API else Account.monthly_credits


class Kind(StrEnum):
    GRANT = "grant"  # an operator added or took credit
    CONVERT = "convert"  # monthly credit turned into API credit
    RESERVE = "reserve"  # a job accepted: one credit per unique valid address
    SETTLE = "settle"  # a finished job gives back what it did not use (possibly 0)
    CHARGE = "charge"  # one real-time verification
    REFUND = "refund"  # a real-time verification the engine could not carry out


def record(
    session: AsyncSession,
    account_id: int,
    kind: Kind,
    *,
    api: int = 0,
    monthly: int = 0,
    job_id: int | None = None,
    note: str = "",
) -> None:
    session.add(
        LedgerEntry(
            account_id=account_id,
            job_id=job_id,
            kind=str(kind),
            api_delta=api,
            monthly_delta=monthly,
            note=note,
        )
    )


def deltas(balance: Balance, amount: int) -> dict[str, int]:
    """Keyword arguments for ``record``: ``amount`` on ``balance``."""
    return {"api": amount} if balance is Balance.API else {"monthly": amount}


async def ledger_totals(session: AsyncSession, account_id: int) -> tuple[int, int]:
    """(API, monthly) as the sum of the ledger: always equal to the account's balances."""
    query = select(
        func.coalesce(func.sum(LedgerEntry.api_delta), 0),
        func.coalesce(func.sum(LedgerEntry.monthly_delta), 0),
    ).where(LedgerEntry.account_id == account_id)
    api, monthly = (await session.execute(query)).one()
    return int(api), int(monthly)
