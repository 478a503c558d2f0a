"""Throttling failed sign-ins, per account and per client, in the database (so every server
of a cluster counts the same attempts).

``LIMIT`` failures within ``WINDOW`` lock the key for ``LOCKOUT``, doubling with each further
failure while locked out, up to ``MAX_LOCKOUT``. A success clears the account's count only:
a client that guesses at many accounts stays throttled.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from mailsift.store.engine import Store
from mailsift.store.models import SigninFailure, utcnow

LIMIT = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=1)
MAX_LOCKOUT = timedelta(hours=1)


def login_key(email: str) -> str:
    """The key of the account signing in as ``email`` (whether or not it exists)."""
    return f"login:{email.strip().lower()}"[:300]


def client_key(address: str) -> str:
    return f"client:{address}"[:300]


async def wait_left(store: Store, keys: list[str]) -> float:
    """Seconds until any of ``keys`` may try again (0: now)."""
    now = utcnow()
    async with store.read() as session:
        rows = [await session.get(SigninFailure, key) for key in keys]
    waits = [(row.locked_until - now).total_seconds() for row in rows if row and row.locked_until]
    return max([0.0, *waits])


async def failed(store: Store, keys: list[str]) -> None:
    now = utcnow()
    async with store.write() as session:
        for key in keys:
            row = await session.get(SigninFailure, key, with_for_update=True)
            if row is None or now - row.window_start > WINDOW:
                if row is not None:
                    await session.delete(row)
                    await session.flush()
                row = SigninFailure(key=key, failures=0, window_start=now)
                session.add(row)
            row.failures += 1
            if row.failures >= LIMIT:
                row.locked_until = now + _lockout(row.failures)


def _lockout(failures: int) -> timedelta:
    doubled: timedelta = LOCKOUT * (2 ** min(failures - LIMIT, 10))
    return min(doubled, MAX_LOCKOUT)


async def succeeded(store: Store, key: str) -> None:
    async with store.write() as session:
        await session.execute(delete(SigninFailure).where(SigninFailure.key == key))
