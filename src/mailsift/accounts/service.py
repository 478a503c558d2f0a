"""Managing accounts: create, find, authenticate, rotate tokens and webhook secrets, grant and
convert credit.

Balances only ever change through a conditional ``UPDATE`` (``… WHERE balance >= n``) in the
same transaction as the ledger row that records it, so concurrent callers can never take a
balance below zero and the ledger always adds up to the balances.
"""

from __future__ import annotations

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.accounts.errors import AccountExists, AccountNotFound, InsufficientCredit
from mailsift.accounts.ledger import Balance, Kind, record
from mailsift.accounts.tokens import (
    hash_token,
    new_token,
    new_webhook_secret,
    token_hint,
    token_matches,
)
from mailsift.store.engine import Store
from mailsift.store.errors import StoreConflict
from mailsift.store.models import Account

MAX_NAME = 200


def check_name(name: str) -> str:
    """The name trimmed; ``ValueError`` when it is empty or too long."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"an account name has 1 to {MAX_NAME} characters")
    return name


async def create_account(
    store: Store, name: str, *, api_credits: int = 0, monthly_credits: int = 0
) -> tuple[Account, str]:
    """A new account and its token (the only time the token exists in clear)."""
    name = check_name(name)
    if api_credits < 0 or monthly_credits < 0:
        raise ValueError("starting credits cannot be negative")
    token = new_token()
    account = Account(
        name=name,
        token_hash=hash_token(token),
        token_hint=token_hint(token),
        webhook_secret=new_webhook_secret(),
        api_credits=api_credits,
        monthly_credits=monthly_credits,
    )
    try:
        async with store.write() as session:
            session.add(account)
            await session.flush()
            if api_credits or monthly_credits:
                record(
                    session,
                    account.id,
                    Kind.GRANT,
                    api=api_credits,
                    monthly=monthly_credits,
                    note="starting credit",
                )
    except StoreConflict as exc:
        raise AccountExists(name) from exc
    return account, token


async def list_accounts(store: Store) -> list[Account]:
    async with store.read() as session:
        return list((await session.execute(select(Account).order_by(Account.id))).scalars())


async def count_accounts(store: Store) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def get_account(store: Store, name: str) -> Account:
    async with store.read() as session:
        return await _by_name(session, name)


async def authenticate(store: Store, token: str) -> Account | None:
    """The account whose token this is, or ``None``."""
    if not token:
        return None
    query = select(Account).where(Account.token_hash == hash_token(token))
    async with store.read() as session:
        account = (await session.execute(query)).scalar_one_or_none()
    if account is None or not token_matches(token, account.token_hash):
        return None
    return account


async def rotate_token(store: Store, name: str) -> str:
    """Give the account a new token; the old one stops working at once."""
    token = new_token()
    async with store.write() as session:
        account = await _by_name(session, name)
        account.token_hash = hash_token(token)
        account.token_hint = token_hint(token)
    return token


async def rotate_webhook_secret(store: Store, name: str) -> str:
    """Give the account a new callback signing secret; callbacks sent from now on (retries
    of earlier ones too) are signed with it."""
    secret = new_webhook_secret()
    async with store.write() as session:
        account = await _by_name(session, name)
        account.webhook_secret = secret
    return secret


async def grant_credits(
    store: Store, name: str, *, api: int = 0, monthly: int = 0, note: str = ""
) -> Account:
    """Add credit (a negative amount takes it away, never below zero)."""
    async with store.write() as session:
        account = await _by_name(session, name)
        changed = await session.execute(
            update(Account)
            .where(
                Account.id == account.id,
                Account.api_credits + api >= 0,
                Account.monthly_credits + monthly >= 0,
            )
            .values(
                api_credits=Account.api_credits + api,
                monthly_credits=Account.monthly_credits + monthly,
            )
        )
        if _rowcount(changed) == 0:
            short = Balance.API if account.api_credits + api < 0 else Balance.MONTHLY
            have = account.api_credits if short is Balance.API else account.monthly_credits
            raise InsufficientCredit(str(short), -(api if short is Balance.API else monthly), have)
        record(session, account.id, Kind.GRANT, api=api, monthly=monthly, note=note)
        await session.refresh(account)
    return account


async def convert_credits(store: Store, account_id: int, amount: int) -> Account:
    """Turn ``amount`` monthly credits into API credits."""
    if amount < 1:
        raise ValueError("the amount to convert must be at least 1")
    async with store.write() as session:
        changed = await session.execute(
            update(Account)
            .where(Account.id == account_id, Account.monthly_credits >= amount)
            .values(
                monthly_credits=Account.monthly_credits - amount,
                api_credits=Account.api_credits + amount,
            )
        )
        account = await session.get_one(Account, account_id, populate_existing=True)
        if _rowcount(changed) == 0:
            raise InsufficientCredit(str(Balance.MONTHLY), amount, account.monthly_credits)
        record(session, account_id, Kind.CONVERT, api=amount, monthly=-amount)
    return account


async def _by_name(session: AsyncSession, name: str) -> Account:
    query = select(Account).where(Account.name == name.strip())
    account = (await session.execute(query)).scalar_one_or_none()
    if account is None:
        raise AccountNotFound(name)
    return account


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount
