"""Forgetting jobs: deleted on request, or ``retention_days`` after they finished.

A job in progress is cancelled first, and every job's credit is settled before it goes (its
unverified addresses given back), so deleting never costs its owner credit. Its rows go, and
with them its result files (they are made from the rows) and so every link to them; the
ledger stays.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from mailsift.accounts.credits import settle_job
from mailsift.store import retention as queries
from mailsift.store.address_results import forget_results_before
from mailsift.store.engine import Store
from mailsift.store.models import utcnow

log = logging.getLogger(__name__)

DELETED = "Deleted at the owner's request."


async def delete_job(store: Store, job_id: int) -> bool:
    """Delete one job now (cancelling it if it is still running); True when it existed."""
    await queries.cancel_if_active(store, job_id, DELETED)
    await settle_job(store, job_id)
    return await queries.delete_job_rows(store, job_id)


async def expire_jobs(store: Store, retention_days: float) -> int:
    """Delete every job finished more than ``retention_days`` ago (0: keep them all)."""
    if retention_days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=retention_days)
    await forget_results_before(store, cutoff)
    deleted = 0
    while job_ids := await queries.jobs_finished_before(store, cutoff):
        for job_id in job_ids:
            await settle_job(store, job_id)
            deleted += await queries.delete_job_rows(store, job_id)
    if deleted:
        log.info("deleted %d job(s) past the retention period", deleted)
    return deleted
