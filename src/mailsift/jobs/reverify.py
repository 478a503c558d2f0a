"""Asking again about a finished job's unknown addresses, in a job of their own.

The new job holds copies of the original's ``unknown`` rows (same cells, same ``seq``) and
runs as any job (progress, links, callbacks). It reserves credit only for addresses whose
previous answer is older than the free window: asking again soon about what mailsift could
not settle is free. When it completes, each address's new result replaces the old one in the
original job, so an address that became valid or invalid moves to that file there.
"""

from __future__ import annotations

from datetime import timedelta

from mailsift.jobs.service import DEFAULT_CHUNK_SIZE
from mailsift.store import reverify as queries
from mailsift.store.engine import Store
from mailsift.store.models import Job, JobStage, utcnow
from mailsift.store.reverify import Reserve

__all__ = ["ReverifyRefused", "merge_reverified", "reverify_unknowns"]


class ReverifyRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def reverify_unknowns(
    store: Store,
    original: Job,
    *,
    free_window: float,
    reserve: Reserve | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Job:
    """Queue a job of ``original``'s unknown addresses; ``ReverifyRefused`` when there is
    nothing to do, or whatever ``reserve`` raises (then nothing is kept)."""
    if original.stage != JobStage.COMPLETED:
        raise ReverifyRefused("Only a completed job's unknown addresses can be verified again.")
    job = await queries.create_reverification(
        store,
        original,
        chunk_size=chunk_size,
        charge_older_than=utcnow() - timedelta(seconds=free_window),
        reserve=reserve,
    )
    if job is None:
        raise ReverifyRefused("The job has no unknown addresses to verify again.")
    return job


async def merge_reverified(store: Store, job_id: int | None = None) -> int:
    """Merge a completed re-verification into its original (all pending ones when
    ``job_id`` is ``None``); returns the rows merged."""
    job_ids = [job_id] if job_id is not None else await queries.unmerged_completed(store)
    merged = 0
    for one in job_ids:
        merged += await queries.merge_into_original(store, one) or 0
    return merged
