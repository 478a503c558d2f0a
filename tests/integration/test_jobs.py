"""Jobs over real databases: intake into the store, chunk runs, dispatch, progress, result files."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mailsift.dispatch.inprocess import InProcessDispatcher
from mailsift.jobs import service
from mailsift.jobs.intake import IntakeError, IntakeLimits, IntakeStats, ListLayout
from mailsift.jobs.items import ItemBatch, ItemCounts
from mailsift.jobs.listreader import ListReaderError, batches_in_child
from mailsift.jobs.results import RESULT_COLUMNS, iter_result_csv, write_results
from mailsift.jobs.runner import JobRunner, store_results
from mailsift.jobs.service import (
    create_job,
    discard_orphans,
    find_job,
    find_resumable,
    get_job,
    result_counts,
)
from mailsift.store import Store
from mailsift.store.chunks import ChunkRef
from mailsift.store.models import (
    Chunk,
    ChunkState,
    Job,
    JobItem,
    JobSource,
    JobStage,
    LedgerEntry,
    utcnow,
)
from mailsift.store.result_rows import ROWS_PER_PIECE
from tests.integration.conftest import FakeVerifier

HEADER = ["Name", "E-mail", "Note"]
LEASE = timedelta(minutes=1)


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] | None = HEADER
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def sample_rows(n: int, domain: str = "example.com") -> list[list[str]]:
    kinds = ("ok", "bad", "catch", "silent")
    return [[f"Person {i}", f"{kinds[i % 4]}{i}@{domain}", f"note {i}"] for i in range(n)]


async def count(store: Store, table: type[Job] | type[JobItem] | type[Chunk]) -> int:
    async with store.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def items(store: Store, job_id: int) -> list[JobItem]:
    async with store.read() as session:
        query = select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.seq)
        return list((await session.execute(query)).scalars())


async def run_all(store: Store, job: Job, verifier: FakeVerifier, **runner_options: float) -> Job:
    """Run every chunk of ``job`` once, in order, as a single worker would."""
    runner = JobRunner(store, verifier, flush_interval=0.05, **runner_options)  # type: ignore[arg-type]
    async with store.read() as session:
        chunk_numbers = (
            await session.execute(select(Chunk.chunk).where(Chunk.job_id == job.id))
        ).scalars()
    for n in sorted(chunk_numbers):
        await runner(ChunkRef(job.id, n))
    refreshed = await get_job(store, job.id)
    assert refreshed is not None
    return refreshed


async def wait_until_completed(store: Store, job_id: int, seconds: float = 20.0) -> Job:
    async with asyncio.timeout(seconds):
        while True:
            job = await get_job(store, job_id)
            assert job is not None
            if job.stage == JobStage.COMPLETED:
                return job
            await asyncio.sleep(0.02)


async def stored_nothing(store: Store) -> bool:
    return [await count(store, table) for table in (Job, JobItem, Chunk)] == [0, 0, 0]


# --- intake -----------------------------------------------------------------------------------


async def test_a_list_is_stored_in_file_order_and_queued_in_chunks(
    store: Store, tmp_path: Path
) -> None:
    rows = [
        ["Ann", "ok1@example.com", "x"],
        ["Bob", "not-an-address", "y"],
        ["Cid", "ok1@EXAMPLE.com", "duplicate of Ann's"],
        ["Dee", "", "blank"],
        ["Eve", "bad2@example.com", "z"],
        ["Fay", "ok3@gmial.com", "typo"],
        ["Gus", "catch4@example.com", "w"],
    ]
    path = write_csv(tmp_path / "people.csv", rows)
    job = await create_job(store, path, "people.csv", source=JobSource.API, chunk_size=2)

    assert job.stage == JobStage.IN_QUEUE
    assert (job.total, job.done, job.syntax_invalid) == (5, 1, 1)
    assert (job.duplicates, job.blank) == (1, 1)
    assert job.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    assert job.layout is not None
    assert job.layout["header"] == HEADER
    assert job.layout["email_column"] == 1
    assert job.percentage == "20.00"

    stored = await items(store, job.id)
    assert [item.email for item in stored] == [
        "ok1@example.com",
        "not-an-address",
        "bad2@example.com",
        "ok3@gmial.com",
        "catch4@example.com",
    ]
    assert [item.row_no for item in stored] == [1, 2, 5, 6, 7]
    assert stored[0].cells == ["Ann", "ok1@example.com", "x"]
    assert [item.chunk for item in stored] == [0, None, 0, 1, 1]
    bad_syntax = stored[1]
    assert (bad_syntax.result, bad_syntax.reason) == ("invalid", "invalid_email")
    assert bad_syntax.smtp_message
    assert stored[3].did_you_mean == "ok3@gmail.com"
    assert all(item.result is None for item in stored if item.chunk is not None)
    async with store.read() as session:
        chunks = (await session.execute(select(Chunk).where(Chunk.job_id == job.id))).scalars()
        assert sorted((c.chunk, c.state) for c in chunks) == [(0, "queued"), (1, "queued")]


async def test_every_job_gets_its_own_unguessable_public_id(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(3))
    first = await create_job(store, path, "a.csv", source=JobSource.API)
    second = await create_job(store, path, "a.csv", source=JobSource.API)
    assert first.public_id != second.public_id
    assert len(first.public_id) >= 20
    assert (await find_job(store, first.public_id)) is not None
    assert (await find_job(store, first.public_id + "x")) is None


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"", "empty"),
        (b"name,phone\nAnn,123\nBob,456\n", "No column of email addresses"),
        (b"<html><body>ok1@example.com</body></html>\n", "web page"),
    ],
)
async def test_a_bad_file_stores_nothing(
    store: Store, tmp_path: Path, content: bytes, complaint: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IntakeError, match=complaint):
        await create_job(store, path, "bad.csv", source=JobSource.API)
    assert await stored_nothing(store)


async def test_a_file_failing_halfway_through_leaves_nothing_behind(
    store: Store, tmp_path: Path
) -> None:
    rows = sample_rows(12_000)
    rows[0][2] = "quoted, so the rows cannot be counted up front"
    path = write_csv(tmp_path / "long.csv", rows)
    with pytest.raises(IntakeError, match="more than 11,000 rows"):
        await create_job(
            store, path, "long.csv", source=JobSource.API, limits=IntakeLimits(max_rows=11_000)
        )
    assert await stored_nothing(store)


async def test_reserve_is_called_in_the_queueing_transaction(store: Store, tmp_path: Path) -> None:
    seen: list[tuple[int, str]] = []

    async def reserve(session: AsyncSession, job: Job, n_billable: int) -> None:
        seen.append((n_billable, job.stage))
        job.credits_reserved = n_billable

    path = write_csv(tmp_path / "a.csv", [*sample_rows(4), ["X", "broken@", ""]])
    job = await create_job(store, path, "a.csv", source=JobSource.API, reserve=reserve)
    assert seen == [(4, JobStage.RECEIVING)]
    stored = await get_job(store, job.id)
    assert stored is not None
    assert stored.credits_reserved == 4
    assert stored.stage == JobStage.IN_QUEUE


async def test_a_refused_reservation_stores_nothing(store: Store, tmp_path: Path) -> None:
    class NoCredit(Exception):
        pass

    async def reserve(session: AsyncSession, job: Job, n_billable: int) -> None:
        session.add(LedgerEntry(account_id=1, job_id=job.id, kind="reserve", api_delta=-n_billable))
        raise NoCredit

    path = write_csv(tmp_path / "a.csv", sample_rows(30))
    with pytest.raises(NoCredit):
        await create_job(store, path, "a.csv", source=JobSource.API, reserve=reserve)
    assert await stored_nothing(store)


async def test_a_list_of_only_bad_addresses_is_complete_at_once(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "a.csv", [["A", "nope@", ""], ["B", "@nope", ""], ["C", "x@y@z", ""]]
    )
    job = await create_job(store, path, "a.csv", source=JobSource.API)
    assert job.stage == JobStage.COMPLETED
    assert (job.done, job.total, job.percentage) == (3, 3, "100.00")
    assert await count(store, Chunk) == 0


async def test_orphans_of_a_dead_intake_are_discarded(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(3))
    queued = await create_job(store, path, "a.csv", source=JobSource.API)
    orphan = await create_job(store, path, "a.csv", source=JobSource.API)
    fresh = await create_job(store, path, "a.csv", source=JobSource.API)
    async with store.write() as session:
        for job, age in ((orphan, timedelta(hours=2)), (fresh, timedelta(minutes=1))):
            await session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(stage=JobStage.RECEIVING, created_at=utcnow() - age)
            )
    assert await discard_orphans(store) == 1
    assert await get_job(store, orphan.id) is None
    assert await get_job(store, fresh.id) is not None
    assert await get_job(store, queued.id) is not None
    async with store.read() as session:
        left = await session.scalar(select(func.count()).where(JobItem.job_id == orphan.id))
    assert left == 0


async def test_an_unfinished_cli_job_is_found_again_by_fingerprint(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(3))
    api_job = await create_job(store, path, "a.csv", source=JobSource.API)
    cli_job = await create_job(store, path, "a.csv", source=JobSource.CLI)
    found = await find_resumable(store, cli_job.fingerprint, source=JobSource.CLI)
    assert found is not None
    assert found.id == cli_job.id != api_job.id
    await run_all(store, cli_job, FakeVerifier())
    assert await find_resumable(store, cli_job.fingerprint, source=JobSource.CLI) is None


# --- intake in a child process ----------------------------------------------------------------

READER_MODULE = "mailsift.jobs.listreader"


def varied_rows(n: int) -> list[list[str]]:
    """Rows with repeats, bad and blank addresses, typos, and cells that need quoting."""
    kinds = ("ok", "bad", "catch", "silent")
    rows = []
    for i in range(n):
        email = {
            3: f"{kinds[(i - 3) % 4]}{i - 3}@EXAMPLE.com",  # repeats row i - 3
            5: f"broken{i}@",
            7: "",
            8: f"ok{i}@gmial.com",
        }.get(i % 10, f"{kinds[i % 4]}{i}@example.com")
        note = f'said "hi", then\nleft {i}' if i % 7 == 0 else f"Köln {i}"
        rows.append([f"Zoë {i}", email, note])
    return rows


def reader_children() -> list[psutil.Process]:
    """This process's list reader children still running (zombies included)."""
    found = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if READER_MODULE in child.cmdline() or child.status() == psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


