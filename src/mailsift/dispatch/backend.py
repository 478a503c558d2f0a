"""Which dispatcher and which per-server caps a process uses, chosen by its database.

- SQLite (the embedded default): chunks are claimed from the ``chunks`` table by asyncio
  workers inside the process (``InProcessDispatcher``); the engine's caps hold for the process.
- PostgreSQL: chunks are procrastinate tasks (``ProcrastinateDispatcher``), so that any number
  of processes submit and work; the engine's per-server caps are leases in the database
  (``ClusterHostLimiter``), so that they hold for all of them together. A process with no
  workers (``mailsift serve --no-workers``) still submits.
"""

from __future__ import annotations

from mailsift.dispatch.base import Dispatcher
from mailsift.dispatch.config import QueueSettings
from mailsift.dispatch.host_slots import ClusterHostLimiter
from mailsift.dispatch.inprocess import InProcessDispatcher
from mailsift.dispatch.pgqueue import ProcrastinateDispatcher
from mailsift.jobs.runner import ChunkVerifier, JobRunner, OnCompleted
from mailsift.settings import Settings
from mailsift.store.engine import Store
from mailsift.verify.engine import Verifier


class Backend:
    """The dispatch side of one process; close it (``aclose``) after its dispatcher stopped."""

    def __init__(
        self, settings: Settings, store: Store, options: QueueSettings | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.clustered = not store.is_sqlite
        self.options = options or (QueueSettings() if self.clustered else None)
        self.limiter: ClusterHostLimiter | None = None
        if self.clustered and self.options is not None:
            self.limiter = ClusterHostLimiter(
                store.url,
                per_host=settings.max_connections_per_host,
                ttl=self.options.host_slot_ttl,
            )

    def verifier(self) -> Verifier:
        """The engine for this process, with the caps this backend keeps."""
        return Verifier(self.settings.engine_options(), limiter=self.limiter)

    def dispatcher(
        self,
        verifier: ChunkVerifier,
        *,
        workers: int,
        on_completed: OnCompleted | None = None,
    ) -> Dispatcher | None:
        """The dispatcher, running ``workers`` chunks at once here (0: none run here; on
        SQLite there is then no dispatcher at all)."""
        if not self.clustered:
            if not workers:
                return None
            runner = JobRunner(self.store, verifier, on_completed=on_completed)
            return InProcessDispatcher(self.store, runner, workers=workers)
        return ProcrastinateDispatcher(
            self.store,
            self._runner(verifier, on_completed) if workers else None,
            concurrency=workers,
            options=self.options,
        )

    def _runner(self, verifier: ChunkVerifier, on_completed: OnCompleted | None) -> JobRunner:
        if isinstance(verifier, Verifier):  # the real engine hands greylisted addresses back
            return JobRunner.deferring(
                self.store,
                verifier,
                greylist_deadline=self.settings.greylist_deadline,
                on_completed=on_completed,
            )
        # Any other engine waits out its retries itself, holding its chunk meanwhile.
        return JobRunner(self.store, verifier, on_completed=on_completed)

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
