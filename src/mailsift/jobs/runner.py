"""Running one chunk: verify its unfinished addresses and store the results in batches.

Every write is ``UPDATE … WHERE result IS NULL`` and adds to ``jobs.done`` only the rows it
actually changed, in the same transaction: a chunk run twice (a worker died, a lease ran
out) never duplicates a result or counts it twice, and progress never goes backwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import Any, Protocol

from sqlalchemy import CursorResult, bindparam, func, or_, select, update
from sqlalchemy.engine import Result as DbResult
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.store.chunks import ChunkRef
from mailsift.store.engine import Store
from mailsift.store.models import ACTIVE_STAGES, Chunk, ChunkState, Job, JobItem, JobStage, utcnow
from mailsift.verify.model import Reason, Result, Verification

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


class ChunkVerifier(Protocol):
    """What the runner needs of the engine (``mailsift.verify.engine.Verifier``)."""

    def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]: ...


OnCompleted = Callable[[int], Awaitable[None]]


class JobRunner:
    """The ``ChunkRunner`` every dispatcher calls: one verifier shared by all chunks."""

    def __init__(
        self,
        store: Store,
        verifier: ChunkVerifier,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.5,
        max_attempts: int = MAX_ATTEMPTS,
        on_completed: OnCompleted | None = None,
    ) -> None:
        self._store = store
        self._verifier = verifier
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_attempts = max_attempts
        self._on_completed = on_completed

    async def __call__(self, ref: ChunkRef) -> None:
        if not await _start_processing(self._store, ref.job_id):
            return  # cancelled, failed or gone meanwhile
        pending = await _pending(self._store, ref)
        if not pending:
            return
        if ref.attempt > self._max_attempts:
            log.error("giving up on %s after %d attempts", ref, ref.attempt - 1)
            await self._store_all(ref.job_id, pending, _gave_up)
            return
        await self._verify(ref.job_id, pending)

    async def _verify(self, job_id: int, pending: dict[str, list[int]]) -> None:
        results: asyncio.Queue[Verification | None] = asyncio.Queue()
        producer = asyncio.create_task(_produce(self._verifier, list(pending), results))
        try:
            await self._consume(job_id, pending, results)
            await producer  # re-raises the verifier's failure, if any
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
        if pending:  # the verifier skipped some: they must still end with a result
            log.error("verifier gave no result for %d address(es) of job %d", len(pending), job_id)
            await self._store_all(job_id, pending, _gave_up)

    async def _consume(
        self,
        job_id: int,
        pending: dict[str, list[int]],
        results: asyncio.Queue[Verification | None],
    ) -> None:
        batches = _batches(results, self._batch_size, self._flush_interval)
        async with aclosing(batches):
            async for verifications in batches:
                values = [v for ver in verifications for v in _values_for(ver, pending)]
                await self._write(job_id, values)

    async def _store_all(
        self,
        job_id: int,
        pending: dict[str, list[int]],
        verdict: Callable[[str], Verification],
    ) -> None:
        values = [v for email in list(pending) for v in _values_for(verdict(email), pending)]
        for start in range(0, len(values), self._batch_size):
            await self._write(job_id, values[start : start + self._batch_size])

    async def _write(self, job_id: int, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        async with self._store.write() as session:
            completed = await store_results(session, job_id, batch)
        if completed and self._on_completed is not None:
            await self._on_completed(job_id)


# Flags and the typo suggestion were set at intake; the verifier may only add to them.
_SET_RESULT = (
    update(JobItem)
    .where(
        JobItem.job_id == bindparam("b_job_id"),
        JobItem.seq == bindparam("b_seq"),
        JobItem.result.is_(None),
    )
    .values(
        result=bindparam("b_result"),
        reason=bindparam("b_reason"),
        free=or_(JobItem.free, bindparam("b_free")),
        disposable=or_(JobItem.disposable, bindparam("b_disposable")),
        role=or_(JobItem.role, bindparam("b_role")),
        accept_all=bindparam("b_accept_all"),
        did_you_mean=func.coalesce(
            func.nullif(bindparam("b_did_you_mean"), ""), JobItem.did_you_mean
        ),
        mx_host=bindparam("b_mx_host"),
        smtp_code=bindparam("b_smtp_code"),
        smtp_message=bindparam("b_smtp_message"),
        finished_at=bindparam("b_finished_at"),
    )
)


async def store_results(session: AsyncSession, job_id: int, batch: list[dict[str, Any]]) -> bool:
    """Store final results (for rows still without one) and count them; True when that
    completed the job. ``batch`` holds the ``b_``-prefixed parameters ``_values_for`` makes."""
    # Core executemany on the connection: plain per-row UPDATEs with a summed rowcount.
    connection = await session.connection()
    params = [{**row, "b_job_id": job_id} for row in batch]
    changed = _rowcount(await connection.execute(_SET_RESULT, params))
    if changed <= 0:
        return False
    await connection.execute(update(Job).where(Job.id == job_id).values(done=Job.done + changed))
    finished = await connection.execute(
        update(Job)
        .where(Job.id == job_id, Job.done >= Job.total, Job.stage.in_(ACTIVE_STAGES))
        .values(stage=JobStage.COMPLETED, finished_at=utcnow())
    )
    if not _rowcount(finished):
        return False
    # Nothing is left to do: no chunk of it stays queued or running, whoever holds it.
    await connection.execute(
        update(Chunk).where(Chunk.job_id == job_id).values(state=ChunkState.DONE, lease_until=None)
    )
    return True


def _rowcount(result: DbResult[Any]) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


async def _start_processing(store: Store, job_id: int) -> bool:
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


async def _pending(store: Store, ref: ChunkRef) -> dict[str, list[int]]:
    """The chunk's addresses still without a result, each with the seq(s) it stands for."""
    query = select(JobItem.email, JobItem.seq).where(
        JobItem.job_id == ref.job_id, JobItem.chunk == ref.chunk, JobItem.result.is_(None)
    )
    pending: dict[str, list[int]] = {}
    async with store.read() as session:
        for email, seq in await session.execute(query):
            pending.setdefault(email.strip(), []).append(seq)
    return pending