async def item_values(store: Store, job_id: int) -> list[tuple[object, ...]]:
    """Every stored column of the job's items but the job id and the time of intake."""
    columns = [c for c in JobItem.__table__.columns if c.key not in {"job_id", "finished_at"}]
    query = select(*columns).where(JobItem.job_id == job_id).order_by(JobItem.seq)
    async with store.read() as session:
        return [tuple(row) for row in await session.execute(query)]


async def test_a_list_read_in_a_child_process_is_stored_as_when_read_here(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "varied.csv", varied_rows(12_000))
    jobs = [
        await create_job(
            store, path, "varied.csv", source=JobSource.API, chunk_size=700, read_in_child=child
        )
        for child in (False, True)
    ]
    here, there = jobs
    assert (here.total, here.done, here.duplicates, here.blank) == (9_600, 1_200, 1_200, 1_200)
    for name in ("stage", "total", "done", "syntax_invalid", "duplicates", "blank", "layout"):
        assert getattr(there, name) == getattr(here, name), name
    stored = await item_values(store, there.id)
    assert stored == await item_values(store, here.id)
    assert len(stored) == 9_600
    assert stored[0][2] == ["Zoë 0", "ok0@example.com", 'said "hi", then\nleft 0']
    async with store.read() as session:
        chunks = select(func.count()).select_from(Chunk).group_by(Chunk.job_id)
        # By domain: 7,200 at example.com in 11 chunks of 700, 1,200 at gmial.com in 2.
        assert list((await session.execute(chunks)).scalars()) == [13, 13]
    assert reader_children() == []


