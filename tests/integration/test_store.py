"""The store over real SQLite files and a real PostgreSQL: migrations, URLs, types, chunk queue."""

from __future__ import annotations

import asyncio
import secrets
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, delete, func, inspect, select, text, update

from mailsift.store import Store, async_url, database_url, downgrade, open_store, sync_url, upgrade
from mailsift.store.chunks import (
    ChunkRef,
    claim_next,
    finish,
    queue_chunks,
    release,
    renew_lease,
    requeue_interrupted,
)
from mailsift.store.migrate import current_revision, head_revision
from mailsift.store.models import Base, Chunk, ChunkState, Job, JobItem, JobStage, percentage

TABLES = {"accounts", "ledger", "jobs", "job_items", "chunks"}
LEASE = timedelta(minutes=1)


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


async def _add_job(store: Store, *, stage: JobStage = JobStage.IN_QUEUE, chunks: int = 0) -> int:
    async with store.write() as session:
        job = Job(
            public_id=secrets.token_urlsafe(16),
            source="cli",
            filename="list.csv",
            fingerprint="f" * 64,
            stage=stage,
        )
        session.add(job)
        await session.flush()
        await queue_chunks(session, job.id, range(chunks))
        return job.id


async def _chunk(store: Store, job_id: int, n: int) -> Chunk:
    async with store.read() as session:
        return await session.get_one(Chunk, (job_id, n))


# --- migrations ----------------------------------------------------------------------------


def test_migrations_go_up_down_and_up_again(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert _tables(empty_database_url) >= TABLES
    assert current_revision(empty_database_url) == head_revision()

    downgrade(empty_database_url)
    assert _tables(empty_database_url) & TABLES == set()
    assert current_revision(empty_database_url) is None

    upgrade(empty_database_url)
    assert _tables(empty_database_url) >= TABLES


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_upgrade_from_two_processes_at_once_is_safe(empty_database_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(empty_database_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert current_revision(empty_database_url) == head_revision()


# --- URLs ------------------------------------------------------------------------------------


def test_empty_url_means_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    url = database_url("", tmp_path / "data")
    assert url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'mailsift.db'}"
    assert database_url(" postgresql://u@h/db ", tmp_path) == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("given", "for_async", "for_sync"),
    [
        ("sqlite:////x/m.db", "sqlite+aiosqlite", "sqlite"),
        ("sqlite+aiosqlite:////x/m.db", "sqlite+aiosqlite", "sqlite"),
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("postgres://u:p@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
    ],
)
def test_urls_map_to_the_drivers_we_ship(given: str, for_async: str, for_sync: str) -> None:
    assert async_url(given).drivername == for_async
    assert sync_url(given).drivername == for_sync
    assert async_url(given).database == sync_url(given).database


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        async_url("mysql://u@h/db")


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    async with open_store(url) as store:
        for session_of in (store.read, store.write):
            async with session_of() as session:
                pragma = {
                    name: (await session.execute(text(f"PRAGMA {name}"))).scalar()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
                }
            assert pragma == {
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 30_000,
                "synchronous": 1,  # NORMAL
            }


# --- types and constraints --------------------------------------------------------------------


async def test_datetimes_come_back_aware_and_in_utc(store: Store) -> None:
    job_id = await _add_job(store)
    paris_summer = timezone(timedelta(hours=2))
    when = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=paris_summer)
    async with store.write() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(started_at=when))
    async with store.read() as session:
        job = await session.get_one(Job, job_id)
    assert job.started_at == when
    assert job.started_at is not None
    assert job.started_at.utcoffset() == timedelta(0)
    assert job.created_at.tzinfo is not None


async def test_deleting_a_job_deletes_its_items_and_chunks(store: Store) -> None:
    job_id = await _add_job(store, chunks=2)
    async with store.write() as session:
        session.add(
            JobItem(job_id=job_id, seq=0, row_no=2, cells=["a@example.com"], email="a@example.com")
        )
    async with store.write() as session:
        await session.execute(delete(Job).where(Job.id == job_id))
    async with store.read() as session:
        for table in (JobItem, Chunk):
            count = await session.scalar(select(func.count()).select_from(table))
            assert count == 0


@pytest.mark.parametrize(
    ("done", "total", "shown"),
    [
        (0, 10, "0.00"),
        (1, 3, "33.33"),
        (2, 3, "66.66"),
        (9_999, 10_000, "99.99"),
        (10, 10, "100.00"),
        (0, 0, "100.00"),
    ],
)
def test_percentage_is_rounded_down_so_100_means_all(done: int, total: int, shown: str) -> None:
    assert percentage(done, total) == shown


