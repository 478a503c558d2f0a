"""Re-verification merged back, and jobs deleted, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from sqlalchemy import func, select

from mailsift.jobs.results import write_results
from mailsift.jobs.retention import delete_job
from mailsift.jobs.reverify import merge_reverified, reverify_unknowns
from mailsift.jobs.service import create_job, get_job
from mailsift.store import Store
from mailsift.store.models import Chunk, Job, JobItem, JobSource, JobStage, Reverification
from mailsift.verify.model import Reason, Result, Verification
from tests.integration.conftest import FakeVerifier, fake_verdict
from tests.integration.test_jobs import run_all, write_csv


class SecondTimeValid(FakeVerifier):
    """``silent…`` addresses are unknown at first and valid when asked again."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    async def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        for address in addresses:
            if address.startswith("silent") and address in self.seen:
                yield Verification(address, address, Result.VALID, Reason.ACCEPTED_EMAIL)
            else:
                self.seen.add(address)
                yield fake_verdict(address)


async def _count(store: Store, model: type[Job] | type[JobItem] | type[Chunk], job_id: int) -> int:
    column = Job.id if model is Job else model.job_id  # type: ignore[union-attr]
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).where(column == job_id)) or 0)


async def test_a_reverified_unknown_moves_to_the_valid_file_of_the_original(
    store: Store, tmp_path: Path
) -> None:
    rows = [["A", "ok1@example.com", ""], ["B", "silent2@example.com", "=x"],
            ["C", "silent3@example.com", ""], ["D", "nope@", ""]]  # fmt: skip
    path = write_csv(tmp_path / "list.csv", rows)
    verifier = SecondTimeValid()
    job = await run_all(store, await create_job(store, path, "list.csv", source=JobSource.API),
                        verifier)  # fmt: skip
    again = await reverify_unknowns(store, job, free_window=3600, chunk_size=1)
    assert again.total == 2
    assert await _count(store, Chunk, again.id) == 2  # one chunk an address
    done = await run_all(store, again, verifier)
    assert done.stage == JobStage.COMPLETED
    assert await merge_reverified(store) == 0  # the runner merged it already
    async with store.read() as session:
        link = await session.get(Reverification, again.id)
    assert link is not None
    assert link.merged_at is not None

    original = await get_job(store, job.id)
    assert original is not None
    files = await write_results(store, original, tmp_path / "out")
    valid = files["valid"].read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[1] for line in valid[1:]] == [
        "ok1@example.com", "silent2@example.com", "silent3@example.com",
    ]  # fmt: skip
    assert "'=x" in valid[2]  # the original cells, still neutralised
    assert files["unknown"].read_text(encoding="utf-8").count("\n") == 1  # the header only


async def test_a_deleted_job_leaves_nothing_but_its_reverification_of_its_own(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "list.csv", [["A", "silent1@example.com", ""]])
    verifier = SecondTimeValid()
    job = await run_all(store, await create_job(store, path, "list.csv", source=JobSource.API),
                        verifier)  # fmt: skip
    again = await reverify_unknowns(store, job, free_window=3600)
    assert await delete_job(store, job.id)
    for model in (Job, JobItem, Chunk):
        assert await _count(store, model, job.id) == 0
    assert not await delete_job(store, job.id)
    # The re-verification is a job of its own (its link to the original is gone with it).
    assert await _count(store, JobItem, again.id) == 1
    async with store.read() as session:
        assert await session.get(Reverification, again.id) is None
