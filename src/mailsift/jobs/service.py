"""A job's life outside the workers: taking a list in, finding it again, cleaning up.

``create_job`` streams the list into ``job_items`` while the job is ``Receiving`` (invisible
to everyone), then, in one short transaction, reserves credits, flips it to ``In Queue`` and
queues its chunks. Whatever goes wrong before that leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.jobs.intake import (
    IntakeLimits,
    IntakeRow,
    IntakeStats,
    ListLayout,
    read_list,
    sniff_layout,
)
from mailsift.store.bulk import BulkInsert, Prepared
from mailsift.store.chunks import queue_chunks
from mailsift.store.engine import Store
from mailsift.store.models import (
    ACTIVE_STAGES,
    Account,
    Chunk,
    Job,
    JobItem,
    JobSource,
    JobStage,
    utcnow,
)
from mailsift.verify.address import ParsedAddress
from mailsift.verify.model import Reason, Result

DEFAULT_CHUNK_SIZE = 500
INSERT_BATCH = 5_000
ORPHAN_GRACE = timedelta(hours=1)

Reserve = Callable[[AsyncSession, Job, int], Awaitable[None]]
"""``reserve(session, job, n_billable)``: take credits for a job about to be queued.

Runs inside the transaction that queues the job; it may set ``job.credits_reserved`` and
write ledger rows there, or raise to refuse the job (then nothing of it is kept).
"""


async def create_job(
    store: Store,
    path: Path,
    filename: str,
    *,
    source: JobSource,
    account: Account | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    reserve: Reserve | None = None,
    callback_url: str | None = None,
    limits: IntakeLimits | None = None,
) -> Job:
    """Take in the list at ``path`` (``filename`` as uploaded) and queue it for verification.

    Raises ``IntakeError`` for a list that cannot be read, or whatever ``reserve`` raises;
    either way nothing of the job stays in the store.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    fingerprint = await asyncio.to_thread(file_fingerprint, path)
    limits = limits or IntakeLimits()
    layout = await asyncio.to_thread(sniff_layout, path, filename=filename, limits=limits)
    job_id = await _open_job(store, filename, fingerprint, layout, source, account, callback_url)
    try:
        stats = IntakeStats()
        rows = read_list(path, layout, stats, limits=limits)
        counts = await _store_rows(store, job_id, rows, chunk_size)
        return await _queue_job(store, job_id, stats, counts, reserve)
    except BaseException:
        await discard_job(store, job_id)
        raise


def file_fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes: the same list uploaded again is recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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


async def discard_orphans(store: Store, *, older_than: timedelta = ORPHAN_GRACE) -> int:
    """Delete jobs left ``Receiving`` by a process that died during intake.

    ``older_than`` spares intakes other live processes may still be running.
    """
    cutoff = utcnow() - older_than
    query = select(Job.id).where(Job.stage == JobStage.RECEIVING, Job.created_at <= cutoff)
    async with store.read() as session:
        orphans = list((await session.execute(query)).scalars())
    for job_id in orphans:
        await discard_job(store, job_id)
    return len(orphans)


@dataclass
class _Counts:
    rows: int = 0
    pending: int = 0  # syntactically valid: they go to the workers
    chunks: int = 0
    columns: int = 0  # the widest row: result files need a name for every column
    now: datetime = field(default_factory=utcnow)


async def _open_job(
    store: Store,
    filename: str,
    fingerprint: str,
    layout: ListLayout,
    source: JobSource,
    account: Account | None,
    callback_url: str | None,
) -> int:
    job = Job(
        public_id=secrets.token_urlsafe(16),
        account_id=account.id if account else None,
        source=source,
        filename=filename,
        fingerprint=fingerprint,
        stage=JobStage.RECEIVING,
        layout=layout_json(layout),
        callback_url=callback_url,
    )
    async with store.write() as session:
        session.add(job)
        await session.flush()
        return job.id


def layout_json(layout: ListLayout) -> dict[str, Any]:
    data = asdict(layout)
    data["header"] = list(layout.header) if layout.header is not None else None
    return data


