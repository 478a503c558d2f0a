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

from sqlalchemy import Table
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
from mailsift.store.bulk import BulkInsert, insert_prepared
from mailsift.store.engine import Store
from mailsift.store.jobs import (
    discard_job,
    find_job,
    find_resumable,
    get_job,
    open_job,
    orphaned_jobs,
    queue_job,
    result_counts,
)
from mailsift.store.models import Account, Job, JobItem, JobSource, JobStage, utcnow

__all__ = [
    "create_job",
    "discard_job",
    "discard_orphans",
    "file_fingerprint",
    "find_job",
    "find_resumable",
    "get_job",
    "result_counts",
]

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
    link_base: str | None = None,
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
    job_id = await _open_job(
        store, filename, fingerprint, described, source, account, callback_url, link_base
    )
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


async def discard_orphans(store: Store, *, older_than: timedelta = ORPHAN_GRACE) -> int:
    """Delete jobs left ``Receiving`` by a process that died during intake.

    ``older_than`` spares intakes other live processes may still be running.
    """
    orphans = await orphaned_jobs(store, received_before=utcnow() - older_than)
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
    link_base: str | None,
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
        link_base=link_base,
    )
    return await open_job(store, job)


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
            await insert_prepared(store, (_INSERT_PENDING, pending), (_INSERT_FINAL, final))


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
    totals = {
        "total": counts.rows,
        "done": counts.rows - counts.pending,
        "syntax_invalid": counts.rows - counts.pending,
        "duplicates": stats.duplicates,
        "blank": stats.blank,
    }
    return await queue_job(
        store,
        job_id,
        totals=totals,
        columns=counts.columns,
        billable=counts.pending,
        chunks=counts.chunks(chunk_size) if counts.pending else 0,
        reserve=reserve,
    )
