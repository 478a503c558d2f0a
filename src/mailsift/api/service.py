"""Everything the API's handlers share while the server runs, and its start and stop.

``running_service`` opens the store, starts the engine on a loop of its own (one ``Verifier``
for the real-time call and the chunk workers alike, so the per-host politeness caps hold for
both; see ``dispatch.engine_host``), starts the callback relay, and on the way out stops
them: a chunk they were running stays in the queue and is taken up again on the next start,
and so does a callback.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from mailsift.accounts import service as accounts
from mailsift.accounts.credits import settle_finished_jobs, settle_job
from mailsift.accounts.tokens import hash_token
from mailsift.api.answers import callback_answer, results_answer
from mailsift.api.body import BodyLimits
from mailsift.api.callbacks import CallbackRefused, CallbackSender, check_callback_url
from mailsift.api.config import ApiSettings
from mailsift.api.errors import ApiError
from mailsift.api.links import LinkSigner
from mailsift.api.params import TOKEN
from mailsift.api.ratelimit import AuthThrottle, RateLimiter
from mailsift.api.relay import CallbackRelay
from mailsift.api.secret import load_secret
from mailsift.dispatch.engine_host import Engine, EngineProcess, EngineVerifier, LocalEngine
from mailsift.jobs.results import FILES, Which
from mailsift.jobs.retention import expire_jobs
from mailsift.jobs.reverify import merge_reverified
from mailsift.jobs.service import discard_orphans
from mailsift.jobs.suppression import SuppressionIndex
from mailsift.settings import Settings
from mailsift.store import Store, database_url, open_store
from mailsift.store.jobs import get_job
from mailsift.store.limits import forget_idle_buckets
from mailsift.store.lookups import JobState, Lookups
from mailsift.store.models import Account, Job, JobStage
from mailsift.store.outbox import callback_of

log = logging.getLogger(__name__)

UPLOADS = "uploads"
_STALE_UPLOAD_SECONDS = 3600.0
SETTLE_INTERVAL = 300.0
NOT_FOUND = "Job not found."
BAD_TOKEN = f"Invalid {TOKEN}."


@dataclass
class ApiService:
    settings: Settings
    config: ApiSettings
    store: Store
    links: LinkSigner
    lookups: Lookups
    limiter: RateLimiter
    throttle: AuthThrottle
    upload_root: Path
    suppressions: SuppressionIndex
    engine: Engine  # the real-time call's verifier, and where jobs are submitted
    relay: CallbackRelay | None = None

    @property
    def form_limits(self) -> BodyLimits:
        return BodyLimits(max_bytes=self.config.max_form_bytes)

    @property
    def upload_limits(self) -> BodyLimits:
        return BodyLimits(
            max_bytes=min(self.config.max_form_bytes, self.config.max_upload_bytes),
            max_files=self.config.max_files_per_upload,
            max_upload_bytes=self.config.max_upload_bytes,
        )

    def base_url(self, request: Request | None = None) -> str:
        """The server's address as users reach it, for absolute links."""
        if self.config.public_url:
            return self.config.public_url
        if request is not None:
            return str(request.base_url).rstrip("/")
        return f"http://{self.settings.host}:{self.settings.port}"

    def result_links(self, job: JobState | Job, base_url: str) -> dict[Which, str] | None:
        if job.stage != JobStage.COMPLETED:
            return None
        return {which: self.links.link(base_url, job.public_id, which) for which in FILES}

    # --- requests -----------------------------------------------------------------------

    async def authenticate(self, token: str) -> Account:
        await self.throttle.check()
        account = await accounts.authenticate(self.store, token)
        if account is None:
            raise await self._bad_token()
        return account

    async def account_id(self, token: str) -> int:
        """The caller's account id (the fast path of ``authenticate``)."""
        await self.throttle.check()
        account_id = await self.lookups.account_id(hash_token(token))
        if account_id is None:
            raise await self._bad_token()
        return account_id

    async def owned_job(self, token: str, public_id: str | None) -> JobState:
        """The caller's job; someone else's is answered exactly like one that does not exist."""
        await self.throttle.check()
        account_id, job = await self.lookups.account_and_job(hash_token(token), public_id or "")
        if account_id is None:
            raise await self._bad_token()
        if not public_id:
            raise ApiError(400, "The parameter job_id is required.")
        if job is None:
            raise ApiError(404, NOT_FOUND)
        return job

    async def _bad_token(self) -> ApiError:
        """401, or 429 when the client has failed too often (on any server)."""
        return await self.throttle.failed() or ApiError(401, BAD_TOKEN)

    async def check_callback(self, url: str) -> None:
        try:
            await check_callback_url(url, allow_private=self.settings.allow_private_targets)
        except CallbackRefused as exc:
            raise ApiError(400, exc.message) from exc

    # --- jobs ---------------------------------------------------------------------------

    async def job_accepted(self, job: Job) -> None:
        """A job was queued (or finished at intake, every address being invalid)."""
        if job.stage == JobStage.COMPLETED:
            await self.job_finished(job.id)
        else:
            await self.engine.submit(job.id)

    async def job_finished(self, job_id: int) -> None:
        """Settle the job's credit and have its callback (already in the outbox) sent now;
        never raises (workers call it)."""
        try:
            await settle_job(self.store, job_id)
        except Exception:
            log.exception("finishing job %d failed", job_id)
        if self.relay is not None:
            self.relay.wake()

    async def callback_status(self, job: JobState) -> dict[str, object]:
        """The ``/callback_status/`` answer for the caller's job."""
        stored = await get_job(self.store, job.id)
        url = stored.callback_url if stored is not None else None
        callback = await callback_of(self.store, job.id) if url else None
        return callback_answer(job.public_id, url, callback)

    def callback_payload(self, job: Job) -> dict[str, object]:
        """What a job's callback says: its ``/get_results/`` answer and its id."""
        links = self.result_links(job, job.link_base or self.base_url())
        return {**results_answer(job, links), "job_id": job.public_id}


