"""A deferring runner: greylisted addresses go back for a later run, within the deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from mailsift.jobs.runner import JobRunner
from mailsift.jobs.service import create_job, get_job
from mailsift.store import Store
from mailsift.store.chunks import ChunkRef
from mailsift.store.models import JobItem, JobSource, JobStage, utcnow
from mailsift.verify.model import Reason, Result, Verification
from tests.integration.conftest import fake_verdict
from tests.integration.test_jobs import write_csv

DEADLINE = 60.0
RETRY_AFTER = 5.0


@dataclass
class Question:
    addresses: list[str]
    deadline: float | None
    defer_retries: bool


class GreylistedEngine:
    """``grey…`` addresses get a 4xx: handed back while time is left, unknown after."""

    def __init__(self) -> None:
        self.questions: list[Question] = []

    async def verify_many(
        self,
        addresses: Iterable[str],
        *,
        deadline: float | None = None,
        defer_retries: bool = False,
    ) -> AsyncIterator[Verification]:
        wanted = list(addresses)
        self.questions.append(Question(wanted, deadline, defer_retries))
        for address in wanted:
            if not address.startswith("grey"):
                yield fake_verdict(address)
                continue
            answer = Verification(
                email=address,
                normalized=address,
                result=Result.UNKNOWN,
                reason=Reason.UNAVAILABLE_SMTP,
                smtp_code=450,
                smtp_message="4.7.1 greylisted",
            )
            if defer_retries and deadline is not None and deadline > RETRY_AFTER:
                answer = replace(answer, retry_after=RETRY_AFTER)
            yield answer


async def a_job(store: Store, tmp_path: Path, emails: list[str]) -> int:
    path = write_csv(tmp_path / "list.csv", [[email] for email in emails], header=["email"])
    job = await create_job(store, path, "list.csv", source=JobSource.API, chunk_size=100)
    return job.id


async def rows(store: Store, job_id: int) -> dict[str, JobItem]:
    async with store.read() as session:
        items = (await session.execute(select(JobItem).where(JobItem.job_id == job_id))).scalars()
        return {item.email: item for item in items}


async def age_deferrals(store: Store, job_id: int, seconds: float) -> None:
    """Pretend the first deferral happened ``seconds`` ago."""
    async with store.write() as session:
        await session.execute(
            update(JobItem)
            .where(JobItem.job_id == job_id, JobItem.deferred_at.is_not(None))
            .values(deferred_at=utcnow() - timedelta(seconds=seconds))
        )


def runner_for(store: Store, engine: GreylistedEngine) -> JobRunner:
    return JobRunner.deferring(store, engine, greylist_deadline=DEADLINE, flush_interval=0.02)


async def test_greylisted_addresses_are_handed_back_not_stored(
    store: Store, tmp_path: Path
) -> None:
    job_id = await a_job(store, tmp_path, ["grey1@x.test", "ok1@x.test", "bad1@x.test"])
    engine = GreylistedEngine()
    retry_in = await runner_for(store, engine)(ChunkRef(job_id, 0))

    assert retry_in == RETRY_AFTER
    assert engine.questions == [
        Question(["grey1@x.test", "ok1@x.test", "bad1@x.test"], DEADLINE, True)
    ]
    stored = await rows(store, job_id)
    assert (stored["grey1@x.test"].result, stored["grey1@x.test"].deferred_at is not None) == (
        None,
        True,
    )
    assert stored["ok1@x.test"].result == "valid"
    assert stored["ok1@x.test"].deferred_at is None
    job = await get_job(store, job_id)
    assert job is not None
    assert (job.done, job.stage) == (2, JobStage.PROCESSING)


async def test_later_runs_get_what_is_left_of_the_deadline_then_the_final_answer(
    store: Store, tmp_path: Path
) -> None:
    job_id = await a_job(store, tmp_path, ["grey1@x.test", "ok1@x.test"])
    engine = GreylistedEngine()
    runner = runner_for(store, engine)
    assert await runner(ChunkRef(job_id, 0)) == RETRY_AFTER
    first = (await rows(store, job_id))["grey1@x.test"].deferred_at

    await age_deferrals(store, job_id, DEADLINE - 20)
    assert await runner(ChunkRef(job_id, 0)) == RETRY_AFTER
    [again] = engine.questions[1:]
    assert again.addresses == ["grey1@x.test"]
    assert again.deadline is not None
    assert 15 < again.deadline <= 20
    assert (await rows(store, job_id))["grey1@x.test"].deferred_at != first  # aged, not reset

    await age_deferrals(store, job_id, DEADLINE + 5)
    assert await runner(ChunkRef(job_id, 0)) is None
    assert engine.questions[-1].deadline == 0.0
    grey = (await rows(store, job_id))["grey1@x.test"]
    assert (grey.result, grey.reason, grey.smtp_code) == ("unknown", "unavailable_smtp", 450)
    job = await get_job(store, job_id)
    assert job is not None
    assert (job.done, job.stage) == (2, JobStage.COMPLETED)


async def test_handed_back_addresses_go_first_and_the_others_keep_the_whole_deadline(
    store: Store, tmp_path: Path
) -> None:
    job_id = await a_job(store, tmp_path, ["grey1@x.test", "ok1@x.test", "ok2@x.test"])
    async with store.write() as session:  # an earlier run handed grey1 back, then died
        await session.execute(
            update(JobItem)
            .where(JobItem.job_id == job_id, JobItem.email == "grey1@x.test")
            .values(deferred_at=utcnow() - timedelta(seconds=40))
        )
    engine = GreylistedEngine()
    assert await runner_for(store, engine)(ChunkRef(job_id, 0)) == RETRY_AFTER
    [handed_back, fresh] = engine.questions
    assert handed_back.addresses == ["grey1@x.test"]
    assert handed_back.deadline is not None
    assert 15 < handed_back.deadline <= 20
    assert (fresh.addresses, fresh.deadline) == (["ok1@x.test", "ok2@x.test"], DEADLINE)


async def test_a_plain_runner_stores_whatever_the_engine_says(store: Store, tmp_path: Path) -> None:
    job_id = await a_job(store, tmp_path, ["grey1@x.test", "ok1@x.test"])
    engine = GreylistedEngine()
    assert await JobRunner(store, engine, flush_interval=0.02)(ChunkRef(job_id, 0)) is None
    assert engine.questions == [Question(["grey1@x.test", "ok1@x.test"], None, False)]
    job = await get_job(store, job_id)
    assert job is not None
    assert job.stage == JobStage.COMPLETED
