"""Server-side sessions of the dashboard: the cookie holds a random token, the table its hash.

A session is revoked by deleting its row: on sign-out, on a change of password, or by an
operator. Each carries its own CSRF token, which every form posts back.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from mailsift.accounts.logins import hash_secret
from mailsift.store.engine import Store
from mailsift.store.models import Account, WebSession, utcnow

SESSION_TTL = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: whose it is, and the CSRF token its forms must carry."""

    session_id: int
    account_id: int
    csrf_token: str

    def csrf_matches(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given, self.csrf_token)


async def open_session(store: Store, account_id: int, ttl: timedelta = SESSION_TTL) -> str:
    """A new session's cookie token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with store.write() as session:
        session.add(
            WebSession(
                token_hash=hash_secret(token),
                account_id=account_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return token


async def find_session(store: Store, token: str) -> tuple[SignedIn, Account] | None:
    """The live session with this cookie token, and its account (one indexed lookup)."""
    if not token:
        return None
    query = (
        select(WebSession.id, WebSession.csrf_token, Account)
        .join(Account, Account.id == WebSession.account_id)
        .where(WebSession.token_hash == hash_secret(token), WebSession.expires_at > utcnow())
    )
    async with store.read() as session:
        row = (await session.execute(query)).first()
    if row is None:
        return None
    session_id, csrf, account = row
    return SignedIn(int(session_id), account.id, str(csrf)), account


async def close_session(store: Store, token: str) -> None:
    async with store.write() as session:
        await session.execute(delete(WebSession).where(WebSession.token_hash == hash_secret(token)))


async def close_sessions(store: Store, account_id: int) -> int:
    """End every session of the account; how many there were."""
    async with store.write() as session:
        result = await session.execute(
            delete(WebSession).where(WebSession.account_id == account_id)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def set_flash(store: Store, session_id: int, text: str) -> None:
    """Keep ``text`` for the session's next page (and only that one)."""
    async with store.write() as session:
        await session.execute(
            update(WebSession).where(WebSession.id == session_id).values(flash=text)
        )


async def take_flash(store: Store, session_id: int) -> str:
    query = select(WebSession.flash).where(WebSession.id == session_id)
    async with store.read() as session:
        if not await session.scalar(query):
            return ""  # the usual case: no write needed
    async with store.write() as session:
        text = await session.scalar(query)
        await session.execute(
            update(WebSession).where(WebSession.id == session_id).values(flash="")
        )
    return str(text or "")