async def test_a_large_list_is_read_in_a_child_process_by_default(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Path] = []

    def watched(path: Path, *args: Any, **kwargs: Any) -> AsyncGenerator[ItemBatch, None]:
        started.append(path)
        return batches_in_child(path, *args, **kwargs)

    monkeypatch.setattr(service, "batches_in_child", watched)
    small = write_csv(tmp_path / "small.csv", sample_rows(10))
    large = write_csv(tmp_path / "large.csv", sample_rows(10_000))
    monkeypatch.setattr(service, "CHILD_READER_MIN_BYTES", large.stat().st_size)
    for path in (small, large):
        job = await create_job(store, path, path.name, source=JobSource.API)
        assert job.total == (10 if path == small else 10_000)
    assert started == [large]


async def test_a_child_refusing_the_list_halfway_leaves_nothing_behind(
    store: Store, tmp_path: Path
) -> None:
    rows = sample_rows(12_000)
    rows[0][2] = "quoted, so the rows cannot be counted up front"
    path = write_csv(tmp_path / "long.csv", rows)
    with pytest.raises(IntakeError, match="more than 11,000 rows"):
        await create_job(
            store,
            path,
            "long.csv",
            source=JobSource.API,
            limits=IntakeLimits(max_rows=11_000),
            read_in_child=True,
        )
    assert await stored_nothing(store)
    assert reader_children() == []