@asynccontextmanager
async def running_service(
    settings: Settings,
    config: ApiSettings,
    *,
    verifier: EngineVerifier | None = None,
    workers: int = 0,
    engine_process: bool = False,
) -> AsyncIterator[ApiService]:
    """The service, with ``workers`` embedded chunk workers (0: none), until the block ends.

    ``engine_process``: the engine runs in a child process (``dispatch.engine_host``);
    ``verifier`` replaces the real engine on this process's loop (tests).
    """
    store = open_store(database_url(settings.database_url, settings.data_dir))
    sweeper: asyncio.Task[None] | None = None
    service: ApiService | None = None
    try:
        engine: Engine = (
            EngineProcess(settings, workers=workers)
            if engine_process and verifier is None
            else LocalEngine(settings, verifier=verifier, workers=workers)
        )
        service = _build(settings, config, store, engine)
        await asyncio.to_thread(_clear_stale_uploads, service.upload_root)
        await discard_orphans(store)
        await engine.start(on_completed=service.job_finished)
        service.relay = _relay(service)
        service.relay.start()
        sweeper = asyncio.create_task(_settle_now_and_then(store, settings.retention_days))
        yield service
    finally:
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        try:
            if service is not None:
                await service.engine.stop()
                if service.relay is not None:
                    await service.relay.stop()
                service.lookups.close()
        finally:
            await store.close()


async def _settle_now_and_then(store: Store, retention_days: float) -> None:
    """Give back the credit of jobs that failed or were cancelled, wherever that happened;
    merge re-verifications a stopped process left unmerged; forget expired jobs and rate
    limit buckets long full again."""
    while True:
        try:
            await settle_finished_jobs(store)
            await merge_reverified(store)
            await expire_jobs(store, retention_days)
            await forget_idle_buckets(store)
        except Exception:
            log.exception("settling finished jobs failed")
        await asyncio.sleep(SETTLE_INTERVAL)


def _build(settings: Settings, config: ApiSettings, store: Store, engine: Engine) -> ApiService:
    return ApiService(
        settings=settings,
        config=config,
        store=store,
        engine=engine,
        links=LinkSigner(load_secret(settings.data_dir, config.secret_key), config.link_ttl),
        lookups=Lookups(store),
        limiter=RateLimiter(store, config.realtime_rate_per_minute, name="realtime"),
        throttle=AuthThrottle(store, config.auth_failures_per_minute),
        suppressions=SuppressionIndex.for_store(store),
        upload_root=settings.data_dir / UPLOADS,
    )


def _relay(service: ApiService) -> CallbackRelay:
    config = service.config
    sender = CallbackSender(
        allow_private=service.settings.allow_private_targets, timeout=config.callback_timeout
    )
    return CallbackRelay(
        service.store,
        sender,
        service.callback_payload,
        schedule=config.callback_schedule,
        timeout=config.callback_timeout,
        poll_interval=config.callback_poll_interval,
    )


def _clear_stale_uploads(root: Path) -> None:
    """Remove upload folders a process that died mid-request left behind."""
    if not root.is_dir():
        return
    cutoff = time.time() - _STALE_UPLOAD_SECONDS
    for entry in root.iterdir():
        if entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry, ignore_errors=True)