async def _produce(
    verifier: ChunkVerifier,
    addresses: list[str],
    results: asyncio.Queue[Verification | None],
) -> None:
    try:
        async for verification in verifier.verify_many(addresses):
            await results.put(verification)
    finally:
        results.put_nowait(None)


async def _batches(
    results: asyncio.Queue[Verification | None], size: int, interval: float
) -> AsyncGenerator[list[Verification]]:
    """Group what the verifier yields: ``size`` at most, none waiting more than ``interval``."""
    loop = asyncio.get_running_loop()
    while (first := await results.get()) is not None:
        batch = [first]
        deadline = loop.time() + interval
        while len(batch) < size:
            try:
                following = await asyncio.wait_for(results.get(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            if following is None:
                yield batch
                return
            batch.append(following)
        yield batch


def _values_for(verification: Verification, pending: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Update parameters for the rows ``verification`` answers (and forget them as pending)."""
    seqs = pending.pop(verification.email.strip(), None)
    if seqs is None:
        log.warning("verifier answered for an address it was not asked about")
        return []
    now = utcnow()
    v = verification
    return [
        {
            "b_seq": seq,
            "b_result": str(v.result),
            "b_reason": str(v.reason),
            "b_free": v.free,
            "b_disposable": v.disposable,
            "b_role": v.role,
            "b_accept_all": v.accept_all,
            "b_did_you_mean": v.did_you_mean,
            "b_mx_host": v.mx_host,
            "b_smtp_code": v.smtp_code,
            "b_smtp_message": v.smtp_message,
            "b_finished_at": now,
        }
        for seq in seqs
    ]


def _gave_up(email: str) -> Verification:
    return Verification(
        email=email,
        normalized="",
        result=Result.UNKNOWN,
        reason=Reason.UNEXPECTED_ERROR,
        smtp_message="verification failed repeatedly",
    )
