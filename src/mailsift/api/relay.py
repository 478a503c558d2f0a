"""The callback relay: delivers what the outbox holds, in every server and worker process.

Each process runs one relay. It claims due callbacks (``mailsift.store.outbox``), signs and
sends each (``webhooks``, ``callbacks``), and writes the outcome back: delivered on 2xx; on
410 the URL is called no more; otherwise the next attempt is due after the schedule's next
pause (or the receiver's ``Retry-After``, if longer), until the schedule is spent. A process
killed mid-attempt leaves its claim to run out, and the callback is attempted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from mailsift.api.callbacks import CallbackSender, Outcome
from mailsift.api.config import DEFAULT_SCHEDULE
from mailsift.api.webhooks import signed_headers
from mailsift.store.engine import Store
from mailsift.store.models import CallbackState, Job, utcnow
from mailsift.store.outbox import DueCallback, claim_due, settle

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 86400.0
_CLAIM_MARGIN = 45.0  # beyond the attempt's timeout, before another process may take it
_BATCH = 10

Payload = Callable[[Job], Mapping[str, object]]


class CallbackRelay:
    def __init__(
        self,
        store: Store,
        sender: CallbackSender,
        payload: Payload,
        *,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        timeout: float,
        poll_interval: float,
    ) -> None:
        self._store = store
        self._sender = sender
        self._payload = payload
        self._schedule = tuple(schedule)
        self._lease = timedelta(seconds=timeout + _CLAIM_MARGIN)
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="callback-relay")

    def wake(self) -> None:
        """Look for due callbacks now (a job of this process just completed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop; an attempt under way is dropped and its claim runs out."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._sender.aclose()

    async def run_once(self) -> int:
        """Attempt every callback due now; how many were attempted."""
        attempted = 0
        while due := await claim_due(self._store, lease=self._lease, limit=_BATCH):
            await asyncio.gather(*(self._deliver(callback) for callback in due))
            attempted += len(due)
        return attempted

    async def _run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the database is away: try again at the next poll
                log.exception("delivering callbacks failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()

    async def _deliver(self, due: DueCallback) -> None:
        try:
            body = json.dumps(self._payload(due.job), separators=(",", ":")).encode("utf-8")
            headers = signed_headers(due.secret, due.webhook_id, int(time.time()), body)
            outcome = await self._sender.attempt(due.url, body, headers)
        except Exception as exc:  # a fault of ours (a bad secret, say): retried like others
            log.exception("callback %s could not be sent", due.webhook_id)
            outcome = Outcome(False, error=f"not sent: {type(exc).__name__}")
        await self._settle(due, outcome)

    async def _settle(self, due: DueCallback, outcome: Outcome) -> None:
        state, retry_at = self._next_step(due, outcome)
        await settle(
            self._store,
            due.id,
            state,
            status=outcome.status,
            error=outcome.error,
            retry_at=retry_at,
        )

    def _next_step(
        self, due: DueCallback, outcome: Outcome
    ) -> tuple[CallbackState, datetime | None]:
        """What becomes of a callback after this attempt, and when it is due again."""
        if outcome.delivered:
            return CallbackState.DELIVERED, None
        if outcome.status == 410:
            log.warning("callback URL %s answered 410 Gone: no more calls to it", due.url)
            return CallbackState.GONE, None
        if due.attempt > len(self._schedule):
            log.warning("callback %s to %s failed %d times", due.webhook_id, due.url, due.attempt)
            return CallbackState.FAILED, None
        pause = self._schedule[due.attempt - 1]
        if outcome.retry_after is not None:
            pause = max(pause, min(outcome.retry_after, MAX_RETRY_AFTER))
        log.info("callback %s to %s: %s", due.webhook_id, due.url, outcome.error)
        return CallbackState.PENDING, utcnow() + timedelta(seconds=pause)
