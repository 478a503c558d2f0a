"""Running one chunk: verify its unfinished addresses and store the results in batches.

Results are written through ``mailsift.store.results``: only rows still without a result
change, and ``jobs.done`` counts only those, so a chunk run twice (a worker died, a lease ran
out) never duplicates a result or counts it twice, and progress never goes backwards.

A runner made with ``JobRunner.deferring`` does not wait for greylisting servers: the engine
hands such addresses back at once, the runner notes when each was first handed back, and the
run returns how long to wait before the chunk runs again (a queue schedules that). The next
run asks those addresses with what is left of ``greylist_deadline``; past it, the engine's
answer is final.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mailsift.jobs.reuse import ResultReuse
from mailsift.jobs.reverify import merge_reverified
from mailsift.jobs.suppression import SuppressionIndex
from mailsift.logs import bound
from mailsift.metrics import ADDRESSES_VERIFIED, CHUNK_SECONDS
from mailsift.store.chunks import ChunkRef
from mailsift.store.engine import Store
from mailsift.store.jobs import pending_items, record_results, start_processing
from mailsift.store.models import utcnow
from mailsift.store.results import store_results
from mailsift.store.suppression import job_account_id
from mailsift.verify.model import Reason, Result, Verification
from mailsift.verify.score import score_verification

__all__ = ["ChunkVerifier", "DeferringVerifier", "JobRunner", "store_results"]

log = logging.getLogger(__name__)

# Attempts in a row that stored no result before a chunk is given up. A chunk making progress
# starts counting again: processes killed while it ran (deploys, crashes of something else)
# must not exhaust it; one that kills its process every time before any result still stops.
MAX_ATTEMPTS = 3


class ChunkVerifier(Protocol):
    """What the runner needs of the engine (``mailsift.verify.engine.Verifier``)."""

    def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]: ...


class DeferringVerifier(Protocol):
    """The engine, able to hand 4xx answers back instead of waiting to ask again."""

    def verify_many(
        self,
        addresses: Iterable[str],
        *,
        deadline: float | None = None,
        defer_retries: bool = False,
    ) -> AsyncIterator[Verification]: ...


OnCompleted = Callable[[int], Awaitable[None]]
# The name of the suppression list holding a normalised address, if any.
_MarkBad = Callable[[str], str | None]
# Verifications of ``addresses``, retrying 4xx answers until ``deadline`` seconds from now
# (``None``: the engine's own default).
Ask = Callable[[list[str], float | None], AsyncIterator[Verification]]


@dataclass
class _Pending:
    """A chunk's addresses still without a result."""

    seqs: dict[str, list[int]]  # address -> the rows it stands for
    deferred_at: dict[str, datetime] = field(default_factory=dict)  # handed back before

    def __bool__(self) -> bool:
        return bool(self.seqs)


