"""The cluster dispatcher: every chunk is a procrastinate task in PostgreSQL.

Any process may submit (the API nodes do); every process started with a chunk runner works
(``mailsift worker``, or ``mailsift serve`` with its embedded workers). How the guarantees
hold:

- A chunk is one task, ``mailsift.run_chunk(job_id, chunk)``, whose procrastinate ``lock``
  (and queueing lock) names the chunk: it never runs twice at once, and is queued once.
- A chunk whose addresses were handed back (greylisting) is scheduled again with
  ``schedule_in``, rather than slept on.
- A task that raises is retried with backoff (``RetryStrategy``); the runner gives a chunk up,
  with ``unknown / unexpected_error`` for what is left of it, after ``MAX_ATTEMPTS`` runs.
- Workers beat a heartbeat. A worker killed outright stops beating; after
  ``worker_stalled_after`` any other worker's sweep puts its tasks back in the queue
  (procrastinate's stalled jobs). The chunk then runs again: results already stored stay,
  the rest is verified.
- The same sweep queues a task for any open chunk that has none (a process died between
  storing a job and queueing its chunks), deletes finished tasks after ``queue_keep_hours``
  and forgets the connection slots of mail servers unused for an hour.

procrastinate's tables live in the ``procrastinate`` schema (migration 0002), so its
connections search that schema only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Job as QueueJob
from sqlalchemy import select, text

from mailsift.dispatch.base import ChunkRunner
from mailsift.dispatch.config import QueueSettings
from mailsift.dispatch.host_slots import forget_idle_slots, process_name
from mailsift.jobs.runner import MAX_ATTEMPTS
from mailsift.store import chunks
from mailsift.store.engine import Store
from mailsift.store.models import ACTIVE_STAGES, Chunk, ChunkState, JobSource, utcnow
from mailsift.store.url import libpq_url

log = logging.getLogger(__name__)

QUEUE_SCHEMA = "procrastinate"
CHUNK_QUEUE = "mailsift-chunks"
RUN_CHUNK = "mailsift.run_chunk"
RETRY_PRIORITY = 1  # a greylist retry that is due goes before chunks not started yet
_CONTEXT_KEY = "mailsift"
_DEFER_BATCH = 1000
_RESTART_SECONDS = 2.0
_STOP_MARGIN_SECONDS = 5.0
# A statement waits this long for a pool connection: beyond it the database is out of reach,
# and failing lets the worker start over (or stop) instead of hanging.
_POOL_WAIT_SECONDS = 5.0
# Task retries: enough for the runner to reach its own last attempt (it then gives up).
_TASK_RETRY = RetryStrategy(max_attempts=MAX_ATTEMPTS + 2, exponential_wait=2)

_ORPHANS = text(f"""
    SELECT c.job_id, c.chunk FROM chunks AS c JOIN jobs AS j ON j.id = c.job_id
    WHERE c.state <> :done AND j.stage = ANY(:active) AND j.source <> :cli
      AND c.updated_at < :quiet_since
      AND NOT EXISTS (
          SELECT 1 FROM {QUEUE_SCHEMA}.procrastinate_jobs AS p
          WHERE p.lock = 'mailsift-chunk:' || c.job_id || ':' || c.chunk
            AND p.status IN ('todo', 'doing')
      )
    ORDER BY c.job_id, c.chunk
    LIMIT :limit
""")  # noqa: S608 (only our own constant schema name is formatted in)


def chunk_lock(job_id: int, chunk: int) -> str:
    """The procrastinate lock and queueing lock of one chunk's task."""
    return f"mailsift-chunk:{job_id}:{chunk}"


def make_app(url: str, *, pool_size: int = 4) -> App:
    """A procrastinate app on the database at ``url`` (PostgreSQL), with mailsift's task."""
    connector = PsycopgConnector(
        conninfo=libpq_url(url),
        min_size=1,
        max_size=pool_size,
        timeout=_POOL_WAIT_SECONDS,
        kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"},
    )
    app = App(connector=connector)
    app.task(name=RUN_CHUNK, queue=CHUNK_QUEUE, pass_context=True, retry=_TASK_RETRY)(
        _run_chunk_task
    )
    return app


