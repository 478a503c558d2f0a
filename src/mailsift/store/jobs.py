"""Named queries on jobs: open, queue, find, progress, cancel, discard.

``queue_job`` is the short transaction that makes a received list a queued job: the caller's
``reserve`` hook takes credit inside it, and a job with nothing left to probe is completed
there and then (its callback, if any, written to the outbox in the same transaction).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.chunks import ChunkRef, note_progress, queue_chunks
from mailsift.store.engine import Store
from mailsift.store.models import (
    ACTIVE_STAGES,
    Chunk,
    Job,
    JobItem,
    JobSource,
    JobStage,
    utcnow,
)
from mailsift.store.outbox import add_callback
from mailsift.store.results import mark_deferred, store_results

Reserve = Callable[[AsyncSession, Job, int], Awaitable[None]]


async def open_job(store: Store, job: Job) -> int:
    """Store a new job (stage ``Receiving``); its id."""
    async with store.write() as session:
        session.add(job)
        await session.flush()
        return job.id


async def queue_job(
    store: Store,
    job_id: int,
    *,
    totals: dict[str, Any],
    columns: int,
    billable: int,
    chunks: Sequence[int],
    reserve: Reserve | None,
) -> Job:
    """Set the job's counts (``totals``: column values) and its layout's width in
    ``columns``, reserve its credit, and queue its ``chunks`` by number (none: it is complete)."""
    now = utcnow()
    async with store.write() as session:
        job = await session.get_one(Job, job_id)
        for name, value in totals.items():
            setattr(job, name, value)
        job.layout = {**(job.layout or {}), "columns": columns}
        if reserve is not None:
            await reserve(session, job, billable)
        if chunks:
            job.stage = JobStage.IN_QUEUE
            await queue_chunks(session, job_id, chunks)
        else:  # nothing to probe: every row was final at intake
            job.stage = JobStage.COMPLETED
            job.started_at = job.finished_at = now
            await session.flush()
            await add_callback(session, job_id)
    return job


async def get_job(store: Store, job_id: int) -> Job | None:
    async with store.read() as session:
        return await session.get(Job, job_id)


async def find_job(store: Store, public_id: str) -> Job | None:
    """The job with this public id, whatever its stage (``Receiving`` ones excepted)."""
    query = select(Job).where(Job.public_id == public_id, Job.stage != JobStage.RECEIVING)
    async with store.read() as session:
        return (await session.execute(query)).scalar_one_or_none()


async def find_resumable(store: Store, fingerprint: str, *, source: JobSource) -> Job | None:
    """The newest unfinished job of ``source`` for the file with this fingerprint."""
    query = (
        select(Job)
        .where(
            Job.fingerprint == fingerprint,
            Job.source == source,
            Job.stage.in_(ACTIVE_STAGES),
        )
        .order_by(Job.id.desc())
        .limit(1)
    )
    async with store.read() as session:
        return (await session.execute(query)).scalar_one_or_none()


async def result_counts(store: Store, job_id: int) -> dict[tuple[str, str], int]:
    """How many of the job's addresses have each (result, reason) so far."""
    query = (
        select(JobItem.result, JobItem.reason, func.count())
        .where(JobItem.job_id == job_id, JobItem.result.is_not(None))
        .group_by(JobItem.result, JobItem.reason)
    )
    async with store.read() as session:
        rows = (await session.execute(query)).all()
    return {(str(result), str(reason)): count for result, reason, count in rows}


async def discard_job(store: Store, job_id: int) -> None:
    """Delete a job and everything stored for it."""
    async with store.write() as session:
        for table in (JobItem, Chunk):
            await session.execute(delete(table).where(table.job_id == job_id))
        await session.execute(delete(Job).where(Job.id == job_id))


async def orphaned_jobs(store: Store, *, received_before: datetime) -> list[int]:
    """Jobs still ``Receiving`` that were opened before ``received_before``."""
    query = select(Job.id).where(Job.stage == JobStage.RECEIVING, Job.created_at <= received_before)
    async with store.read() as session:
        return list((await session.execute(query)).scalars())


async def cancel_job(store: Store, job_id: int, message: str) -> None:
    """Cancel the job if it is still active."""
    async with store.write() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.stage.in_(ACTIVE_STAGES))
            .values(stage=JobStage.CANCELLED, message=message)
        )


async def start_processing(store: Store, job_id: int) -> bool:
    """Mark the job ``Processing`` on its first chunk; False if it is no longer active."""
    now = utcnow()
    async with store.write() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.stage == JobStage.IN_QUEUE)
            .values(stage=JobStage.PROCESSING, started_at=now)
        )
        stage = (await session.execute(select(Job.stage).where(Job.id == job_id))).scalar()
    return stage in ACTIVE_STAGES


async def pending_items(
    store: Store, job_id: int, chunk: int
) -> list[tuple[str, int, datetime | None]]:
    """(email, seq, deferred_at) of the chunk's rows still without a result."""
    query = select(JobItem.email, JobItem.seq, JobItem.deferred_at).where(
        JobItem.job_id == job_id, JobItem.chunk == chunk, JobItem.result.is_(None)
    )
    async with store.read() as session:
        return [(email, seq, deferred) for email, seq, deferred in await session.execute(query)]


async def record_results(
    store: Store,
    job_id: int,
    batch: list[dict[str, Any]],
    deferred: Sequence[int] = (),
    progress_of: ChunkRef | None = None,
) -> bool:
    """Store a batch of final results and note rows handed back for later, in one
    transaction; True when that completed the job. ``progress_of``: the chunk the results
    came from, whose attempts count again from this one (``chunks.note_progress``)."""
    async with store.write() as session:
        if deferred:
            await mark_deferred(session, job_id, deferred, utcnow())
        if not batch:
            return False
        completed = await store_results(session, job_id, batch)
        if progress_of is not None:
            await note_progress(session, progress_of)
        return completed