# --- the chunk queue --------------------------------------------------------------------------


async def test_chunks_are_claimed_oldest_first_with_a_lease(store: Store) -> None:
    first = await _add_job(store, chunks=2)
    second = await _add_job(store, chunks=1)
    claimed = [await claim_next(store, lease=LEASE) for _ in range(4)]
    assert claimed == [
        ChunkRef(first, 0, 1),
        ChunkRef(first, 1, 1),
        ChunkRef(second, 0, 1),
        None,
    ]
    chunk = await _chunk(store, first, 0)
    assert chunk.state == ChunkState.RUNNING
    assert chunk.lease_until is not None
    assert chunk.lease_until > datetime.now(UTC) + LEASE / 2


async def test_only_chunks_of_active_jobs_are_claimed(store: Store) -> None:
    for stage in (JobStage.RECEIVING, JobStage.COMPLETED, JobStage.CANCELLED, JobStage.FAILED):
        await _add_job(store, stage=stage, chunks=1)
    assert await claim_next(store, lease=LEASE) is None
    processing = await _add_job(store, stage=JobStage.PROCESSING, chunks=1)
    assert await claim_next(store, lease=LEASE) == ChunkRef(processing, 0, 1)


async def test_a_chunk_whose_lease_ran_out_is_claimed_again(store: Store) -> None:
    job_id = await _add_job(store, chunks=1)
    assert await claim_next(store, lease=LEASE) == ChunkRef(job_id, 0, 1)
    assert await claim_next(store, lease=LEASE) is None
    async with store.write() as session:  # the worker died: its lease runs out
        await session.execute(
            update(Chunk).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await claim_next(store, lease=LEASE) == ChunkRef(job_id, 0, 2)


async def test_renewing_a_lease_keeps_the_chunk(store: Store) -> None:
    job_id = await _add_job(store, chunks=1)
    ref = await claim_next(store, lease=timedelta(seconds=-1))  # expired at once
    assert ref is not None
    await renew_lease(store, ref, lease=LEASE)
    assert await claim_next(store, lease=LEASE) is None
    assert (await _chunk(store, job_id, 0)).attempts == 1


async def test_finished_chunks_stay_done_and_released_ones_come_back(store: Store) -> None:
    job_id = await _add_job(store, chunks=2)
    done = await claim_next(store, lease=LEASE)
    failed = await claim_next(store, lease=LEASE)
    assert done is not None
    assert failed is not None
    await finish(store, done)
    await release(store, failed)
    await release(store, done)  # too late: a finished chunk is not re-queued
    assert (await _chunk(store, job_id, 0)).state == ChunkState.DONE
    assert await claim_next(store, lease=LEASE) == ChunkRef(job_id, 1, 2)
    assert await claim_next(store, lease=LEASE) is None


async def test_interrupted_chunks_are_requeued_at_startup(store: Store) -> None:
    job_id = await _add_job(store, chunks=3)
    refs = [await claim_next(store, lease=LEASE) for _ in range(2)]
    assert refs[0] is not None
    await finish(store, refs[0])
    assert await requeue_interrupted(store) == 1
    # The attempt the dead process was making is given back: it was not the chunk's failure.
    assert await claim_next(store, lease=LEASE) == ChunkRef(job_id, 1, 1)
    assert (await _chunk(store, job_id, 0)).state == ChunkState.DONE


async def test_concurrent_claims_never_share_a_chunk(store: Store) -> None:
    job_id = await _add_job(store, chunks=20)
    claimed = await asyncio.gather(*(claim_next(store, lease=LEASE) for _ in range(25)))
    refs = [ref for ref in claimed if ref is not None]
    assert sorted(ref.chunk for ref in refs) == list(range(20))
    assert {ref.job_id for ref in refs} == {job_id}


async def test_claims_and_requeues_can_keep_to_one_job(store: Store) -> None:
    other = await _add_job(store, chunks=1)
    mine = await _add_job(store, chunks=2)
    assert await claim_next(store, lease=LEASE, job_id=mine) == ChunkRef(mine, 0, 1)
    assert await claim_next(store, lease=LEASE) == ChunkRef(other, 0, 1)
    assert await requeue_interrupted(store, job_id=mine) == 1
    assert (await _chunk(store, other, 0)).state == ChunkState.RUNNING
    assert (await _chunk(store, mine, 0)).state == ChunkState.QUEUED