async def _run_chunk_task(context: JobContext, job_id: int, chunk: int) -> None:
    work: _ChunkWork = context.additional_context[_CONTEXT_KEY]
    await work.run(job_id, chunk)


class _ChunkWork:
    """What a task does with its chunk: mark it, run it, then finish or reschedule it."""

    def __init__(
        self,
        store: Store,
        run_chunk: ChunkRunner,
        defer: Callable[[Sequence[tuple[int, int]], float | None], Awaitable[None]],
        holder: str,
    ) -> None:
        self._store = store
        self._run_chunk = run_chunk
        self._defer = defer
        self._holder = holder

    async def run(self, job_id: int, chunk: int) -> None:
        ref = await chunks.start(self._store, job_id, chunk, holder=self._holder)
        if ref is None:
            return  # done already (a duplicate task, or the job completed meanwhile)
        try:
            retry_in = await self._run_chunk(ref)
        except Exception:
            await chunks.release(self._store, ref)  # a failure of its own: it counts
            raise
        if retry_in is None:
            await chunks.finish(self._store, ref)
            return
        await self._defer([(job_id, chunk)], retry_in)
        await chunks.wait_for_retry(self._store, ref)


class ProcrastinateDispatcher:
    """Chunks as procrastinate tasks; with a ``run_chunk``, this process also works on them.

    ``concurrency``: how many chunks this process runs at once (0 with no ``run_chunk``).
    """

    def __init__(
        self,
        store: Store,
        run_chunk: ChunkRunner | None = None,
        *,
        concurrency: int = 4,
        options: QueueSettings | None = None,
        holder: str | None = None,
    ) -> None:
        if run_chunk is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if store.is_sqlite:
            raise ValueError("the procrastinate queue needs PostgreSQL")
        self._store = store
        self._run_chunk = run_chunk
        self._concurrency = concurrency if run_chunk is not None else 0
        self._options = options or QueueSettings()
        self.holder = holder or process_name()
        self.app = make_app(store.url, pool_size=max(2, self._concurrency + 2))
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False
        self._stopping = False

    async def start(self) -> None:
        if self._opened:
            raise RuntimeError("dispatcher already started")
        await self.app.open_async()
        self._opened = True
        self._stopping = False
        if self._run_chunk is not None:
            work = _ChunkWork(self._store, self._run_chunk, self._defer_chunks, self.holder)
            self._tasks = [
                asyncio.create_task(self._keep_working(work), name="mailsift-queue-worker"),
                asyncio.create_task(self._sweep_forever(), name="mailsift-queue-sweeper"),
            ]

    async def submit(self, job_id: int) -> None:
        query = select(Chunk.chunk).where(Chunk.job_id == job_id, Chunk.state != ChunkState.DONE)
        async with self._store.read() as session:
            numbers = list((await session.execute(query.order_by(Chunk.chunk))).scalars())
        await self._defer_chunks([(job_id, n) for n in numbers])

    async def stop(self) -> None:
        """Stop working: chunks still running after the grace time go back to the queue.

        Bounded even when the database is out of reach: the queue then gets those chunks back
        from the stalled-worker sweep of the other workers.
        """
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            limit = self._options.worker_shutdown_grace + _STOP_MARGIN_SECONDS
            _, late = await asyncio.wait(tasks, timeout=limit)
            if late:
                log.warning("the queue worker did not stop within %.0f s; leaving it", limit)
                for task in late:
                    task.cancel()
        if self._opened:
            self._opened = False
            await self.app.close_async()

    # --- deferring ---------------------------------------------------------------------------

    async def _defer_chunks(
        self, refs: Sequence[tuple[int, int]], retry_in: float | None = None
    ) -> None:
        """Queue a task per chunk (after ``retry_in`` seconds, if given); a chunk that has a
        task waiting already keeps that one."""
        for start in range(0, len(refs), _DEFER_BATCH):
            batch = [
                self._queue_job(job, n, retry_in) for job, n in refs[start : start + _DEFER_BATCH]
            ]
            try:
                await self.app.job_manager.batch_defer_jobs_async(batch)
            except queue_errors.AlreadyEnqueued:
                for job in batch:  # one by one: all but the queued ones
                    with contextlib.suppress(queue_errors.AlreadyEnqueued):
                        await self.app.job_manager.defer_job_async(job)

    def _queue_job(self, job_id: int, chunk: int, retry_in: float | None) -> QueueJob:
        lock = chunk_lock(job_id, chunk)
        deferrer = self.app.configure_task(
            RUN_CHUNK,
            lock=lock,
            queueing_lock=lock,
            priority=RETRY_PRIORITY if retry_in is not None else 0,
            schedule_in=None if retry_in is None else {"seconds": retry_in},
        )
        job: QueueJob = deferrer.make_new_job(job_id=job_id, chunk=chunk)
        return job

    # --- working -----------------------------------------------------------------------------

    async def _keep_working(self, work: _ChunkWork) -> None:
        """Run procrastinate's worker; start it again if it stops on its own (database gone)."""
        options = self._options
        while not self._stopping:
            try:
                await self.app.run_worker_async(
                    queues=[CHUNK_QUEUE],
                    name=self.holder,
                    concurrency=self._concurrency,
                    install_signal_handlers=False,
                    additional_context={_CONTEXT_KEY: work},
                    fetch_job_polling_interval=options.queue_poll_interval,
                    abort_job_polling_interval=max(options.queue_poll_interval, 5.0),
                    update_heartbeat_interval=options.worker_heartbeat,
                    stalled_worker_timeout=options.worker_stalled_after,
                    shutdown_graceful_timeout=options.worker_shutdown_grace,
                )
            except Exception:
                # Stopping, the worker may end with a database error rather than cancelled.
                if not self._stopping:
                    log.exception("queue worker failed; starting it again")
            if not self._stopping:
                log.warning("queue worker stopped; starting it again")
                await asyncio.sleep(_RESTART_SECONDS)

    # --- sweeping ----------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            await asyncio.sleep(self._options.sweep_interval)
            prune = loop.time() >= next_prune
            if prune:
                next_prune = loop.time() + self._options.prune_interval
            try:
                await self.sweep(prune=prune)
            except Exception:
                log.exception("queue sweep failed")

    async def sweep(self, *, prune: bool = True) -> None:
        """Requeue the tasks of stalled workers, queue tasks for orphaned chunks, and (with
        ``prune``) delete finished tasks older than ``queue_keep_hours``."""
        await self.retry_stalled()
        await self.requeue_orphans()
        if prune:
            await self.prune()

    async def retry_stalled(self) -> int:
        """Put back in the queue the tasks of workers whose heartbeat stopped."""
        manager = self.app.job_manager
        seconds = self._options.worker_stalled_after
        stalled = list(
            await manager.get_stalled_jobs(queue=CHUNK_QUEUE, seconds_since_heartbeat=seconds)
        )
        retried = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
                retried += 1
            except queue_errors.ConnectorException:
                log.debug("stalled task %s was retried by another worker", job.id)
        if retried:
            log.warning("requeued %d task(s) of stalled workers", retried)
        await manager.prune_stalled_workers(seconds)
        return retried

    async def requeue_orphans(self) -> int:
        """Queue a task for every open chunk of an active job that has none."""
        quiet_since = utcnow() - timedelta(seconds=self._options.worker_stalled_after)
        params: dict[str, Any] = {
            "done": ChunkState.DONE,
            "active": [str(stage) for stage in ACTIVE_STAGES],
            "cli": JobSource.CLI,  # ``mailsift verify`` runs its own jobs
            "quiet_since": quiet_since,
            "limit": _DEFER_BATCH,
        }
        async with self._store.read() as session:
            orphans = [(int(j), int(c)) for j, c in await session.execute(_ORPHANS, params)]
        if orphans:
            log.warning("queueing %d chunk(s) that had no task", len(orphans))
            await self._defer_chunks(orphans)
        return len(orphans)

    async def prune(self) -> None:
        """Delete finished tasks older than ``queue_keep_hours``, and connection slots of
        mail servers nobody has used for an hour."""
        await self.app.job_manager.delete_old_jobs(
            nb_hours=self._options.queue_keep_hours,
            queue=CHUNK_QUEUE,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )
        await forget_idle_slots(self._store)
