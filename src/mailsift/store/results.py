"""Writing verification results into ``job_items``, idempotently, in batches.

Every write sets a row's result only while it has none (``result IS NULL``) and adds to
``jobs.done`` only the rows it actually changed, in the same transaction: a chunk run twice
never duplicates a result or counts it twice. On PostgreSQL a whole batch is one ``UPDATE …
FROM unnest(arrays)``: one statement and one round trip however many rows. SQLite runs the
same update once per row, in process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, and_, bindparam, case, func, literal, or_, text, update
from sqlalchemy.engine import Result as DbResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mailsift.store.models import ACTIVE_STAGES, Chunk, ChunkState, Job, JobItem, JobStage, utcnow
from mailsift.store.outbox import add_callback

# The parameters of one row, without the ``b_`` prefix, in the order of the arrays below.
FIELDS = (
    "seq", "result", "reason", "free", "disposable", "role", "accept_all", "did_you_mean",
    "mx_host", "smtp_code", "smtp_message", "finished_at",
)  # fmt: skip

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

_PG_SET_RESULTS = text("""
    UPDATE job_items AS item SET
        result = given.result,
        reason = given.reason,
        free = item.free OR given.free,
        disposable = item.disposable OR given.disposable,
        role = item.role OR given.role,
        accept_all = given.accept_all,
        did_you_mean = coalesce(nullif(given.did_you_mean, ''), item.did_you_mean),
        mx_host = given.mx_host,
        smtp_code = given.smtp_code,
        smtp_message = given.smtp_message,
        finished_at = given.finished_at
    FROM unnest(
        CAST(:seq AS integer[]), CAST(:result AS varchar[]), CAST(:reason AS varchar[]),
        CAST(:free AS boolean[]), CAST(:disposable AS boolean[]), CAST(:role AS boolean[]),
        CAST(:accept_all AS boolean[]), CAST(:did_you_mean AS text[]),
        CAST(:mx_host AS text[]), CAST(:smtp_code AS integer[]),
        CAST(:smtp_message AS text[]), CAST(:finished_at AS timestamptz[])
    ) AS given(
        seq, result, reason, free, disposable, role, accept_all, did_you_mean, mx_host,
        smtp_code, smtp_message, finished_at
    )
    WHERE item.job_id = :job_id AND item.seq = ANY(CAST(:seq AS integer[]))
      AND item.seq = given.seq AND item.result IS NULL
""")  # ``= ANY``: the primary key finds the rows, whatever the planner thinks of unnest()


async def store_results(session: AsyncSession, job_id: int, batch: list[dict[str, Any]]) -> bool:
    """Store final results (for rows still without one) and count them; True when that
    completed the job (then its callback is in the outbox, in the same transaction). Each
    row of ``batch`` holds the ``b_``-prefixed ``FIELDS``."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        changed = await _set_results_at_once(connection, job_id, batch)
    else:
        params = [{**row, "b_job_id": job_id} for row in batch]
        changed = rowcount(await connection.execute(_SET_RESULT, params))
    if changed <= 0:
        return False
    if not await _count_done(connection, job_id, changed):
        return False
    # Nothing is left to do: no chunk of it stays queued or running, whoever holds it.
    await connection.execute(
        update(Chunk).where(Chunk.job_id == job_id).values(state=ChunkState.DONE, lease_until=None)
    )
    await add_callback(session, job_id)  # the outbox: written with the completion, or not at all
    return True


async def _count_done(connection: AsyncConnection, job_id: int, changed: int) -> bool:
    """Add ``changed`` to the job's progress, completing it when that was the last; True
    when this call completed it.

    One statement: every chunk of every worker updates this row, so its lock is held no
    longer than one round trip and the commit.
    """
    completes = and_(Job.done + changed >= Job.total, Job.stage.in_(ACTIVE_STAGES))
    now = literal(utcnow(), Job.finished_at.type)
    stage, done, total = (
        await connection.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                done=Job.done + changed,
                stage=case((completes, literal(str(JobStage.COMPLETED))), else_=Job.stage),
                finished_at=case((completes, now), else_=Job.finished_at),
            )
            .returning(Job.stage, Job.done, Job.total)
        )
    ).one()
    # Completed now, not before: the count crossed the total with this very update.
    return bool(stage == JobStage.COMPLETED and done - changed < total)


async def mark_deferred(
    session: AsyncSession, job_id: int, seqs: Sequence[int], when: datetime
) -> None:
    """Note that these rows were handed back for a later retry (the first time only counts)."""
    if not seqs:
        return
    await session.execute(
        update(JobItem)
        .where(JobItem.job_id == job_id, JobItem.seq.in_(seqs), JobItem.deferred_at.is_(None))
        .values(deferred_at=when)
    )


async def _set_results_at_once(
    connection: AsyncConnection, job_id: int, batch: list[dict[str, Any]]
) -> int:
    if not batch:
        return 0
    columns: dict[str, Any] = {name: [row[f"b_{name}"] for row in batch] for name in FIELDS}
    return rowcount(await connection.execute(_PG_SET_RESULTS, {**columns, "job_id": job_id}))


def rowcount(result: DbResult[Any]) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount
