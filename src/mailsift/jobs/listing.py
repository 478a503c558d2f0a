"""An account's jobs as its owner browses them: a page of them, one of them, its breakdown.

Every read is scoped to the owner: another account's job is not found, exactly like one that
does not exist. Jobs still being received are invisible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.engine import Store
from mailsift.store.models import Job, JobItem, JobStage, utcnow

PAGE_SIZE = 25
_MAX_SEARCH = 200


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    page: int  # 1-based
    pages: int
    total: int
    counts: dict[int, dict[str, int]]  # per job id: addresses with each result so far


def _visible(account_id: int) -> list[ColumnElement[bool]]:
    return [Job.account_id == account_id, Job.stage != JobStage.RECEIVING]


def _like(text: str) -> str:
    escaped = text[:_MAX_SEARCH].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def job_page(
    store: Store, account_id: int, *, search: str = "", page: int = 1, size: int = PAGE_SIZE
) -> JobPage:
    """The account's jobs, newest first, whose file name contains ``search`` (any case)."""
    conditions = _visible(account_id)
    if search.strip():
        conditions.append(Job.filename.ilike(_like(search.strip()), escape="\\"))
    count = select(func.count()).select_from(Job).where(*conditions)
    async with store.read() as session:
        total = int(await session.scalar(count) or 0)
        pages = max(1, -(-total // size))
        page = min(max(1, page), pages)
        query = (
            select(Job)
            .where(*conditions)
            .order_by(Job.id.desc())
            .offset((page - 1) * size)
            .limit(size)
        )
        jobs = list((await session.execute(query)).scalars())
        counts = await _counts(session, [job.id for job in jobs])
    return JobPage(jobs, page, pages, total, counts)


async def owned_job(store: Store, account_id: int, public_id: str) -> Job | None:
    query = select(Job).where(Job.public_id == public_id, *_visible(account_id))
    async with store.read() as session:
        return (await session.execute(query)).scalar_one_or_none()


def seconds_left(job: Job, now: datetime | None = None) -> float | None:
    """A rough time left, from the pace so far; ``None`` until there is a pace to go by."""
    if job.stage != JobStage.PROCESSING or job.started_at is None:
        return None
    at_start = job.syntax_invalid  # final at intake, not verified by the workers
    verified = job.done - at_start
    remaining = job.total - job.done
    if verified <= 0 or remaining <= 0:
        return None
    elapsed = ((now or utcnow()) - job.started_at).total_seconds()
    return max(0.0, elapsed / verified * remaining)


async def owned_jobs(store: Store, account_id: int, public_ids: list[str]) -> list[Job]:
    query = select(Job).where(Job.public_id.in_(public_ids), *_visible(account_id))
    async with store.read() as session:
        return list((await session.execute(query)).scalars())


async def counts_by_result(store: Store, job_ids: list[int]) -> dict[int, dict[str, int]]:
    """For each job, how many of its addresses have each result so far."""
    async with store.read() as session:
        return await _counts(session, job_ids)


async def _counts(session: AsyncSession, job_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {job_id: {} for job_id in job_ids}
    if not job_ids:
        return counts
    query = (
        select(JobItem.job_id, JobItem.result, func.count())
        .where(JobItem.job_id.in_(job_ids), JobItem.result.is_not(None))
        .group_by(JobItem.job_id, JobItem.result)
    )
    for job_id, result, count in (await session.execute(query)).all():
        counts[int(job_id)][str(result)] = int(count)
    return counts
