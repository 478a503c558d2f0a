"""Accounts and credit over a real database: tokens, balances, the ledger, reservations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mailsift.accounts import AccountExists, AccountNotFound, InsufficientCredit, TooManyJobs
from mailsift.accounts.credits import job_reservation, settle_finished_jobs, settle_job
from mailsift.accounts.ledger import Balance, ledger_totals
from mailsift.accounts.service import (
    authenticate,
    convert_credits,
    create_account,
    grant_credits,
    list_accounts,
    rotate_token,
)
from mailsift.accounts.tokens import hash_token
from mailsift.jobs.service import create_job
from mailsift.store import Store, open_store, upgrade
from mailsift.store.models import Account, Job, JobItem, JobSource, JobStage, LedgerEntry


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    upgrade(url)
    async with open_store(url) as opened:
        yield opened


async def totals_match(store: Store, account_id: int) -> tuple[int, int]:
    async with store.read() as session:
        account = await session.get_one(Account, account_id)
        totals = await ledger_totals(session, account_id)
    assert totals == (account.api_credits, account.monthly_credits)
    return totals


async def test_token_is_stored_only_as_its_digest(store: Store) -> None:
    account, token = await create_account(store, "acme", api_credits=5)
    assert token.startswith("ms_")
    assert len(token) > 40
    async with store.read() as session:
        rows = (await session.execute(text("SELECT * FROM accounts"))).all()
    assert token not in repr(rows)
    assert account.token_hash == hash_token(token)
    found = await authenticate(store, token)
    assert found is not None
    assert found.id == account.id
    assert await authenticate(store, token + "x") is None
    assert await authenticate(store, "") is None


async def test_rotating_the_token_retires_the_old_one(store: Store) -> None:
    _, old = await create_account(store, "acme")
    new = await rotate_token(store, "acme")
    assert new != old
    assert await authenticate(store, old) is None
    assert await authenticate(store, new) is not None


async def test_names_are_unique_and_must_exist(store: Store) -> None:
    await create_account(store, "acme")
    with pytest.raises(AccountExists):
        await create_account(store, " acme ")
    with pytest.raises(AccountNotFound):
        await rotate_token(store, "nobody")
    with pytest.raises(ValueError, match="name"):
        await create_account(store, "  ")
    assert [a.name for a in await list_accounts(store)] == ["acme"]


async def test_grants_and_conversions_are_in_the_ledger(store: Store) -> None:
    account, _ = await create_account(store, "acme", api_credits=10, monthly_credits=100)
    await grant_credits(store, "acme", api=5, monthly=-30)
    converted = await convert_credits(store, account.id, 20)
    assert (converted.api_credits, converted.monthly_credits) == (35, 50)
    assert await totals_match(store, account.id) == (35, 50)
    with pytest.raises(InsufficientCredit, match="monthly"):
        await convert_credits(store, account.id, 51)
    with pytest.raises(InsufficientCredit, match="API"):
        await grant_credits(store, "acme", api=-36)
    assert await totals_match(store, account.id) == (35, 50)
    async with store.read() as session:
        kinds = (await session.execute(select(LedgerEntry.kind).order_by(LedgerEntry.id))).all()
    assert [k for (k,) in kinds] == ["grant", "grant", "convert"]


def write_list(path: Path, addresses: list[str]) -> Path:
    path.write_text("email\n" + "\n".join(addresses) + "\n", encoding="utf-8")
    return path


async def test_concurrent_reservations_never_overdraw(store: Store, tmp_path: Path) -> None:
    account, _ = await create_account(store, "acme", api_credits=5)
    lists = [write_list(tmp_path / f"{n}.csv", [f"a{n}@x.com", f"b{n}@x.com"]) for n in range(6)]

    async def submit(path: Path) -> Job | Exception:
        try:
            return await create_job(
                store,
                path,
                path.name,
                source=JobSource.API,
                account=account,
                reserve=job_reservation(account.id),
            )
        except InsufficientCredit as exc:
            return exc

    outcomes = await asyncio.gather(*(submit(path) for path in lists))
    accepted = [o for o in outcomes if isinstance(o, Job)]
    assert len(accepted) == 2
    assert await totals_match(store, account.id) == (1, 0)


async def test_cap_on_jobs_in_flight(store: Store, tmp_path: Path) -> None:
    account, _ = await create_account(store, "acme", api_credits=100)
    reserve = job_reservation(account.id, max_in_flight=1)
    path = write_list(tmp_path / "l.csv", ["a@x.com"])
    await create_job(store, path, "l.csv", source=JobSource.API, account=account, reserve=reserve)
    with pytest.raises(TooManyJobs):
        await create_job(
            store, path, "l.csv", source=JobSource.API, account=account, reserve=reserve
        )
    assert await totals_match(store, account.id) == (99, 0)


async def test_monthly_reservation_and_settlement_of_a_failed_job(
    store: Store, tmp_path: Path
) -> None:
    account, _ = await create_account(store, "acme", monthly_credits=10)
    path = write_list(tmp_path / "l.csv", ["a@x.com", "b@x.com", "c@x.com", "bad"])
    job = await create_job(
        store,
        path,
        "l.csv",
        source=JobSource.DASHBOARD,
        account=account,
        reserve=job_reservation(account.id, balance=Balance.MONTHLY),
    )
    assert await totals_match(store, account.id) == (0, 7)
    assert await settle_job(store, job.id) == 0  # still queued: nothing to settle yet
    async with store.write() as session:
        item = await session.get_one(JobItem, (job.id, 0))
        item.result, item.reason = "valid", "accepted_email"
        (await session.get_one(Job, job.id)).stage = JobStage.FAILED
    assert await settle_finished_jobs(store) == 1
    assert await totals_match(store, account.id) == (0, 9)  # two never verified
    assert await settle_job(store, job.id) == 0  # exactly once
    assert await settle_finished_jobs(store) == 0
    assert await totals_match(store, account.id) == (0, 9)
