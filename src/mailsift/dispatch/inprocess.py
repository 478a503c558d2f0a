"""The embedded dispatcher: chunk workers as asyncio tasks inside the serving process.

The workers share whatever the chunk runner holds (one verifier, hence one set of
per-host politeness caps). The queue itself is the ``chunks`` table, so a restart picks up
exactly where the last process stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from mailsift.dispatch.base import ChunkRunner
from mailsift.store import chunks
from mailsift.store.chunks import ChunkRef
from mailsift.store.engine import Store

log = logging.getLogger(__name__)


class InProcessDispatcher:
    """``workers`` asyncio tasks claiming chunks from the store and running them.

    ``only_job`` keeps them to one job (``mailsift verify``), leaving the others in the same
    store to whoever runs them.
    """

    def __init__(
        self,
        store: Store,
        run_chunk: ChunkRunner,
        *,
        workers: int = 4,
        lease: timedelta = timedelta(minutes=5),
        poll_interval: float = 2.0,
        only_job: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._store = store
        self._run_chunk = run_chunk
        self._workers = workers
        self._lease = lease
        self._poll_interval = poll_interval
        self._only_job = only_job
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("dispatcher already started")
        # This process is the only in-process worker pool on this database: whatever was
        # running when the last one died is claimable now, not when its lease runs out.
        requeued = await chunks.requeue_interrupted(self._store, job_id=self._only_job)
        if requeued:
            log.info("resuming %d interrupted chunk(s)", requeued)
        self._tasks = [
            asyncio.create_task(self._work(), name=f"mailsift-chunk-worker-{n}")
            for n in range(self._workers)
        ]

    async def submit(self, job_id: int) -> None:
        self._wake.set()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            try:
                ref = await chunks.claim_next(self._store, lease=self._lease, job_id=self._only_job)
                if ref is None:
                    await self._idle()
                    continue
                await self._run(ref)
            except Exception:
                # Store unreachable, or a chunk failed: wait rather than spin, then go on.
                log.exception("chunk worker error")
                await asyncio.sleep(self._poll_interval)

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _run(self, ref: ChunkRef) -> None:
        heartbeat = asyncio.create_task(self._keep_lease(ref))
        try:
            await self._run_chunk(ref)
        except Exception:
            await chunks.release(self._store, ref)
            raise
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        await chunks.finish(self._store, ref)

    async def _keep_lease(self, ref: ChunkRef) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                await chunks.renew_lease(self._store, ref, lease=self._lease)
            except Exception:
                log.exception("could not renew the lease of %s", ref)
