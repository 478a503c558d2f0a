"""Queries that forget jobs: one on request, or every job past the retention period.

Deleting a job's row deletes its addresses, chunks and re-verification links with it (the
foreign keys cascade); its ledger rows stay, their ``job_id`` set to NULL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update

from mailsift.store.engine import Store
from mailsift.store.models import ACTIVE_STAGES, AddressResult, Job, JobItem, JobStage, utcnow
from mailsift.store.results import rowcount

FINISHED = (JobStage.COMPLETED, JobStage.FAILED, JobStage.CANCELLED)
ITEMS_PER_DELETE = 50_000


async def cancel_if_active(store: Store, job_id: int, message: str) -> bool:
    """Stop a job still queued or running; True when it was."""
    async with store.write() as session:
        result = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.stage.in_(ACTIVE_STAGES))
            .values(stage=JobStage.CANCELLED, message=message, finished_at=utcnow())
        )
        return rowcount(result) > 0


async def delete_job_rows(store: Store, job_id: int) -> bool:
    """Delete a job and everything of it but its ledger; True when it existed.

    A big job's addresses go a slice at a time, so no transaction holds the database long.
    The results kept of its addresses for reuse go too.
    """
    async with store.write() as session:
        account_id = await session.scalar(select(Job.account_id).where(Job.id == job_id))
        of_job = select(JobItem.normalized).where(JobItem.job_id == job_id)
        await session.execute(
            delete(AddressResult).where(
                AddressResult.account_id == (account_id or 0),
                AddressResult.normalized.in_(of_job),
            )
        )
    while True:
        async with store.write() as session:
            first = select(JobItem.seq).where(JobItem.job_id == job_id).order_by(JobItem.seq)
            bound = await session.scalar(first.offset(ITEMS_PER_DELETE).limit(1))
            query = delete(JobItem).where(JobItem.job_id == job_id)
            if bound is not None:
                query = query.where(JobItem.seq < bound)
            await session.execute(query)
            if bound is None:
                result = await session.execute(delete(Job).where(Job.id == job_id))
                return rowcount(result) > 0


async def jobs_finished_before(store: Store, cutoff: datetime, limit: int = 100) -> list[int]:
    """Finished jobs whose last activity was before ``cutoff``, oldest first."""
    last = func.coalesce(Job.finished_at, Job.created_at)
    query = (
        select(Job.id).where(Job.stage.in_(FINISHED), last < cutoff).order_by(Job.id).limit(limit)
    )
    async with store.read() as session:
        return [int(job_id) for job_id in (await session.execute(query)).scalars()]