class GatedStore(Store):
    """A store whose writes, after the first, wait until ``gate`` is set."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()  # a write waits at the gate
        self.writes = 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        self.writes += 1
        if self.writes > 1:
            self.waiting.set()
            await self.gate.wait()
        async with super().write() as session:
            yield session


async def until_closed(path: Path) -> None:
    """Until this process no longer has ``path`` open."""
    while True:
        if all(f.path != str(path) for f in psutil.Process().open_files()):
            return
        await asyncio.sleep(0.01)


async def drain(batches: AsyncGenerator[ItemBatch, None]) -> int:
    return sum([len(batch) async for batch in batches])


@pytest.mark.parametrize("read_in_child", [True, False])
async def test_a_cancelled_intake_stops_reading_and_leaves_nothing_behind(
    database_url: str, tmp_path: Path, read_in_child: bool
) -> None:
    path = write_csv(tmp_path / "big.csv", sample_rows(60_000))
    async with GatedStore(database_url) as store:
        intake = asyncio.create_task(
            create_job(store, path, "big.csv", source=JobSource.API, read_in_child=read_in_child)
        )
        async with asyncio.timeout(20):
            await store.waiting.wait()  # the job is open and its first batch read
        readers = reader_children()
        assert len(readers) == (1 if read_in_child else 0)
        intake.cancel()
        store.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await intake
        assert reader_children() == []
        for reader in readers:
            assert not reader.is_running()  # gone, and reaped
        assert await stored_nothing(store)
        async with asyncio.timeout(20):  # a reading thread finishes its batch, then closes
            await until_closed(path)


async def test_a_child_that_fails_or_is_killed_is_reported(tmp_path: Path) -> None:
    def read(path: Path) -> AsyncGenerator[ItemBatch, None]:
        layout = ListLayout("csv", "utf-8", ",", None, 1)
        return batches_in_child(
            path,
            layout,
            IntakeLimits(),
            job_id=1,
            chunk_size=10,
            stats=IntakeStats(),
            counts=ItemCounts(),
        )

    with pytest.raises(ListReaderError, match="FileNotFoundError"):
        await drain(read(tmp_path / "gone.csv"))

    path = write_csv(tmp_path / "big.csv", sample_rows(60_000), header=None)
    async with aclosing(read(path)) as batches:
        assert len(await anext(batches)) == 5_000
        (reader,) = reader_children()
        reader.kill()
        with pytest.raises(ListReaderError, match=r"stopped early \(exit status -9\)"):
            await drain(batches)
    assert reader_children() == []


PARENT_SCRIPT = """
import asyncio, sys
from pathlib import Path
from mailsift.jobs.intake import IntakeLimits, IntakeStats, ListLayout
from mailsift.jobs.items import ItemCounts
from mailsift.jobs.listreader import batches_in_child

