"""Queries of re-verification: copy a job's unknown addresses into a new job, and merge the
new job's results back into the original's rows (same ``seq``: the files follow)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import Integer, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.chunks import queue_chunks
from mailsift.store.engine import Store
from mailsift.store.models import Job, JobItem, JobStage, Reverification, utcnow
from mailsift.store.results import rowcount

# (session, new job, billable addresses): take the credit, or raise to refuse.
Reserve = Callable[[AsyncSession, Job, int], Awaitable[None]]

_COPIED = ("seq", "row_no", "cells", "email", "normalized", "domain", "free", "disposable",
           "role", "did_you_mean")  # fmt: skip
_MERGED = ("result", "reason", "free", "disposable", "role", "accept_all", "did_you_mean",
           "mx_host", "smtp_code", "smtp_message", "finished_at", "bad_address",
           "suppression_list", "quality_score")  # fmt: skip
# Row values (SQLite 3.15+, PostgreSQL): each original row takes its re-verified twin's result.
_MERGE = text(f"""
    UPDATE job_items SET ({", ".join(_MERGED)}) = (
        SELECT {", ".join(f"again.{c}" for c in _MERGED)} FROM job_items AS again
        WHERE again.job_id = :job_id AND again.seq = job_items.seq
    )
    WHERE job_items.job_id = :original_id AND job_items.seq IN (
        SELECT seq FROM job_items WHERE job_id = :job_id AND result IS NOT NULL
    )
""")  # noqa: S608 (our own column names only)


async def create_reverification(
    store: Store,
    original: Job,
    *,
    chunk_size: int,
    charge_older_than: datetime,
    reserve: Reserve | None,
) -> Job | None:
    """A queued job of ``original``'s unknown addresses (``None``: it has none). Credit is
    reserved only for those whose previous answer is older than ``charge_older_than``."""
    unknown = (JobItem.job_id == original.id) & (JobItem.result == "unknown")
    async with store.write() as session:
        total, billable = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(JobItem.finished_at < charge_older_than),
                ).where(unknown)
            )
        ).one()
        if not total:
            return None
        job = Job(
            public_id=secrets.token_urlsafe(16),
            account_id=original.account_id,
            source=original.source,
            filename=original.filename,
            fingerprint=reverify_fingerprint(original.fingerprint),
            stage=JobStage.IN_QUEUE,
            layout=original.layout,
            total=int(total),
        )
        session.add(job)
        await session.flush()
        columns = [getattr(JobItem, c) for c in _COPIED]
        ranked = select(
            *columns,
            ((func.row_number().over(order_by=JobItem.seq) - 1) // chunk_size).label("chunk"),
        ).where(unknown)
        await session.execute(
            insert(JobItem).from_select(
                ["job_id", *_COPIED, "chunk"],
                select(literal(job.id, Integer), *ranked.subquery().c),
            )
        )
        session.add(Reverification(job_id=job.id, original_id=original.id))
        if reserve is not None:
            await reserve(session, job, int(billable))
        chunks = (int(total) + chunk_size - 1) // chunk_size
        await queue_chunks(session, job.id, range(chunks))
    return job


def reverify_fingerprint(fingerprint: str) -> str:
    """The fingerprint of re-verifications of the file with ``fingerprint``: an interrupted
    one is found again, and never mistaken for a run of the file itself."""
    return hashlib.sha256(f"reverify|{fingerprint}".encode()).hexdigest()


async def merge_into_original(store: Store, job_id: int) -> int | None:
    """Copy a completed re-verification's results into its original job, once; the rows
    merged, ``None`` when ``job_id`` is no re-verification waiting for that."""
    async with store.write() as session:
        link = await session.get(Reverification, job_id, with_for_update=True)
        if link is None or link.merged_at is not None:
            return None
        stage = await session.scalar(select(Job.stage).where(Job.id == job_id))
        if stage != JobStage.COMPLETED:
            return None
        result = await session.execute(_MERGE, {"job_id": job_id, "original_id": link.original_id})
        await session.execute(
            update(Reverification).where(Reverification.job_id == job_id).values(merged_at=utcnow())
        )
        return rowcount(result)


async def unmerged_completed(store: Store) -> list[int]:
    """Completed re-verifications not merged yet (a process stopped in between)."""
    query = (
        select(Reverification.job_id)
        .join(Job, Job.id == Reverification.job_id)
        .where(Reverification.merged_at.is_(None), Job.stage == JobStage.COMPLETED)
    )
    async with store.read() as session:
        return [int(job_id) for job_id in (await session.execute(query)).scalars()]


async def latest_completed(store: Store, fingerprint: str, source: str) -> Job | None:
    """The newest completed job of ``source`` for the file with this fingerprint."""
    query = (
        select(Job)
        .where(
            Job.fingerprint == fingerprint,
            Job.source == source,
            Job.stage == JobStage.COMPLETED,
        )
        .order_by(Job.id.desc())
        .limit(1)
    )
    async with store.read() as session:
        return (await session.execute(query)).scalar_one_or_none()
