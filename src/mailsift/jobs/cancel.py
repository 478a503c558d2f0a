"""Cancelling a job its owner no longer wants: finished addresses are kept, the rest refunded.

The job leaves the active stages in one conditional update, so a worker that picks up one of
its chunks afterwards finds it cancelled and stops. A chunk already running when the job is
cancelled may still store a few results after the refund: those are kept, free of charge.
"""

from __future__ import annotations

from sqlalchemy import CursorResult, update

from mailsift.accounts.credits import settle_job
from mailsift.store.engine import Store
from mailsift.store.models import ACTIVE_STAGES, Chunk, ChunkState, Job, JobStage


async def cancel_job(store: Store, account_id: int, job_id: int) -> int | None:
    """Cancel the account's running job; the credits given back, ``None`` if it was not running."""
    async with store.write() as session:
        result = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.account_id == account_id, Job.stage.in_(ACTIVE_STAGES))
            .values(stage=JobStage.CANCELLED, message="Cancelled by its owner.")
        )
        assert isinstance(result, CursorResult)
        if result.rowcount != 1:
            return None
        await session.execute(
            update(Chunk)
            .where(Chunk.job_id == job_id, Chunk.state == ChunkState.QUEUED)
            .values(state=ChunkState.DONE, lease_until=None)
        )
    return await settle_job(store, job_id)