async def main():
    layout = ListLayout("csv", "utf-8", ",", None, 1)
    batches = batches_in_child(
        Path(sys.argv[1]), layout, IntakeLimits(), job_id=1, chunk_size=10,
        stats=IntakeStats(), counts=ItemCounts(),
    )
    await anext(batches)
    print("reading", flush=True)
    await asyncio.sleep(60)  # reads no further: the child fills the pipe, then waits

asyncio.run(main())
"""


def test_the_child_exits_when_its_parent_dies(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", sample_rows(60_000), header=None)
    command = [sys.executable, "-c", PARENT_SCRIPT, str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline() == "reading\n"
            (reader,) = psutil.Process(parent.pid).children()
            assert READER_MODULE in reader.cmdline()
        finally:
            parent.kill()
    deadline = time.monotonic() + 20
    while reader.is_running() and reader.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the list reader outlived its parent"
        time.sleep(0.01)


# --- running chunks ---------------------------------------------------------------------------


async def test_running_every_chunk_completes_the_job(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [*sample_rows(10), ["Typo", "ok99@gmial.com", ""]])
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=3)
    completed: list[int] = []

    async def on_completed(job_id: int) -> None:
        completed.append(job_id)

    verifier = FakeVerifier()
    runner = JobRunner(store, verifier, flush_interval=0.05, on_completed=on_completed)
    await runner(ChunkRef(job.id, 0))
    after_one = await get_job(store, job.id)
    assert after_one is not None
    assert after_one.stage == JobStage.PROCESSING
    assert after_one.started_at is not None
    assert after_one.done == 3
    for n in (1, 2, 3):
        await runner(ChunkRef(job.id, n))

    finished = await get_job(store, job.id)
    assert finished is not None
    assert (finished.stage, finished.done, finished.total, finished.percentage) == (
        JobStage.COMPLETED,
        11,
        11,
        "100.00",
    )
    assert finished.finished_at is not None
    assert completed == [job.id]
    assert sorted(verifier.asked) == sorted(item.email for item in await items(store, job.id))
    stored = {item.email: item for item in await items(store, job.id)}
    catch = stored["catch2@example.com"]
    assert (catch.result, catch.reason, catch.accept_all, catch.smtp_code) == (
        "risky",
        "low_deliverability",
        True,
        250,
    )
    assert stored["ok99@gmial.com"].did_you_mean == "ok99@gmail.com"  # kept from intake
    assert await result_counts(store, job.id) == {
        ("valid", "accepted_email"): 4,
        ("invalid", "rejected_email"): 3,
        ("risky", "low_deliverability"): 2,
        ("unknown", "no_connect"): 2,
    }


async def test_a_chunk_run_twice_never_counts_twice(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(8))
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=4)
    runner = JobRunner(store, FakeVerifier(), flush_interval=0.05)
    await runner(ChunkRef(job.id, 0))
    first = [(i.seq, i.result, i.finished_at) for i in await items(store, job.id)]
    await runner(ChunkRef(job.id, 0, attempt=2))
    again = [(i.seq, i.result, i.finished_at) for i in await items(store, job.id)]
    assert again == first
    assert await count(store, JobItem) == 8
    refreshed = await get_job(store, job.id)
    assert refreshed is not None
    assert refreshed.done == 4


async def test_two_workers_on_the_same_chunk_count_each_row_once(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(300))
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=300)
    runners = [
        JobRunner(store, FakeVerifier(delay=0.0005), batch_size=7, flush_interval=0.01)
        for _ in range(2)
    ]
    await asyncio.gather(*(runner(ChunkRef(job.id, 0)) for runner in runners))
    refreshed = await get_job(store, job.id)
    assert refreshed is not None
    assert (refreshed.done, refreshed.stage) == (300, JobStage.COMPLETED)


async def test_store_results_counts_only_rows_still_open(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(3))
    job = await create_job(store, path, "a.csv", source=JobSource.API)

    def row(seq: int) -> dict[str, object]:
        return {
            "b_seq": seq,
            "b_result": "valid",
            "b_reason": "accepted_email",
            "b_free": False,
            "b_disposable": False,
            "b_role": False,
            "b_accept_all": False,
            "b_did_you_mean": "",
            "b_mx_host": "mx",
            "b_smtp_code": 250,
            "b_smtp_message": "ok",
            "b_finished_at": utcnow(),
        }

    async with store.write() as session:
        assert not await store_results(session, job.id, [row(0), row(1)])
    async with store.write() as session:
        assert await store_results(session, job.id, [row(1), row(2)])  # completes the job
    refreshed = await get_job(store, job.id)
    assert refreshed is not None
    assert (refreshed.done, refreshed.stage) == (3, JobStage.COMPLETED)


async def test_a_failing_verifier_keeps_what_it_answered(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(10))
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=10)
    broken = JobRunner(store, FakeVerifier(fail_after=4), batch_size=2, flush_interval=0.05)
    with pytest.raises(RuntimeError, match="broke down"):
        await broken(ChunkRef(job.id, 0))
    partial = await get_job(store, job.id)
    assert partial is not None
    assert partial.done == 4

    healthy = FakeVerifier()
    await JobRunner(store, healthy, flush_interval=0.05)(ChunkRef(job.id, 0, attempt=2))
    assert len(healthy.asked) == 6  # only what was still open
    done = await get_job(store, job.id)
    assert done is not None
    assert (done.done, done.stage) == (10, JobStage.COMPLETED)


async def test_addresses_the_verifier_never_answers_end_unknown(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(4))
    job = await create_job(store, path, "a.csv", source=JobSource.API)
    await JobRunner(store, FakeVerifier(skip=frozenset({"ok0@example.com"})), flush_interval=0.05)(
        ChunkRef(job.id, 0)
    )
    stored = {item.email: item for item in await items(store, job.id)}
    assert (stored["ok0@example.com"].result, stored["ok0@example.com"].reason) == (
        "unknown",
        "unexpected_error",
    )
    refreshed = await get_job(store, job.id)
    assert refreshed is not None
    assert refreshed.stage == JobStage.COMPLETED


async def test_after_too_many_attempts_a_chunk_is_given_up(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(4))
    job = await create_job(store, path, "a.csv", source=JobSource.API)
    verifier = FakeVerifier()
    await JobRunner(store, verifier, max_attempts=3)(ChunkRef(job.id, 0, attempt=4))
    assert verifier.asked == []
    assert await result_counts(store, job.id) == {("unknown", "unexpected_error"): 4}


async def test_a_chunk_that_stores_results_counts_its_attempts_again(
    store: Store, tmp_path: Path
) -> None:
    """Processes killed while a chunk makes progress (a crash loop) never exhaust it."""
    path = write_csv(tmp_path / "a.csv", sample_rows(10))
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=10)
    async with store.write() as session:
        await session.execute(update(Chunk).where(Chunk.job_id == job.id).values(attempts=3))
    broken = JobRunner(store, FakeVerifier(fail_after=4), batch_size=2, flush_interval=0.05)
    with pytest.raises(RuntimeError, match="broke down"):
        await broken(ChunkRef(job.id, 0, attempt=3))
    async with store.read() as session:
        attempts = await session.scalar(select(Chunk.attempts).where(Chunk.job_id == job.id))
    assert attempts == 1

    async with store.write() as session:
        await session.execute(update(Chunk).where(Chunk.job_id == job.id).values(attempts=3))
    stalled = JobRunner(store, FakeVerifier(fail_after=0), flush_interval=0.05)
    with pytest.raises(RuntimeError, match="broke down"):
        await stalled(ChunkRef(job.id, 0, attempt=3))
    async with store.read() as session:
        attempts = await session.scalar(select(Chunk.attempts).where(Chunk.job_id == job.id))
    assert attempts == 3, "a run that stored nothing is no progress"


async def test_chunks_of_a_cancelled_job_are_not_run(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(4))
    job = await create_job(store, path, "a.csv", source=JobSource.API)
    async with store.write() as session:
        await session.execute(update(Job).where(Job.id == job.id).values(stage=JobStage.CANCELLED))
    verifier = FakeVerifier()
    await JobRunner(store, verifier)(ChunkRef(job.id, 0))
    assert verifier.asked == []


# --- dispatch ---------------------------------------------------------------------------------


async def test_the_in_process_dispatcher_runs_every_job_to_the_end(
    store: Store, tmp_path: Path
) -> None:
    verifier = FakeVerifier(delay=0.001)
    dispatcher = InProcessDispatcher(
        store, JobRunner(store, verifier, flush_interval=0.02), workers=3, poll_interval=0.05
    )
    jobs = [
        await create_job(
            store,
            write_csv(tmp_path / f"{n}.csv", sample_rows(40 + n, f"d{n}.example")),
            f"{n}.csv",
            source=JobSource.API,
            chunk_size=7,
        )
        for n in range(2)
    ]
    observed: list[tuple[int, str, int]] = []  # (done, percentage, open rows) for job 0

    async def watch() -> None:
        while True:
            current = await get_job(store, jobs[0].id)
            assert current is not None
            async with store.read() as session:
                open_rows = await session.scalar(
                    select(func.count()).where(
                        JobItem.job_id == current.id, JobItem.result.is_(None)
                    )
                )
            observed.append((current.done, current.percentage, int(open_rows or 0)))
            if current.stage == JobStage.COMPLETED:
                return
            await asyncio.sleep(0.01)

    await dispatcher.start()
    try:
        for job in jobs:
            await dispatcher.submit(job.id)
        await asyncio.wait_for(watch(), 20)
        await wait_until_completed(store, jobs[1].id)
    finally:
        await dispatcher.stop()

    dones = [done for done, _, _ in observed]
    assert dones == sorted(dones), "progress went backwards"
    assert all(open_rows == 0 for _, shown, open_rows in observed if shown == "100.00")
    assert len(verifier.asked) == len(set(verifier.asked)) == 40 + 41
    async with store.read() as session:
        states = set((await session.execute(select(Chunk.state))).scalars())
    assert states == {ChunkState.DONE}


async def test_a_new_dispatcher_resumes_chunks_a_dead_one_left_running(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", sample_rows(12))
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=4)
    async with store.write() as session:  # a previous process claimed two chunks, then died
        await session.execute(
            update(Chunk)
            .where(Chunk.job_id == job.id, Chunk.chunk < 2)
            .values(state=ChunkState.RUNNING, lease_until=utcnow() + timedelta(hours=1))
        )
    verifier = FakeVerifier()
    dispatcher = InProcessDispatcher(
        store, JobRunner(store, verifier, flush_interval=0.02), workers=2, poll_interval=0.05
    )
    await dispatcher.start()
    try:
        current = await wait_until_completed(store, job.id)
    finally:
        await dispatcher.stop()
    assert current.done == 12
    assert sorted(verifier.asked) == sorted(f"{r[1]}" for r in sample_rows(12))


async def test_a_dispatcher_kept_to_one_job_leaves_the_others_alone(
    store: Store, tmp_path: Path
) -> None:
    others = await create_job(
        store,
        write_csv(tmp_path / "o.csv", sample_rows(5, "other.example")),
        "o.csv",
        source=JobSource.API,
    )
    mine = await create_job(
        store, write_csv(tmp_path / "m.csv", sample_rows(5)), "m.csv", source=JobSource.CLI
    )
    verifier = FakeVerifier()
    dispatcher = InProcessDispatcher(
        store,
        JobRunner(store, verifier, flush_interval=0.02),
        poll_interval=0.05,
        only_job=mine.id,
    )
    await dispatcher.start()
    try:
        await wait_until_completed(store, mine.id)
    finally:
        await dispatcher.stop()
    untouched = await get_job(store, others.id)
    assert untouched is not None
    assert (untouched.stage, untouched.done) == (JobStage.IN_QUEUE, 0)
    assert not any("other.example" in address for address in verifier.asked)


# --- result files -----------------------------------------------------------------------------


def read_result(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


async def test_result_files_keep_the_columns_and_order_and_split_by_result(
    store: Store, tmp_path: Path
) -> None:
    rows = [
        ['=HYPERLINK("http://evil")', "ok1@example.com", "+1 555"],
        ["Bob", "catch2@example.com", "@SUM(A1)"],
        ["Cid", "bad3@example.com", "-2"],
        ["Dee", "nope@", "\tx"],
        ["Eve", "silent5@example.com", "fine"],
        ["Fay", "ok6@example.com", "fine"],
    ]
    path = write_csv(tmp_path / "crm export.csv", rows)
    job = await create_job(store, path, "crm export.csv", source=JobSource.API, chunk_size=2)
    job = await run_all(store, job, FakeVerifier())
    out = tmp_path / "out"
    paths = await write_results(store, job, out)

    assert {which: p.name for which, p in paths.items()} == {
        "valid": "crm export-valid.csv",
        "invalid": "crm export-invalid.csv",
        "unknown": "crm export-unknown.csv",
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    files = {which: read_result(p) for which, p in paths.items()}
    for content in files.values():
        assert content[0] == [*HEADER, *RESULT_COLUMNS]
    valid = files["valid"][1:]
    assert [r[1] for r in valid] == ["ok1@example.com", "ok6@example.com"]
    assert valid[0][:3] == ['\'=HYPERLINK("http://evil")', "ok1@example.com", "'+1 555"]
    assert dict(zip(RESULT_COLUMNS, valid[0][3:], strict=True)) == {
        "result": "valid",
        "reason": "accepted_email",
        "free": "false",
        "disposable": "false",
        "role": "false",
        "accept_all": "false",
        "did_you_mean": "",
        "mx_host": "mx.example.net",
        "smtp_code": "250",
        "smtp_message": "250 fake answer",
        "source_value": "",
        "bad_address": "false",
        "suppression_list": "",
        "quality_score": "100",
    }
    assert [(r[1], r[3]) for r in files["invalid"][1:]] == [
        ("bad3@example.com", "invalid"),
        ("nope@", "invalid"),
    ]
    assert files["invalid"][1][2] == "'-2"
    assert files["invalid"][2][2] == "'\tx"
    assert [(r[1], r[3], r[8]) for r in files["unknown"][1:]] == [
        ("catch2@example.com", "risky", "true"),  # accept_all
        ("silent5@example.com", "unknown", "false"),
    ]
    assert files["unknown"][1][2] == "'@SUM(A1)"

    for which, p in paths.items():
        streamed = b"".join([piece async for piece in iter_result_csv(store, job, which)])
        assert streamed == p.read_bytes()


async def test_a_list_without_header_gets_column_names(store: Store, tmp_path: Path) -> None:
    rows = [["1", "ok1@example.com"], ["2", "ok2@example.com", "extra"]]
    path = write_csv(tmp_path / "plain.csv", rows, header=None)
    job = await run_all(
        store, await create_job(store, path, "plain.csv", source=JobSource.API), FakeVerifier()
    )
    valid = read_result((await write_results(store, job, tmp_path))["valid"])
    assert valid[0] == ["column_1", "email", "column_3", *RESULT_COLUMNS]
    assert valid[1][:4] == ["1", "ok1@example.com", "", "valid"]
    assert valid[2][:4] == ["2", "ok2@example.com", "extra", "valid"]


async def test_streamed_results_arrive_in_pieces(store: Store, tmp_path: Path) -> None:
    n = 2 * ROWS_PER_PIECE + 1
    path = write_csv(tmp_path / "a.csv", [[f"P{i}", f"ok{i}@example.com", ""] for i in range(n)])
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=n)
    job = await run_all(store, job, FakeVerifier())
    pieces = [piece async for piece in iter_result_csv(store, job, "valid")]
    assert len(pieces) == 4  # the header, then the rows a few thousand at a time
    lines = list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8"))))
    assert len(lines) == n + 1
    assert [line[1] for line in lines[1:]] == [f"ok{i}@example.com" for i in range(n)]