@dataclass
class _Deferred:
    """Addresses a run handed back, and the longest wait the engine asked for."""

    seqs: list[int] = field(default_factory=list)
    retry_after: float = 0.0


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
        suppressions: SuppressionIndex | None = None,
        reuse_window: float = 0.0,
    ) -> None:
        self._store = store
        self._suppressions = suppressions or SuppressionIndex.for_store(store)
        self._reuse = ResultReuse(store, reuse_window)
        self._ask: Ask = lambda addresses, _deadline: verifier.verify_many(addresses)
        self._greylist_deadline: float | None = None
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_attempts = max_attempts
        self._on_completed = on_completed

    @classmethod
    def deferring(
        cls,
        store: Store,
        verifier: DeferringVerifier,
        *,
        greylist_deadline: float,
        batch_size: int = 200,
        flush_interval: float = 0.5,
        max_attempts: int = MAX_ATTEMPTS,
        on_completed: OnCompleted | None = None,
        reuse_window: float = 0.0,
    ) -> JobRunner:
        """A runner whose chunks end early, leaving greylisted addresses for a later run."""
        runner = cls(
            store,
            verifier,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_attempts=max_attempts,
            on_completed=on_completed,
            reuse_window=reuse_window,
        )
        runner._greylist_deadline = greylist_deadline
        runner._ask = lambda addresses, deadline: verifier.verify_many(
            addresses, deadline=deadline, defer_retries=True
        )
        return runner

    async def __call__(self, ref: ChunkRef) -> float | None:
        """Run the chunk. Returns the seconds after which to run it again when addresses were
        handed back for later, ``None`` when every address of it has its final result."""
        with bound(job_id=ref.job_id, chunk=ref.chunk), CHUNK_SECONDS.time():
            return await self._run(ref)

    async def _run(self, ref: ChunkRef) -> float | None:
        if not await start_processing(self._store, ref.job_id):
            return None  # cancelled, failed or gone meanwhile
        pending = await _pending(self._store, ref)
        if not pending:
            return None
        if ref.attempt > self._max_attempts:
            log.error("giving up on %s after %d attempts", ref, ref.attempt - 1)
            await self._store_all(ref.job_id, pending.seqs, _gave_up)
            return None
        account_id = await job_account_id(self._store, ref.job_id)
        mark_bad = await self._mark_bad(account_id)
        await self._answer_from_earlier(ref.job_id, account_id, mark_bad, pending)
        if not pending:
            return None
        deferred = await self._verify(ref, account_id, mark_bad, pending)
        return deferred.retry_after if deferred.seqs else None

    async def _answer_from_earlier(
        self, job_id: int, account_id: int | None, mark_bad: _MarkBad, pending: _Pending
    ) -> None:
        """Store the results reused from the account's earlier jobs (result reuse on)."""
        earlier = await self._reuse.earlier(account_id, list(pending.seqs))
        values = [
            {**row, "b_reused": True}
            for verification in earlier.values()
            for row in _values_for(verification, pending.seqs, mark_bad)
        ]
        for email in earlier:
            pending.deferred_at.pop(email, None)
        for start in range(0, len(values), self._batch_size):
            await self._write(job_id, values[start : start + self._batch_size])

    def _questions(self, pending: _Pending) -> list[tuple[list[str], float | None]]:
        """The addresses to ask, in groups sharing a deadline: those handed back before
        (what is left of their time) first, then the others."""
        if self._greylist_deadline is None:
            return [(list(pending.seqs), None)]
        fresh = [email for email in pending.seqs if email not in pending.deferred_at]
        groups: list[tuple[list[str], float | None]] = []
        if pending.deferred_at:
            waited = (utcnow() - min(pending.deferred_at.values())).total_seconds()
            left = max(0.0, self._greylist_deadline - waited)
            groups.append((list(pending.deferred_at), left))
        if fresh:
            groups.append((fresh, self._greylist_deadline))
        return groups

    async def _mark_bad(self, account_id: int | None) -> _MarkBad:
        """The lookup of the suppression lists that hold for the job's account."""
        index = await self._suppressions.current()
        return lambda normalized: index.lookup(account_id, normalized)

    async def _verify(
        self, ref: ChunkRef, account_id: int | None, mark_bad: _MarkBad, pending: _Pending
    ) -> _Deferred:
        results: asyncio.Queue[Verification | None] = asyncio.Queue()
        streams = [
            self._ask(addresses, deadline) for addresses, deadline in self._questions(pending)
        ]
        producer = asyncio.create_task(_produce(streams, results))
        deferred = _Deferred()
        try:
            await self._consume(ref, account_id, mark_bad, pending.seqs, results, deferred)
            await producer  # re-raises the verifier's failure, if any
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
        if pending.seqs:  # the verifier skipped some: they must still end with a result
            log.error(
                "verifier gave no result for %d address(es) of job %d",
                len(pending.seqs),
                ref.job_id,
            )
            await self._store_all(ref.job_id, pending.seqs, _gave_up)
        return deferred

    async def _consume(
        self,
        ref: ChunkRef,
        account_id: int | None,
        mark_bad: _MarkBad,
        pending: dict[str, list[int]],
        results: asyncio.Queue[Verification | None],
        deferred: _Deferred,
    ) -> None:
        batches = _batches(results, self._batch_size, self._flush_interval)
        async with aclosing(batches):
            async for verifications in batches:
                values: list[dict[str, Any]] = []
                later: list[int] = []
                for verification in verifications:
                    if self._greylist_deadline is not None and verification.deferred:
                        later.extend(pending.pop(verification.email.strip(), ()))
                        retry_after = verification.retry_after or 0.0
                        deferred.retry_after = max(deferred.retry_after, retry_after)
                    else:
                        values.extend(_values_for(verification, pending, mark_bad))
                deferred.seqs.extend(later)
                await self._write(ref.job_id, values, later, progress_of=ref)
                await self._reuse.keep(account_id, verifications)

    async def _store_all(
        self,
        job_id: int,
        pending: dict[str, list[int]],
        verdict: Callable[[str], Verification],
    ) -> None:
        values = [v for email in list(pending) for v in _values_for(verdict(email), pending)]
        for start in range(0, len(values), self._batch_size):
            await self._write(job_id, values[start : start + self._batch_size])

    async def _write(
        self,
        job_id: int,
        batch: list[dict[str, Any]],
        deferred: list[int] | None = None,
        *,
        progress_of: ChunkRef | None = None,
    ) -> None:
        if not batch and not deferred:
            return
        completed = await record_results(
            self._store, job_id, batch, deferred or (), progress_of=progress_of
        )
        verdicts = Counter((v["b_result"], v["b_reason"]) for v in batch)
        for (result, reason), count in verdicts.items():
            ADDRESSES_VERIFIED.labels(result, reason).inc(count)
        if completed:
            await merge_reverified(self._store, job_id)  # a re-verification: into its original
        if completed and self._on_completed is not None:
            await self._on_completed(job_id)


async def _pending(store: Store, ref: ChunkRef) -> _Pending:
    """The chunk's addresses still without a result, each with the seq(s) it stands for."""
    pending = _Pending({})
    for email, seq, deferred_at in await pending_items(store, ref.job_id, ref.chunk):
        address = email.strip()
        pending.seqs.setdefault(address, []).append(seq)
        if deferred_at is not None:
            first = pending.deferred_at.get(address, deferred_at)
            pending.deferred_at[address] = min(first, deferred_at)
    return pending


async def _produce(
    streams: list[AsyncIterator[Verification]], results: asyncio.Queue[Verification | None]
) -> None:
    """Feed every stream's verifications, one stream after the other, then ``None``."""
    try:
        for stream in streams:
            async for verification in stream:
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


def _values_for(
    verification: Verification,
    pending: dict[str, list[int]],
    mark_bad: _MarkBad = lambda _normalized: None,
) -> list[dict[str, Any]]:
    """Update parameters for the rows ``verification`` answers (and forget them as pending)."""
    seqs = pending.pop(verification.email.strip(), None)
    if seqs is None:
        log.warning("verifier answered for an address it was not asked about")
        return []
    now = utcnow()
    v = verification
    suppressed_by = mark_bad(v.normalized)
    score = score_verification(v, bad=suppressed_by is not None)
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
            "b_bad_address": suppressed_by is not None,
            "b_suppression_list": suppressed_by or "",
            "b_quality_score": score,
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
