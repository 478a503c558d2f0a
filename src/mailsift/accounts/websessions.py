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
from mailsift.store.models import WebSession, utcnow

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


async def find_session(store: Store, token: str) -> SignedIn | None:
    if not token:
        return None
    query = select(WebSession.id, WebSession.account_id, WebSession.csrf_token).where(
        WebSession.token_hash == hash_secret(token), WebSession.expires_at > utcnow()
    )
    async with store.read() as session:
        row = (await session.execute(query)).first()
    if row is None:
        return None
    return SignedIn(int(row[0]), int(row[1]), str(row[2]))


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
    async with store.write() as session:
        text = await session.scalar(select(WebSession.flash).where(WebSession.id == session_id))
        if text:
            await session.execute(
                update(WebSession).where(WebSession.id == session_id).values(flash="")
            )
    return str(text or "")
