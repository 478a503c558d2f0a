"""A job's life outside the workers: taking a list in, finding it again, cleaning up.

``create_job`` streams the list into ``job_items`` while the job is ``Receiving`` (invisible
to everyone), then, in one short transaction, reserves credits, flips it to ``In Queue`` and
queues its chunks. Whatever goes wrong before that leaves nothing behind. A large list is read
by a child process (``jobs.listreader``), so that reading it and storing it use two cores.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from contextlib import aclosing
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.jobs.intake import IntakeLimits, IntakeStats, ListLayout, read_rows, sniff_layout
from mailsift.jobs.items import (
    FINAL_COLUMNS,
    PENDING_COLUMNS,
    ItemBatch,
    ItemCounts,
    item_batches,
)
from mailsift.jobs.listreader import batches_in_child
from mailsift.store.bulk import BulkInsert
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

DEFAULT_CHUNK_SIZE = 500
CHILD_READER_MIN_BYTES = 2 * 1024 * 1024
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
    read_in_child: bool | None = None,
    sheet: str | None = None,
    column: str | None = None,
) -> Job:
    """Take in the list at ``path`` (``filename`` as uploaded) and queue it for verification.

    ``sheet`` and ``column`` (a name or 1-based number) say where the addresses are when the
    guess is not wanted; one the file does not have raises ``UnknownChoice``.

    ``read_in_child``: read the list in a child process while this one stores it; by default
    for files of ``CHILD_READER_MIN_BYTES`` or more, where that pays for starting the child.
    Raises ``IntakeError`` for a list that cannot be read, or whatever ``reserve`` raises;
    either way nothing of the job stays in the store.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    fingerprint = await asyncio.to_thread(file_fingerprint, path)
    limits = limits or IntakeLimits()
    layout = await asyncio.to_thread(
        partial(sniff_layout, path, filename=filename, limits=limits, sheet=sheet, column=column)
    )
    if read_in_child is None:
        read_in_child = await asyncio.to_thread(os.path.getsize, path) >= CHILD_READER_MIN_BYTES
    read = batches_in_child if read_in_child else _batches_in_thread
    described = {**layout_json(layout), "choice": choice_json(sheet, column)}
    job_id = await _open_job(store, filename, fingerprint, described, source, account, callback_url)
    try:
        stats, counts = IntakeStats(), ItemCounts()
        batches = read(
            path,
            layout,
            limits,
            job_id=job_id,
            chunk_size=chunk_size,
            stats=stats,
            counts=counts,
        )
        await _store_batches(store, batches)
        return await _queue_job(store, job_id, stats, counts, chunk_size, reserve)
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


async def _open_job(
    store: Store,
    filename: str,
    fingerprint: str,
    layout: dict[str, Any],
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
        layout=layout,
        callback_url=callback_url,
    )
    async with store.write() as session:
        session.add(job)
        await session.flush()
        return job.id


def choice_json(sheet: str | None, column: str | None) -> dict[str, str | None]:
    """The sender's choice of sheet and column as kept with a job: a resumed run must match."""
    return {"sheet": sheet, "column": column}


def layout_json(layout: ListLayout) -> dict[str, Any]:
    data = asdict(layout)
    data["header"] = list(layout.header) if layout.header is not None else None
    return data


async def _batches_in_thread(
    path: Path,
    layout: ListLayout,
    limits: IntakeLimits,
    *,
    job_id: int,
    chunk_size: int,
    stats: IntakeStats,
    counts: ItemCounts,
) -> AsyncGenerator[ItemBatch, None]:
    """The batches ``batches_in_child`` yields, read in a worker thread of this process."""
    rows = read_rows(path, layout, stats, limits=limits)
    batches = item_batches(rows, job_id, chunk_size, counts)
    reading: asyncio.Future[ItemBatch | None] | None = None
    try:
        while True:
            reading = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            # Shielded: on cancellation the thread reads on, and ``reading`` says when it is done.
            batch = await asyncio.shield(reading)
            if batch is None:
                return
            yield batch
    finally:
        if reading is None or reading.done():
            batches.close()
        else:  # a generator cannot be closed while it runs: close it when its thread returns
            reading.add_done_callback(lambda done: _close_after(done, batches))


def _close_after(
    done: asyncio.Future[ItemBatch | None], batches: Generator[ItemBatch, None, None]
) -> None:
    if done.cancelled():  # the event loop is closing: the thread may still be reading
        return
    done.exception()  # retrieved, not raised: the intake already stopped for another reason
    batches.close()


async def _store_batches(store: Store, batches: AsyncGenerator[ItemBatch, None]) -> None:
    """Insert every batch, each in its own short transaction."""
    dialect = store.engine.dialect
    now = utcnow()
    async with aclosing(batches):
        async for batch in batches:
            pending = _INSERT_PENDING.prepare(dialect, batch.pending)
            final = _INSERT_FINAL.prepare(dialect, [(*row, now) for row in batch.final])
            async with store.write() as session:
                await _INSERT_PENDING.run(session, pending)
                await _INSERT_FINAL.run(session, final)


# Two statements, each with only the columns its rows fill (the rest keep their defaults):
# fewer values to send per row, and a million-row intake is mostly sending values.
_ITEMS: Table = JobItem.__table__  # type: ignore[assignment]
_INSERT_PENDING = BulkInsert(_ITEMS, PENDING_COLUMNS, encoded=("cells",))
_INSERT_FINAL = BulkInsert(_ITEMS, (*FINAL_COLUMNS, "finished_at"), encoded=("cells",))


async def _queue_job(
    store: Store,
    job_id: int,
    stats: IntakeStats,
    counts: ItemCounts,
    chunk_size: int,
    reserve: Reserve | None,
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
            await queue_chunks(session, job_id, range(counts.chunks(chunk_size)))
        else:  # nothing to probe: every row was final at intake
            job.stage = JobStage.COMPLETED
            job.started_at = job.finished_at = now
    return job
