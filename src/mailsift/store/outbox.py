"""The callback outbox: rows written with a job's completion, claimed and settled by relays.

A relay claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two processes never
claim the same row; SQLite's writers take turns), which pushes their next attempt a lease
away: a process killed in the middle of an attempt leaves a row that becomes due again
when the lease runs out. Every outcome is written back on the row, for the API to show.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.engine import Store
from mailsift.store.models import Account, Callback, CallbackState, Job, utcnow

MAX_ERROR_CHARS = 300


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


async def add_callback(session: AsyncSession, job_id: int) -> None:
    """Write the job's callback, due now, if it has a callback URL (inside the caller's
    transaction: the one that completes the job)."""
    now = utcnow()
    rows = select(
        Job.id,
        literal(new_webhook_id()),
        Job.callback_url,
        literal(str(CallbackState.PENDING)),
        literal(now, Callback.next_attempt_at.type),
        literal(now, Callback.created_at.type),
    ).where(Job.id == job_id, Job.callback_url.is_not(None), Job.callback_url != "")
    columns = ["job_id", "webhook_id", "url", "state", "next_attempt_at", "created_at"]
    await session.execute(insert(Callback).from_select(columns, rows))


@dataclass(frozen=True, slots=True)
class DueCallback:
    """A claimed callback and what its payload and signature need."""

    id: int
    webhook_id: str
    url: str
    attempt: int  # 1 for the first
    job: Job
    secret: str


async def claim_due(
    store: Store, *, lease: timedelta, limit: int = 10, now: datetime | None = None
) -> list[DueCallback]:
    """Take up to ``limit`` due callbacks; each may be attempted until ``lease`` from now.
    Callbacks to a URL that answered 410 before are settled as gone, not returned."""
    now = now or utcnow()
    query = (
        select(Callback, Job, Account.webhook_secret)
        .join(Job, Job.id == Callback.job_id)
        .join(Account, Account.id == Job.account_id, isouter=True)
        .where(Callback.state == CallbackState.PENDING, Callback.next_attempt_at <= now)
        .order_by(Callback.next_attempt_at)
        .limit(limit)
        .with_for_update(of=Callback, skip_locked=True)
    )
    claimed: list[DueCallback] = []
    async with store.write() as session:
        rows = (await session.execute(query)).all()
        gone = await _gone_urls(session, {callback.url for callback, _, _ in rows})
        for callback, job, secret in rows:
            if callback.url in gone:
                callback.state = CallbackState.GONE
                callback.last_error = "not sent: this URL answered 410 Gone before"
                continue
            callback.attempts += 1
            callback.last_attempt_at = now
            callback.next_attempt_at = now + lease
            claimed.append(
                DueCallback(
                    callback.id,
                    callback.webhook_id,
                    callback.url,
                    callback.attempts,
                    job,
                    secret or "",
                )
            )
    return claimed


async def _gone_urls(session: AsyncSession, urls: set[str]) -> set[str]:
    if not urls:
        return set()
    query = select(Callback.url).where(Callback.url.in_(urls), Callback.state == CallbackState.GONE)
    return set((await session.execute(query.distinct())).scalars())


async def settle(
    store: Store,
    callback_id: int,
    state: CallbackState,
    *,
    status: int | None = None,
    error: str = "",
    retry_at: datetime | None = None,
) -> None:
    """Write an attempt's outcome: delivered, failed, gone, or pending until ``retry_at``."""
    now = utcnow()
    values: dict[str, object] = {
        "state": state,
        "last_status": status,
        "last_error": error[:MAX_ERROR_CHARS],
    }
    if state is CallbackState.DELIVERED:
        values["delivered_at"] = now
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    async with store.write() as session:
        await session.execute(update(Callback).where(Callback.id == callback_id).values(values))
        if state is CallbackState.GONE:  # every other callback waiting for this URL too
            url = select(Callback.url).where(Callback.id == callback_id).scalar_subquery()
            await session.execute(
                update(Callback)
                .where(Callback.url == url, Callback.state == CallbackState.PENDING)
                .values(state=CallbackState.GONE, last_error="not sent: the URL answered 410")
            )


async def callback_of(store: Store, job_id: int) -> Callback | None:
    async with store.read() as session:
        query = select(Callback).where(Callback.job_id == job_id)
        return (await session.execute(query)).scalar_one_or_none()