async def _store_rows(
    store: Store, job_id: int, rows: Iterator[IntakeRow], chunk_size: int
) -> _Counts:
    counts = _Counts()
    dialect = store.engine.dialect

    def next_batch() -> list[Prepared]:  # in a worker thread, one batch at a time
        pending: list[tuple[Any, ...]] = []
        final: list[tuple[Any, ...]] = []
        for row in islice(rows, INSERT_BATCH):
            _add_item(job_id, row, counts, chunk_size, pending, final)
        return [
            _INSERT_PENDING.prepare(dialect, pending),
            _INSERT_FINAL.prepare(dialect, final),
        ]

    # Reading the next batch (a thread) overlaps with writing this one.
    upcoming = asyncio.ensure_future(asyncio.to_thread(next_batch))
    try:
        while True:
            prepared = await upcoming
            if not any(batch.rows for batch in prepared):
                break
            upcoming = asyncio.ensure_future(asyncio.to_thread(next_batch))
            async with store.write() as session:
                for statement, batch in zip(
                    (_INSERT_PENDING, _INSERT_FINAL), prepared, strict=True
                ):
                    await statement.run(session, batch)
    finally:
        upcoming.cancel()
        await asyncio.gather(upcoming, return_exceptions=True)
    counts.chunks = -(-counts.pending // chunk_size)
    return counts


# Two statements, each with only the columns its rows fill (the rest keep their defaults):
# fewer values to send per row, and a million-row intake is mostly sending values.
_ITEMS: Table = JobItem.__table__  # type: ignore[assignment]
_INSERT_PENDING = BulkInsert(
    _ITEMS,
    (
        "job_id", "seq", "row_no", "cells", "email", "normalized", "domain", "chunk", "free",
        "disposable", "role", "did_you_mean",
    ),
)  # fmt: skip
_INSERT_FINAL = BulkInsert(
    _ITEMS,
    (
        "job_id", "seq", "row_no", "cells", "email", "result", "reason", "did_you_mean",
        "smtp_message", "finished_at",
    ),
)  # fmt: skip


def _add_item(
    job_id: int,
    row: IntakeRow,
    counts: _Counts,
    chunk_size: int,
    pending: list[tuple[Any, ...]],
    final: list[tuple[Any, ...]],
) -> None:
    """Number the row and add it to the rows to verify, or to the final ones (bad syntax)."""
    parsed = row.parsed
    seq = counts.rows
    counts.rows += 1
    if len(row.cells) > counts.columns:
        counts.columns = len(row.cells)
    if isinstance(parsed, ParsedAddress):
        pending.append((
            job_id, seq, row.row_no, row.cells, parsed.given, parsed.normalized, parsed.domain,
            counts.pending // chunk_size, parsed.free, parsed.disposable, parsed.role,
            parsed.did_you_mean,
        ))  # fmt: skip
        counts.pending += 1
    else:
        final.append((
            job_id, seq, row.row_no, row.cells, parsed.given, Result.INVALID,
            Reason.INVALID_EMAIL, parsed.did_you_mean, parsed.message[:500], counts.now,
        ))  # fmt: skip


async def _queue_job(
    store: Store, job_id: int, stats: IntakeStats, counts: _Counts, reserve: Reserve | None
) -> Job:
    now = utcnow()
    async with store.write() as session:
        job = await session.get_one(Job, job_id)
        job.total = counts.rows
        job.done = counts.rows - counts.pending
        job.syntax_invalid = counts.rows - counts.pending
        job.duplicates = stats.duplicates
        job.blank = stats.blank
        job.layout = {**(job.layout or {}), "columns": counts.columns}
        if reserve is not None:
            await reserve(session, job, counts.pending)
        if counts.pending:
            job.stage = JobStage.IN_QUEUE
            await queue_chunks(session, job_id, range(counts.chunks))
        else:  # nothing to probe: every row was final at intake
            job.stage = JobStage.COMPLETED
            job.started_at = job.finished_at = now
    return job
