"""The chunk queue kept in the ``chunks`` table: claim with a lease, renew, finish, release.

A queue that delivers chunks itself (procrastinate) uses ``start`` and ``wait_for_retry``
instead of claims: the table then records each chunk's state and attempts for progress and
for operators, while the queue decides who runs what.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import CursorResult, Update, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.engine import Store
from mailsift.store.models import ACTIVE_STAGES, Chunk, ChunkState, Job, utcnow


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """One chunk of one job, and which attempt at it this is (1 for the first)."""

    job_id: int
    chunk: int
    attempt: int = 1


async def queue_chunks(session: AsyncSession, job_id: int, chunks: Iterable[int]) -> None:
    """Add ``chunks`` of ``job_id`` to the queue, inside the caller's transaction."""
    now = utcnow()
    rows = [
        {"job_id": job_id, "chunk": n, "state": ChunkState.QUEUED, "updated_at": now}
        for n in chunks
    ]
    if rows:
        await session.execute(insert(Chunk), rows)


async def claim_next(
    store: Store, *, lease: timedelta, job_id: int | None = None
) -> ChunkRef | None:
    """Take the oldest claimable chunk of an active job (of ``job_id`` only, if given), or
    ``None`` when there is none. Claimable: queued, or running under a lease that has run
    out (its worker died)."""
    now = utcnow()
    claimable = (Chunk.state == ChunkState.QUEUED) | (
        (Chunk.state == ChunkState.RUNNING) & (Chunk.lease_until < now)
    )
    query = (
        select(Chunk.job_id, Chunk.chunk, Chunk.attempts)
        .join(Job, Job.id == Chunk.job_id)
        .where(claimable, Job.stage.in_(ACTIVE_STAGES))
        .order_by(Chunk.job_id, Chunk.chunk)
        .limit(1)
        .with_for_update(of=Chunk, skip_locked=True)
    )
    if job_id is not None:
        query = query.where(Chunk.job_id == job_id)
    async with store.write() as session:
        row = (await session.execute(query)).first()
        if row is None:
            return None
        claimed_job, chunk, attempts = row
        await session.execute(
            update(Chunk)
            .where(Chunk.job_id == claimed_job, Chunk.chunk == chunk)
            .values(
                state=ChunkState.RUNNING,
                attempts=attempts + 1,
                lease_until=now + lease,
                updated_at=now,
            )
        )
    return ChunkRef(claimed_job, chunk, attempts + 1)


async def start(store: Store, job_id: int, chunk: int, *, holder: str = "") -> ChunkRef | None:
    """Mark a chunk delivered by an outside queue as running (one attempt more); ``None``
    when it is done already or gone. A chunk still marked running was interrupted by its
    worker's death (a failed run is released first): that attempt is given back."""
    now = utcnow()
    async with store.write() as session:
        attempts = (
            await session.execute(
                update(Chunk)
                .where(Chunk.job_id == job_id, Chunk.chunk == chunk, Chunk.state != ChunkState.DONE)
                .values(
                    state=ChunkState.RUNNING,
                    attempts=case(
                        (Chunk.state == ChunkState.RUNNING, Chunk.attempts),
                        else_=Chunk.attempts + 1,
                    ),
                    holder=holder,
                    lease_until=None,
                    updated_at=now,
                )
                .returning(Chunk.attempts)
            )
        ).scalar_one_or_none()
    return None if attempts is None else ChunkRef(job_id, chunk, attempts)


async def wait_for_retry(store: Store, ref: ChunkRef) -> None:
    """Queue a chunk again whose run ended with addresses to ask later (greylisting).

    The run succeeded, so its attempts start over: only runs that fail count towards giving up.
    """
    async with store.write() as session:
        await session.execute(
            _running(ref).values(
                state=ChunkState.QUEUED, attempts=0, holder="", updated_at=utcnow()
            )
        )


async def renew_lease(store: Store, ref: ChunkRef, *, lease: timedelta) -> None:
    now = utcnow()
    async with store.write() as session:
        await session.execute(_running(ref).values(lease_until=now + lease, updated_at=now))


async def finish(store: Store, ref: ChunkRef) -> None:
    async with store.write() as session:
        await session.execute(
            _of(ref).values(state=ChunkState.DONE, lease_until=None, updated_at=utcnow())
        )


async def release(store: Store, ref: ChunkRef) -> None:
    """Put a chunk that failed back in the queue for another attempt."""
    async with store.write() as session:
        await session.execute(
            _running(ref).values(state=ChunkState.QUEUED, lease_until=None, updated_at=utcnow())
        )


async def requeue_interrupted(store: Store, *, job_id: int | None = None) -> int:
    """Make every running chunk (of ``job_id`` only, if given) claimable again: its worker
    died with the last process. That attempt is given back: the process was stopped or killed
    from outside (a restart, a deploy), and a chunk is given up only for its own failures."""
    query = update(Chunk).where(Chunk.state == ChunkState.RUNNING)
    if job_id is not None:
        query = query.where(Chunk.job_id == job_id)
    async with store.write() as session:
        result = await session.execute(
            query.values(
                state=ChunkState.QUEUED,
                lease_until=None,
                updated_at=utcnow(),
                attempts=case((Chunk.attempts > 0, Chunk.attempts - 1), else_=0),
            )
        )
    assert isinstance(result, CursorResult)
    return result.rowcount


async def note_progress(session: AsyncSession, ref: ChunkRef) -> None:
    """The chunk stored results: its attempts count again from this one (see ``MAX_ATTEMPTS``)."""
    await session.execute(_of(ref).where(Chunk.attempts > 1).values(attempts=1))


async def open_chunks(store: Store, job_id: int) -> int:
    """How many chunks of the job are not done yet (queued or running)."""
    query = select(func.count()).where(Chunk.job_id == job_id, Chunk.state != ChunkState.DONE)
    async with store.read() as session:
        return int(await session.scalar(query) or 0)


def _of(ref: ChunkRef) -> Update:
    return update(Chunk).where(Chunk.job_id == ref.job_id, Chunk.chunk == ref.chunk)


def _running(ref: ChunkRef) -> Update:
    return _of(ref).where(Chunk.state == ChunkState.RUNNING)
